import assert from "node:assert/strict";
import fc from "fast-check";
import { hashId, sdbmHash } from "../lib/sdbm.ts";
import { membersPayload, msidOf } from "../lib/frames.ts";

const VECTORS: [string, bigint][] = [
  ["alice127.0.0.150001", 1419600254385803609n],
  ["bob127.0.0.150002", 7096407668745481807n],
  ["carol127.0.0.150003", 18077499783421377068n],
  ["alice:127.0.0.1:50001:", 6873446321337136987n],
  ["bob:127.0.0.1:50002:alice:127.0.0.1:50001:", 2909318189333896768n],
  ["carol:127.0.0.1:50003:bob:127.0.0.1:50002:alice:127.0.0.1:50001:", 9774350085627291144n],
  ["erin:127.0.0.1:50005:", 18373406468947051621n],
];

/** The definition of PROTOCOL.md §4, literally, on bigint. */
function referenceSdbm(bytes: Uint8Array): bigint {
  let h = 0n;
  for (const c of bytes) h = (BigInt(c) + (h << 6n) + (h << 16n) - h) & 0xffff_ffff_ffff_ffffn;
  return h;
}

Deno.test("sdbm: matches every test vector of the reference server", () => {
  for (const [input, expected] of VECTORS) assert.equal(sdbmHash(input), expected, input);
});

Deno.test("sdbm: the hash of nothing is zero", () => {
  assert.equal(sdbmHash(""), 0n);
});

Deno.test("sdbm: agrees with the bigint definition on any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.equal(sdbmHash(bytes), referenceSdbm(bytes));
    }),
    { numRuns: 500 },
  );
});

Deno.test("sdbm: hashes a string by its UTF-8 bytes", () => {
  const text = "héllo😀";
  assert.equal(sdbmHash(text), referenceSdbm(new TextEncoder().encode(text)));
});

Deno.test("sdbm: HashID is the hash of name, ip and decimal port run together", () => {
  assert.equal(hashId("alice", "127.0.0.1", 50001), 1419600254385803609n);
  assert.equal(hashId("bob", "127.0.0.1", 50002), 7096407668745481807n);
  assert.equal(hashId("carol", "127.0.0.1", 50003), 18077499783421377068n);
});

Deno.test("sdbm: MSID is the hash of the member payload with its trailing colon", () => {
  const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
  const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
  const carol = { name: "carol", ip: "127.0.0.1", port: 50003 };
  assert.equal(membersPayload([bob, alice]), "bob:127.0.0.1:50002:alice:127.0.0.1:50001:");
  assert.equal(msidOf([alice]), 6873446321337136987n);
  assert.equal(msidOf([bob, alice]), 2909318189333896768n);
  assert.equal(msidOf([carol, bob, alice]), 9774350085627291144n);
  assert.equal(msidOf([{ name: "erin", ip: "127.0.0.1", port: 50005 }]), 18373406468947051621n);
});
