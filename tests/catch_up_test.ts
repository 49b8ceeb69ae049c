import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../lib/errors.ts";
import {
  asciiJsonLength,
  HistoryChunks,
  type HistoryEntry,
  historyErrorBody,
  historyRequestBody,
  historyResponseBodies,
  MAX_JSON_BYTES,
  parseHistoryRequest,
  parseHistoryResponse,
} from "../peer/catch_up.ts";

const ALICE = "1419600254385803609";
const MAX = (1n << 64n) - 1n;

function entry(msgId: bigint, text: string, extra: Partial<HistoryEntry> = {}): HistoryEntry {
  return { originHid: ALICE, originName: "alice", msgId, at: 1_764_622_800_123, text, ...extra };
}

/** Sends the bodies through JSON as the wire would, and joins the chunks back. */
function receive(bodies: Record<string, unknown>[], maxJsonBytes = MAX_JSON_BYTES): HistoryEntry[] {
  const chunks = new HistoryChunks();
  const out: HistoryEntry[] = [];
  bodies.forEach((body, i) => {
    const json = { op: "history", ...body };
    ok(asciiJsonLength(json) <= maxJsonBytes, `frame ${i}: ${asciiJsonLength(json)} bytes`);
    const response = parseHistoryResponse(JSON.parse(JSON.stringify(body)));
    equal(response.end, i === bodies.length - 1, "only the last frame ends the answer");
    for (const e of response.messages) {
      const whole = chunks.accept(e);
      if (whole !== null) out.push(whole);
    }
  });
  equal(chunks.end(), false, "no chunk run left open");
  return out;
}

Deno.test("catch-up: a request round-trips, since with 64-bit msgIDs or newest", () => {
  const since = { room: "room1", ref: "r1", want: { since: new Map([[ALICE, MAX]]) }, limit: 1000 };
  const body = historyRequestBody(since);
  deepEqual(body, {
    room: "room1",
    ref: "r1",
    since: { [ALICE]: "18446744073709551615" },
    limit: 1000,
  });
  deepEqual(parseHistoryRequest(JSON.parse(JSON.stringify(body))), since);
  const newest = { room: "room1", ref: "r2", want: { newest: 50 }, limit: 50 };
  deepEqual(parseHistoryRequest(historyRequestBody(newest)), newest);
  equal(parseHistoryRequest({ room: "r", ref: "x", newest: 5 }).limit, 1000, "limit defaults");
});

Deno.test("catch-up: a malformed request is a ProtocolError (answer bad-request)", () => {
  const good = { room: "room1", ref: "r1", newest: 50 };
  const many = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`o${i}`, "1"]));
  for (
    const bad of [
      { ...good, room: 1 },
      { ...good, ref: "" },
      { ...good, ref: "r".repeat(33) },
      { ...good, ref: "é" },
      { ...good, newest: 0 },
      { ...good, newest: 1001 },
      { ...good, limit: 0 },
      { ...good, since: {} },
      { room: "room1", ref: "r1" },
      { room: "room1", ref: "r1", since: [] },
      { room: "room1", ref: "r1", since: { [ALICE]: 5 } },
      { room: "room1", ref: "r1", since: { [ALICE]: "18446744073709551616" } },
      { room: "room1", ref: "r1", since: many },
    ]
  ) {
    throws(
      () => parseHistoryRequest(bad as Record<string, unknown>),
      ProtocolError,
      JSON.stringify(bad).slice(0, 80),
    );
  }
});

Deno.test("catch-up: no messages is one last frame; a refusal carries its code", () => {
  const [only, ...rest] = historyResponseBodies("room1", "r1", [], { truncated: true });
  deepEqual(rest, []);
  deepEqual(parseHistoryResponse(only!), {
    room: "room1",
    ref: "r1",
    messages: [],
    end: true,
    truncated: true,
  });
  equal(parseHistoryResponse(historyErrorBody("room1", "r1", "busy")).error, "busy");
  throws(
    () => parseHistoryResponse({ ...historyErrorBody("room1", "r1", "busy"), error: "nope" }),
    ProtocolError,
  );
  throws(
    () => parseHistoryResponse({ room: "room1", ref: "r1", messages: {}, end: true }),
    ProtocolError,
  );
});

Deno.test("catch-up: 1,000 messages pack into frames within the JSON bound and come back whole", () => {
  const group = { first: 10n, count: 2, bytes: 900, digest: MAX };
  const entries = Array.from(
    { length: 1000 },
    (_, i) =>
      entry(BigInt(i) + 1n, `message ${i} ${"é😀:".repeat(i % 50)}`, i === 3 ? { group } : {}),
  );
  const bodies = historyResponseBodies("room1", "r1", entries);
  ok(bodies.length > 1, `${bodies.length} frames`);
  deepEqual(receive(bodies), entries);
});

Deno.test("catch-up: a 64 KiB message of the worst escaping goes in chunks and comes back whole", () => {
  const entries = [
    entry(1n, "\u0001".repeat(64 * 1024)),
    entry(2n, "short"),
    entry(3n, "😀".repeat(16 * 1024)),
  ];
  const bodies = historyResponseBodies("room1", "r1", entries);
  ok(bodies.length >= 8, `${bodies.length} frames`);
  deepEqual(receive(bodies), entries);
});

Deno.test("catch-up: a chunk run that breaks off is dropped, the others kept", () => {
  const long = entry(1n, "\u0001".repeat(2_500));
  const bodies = historyResponseBodies("room1", "r1", [long, entry(2n, "after")], {
    maxJsonBytes: 8_000,
    chunkBytes: 1_000,
  });
  const parsed = bodies.flatMap((b) => parseHistoryResponse(b).messages);
  const chunks = parsed.filter((e) => e.chunk !== undefined);
  equal(chunks.length, 3);
  // The middle chunk lost: the message is dropped, the next one kept.
  const joiner = new HistoryChunks();
  const out = [chunks[0]!, chunks[2]!, parsed.at(-1)!].map((e) => joiner.accept(e));
  deepEqual(out.map((e) => e?.text ?? null), [null, null, "after"]);
  // Another message between two chunks.
  const again = new HistoryChunks();
  deepEqual(
    [chunks[0]!, entry(9n, "between"), chunks[1]!, chunks[2]!].map((e) =>
      again.accept(e)?.text ?? null
    ),
    [null, "between", null, null],
  );
  // The answer ends in the middle of a run.
  const ended = new HistoryChunks();
  equal(ended.accept(chunks[0]!), null);
  equal(ended.end(), true);
  // A chunk claiming a message over 64 KiB is not held.
  equal(new HistoryChunks().accept({ ...chunks[0]!, chunk: { offset: 0, total: 70_000 } }), null);
});

Deno.test("catch-up: malformed entries are ProtocolErrors", () => {
  const good = { origin: ALICE, name: "alice", msgId: "5", at: 1, text: "hi" };
  for (
    const bad of [
      { ...good, msgId: 5 },
      { ...good, at: "1" },
      { ...good, text: 1 },
      { ...good, offset: 0 },
      { ...good, offset: 5, total: 5 },
      { ...good, offset: -1, total: 5 },
      { ...good, group: { first: "1", count: "2", bytes: 3, digest: "4" } },
      { ...good, group: [] },
    ]
  ) {
    throws(
      () => parseHistoryResponse({ room: "r", ref: "x", messages: [bad], end: true }),
      ProtocolError,
      JSON.stringify(bad),
    );
  }
});

Deno.test("catch-up: any entries round-trip through frames of any bound", () => {
  const arbitraryEntry = fc.record({
    originHid: fc.constantFrom(ALICE, "7096407668745481807", "bob"),
    originName: fc.constantFrom("alice", "bob"),
    msgId: fc.bigInt({ min: 0n, max: MAX }),
    at: fc.nat(),
    text: fc.string({ unit: "binary", maxLength: 1500 }),
  });
  fc.assert(
    fc.property(
      fc.array(arbitraryEntry, { maxLength: 30 }),
      fc.integer({ min: 4_000, max: 20_000 }),
      (entries, maxJsonBytes) => {
        const bodies = historyResponseBodies("room1", "r1", entries, {
          maxJsonBytes,
          chunkBytes: 500,
        });
        deepEqual(receive(bodies, maxJsonBytes), entries);
      },
    ),
    { numRuns: 300 },
  );
});
