/**
 * Fuzzing, seeded with the corpus of real frames and of extension frames:
 * mutations of real frames (bit flips, truncations, splices of two frames,
 * inserted, replaced and deleted separator bytes, odd `msgLength`s and `X`
 * lengths) through the decoder, the frame reader in any chunking, and a live
 * in-process registry.
 *
 * Runs are bounded for CI; a longer run is one variable away:
 *
 *     RINGCHAT_FUZZ_RUNS=100000 deno task test tests/fuzz_test.ts
 *
 * `RINGCHAT_FUZZ_SEED` replays a run (fast-check prints the seed and path of a
 * failure).
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { isDisconnect, ProtocolError } from "../lib/errors.ts";
import { FrameReader, type RawFrame } from "../lib/frame_reader.ts";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  isLengthFramedExtension,
  parseExtensionHeader,
  parseTextHeader,
} from "../lib/frames.ts";
import { REGISTRY_MAX_FRAME_BYTES, REGISTRY_REPLY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import { startRegistry } from "../registry/registry.ts";
import { RawClient } from "./support/raw_client.ts";
import { CORPUS } from "./support/frame_arbitraries.ts";
import { EXTENSION_CORPUS } from "./support/extension_arbitraries.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs of each property: `RINGCHAT_FUZZ_RUNS`, or a CI-sized default. */
const RUNS = Number(Deno.env.get("RINGCHAT_FUZZ_RUNS") ?? 1000);
const SEED = Deno.env.get("RINGCHAT_FUZZ_SEED");
const PARAMS: fc.Parameters<unknown> = {
  numRuns: RUNS,
  ...(SEED === undefined ? {} : { seed: Number(SEED) }),
};
if (!(RUNS >= 1)) throw new RangeError(`RINGCHAT_FUZZ_RUNS must be at least 1, got ${RUNS}`);

const corpus = [...CORPUS, ...EXTENSION_CORPUS].map((text) => enc.encode(text));
const texts = corpus.filter((bytes) => bytes[0] === 0x54);
const extensions = corpus.filter((bytes) => bytes[0] === 0x58);
const realFrame = fc.constantFrom(...corpus);
/**
 * Bytes that matter to the framing: separators, digits, the TEXT and
 * EXTENSION types, NUL, invalid UTF-8, and what matters to JSON.
 */
const specialByte = fc.constantFrom(
  0x3a,
  0x0d,
  0x0a,
  0x30,
  0x39,
  0x2d,
  0x54,
  0x58,
  0x00,
  0xff,
  0xc3,
  0x22,
  0x7b,
  0x5c,
);
const lyingLength = fc.constantFrom(
  "0",
  "1",
  "-1",
  "",
  "x",
  " 5",
  "05",
  "4294967296",
  "9999999999",
  "99999999999",
);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A real frame, changed one way. */
const mutated: fc.Arbitrary<Uint8Array> = fc.oneof(
  realFrame,
  // Bit flips.
  fc.tuple(
    realFrame,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
  ).map(([frame, flips]) => {
    const bytes = frame.slice();
    for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit;
    return bytes;
  }),
  // Truncations, from either end.
  fc.tuple(realFrame, fc.nat(), fc.boolean()).map(([frame, n, head]) =>
    head ? frame.slice(0, n % (frame.length + 1)) : frame.slice(n % (frame.length + 1))
  ),
  // The head of one real frame spliced onto the tail of another.
  fc.tuple(realFrame, realFrame, fc.nat(), fc.nat()).map(([a, b, i, j]) =>
    concat([a.subarray(0, i % (a.length + 1)), b.subarray(j % (b.length + 1))])
  ),
  // Separator bytes inserted, replaced or deleted.
  fc.tuple(
    realFrame,
    fc.array(fc.tuple(fc.nat(), specialByte, fc.constantFrom("insert", "replace", "delete")), {
      minLength: 1,
      maxLength: 4,
    }),
  ).map(([frame, edits]) => {
    const bytes = [...frame];
    for (const [at, byte, how] of edits) {
      const i = at % (bytes.length + 1);
      if (how === "insert") bytes.splice(i, 0, byte);
      else if (bytes.length > 0 && how === "replace") bytes[i % bytes.length] = byte;
      else if (bytes.length > 0) bytes.splice(i % bytes.length, 1);
    }
    return Uint8Array.from(bytes);
  }),
  // A TEXT frame whose msgLength lies.
  fc.tuple(fc.constantFrom(...texts), lyingLength).map(([frame, length]) => {
    const fields = dec.decode(frame).split(":");
    fields[5] = length;
    return enc.encode(fields.join(":"));
  }),
  // An EXTENSION frame whose length lies.
  fc.tuple(fc.constantFrom(...extensions), lyingLength).map(([frame, length]) => {
    const fields = dec.decode(frame).split(":");
    fields[1] = length;
    return enc.encode(fields.join(":"));
  }),
);

/** A stream of mutated frames, with arbitrary bytes between some of them. */
const stream: fc.Arbitrary<Uint8Array> = fc
  .array(fc.oneof({ weight: 6, arbitrary: mutated }, fc.uint8Array({ maxLength: 16 })), {
    maxLength: 12,
  })
  .map(concat);

/** Cuts `bytes` at the given points (taken modulo its length). */
function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => (bytes.length === 0 ? 0 : p % bytes.length)))]
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    if (p > prev) chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

/** Every frame a reader returns for `chunks`, and whether it hit a fatal error. */
function readAll(
  chunks: readonly Uint8Array[],
  maxFrameBytes: number,
): { frames: string[]; fatal: boolean } {
  const reader = new FrameReader({ maxFrameBytes });
  const frames: string[] = [];
  for (const chunk of chunks) {
    let got: RawFrame[];
    try {
      got = reader.feed(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      assert.equal(error.fatal, true, "the reader throws only fatal errors");
      return { frames, fatal: true };
    }
    for (const { bytes, header } of got) {
      assert.ok(bytes.length <= maxFrameBytes, `a frame of ${bytes.length} bytes`);
      // A frame taken by length is exactly its header, its content and the terminator.
      if (header !== null) {
        assert.equal(header.contentStart + header.contentLength + 4, bytes.length);
      }
      frames.push(dec.decode(bytes));
    }
    if (reader.failure !== null) return { frames, fatal: true };
    assert.ok(reader.buffered < maxFrameBytes, `holds ${reader.buffered} bytes`);
  }
  return { frames, fatal: false };
}

/** The frame `bytes` decodes to, or null for a ProtocolError; anything else is thrown. */
function tryDecode(bytes: Uint8Array): Frame | null {
  try {
    return decodeFrame(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) return null;
    throw error;
  }
}

Deno.test("fuzz: a mutated real frame decodes to a frame that re-encodes to itself, or to a ProtocolError", () => {
  console.log(`fuzz: ${RUNS} runs per property${SEED === undefined ? "" : `, seed ${SEED}`}`);
  fc.assert(
    fc.property(mutated, (bytes) => {
      const frame = tryDecode(bytes);
      if (frame !== null) assert.deepEqual(decodeFrame(encodeFrame(frame)), frame);
    }),
    PARAMS,
  );
});

Deno.test("fuzz: a TEXT header parse of a mutated frame is null, within the bytes, or a fatal ProtocolError", () => {
  fc.assert(
    fc.property(mutated, fc.integer({ min: 8, max: 600 }), (bytes, limit) => {
      try {
        const header = parseTextHeader(bytes, limit);
        if (header === null) return;
        assert.ok(header.contentStart <= Math.min(bytes.length, limit));
        assert.ok(header.contentLength >= 0 && Number.isInteger(header.contentLength));
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        assert.equal(error.fatal, true);
      }
    }),
    PARAMS,
  );
});

Deno.test("fuzz: an EXTENSION header parse of a mutated frame is null, within the bytes, or a fatal ProtocolError", () => {
  fc.assert(
    fc.property(mutated, (bytes) => {
      if (isLengthFramedExtension(bytes) !== true) return;
      try {
        const header = parseExtensionHeader(bytes);
        if (header === null) return;
        assert.ok(header.contentStart <= bytes.length && header.contentStart <= 13);
        assert.ok(header.contentLength >= 0 && Number.isSafeInteger(header.contentLength));
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        assert.equal(error.fatal, true);
      }
    }),
    PARAMS,
  );
});

Deno.test("fuzz: the frame reader splits a mutated stream the same in any chunking, bounded", () => {
  fc.assert(
    fc.property(
      stream,
      fc.array(fc.nat(), { maxLength: 24 }),
      fc.constantFrom(16, 64, 256, REGISTRY_MAX_FRAME_BYTES),
      (bytes, points, max) => {
        const whole = readAll([bytes], max);
        assert.deepEqual(readAll(cut(bytes, points), max), whole);
        const oneByOne: Uint8Array[] = [];
        for (let i = 0; i < bytes.length; i++) oneByOne.push(bytes.subarray(i, i + 1));
        assert.deepEqual(readAll(oneByOne, max), whole);
        for (const frame of whole.frames) tryDecode(enc.encode(frame));
      },
    ),
    PARAMS,
  );
});

/** What a registry answers a frame with: `G` to LIST, `M` or `F` to JOIN, `S` to DEPART, else `F`. */
function expectedReplyTypes(frame: Uint8Array): string {
  const decoded = tryDecode(frame);
  switch (decoded?.type) {
    case "L":
      return "G";
    case "J":
      return "MF";
    case "D":
      return "S";
    default:
      return "F";
  }
}

Deno.test("fuzz: a live registry answers every frame of a mutated stream once, in order, and keeps serving", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using canary = await RawClient.connect(registry.port);
  assert.equal(await canary.request("L::\r\n"), "G::\r\n");
  await fc.assert(
    fc.asyncProperty(stream, fc.array(fc.nat(), { maxLength: 8 }), async (bytes, points) => {
      const expected = readAll([bytes], REGISTRY_MAX_FRAME_BYTES);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: registry.port });
      const replies: Uint8Array[] = [];
      const reading = (async () => {
        const reader = new FrameReader({ maxFrameBytes: REGISTRY_REPLY_MAX_FRAME_BYTES });
        const buf = new Uint8Array(16 * 1024);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) return;
            replies.push(...reader.push(buf.subarray(0, n)));
          }
        } catch (error) {
          if (!isDisconnect(error)) throw error;
        }
      })();
      try {
        try {
          for (const chunk of cut(bytes, points)) {
            let written = 0;
            while (written < chunk.length) written += await conn.write(chunk.subarray(written));
          }
          await conn.closeWrite();
        } catch (error) {
          // The registry closes the connection on a fatal frame; the rest was not needed.
          if (!isDisconnect(error)) throw error;
          assert.ok(expected.fatal, `the registry closed a stream with no fatal frame`);
        }
        await reading;
      } finally {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
        await reading.catch(() => {});
      }
      const texts = replies.map((r) => dec.decode(r));
      assert.equal(
        texts.length,
        expected.frames.length + (expected.fatal ? 1 : 0),
        `replies ${JSON.stringify(texts)} to frames ${JSON.stringify(expected.frames)}`,
      );
      expected.frames.forEach((frame, i) => {
        const type = texts[i]![0]!;
        const allowed = expectedReplyTypes(enc.encode(frame));
        assert.ok(allowed.includes(type), `${JSON.stringify(frame)} answered ${texts[i]}`);
        assert.notEqual(tryDecode(replies[i]!), null, `the reply ${texts[i]} decodes`);
      });
      if (expected.fatal) assert.match(texts.at(-1)!, /^F:/);
      // Its members left with it; the registry still answers a LIST.
      const deadline = Date.now() + 5000;
      while (registry.stats().connections > 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.deepEqual(registry.stats(), { connections: 1, rooms: 0, members: 0 });
      assert.equal(await canary.request("L::\r\n"), "G::\r\n");
    }),
    PARAMS,
  );
});
