import { equal, notEqual, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import {
  handshakeSigningInput,
  IDENTITY_FILE,
  IdentityError,
  loadIdentity,
  newChallenge,
  textSigningInput,
  verify,
} from "../peer/identity.ts";

const encoder = new TextEncoder();
const HID = "1419600254385803609";
const isPosix = Deno.build.os !== "windows";

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ringchat_identity_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function claim(overrides: Partial<Parameters<typeof handshakeSigningInput>[0]> = {}) {
  return {
    room: "room1",
    name: "alice",
    ip: "127.0.0.1",
    port: 50001,
    role: "link" as const,
    challenge: new Uint8Array(32).fill(7),
    verifierKey: "bob-key",
    ...overrides,
  };
}

Deno.test("identity: a text signature verifies under its key only", async () => {
  const alice = await loadIdentity(null);
  const bob = await loadIdentity(null);
  equal(alice.path, null);
  equal(Uint8Array.fromBase64(alice.publicKey, { alphabet: "base64url" }).length, 32);
  notEqual(alice.publicKey, bob.publicKey);
  const input = textSigningInput("room1", HID, 7n, encoder.encode("a:b::\r\n"));
  const signature = await alice.sign(input);
  equal(signature.length, 64);
  ok(await verify(alice.publicKey, input, signature));
  ok(!(await verify(bob.publicKey, input, signature)));
});

Deno.test("identity: any changed byte of the input or the signature fails verification", async () => {
  const me = await loadIdentity(null);
  const input = textSigningInput("room1", HID, 7n, encoder.encode("hello"));
  const signature = await me.sign(input);
  for (let i = 0; i < input.length; i++) {
    const tampered = input.slice();
    tampered[i]! ^= 1 << (i % 8);
    ok(!(await verify(me.publicKey, tampered, signature)), `input byte ${i}`);
  }
  for (let i = 0; i < signature.length; i++) {
    const tampered = signature.slice();
    tampered[i]! ^= 0x80;
    ok(!(await verify(me.publicKey, input, tampered)), `signature byte ${i}`);
  }
  ok(!(await verify(me.publicKey, input, signature.subarray(0, 63))), "a short signature");
  ok(!(await verify(me.publicKey, input.subarray(1), signature)), "a shorter input");
});

Deno.test("identity: each signed field matters, and fields cannot be shifted into each other", () => {
  const base = textSigningInput("room1", HID, 7n, encoder.encode("hi"));
  const variants = [
    textSigningInput("room2", HID, 7n, encoder.encode("hi")),
    textSigningInput("room1", "1419600254385803608", 7n, encoder.encode("hi")),
    textSigningInput("room1", HID, 8n, encoder.encode("hi")),
    textSigningInput("room1", HID, 7n, encoder.encode("hj")),
    // The same characters split differently between fields.
    textSigningInput("room1" + HID.slice(0, 1), HID.slice(1), 7n, encoder.encode("hi")),
    textSigningInput("room1", HID + "7", 0n, encoder.encode("hi")),
  ];
  const hex = (b: Uint8Array) => b.toHex();
  for (const v of variants) notEqual(hex(v), hex(base));
  fc.assert(
    fc.property(
      fc.array(fc.string(), { minLength: 4, maxLength: 4 }),
      fc.array(fc.string(), { minLength: 4, maxLength: 4 }),
      (a, b) => {
        const sign = (f: string[]) =>
          hex(textSigningInput(f[0]!, f[1]!, BigInt(f[2]!.length), encoder.encode(f[3]!)));
        const same = a[0] === b[0] && a[1] === b[1] && a[2]!.length === b[2]!.length &&
          a[3] === b[3];
        equal(sign(a) === sign(b), same);
      },
    ),
  );
});

Deno.test("identity: a signature for one purpose is never valid for another", async () => {
  const me = await loadIdentity(null);
  const handshake = handshakeSigningInput(claim());
  const text = textSigningInput("room1", "alice", 0n, encoder.encode("hi"));
  const textSignature = await me.sign(text);
  const handshakeSignature = await me.sign(handshake);
  ok(await verify(me.publicKey, handshake, handshakeSignature));
  ok(!(await verify(me.publicKey, handshake, textSignature)));
  ok(!(await verify(me.publicKey, text, handshakeSignature)));
  // Inputs of the two purposes never coincide: they differ in their prefix.
  notEqual(
    new TextDecoder().decode(handshake).split("\n")[0],
    new TextDecoder().decode(text).split("\n")[0],
  );
});

Deno.test("identity: a handshake proof is bound to its role, challenge, verifier and claim", async () => {
  const me = await loadIdentity(null);
  const signature = await me.sign(handshakeSigningInput(claim()));
  const others = [
    claim({ role: "accept" }),
    claim({ challenge: new Uint8Array(32).fill(8) }),
    claim({ verifierKey: "carol-key" }),
    claim({ name: "mallory" }),
    claim({ ip: "6.6.6.6" }),
    claim({ port: 50002 }),
    claim({ room: "room2" }),
  ];
  for (const other of others) {
    ok(
      !(await verify(me.publicKey, handshakeSigningInput(other), signature)),
      JSON.stringify(other.role),
    );
  }
  throws(() => handshakeSigningInput(claim({ challenge: new Uint8Array(15) })), RangeError);
  throws(() => handshakeSigningInput(claim({ port: 70000 })), RangeError);
  equal(newChallenge().length, 32);
  notEqual(newChallenge().toHex(), newChallenge().toHex());
});

Deno.test("identity: verify says false for malformed keys and signatures, never throws", async () => {
  const me = await loadIdentity(null);
  const input = encoder.encode("x");
  const signature = await me.sign(input);
  for (const key of ["", "not base64!", "AAAA", me.publicKey + "AA", "=".repeat(43)]) {
    equal(await verify(key, input, signature), false, key);
  }
  equal(await verify(me.publicKey, input, new Uint8Array(64)), false);
});

Deno.test("identity: the key is created in the data dir on first use, mode 0600, and kept", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "nested", "data");
  const first = await loadIdentity(data);
  const path = join(data, IDENTITY_FILE);
  equal(first.path, path);
  if (isPosix) {
    equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    equal((await Deno.stat(data)).mode! & 0o077, 0);
  }
  const file = JSON.parse(await Deno.readTextFile(path));
  equal(file.version, 1);
  equal(file.algorithm, "Ed25519");
  equal(file.publicKey, first.publicKey);
  const again = await loadIdentity(data);
  equal(again.publicKey, first.publicKey, "the same key after a restart");
  const input = encoder.encode("signed by the first run");
  ok(await verify(first.publicKey, input, await again.sign(input)));
  equal([...Deno.readDirSync(data)].length, 1, "no temporary file left");
});

Deno.test("identity: a bad key file is reported clearly, naming the file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, IDENTITY_FILE);
  const good = JSON.parse(
    await (async () => {
      await loadIdentity(dir.path);
      return await Deno.readTextFile(path);
    })(),
  );
  const other = JSON.parse(
    await (async () => {
      await using d = await tempDir();
      await loadIdentity(d.path);
      return await Deno.readTextFile(join(d.path, IDENTITY_FILE));
    })(),
  );
  const cases: [string, string, RegExp][] = [
    ["truncated", JSON.stringify(good).slice(0, 40), /is not JSON/],
    ["not an object", "[1,2]", /is not a JSON object/],
    ["version", JSON.stringify({ ...good, version: 2 }), /has version 2, expected 1/],
    ["algorithm", JSON.stringify({ ...good, algorithm: "RSA" }), /algorithm "RSA"/],
    ["public key", JSON.stringify({ ...good, publicKey: "AAAA" }), /no valid publicKey/],
    ["private key text", JSON.stringify({ ...good, privateKey: "%%%" }), /no valid privateKey/],
    [
      "private key bytes",
      JSON.stringify({ ...good, privateKey: "AAAAAAAA" }),
      /not an Ed25519 PKCS#8/,
    ],
    [
      "mismatch",
      JSON.stringify({ ...good, publicKey: other.publicKey }),
      /does not match its publicKey/,
    ],
  ];
  for (const [what, text, message] of cases) {
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    await rejects(loadIdentity(dir.path), (e: unknown) => {
      ok(e instanceof IdentityError, what);
      ok(message.test(e.message), `${what}: ${e.message}`);
      ok(e.message.includes(path), `${what}: names the file`);
      return true;
    });
  }
});

Deno.test("identity: a key file others can read is refused", { ignore: !isPosix }, async () => {
  await using dir = await tempDir();
  await loadIdentity(dir.path);
  const path = join(dir.path, IDENTITY_FILE);
  await Deno.chmod(path, 0o644);
  await rejects(loadIdentity(dir.path), (e: unknown) => {
    ok(e instanceof IdentityError);
    ok(e.message.includes("mode 644") && e.message.includes(`chmod 600 ${path}`), e.message);
    return true;
  });
});

Deno.test(
  "identity: a data dir that cannot be written is reported",
  { ignore: !isPosix },
  async () => {
    await using dir = await tempDir();
    // A file where the data dir should be.
    const data = join(dir.path, "file");
    await Deno.writeTextFile(data, "");
    await rejects(loadIdentity(data), (e: unknown) => {
      ok(e instanceof IdentityError);
      ok(e.message.startsWith("Cannot"), e.message);
      return true;
    });
  },
);

Deno.test("identity: verify answers as WebCrypto's Ed25519 does, odd signatures and keys included", async () => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const little = (b: Uint8Array) => b.reduceRight((x, byte) => (x << 8n) | BigInt(byte), 0n);
  const bytesOf = (x: bigint) =>
    Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 255n));
  const webCrypto = async (key: Uint8Array, input: Uint8Array, sig: Uint8Array) => {
    const k = await crypto.subtle.importKey("raw", key.slice(), { name: "Ed25519" }, true, [
      "verify",
    ]);
    return await crypto.subtle.verify({ name: "Ed25519" }, k, sig.slice(), input.slice());
  };
  const me = await loadIdentity(null);
  const key = Uint8Array.fromBase64(me.publicKey, { alphabet: "base64url" });
  const identityPoint = new Uint8Array(32);
  identityPoint[0] = 1;
  for (let i = 0; i < 16; i++) {
    const input = encoder.encode(`text ${i}`);
    const sig = await me.sign(input);
    const tampered = sig.slice();
    tampered[(i * 5) % 64]! ^= 1 << (i % 8);
    // S + L: the same S modulo L, not canonical.
    const nonCanonical = sig.slice();
    nonCanonical.set(bytesOf(little(sig.subarray(32)) + L), 32);
    const smallOrder = new Uint8Array(64);
    smallOrder.set(identityPoint);
    const cases: [Uint8Array, Uint8Array][] = [
      [key, sig],
      [key, tampered],
      [key, nonCanonical],
      [identityPoint, smallOrder],
    ];
    for (const [k, s] of cases) {
      const b64 = k.toBase64({ alphabet: "base64url", omitPadding: true });
      equal(await verify(b64, input, s), await webCrypto(k, input, s), `${b64} ${s.toHex()}`);
    }
  }
  // A key that is no curve point: false (WebCrypto too), not an error.
  const noPoint = new Uint8Array(32).fill(0xff);
  noPoint[31] = 0x7f;
  equal(
    await verify(
      noPoint.toBase64({ alphabet: "base64url", omitPadding: true }),
      encoder.encode("x"),
      new Uint8Array(64),
    ),
    false,
  );
});
