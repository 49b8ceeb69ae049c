import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../lib/errors.ts";
import { FrameReader, RawFrame } from "../lib/frame_reader.ts";
import { decodeFrame, encodeFrame, type Frame, type TextHeader } from "../lib/frames.ts";
import { CORPUS, frame } from "./support/frame_arbitraries.ts";
import { extensionFrame } from "./support/extension_arbitraries.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cuts `bytes` at the given points (taken modulo its length). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => (bytes.length === 0 ? 0 : p % bytes.length)))].sort((
    a,
    b,
  ) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

Deno.test("frame reader: splits coalesced frames and joins split ones", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  assert.deepEqual(reader.push(enc.encode("L::\r\nJ:room:al")).map((f) => dec.decode(f)), [
    "L::\r\n",
  ]);
  assert.equal(reader.buffered, 9);
  assert.deepEqual(reader.push(enc.encode("ice:127.0.0.1:5::\r\nA::")).map((f) => dec.decode(f)), [
    "J:room:alice:127.0.0.1:5::\r\n",
  ]);
  assert.deepEqual(reader.push(enc.encode("\r\n")).map((f) => dec.decode(f)), ["A::\r\n"]);
  assert.equal(reader.buffered, 0);
});

Deno.test("frame reader: takes TEXT content by length, terminators inside included", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  const text = "T:r:1:n:1:11:a::\r\nL::\r\nb::\r\nK:r:n::\r\n";
  const frames = reader.push(enc.encode(text)).map((f) => dec.decode(f));
  assert.deepEqual(frames, ["T:r:1:n:1:11:a::\r\nL::\r\nb::\r\n", "K:r:n::\r\n"]);
});

Deno.test("frame reader: accepts one byte at a time", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  const all = enc.encode(CORPUS.join(""));
  const frames: string[] = [];
  for (const b of all) frames.push(...reader.push(Uint8Array.of(b)).map((f) => dec.decode(f)));
  assert.deepEqual(frames, CORPUS);
});

Deno.test("frame reader: any valid frames cut into any chunks decode to the same frames", () => {
  fc.assert(
    fc.property(
      fc.array(frame, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (frames, points) => {
        const reader = new FrameReader({ maxFrameBytes: 64 * 1024 });
        const got = cut(concat(frames.map(encodeFrame)), points).flatMap((chunk) =>
          reader.push(chunk)
        );
        assert.deepEqual(got.map(decodeFrame), frames);
        assert.equal(reader.buffered, 0);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("frame reader: arbitrary bytes raise nothing but ProtocolError and stay bounded", () => {
  const corpus = CORPUS.map((t) => enc.encode(t));
  const chunk = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...corpus));
  fc.assert(
    fc.property(fc.array(chunk, { maxLength: 40 }), (chunks) => {
      const max = 256;
      const reader = new FrameReader({ maxFrameBytes: max });
      try {
        for (const c of chunks) {
          for (const f of reader.push(c)) {
            assert.ok(f.length <= max);
            try {
              decodeFrame(f);
            } catch (e) {
              if (!(e instanceof ProtocolError)) throw e;
            }
          }
          assert.ok(reader.buffered < max, `buffered ${reader.buffered}`);
        }
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        assert.equal(e.fatal, true);
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("frame reader: refuses a line longer than the limit without holding it", () => {
  const reader = new FrameReader({ maxFrameBytes: 64 });
  const junk = new Uint8Array(16).fill(0x41);
  assert.deepEqual(reader.push(junk), []);
  assert.deepEqual(reader.push(junk), []);
  assert.deepEqual(reader.push(junk), []);
  assert.throws(() => reader.push(junk), (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.fatal, true);
    assert.match(e.message, /exceeds the limit of 64 bytes/);
    return true;
  });
});

Deno.test("frame reader: refuses a TEXT frame whose declared length exceeds the limit at once", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  assert.throws(
    () => reader.push(enc.encode("T:r:1:n:1:999999:")),
    /TEXT frame of 1000020 bytes exceeds the limit of 1024/,
  );
});

Deno.test("frame reader: refuses a TEXT frame with a bad length or terminator", () => {
  assert.throws(
    () => new FrameReader({ maxFrameBytes: 1024 }).push(enc.encode("T:r:1:n:1:x:ab::\r\n")),
    {
      name: "ProtocolError",
      message: /msgLength "x", not a number/,
    },
  );
  assert.throws(
    () => new FrameReader({ maxFrameBytes: 1024 }).push(enc.encode("T:r:1:n:1:1:ab::\r\n")),
    {
      name: "ProtocolError",
      message: /does not end with '::\\r\\n' after its 1 content bytes/,
    },
  );
});

Deno.test("frame reader: refuses a TEXT header that never ends", () => {
  const reader = new FrameReader({ maxFrameBytes: 4096 });
  assert.throws(
    () => reader.push(enc.encode("T:" + "x".repeat(600))),
    /header longer than 512 bytes/,
  );
});

Deno.test("frame reader: cuts a non-TEXT frame at its newline so a bad LIST is answered", () => {
  const reader = new FrameReader({ maxFrameBytes: 64 });
  assert.deepEqual(reader.push(enc.encode("L::\nL::\r\n")).map((f) => dec.decode(f)), [
    "L::\n",
    "L::\r\n",
  ]);
});

Deno.test("frame reader: returns the frames before a fatal error and throws it next", () => {
  const reader = new FrameReader({ maxFrameBytes: 32 });
  const frames = reader.push(enc.encode("L::\r\nA::\r\n" + "x".repeat(40)));
  assert.deepEqual(frames.map((f) => dec.decode(f)), ["L::\r\n", "A::\r\n"]);
  assert.match(reader.failure?.message ?? "", /exceeds the limit of 32 bytes/);
  assert.equal(reader.buffered, 0);
  assert.throws(() => reader.push(enc.encode("L::\r\n")), /exceeds the limit of 32 bytes/);
});

Deno.test("frame reader: rejects a limit below 16 bytes", () => {
  assert.throws(() => new FrameReader({ maxFrameBytes: 8 }), RangeError);
});

Deno.test("frame reader: hands out a TEXT frame with the header it parsed and its content span", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  assert.deepEqual(reader.feed(enc.encode("T:room1:42:alice:7:")), []);
  assert.deepEqual(reader.feed(enc.encode("5:he")), []);
  const [raw, list] = reader.feed(enc.encode("llo::\r\nL::\r\n"));
  assert.ok(raw instanceof RawFrame && list instanceof RawFrame);
  assert.equal(raw.type, "T");
  assert.equal(dec.decode(raw.bytes), "T:room1:42:alice:7:5:hello::\r\n");
  assert.deepEqual(raw.header, {
    type: "T",
    contentStart: 21,
    contentLength: 5,
    fields: ["room1", "42", "alice", "7"],
  });
  // The content is a view of the frame's bytes, not a copy.
  assert.equal(dec.decode(raw.contentBytes), "hello");
  assert.equal(raw.contentBytes.buffer, raw.bytes.buffer);
  assert.equal(raw.contentBytes.byteOffset, raw.bytes.byteOffset + 21);
  assert.deepEqual(raw.decode(), decodeFrame(raw.bytes));
  assert.equal(list.type, "L");
  assert.equal(list.header, null);
  assert.equal(list.contentBytes.length, 0);
  assert.deepEqual(list.decode(), { type: "L" });
});

Deno.test("frame reader: a RawFrame decodes from the header the reader found, without parsing it again", () => {
  const bytes = enc.encode("T:room1:42:alice:7:2:hi::\r\n");
  const parsed = new FrameReader({ maxFrameBytes: 64 }).feed(bytes)[0]!.header as TextHeader;
  // The decoder trusts the header it is given: these fields are not the bytes'.
  const header: TextHeader = { ...parsed, fields: ["other", "1", "bob", "9"] };
  assert.deepEqual(new RawFrame(bytes, header).decode(), {
    type: "T",
    room: "other",
    originHid: "1",
    originName: "bob",
    msgId: 9n,
    text: "hi",
  });
});

Deno.test("frame reader: frames are copies; the chunk may be reused at once", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  const chunk = enc.encode("L::\r\nJ:room:al");
  const [list] = reader.feed(chunk);
  chunk.fill(0x21);
  assert.equal(dec.decode(list!.bytes), "L::\r\n");
  const [join] = reader.feed(enc.encode("ice:127.0.0.1:5::\r\n"));
  assert.equal(dec.decode(join!.bytes), "J:room:alice:127.0.0.1:5::\r\n");
});

Deno.test("frame reader: with copyFrames false, frames are views of the chunk or of its buffer", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024, copyFrames: false });
  const chunk = enc.encode("L::\r\nT:r:1:n:1:2:hi::\r\nJ:room:al");
  const [list, text] = reader.feed(chunk);
  assert.equal(list!.bytes.buffer, chunk.buffer);
  assert.equal(text!.bytes.buffer, chunk.buffer);
  assert.equal(text!.bytes.byteOffset, 5);
  assert.deepEqual(text!.decode(), {
    type: "T",
    room: "r",
    originHid: "1",
    originName: "n",
    msgId: 1n,
    text: "hi",
  });
  // The rest was copied: the chunk may be reused once its frames are handled.
  chunk.fill(0x21);
  const [join] = reader.feed(enc.encode("ice:127.0.0.1:5::\r\n"));
  assert.equal(dec.decode(join!.bytes), "J:room:alice:127.0.0.1:5::\r\n");
});

Deno.test("frame reader: a fatal error with no frame before it also leaves the reader unusable", () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  assert.throws(() => reader.feed(enc.encode("T:r:1:n:1:x:ab::\r\n")), /not a number/);
  assert.match(reader.failure?.message ?? "", /not a number/);
  assert.throws(() => reader.feed(enc.encode("L::\r\n")), /not a number/);
});

Deno.test("frame reader: takes an EXTENSION frame's JSON by length, newlines and terminators inside included", () => {
  const json = '{"op":"a",\n"b":"::\\r\\n"}';
  const bytes = `X:${json.length}:${json}::\r\nL::\r\n`;
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  const frames = reader.feed(enc.encode(bytes));
  assert.deepEqual(frames.map((f) => dec.decode(f.bytes)), [
    `X:${json.length}:${json}::\r\n`,
    "L::\r\n",
  ]);
  assert.deepEqual(frames[0]!.header, { type: "X", contentStart: 5, contentLength: json.length });
  assert.equal(dec.decode(frames[0]!.contentBytes), json);
  assert.deepEqual(frames[0]!.decode(), { type: "X", op: "a", body: { b: "::\r\n" } });
  // The same, one byte at a time.
  const oneByOne = new FrameReader({ maxFrameBytes: 1024 });
  const got: string[] = [];
  for (const b of enc.encode(bytes)) {
    for (const f of oneByOne.feed(Uint8Array.of(b))) got.push(dec.decode(f.bytes));
  }
  assert.deepEqual(got, frames.map((f) => dec.decode(f.bytes)));
});

Deno.test("frame reader: an X without a digit after 'X:' is cut at its newline, as before ringchat/2", () => {
  const reader = new FrameReader({ maxFrameBytes: 64 });
  assert.deepEqual(reader.feed(enc.encode("X")), []);
  assert.deepEqual(reader.feed(enc.encode(":")), []);
  assert.deepEqual(
    reader.feed(enc.encode(":\r\nX:x::\r\nXY\nX\n")).map((f) => [dec.decode(f.bytes), f.header]),
    [["X::\r\n", null], ["X:x::\r\n", null], ["XY\n", null], ["X\n", null]],
  );
  assert.equal(reader.buffered, 0);
});

Deno.test("frame reader: refuses an EXTENSION frame with a bad length, an oversize length or a bad terminator", () => {
  const fails = (text: string, pattern: RegExp, max = 1024) =>
    assert.throws(() => new FrameReader({ maxFrameBytes: max }).feed(enc.encode(text)), (e) => {
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.fatal, true);
      assert.equal(e.frameType, "X");
      assert.match(e.message, pattern);
      return true;
    });
  fails("X:12a:{}::\r\n", /does not start with 'X:<length>:'/);
  fails("X:12345678901:", /does not start with 'X:<length>:'/);
  fails("X:2000:", /EXTENSION frame of 2011 bytes exceeds the limit of 1024/);
  fails("X:2:{}:::\r\n", /does not end with '::\\r\\n' after its 2 JSON bytes/);
  fails("X:3:{}::\r\nL::\r\n", /does not end with/);
});

Deno.test("frame reader: valid frames and EXTENSION frames cut into any chunks decode to the same frames", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(frame, extensionFrame), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (frames: Frame[], points) => {
        const reader = new FrameReader({ maxFrameBytes: 64 * 1024 });
        const got = cut(concat(frames.map(encodeFrame)), points).flatMap((chunk) =>
          reader.feed(chunk)
        );
        assert.deepEqual(got.map((f) => f.decode()), frames);
        assert.equal(reader.buffered, 0);
      },
    ),
    { numRuns: 500 },
  );
});
