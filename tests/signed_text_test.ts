/**
 * The signed text op (peer/signed_text.ts): both encodings of a text, the op
 * read back, a text too long for one op (its T follows), and signatures that
 * cover room, origin, msgID and content.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { decodeFrame, type ExtensionFrame, type TextFrame } from "../lib/frames.ts";
import { FrameReader } from "../lib/frame_reader.ts";
import { loadIdentity } from "../peer/identity.ts";
import { signText, textFromOp, textOp, verifyText } from "../peer/signed_text.ts";

const encoder = new TextEncoder();
const t: TextFrame = {
  type: "T",
  room: "room1",
  originHid: "18077499783421377068",
  originName: "carol",
  msgId: 18446744073709551615n,
  text: "héllo: ::\r\n",
};

function op(bytes: Uint8Array): ExtensionFrame {
  const frame = decodeFrame(bytes);
  if (frame.type !== "X") throw new Error("not X");
  return frame;
}

Deno.test("signed text: the op reads back as the T it stands for, ASCII only, and verifies", async () => {
  const me = await loadIdentity(null);
  const signed = await signText(me, t);
  deepEqual(decodeFrame(signed.t), t);
  ok(signed.x.every((b) => b < 0x80), "ASCII only");
  const read = textFromOp(op(signed.x).body, 64 * 1024);
  if (typeof read === "string") throw new Error(read);
  deepEqual(read.frame, t);
  deepEqual(read.content, encoder.encode(t.text));
  ok(await verifyText(me.publicKey, read.frame, read.content, read.sig!));
  // Another room, origin, msgID or content: the signature no longer verifies.
  for (const other of [{ room: "room2" }, { originHid: "1" }, { msgId: 1n }]) {
    ok(!(await verifyText(me.publicKey, { ...t, ...other }, read.content, read.sig!)));
  }
  ok(!(await verifyText(me.publicKey, t, encoder.encode("hello"), read.sig!)));
  ok(!(await verifyText((await loadIdentity(null)).publicKey, t, read.content, read.sig!)));
});

Deno.test("signed text: an unsigned op has no sig; malformed fields are named", () => {
  const unsigned = textFromOp(op(textOp(t, new Uint8Array(), null)).body, 64 * 1024);
  if (typeof unsigned === "string") throw new Error(unsigned);
  equal(unsigned.sig, null);
  const body = op(textOp(t, new Uint8Array(), new Uint8Array(64))).body;
  equal(textFromOp({ ...body, msgId: "18446744073709551616" }, 1024), "no msgId");
  equal(textFromOp({ ...body, origin: "carol" }, 1024), "no origin HashID");
  equal(textFromOp({ ...body, sig: "AAAA" }, 1024), "a malformed sig");
  equal(textFromOp({ ...body, text: 7 }, 1024), "no text");
  equal(textFromOp(body, 4), "a text of 12 bytes, over the limit of 4");
});

Deno.test("signed text: a text too long for one op travels as the op, then its T", async () => {
  const me = await loadIdentity(null);
  // 30,000 × "é": 60,000 bytes of UTF-8, 180,000 bytes of escaped JSON.
  const long = { ...t, text: "é".repeat(30_000) };
  const signed = await signText(me, long);
  const frames = new FrameReader({ maxFrameBytes: 70 * 1024 }).feed(signed.x);
  equal(frames.length, 2);
  const head = op(frames[0]!.bytes);
  const read = textFromOp(head.body, 64 * 1024);
  if (typeof read === "string") throw new Error(read);
  ok(read.follows);
  deepEqual(frames[1]!.bytes, signed.t);
  ok(await verifyText(me.publicKey, long, frames[1]!.contentBytes, read.sig!));
});
