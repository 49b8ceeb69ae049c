import assert from "node:assert/strict";
import fc from "fast-check";
import {
  diff,
  type Digest,
  DIGEST_WINDOW,
  digestBody,
  MAX_DIGEST_ORIGINS,
  parseDigest,
  RecentIds,
} from "../peer/digest.ts";
import { ProtocolError } from "../lib/errors.ts";

function holding(ids: readonly bigint[], origin = "7", now = () => 0): RecentIds {
  const r = new RecentIds({ now });
  for (const id of ids) r.add(origin, id);
  return r;
}

Deno.test("digest: holds the last 64 msgIDs below the highest, and counts older ones as held", () => {
  const r = holding([100n, 98n, 30n]);
  assert.ok(r.has("7", 100n) && r.has("7", 98n));
  assert.ok(!r.has("7", 99n) && !r.has("7", 101n) && !r.has("8", 100n));
  // The window is 36..99 below 100; 30 and 35 are older: too old to tell, so never pulled.
  assert.ok(!r.has("7", 36n) && r.has("7", 35n) && r.has("7", 30n));
  r.add("7", 200n); // jumps past the whole window
  assert.ok(!r.has("7", 199n) && r.has("7", 200n) && r.has("7", 100n));
});

Deno.test("digest: diff names exactly what the neighbour holds and I lack", () => {
  const mine = holding([1n, 2n, 4n, 7n]), theirs = holding([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  assert.deepEqual(diff(mine, theirs.digest()).map((w) => w.msgId), [8n, 6n, 5n, 3n]);
  assert.deepEqual(diff(theirs, mine.digest()), []);
  assert.deepEqual(diff(new RecentIds(), holding([1n]).digest()), [{ originHid: "7", msgId: 1n }]);
});

Deno.test("digest: diff matches set difference within the window", () => {
  const ids = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 60 });
  fc.assert(
    fc.property(ids, ids, (a, b) => {
      const mine = holding(a.map(BigInt)), theirs = holding(b.map(BigInt));
      const want = new Set(diff(mine, theirs.digest()).map((w) => Number(w.msgId)));
      assert.deepEqual(want, new Set(b.filter((x) => !a.includes(x))));
    }),
  );
});

Deno.test("digest: only origins active lately are in it, most recent first, bounded", () => {
  let now = 0;
  const r = new RecentIds({ activeMs: 1000, now: () => now });
  r.add("1", 5n);
  now = 600;
  r.add("2", 9n);
  r.add("3", 1n);
  assert.deepEqual(r.digest().origins.map((o) => o.originHid), ["3", "2", "1"]);
  assert.deepEqual(r.digest(2).origins.map((o) => o.originHid), ["3", "2"]);
  now = 1500;
  assert.deepEqual(r.digest().origins.map((o) => o.originHid), ["3", "2"]);
  now = 5000;
  assert.deepEqual(r.digest().origins, []);
  const small = new RecentIds({ maxOrigins: 2 });
  for (const o of ["a", "b", "c"]) small.add(o, 1n);
  assert.equal(small.origins, 2);
  assert.ok(!small.has("a", 1n) && small.has("c", 1n));
});

Deno.test("digest: a hostile digest cannot make me pull more than the bound", () => {
  const origins = Array.from({ length: MAX_DIGEST_ORIGINS * 4 }, (_, i) => ({
    originHid: String(i),
    high: 10n ** 18n,
    mask: (1n << BigInt(DIGEST_WINDOW)) - 1n,
  }));
  const mine = new RecentIds();
  assert.equal(diff(mine, { origins }).length, 256);
  assert.equal(diff(mine, { origins }, { maxPull: 10 }).length, 10);
  assert.deepEqual(diff(mine, { origins }, { accept: (hid) => hid === "3" }).length, 65);
  // Nothing in a digest changes what I hold.
  assert.equal(mine.origins, 0);
  // msgIDs below 1 are never asked for.
  const low: Digest = { origins: [{ originHid: "1", high: 2n, mask: (1n << 64n) - 1n }] };
  assert.deepEqual(diff(mine, low).map((w) => w.msgId), [2n, 1n]);
});

Deno.test("digest: the op body goes there and back, and malformed bodies are refused", () => {
  const d = holding([3n, 5n, 6n]).digest();
  const body = JSON.parse(JSON.stringify(digestBody("room1", d)));
  assert.deepEqual(parseDigest(body), { room: "room1", digest: d });
  const bad = [
    { room: "room1", origins: "x" },
    { room: "", origins: [] },
    { room: "room1", origins: [["1", "2"]] },
    { room: "room1", origins: [["x", "2", "0"]] },
    { room: "room1", origins: [["1", "2", "10000000000000000"]] },
    { room: "room1", origins: [["1", "2", "0"], ["1", "3", "0"]] },
    { room: "room1", origins: Array.from({ length: 257 }, (_, i) => [String(i), "1", "0"]) },
  ];
  for (const b of bad) assert.throws(() => parseDigest(b), ProtocolError, JSON.stringify(b));
});
