/**
 * Signed chat text between ringchat peers (CONTRACTS2.md, docs/extensions.md
 * `text`): the `X` text op that replaces a `T` on a link whose other side
 * speaks ringchat/2, converted to and from the `T` it stands for, and the
 * check of its signature over {@linkcode textSigningInput}.
 *
 * A text whose op would be over `MAX_EXTENSION_JSON_BYTES` (lib/limits.ts) (a long text of
 * many escaped characters) travels as the op without `text` and with
 * `"follows": true`, then the `T` itself right after it on the same link;
 * the receiver pairs the two.
 *
 * @example
 * ```ts
 * import { equal, ok } from "node:assert/strict";
 * import { decodeFrame } from "../lib/frames.ts";
 * import { loadIdentity } from "./identity.ts";
 * import { signText, textFromOp, verifyText } from "./signed_text.ts";
 * const me = await loadIdentity(null);
 * const t = { type: "T", room: "r", originHid: "1", originName: "a", msgId: 2n, text: "hi" } as const;
 * const signed = await signText(me, t);
 * const x = decodeFrame(signed.x);
 * if (x.type !== "X") throw new Error("not X");
 * const got = textFromOp(x.body, 64 * 1024);
 * if (typeof got === "string") throw new Error(got);
 * equal(got.frame.text, "hi");
 * ok(await verifyText(me.publicKey, got.frame, got.content, got.sig!));
 * ```
 *
 * @module
 */

import { encodeFrame, type TextFrame } from "../lib/frames.ts";
import { type Identity, textSigningInput, verify } from "./identity.ts";
import { decode } from "./link_auth.ts";

/** The op of a chat text. */
export const TEXT_OP = "text";

const B64URL = { alphabet: "base64url", omitPadding: true } as const;
const encoder = new TextEncoder();
const U64 = (1n << 64n) - 1n;

/** A message in both encodings: the `T` for seed links, the `X` for ringchat links. */
export interface SignedText {
  /** The `T` frame's bytes. */
  t: Uint8Array;
  /** The `X` text op's bytes (with the `T` after it when it `follows`). */
  x: Uint8Array;
}

/** A text op read from a link. */
export interface TextOp {
  frame: TextFrame;
  /** Its content bytes: the UTF-8 of its text (a `T`'s content). */
  content: Uint8Array;
  /** Its signature; null for an unsigned relay (see docs/security.md). */
  sig: Uint8Array | null;
  /** True when its text is the `T` that follows it on the link. */
  follows: boolean;
}

/** Signs my text `frame` with `identity`: both encodings of it. */
export async function signText(identity: Identity, frame: TextFrame): Promise<SignedText> {
  const t = encodeFrame(frame);
  const content = encoder.encode(frame.text);
  const sig = await identity.sign(
    textSigningInput(frame.room, frame.originHid, frame.msgId, content),
  );
  return { t, x: textOp(frame, t, sig) };
}

/**
 * The `X` bytes of `frame` (whose `T` bytes are `t`), with `sig`, or unsigned
 * (null: a relay of a text whose signature I do not have).
 */
export function textOp(frame: TextFrame, t: Uint8Array, sig: Uint8Array | null): Uint8Array {
  const body: Record<string, unknown> = {
    room: frame.room,
    origin: frame.originHid,
    name: frame.originName,
    msgId: frame.msgId.toString(),
  };
  if (sig !== null) body.sig = sig.toBase64(B64URL);
  try {
    return encodeFrame({ type: "X", op: TEXT_OP, body: { ...body, text: frame.text } });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  const head = encodeFrame({ type: "X", op: TEXT_OP, body: { ...body, follows: true } });
  const both = new Uint8Array(head.length + t.length);
  both.set(head);
  both.set(t, head.length);
  return both;
}

/**
 * The text a `text` op body stands for, or why it is not one. Its text (or
 * the `T` that follows) must be at most `maxTextBytes` in UTF-8.
 */
export function textFromOp(body: Record<string, unknown>, maxTextBytes: number): TextOp | string {
  const { room, origin, name, msgId, text, sig, follows } = body;
  if (typeof room !== "string" || room.length === 0) return "no room";
  if (typeof origin !== "string" || !/^\d{1,20}$/.test(origin)) return "no origin HashID";
  if (typeof name !== "string") return "no name";
  if (typeof msgId !== "string" || !/^\d{1,20}$/.test(msgId) || BigInt(msgId) > U64) {
    return "no msgId";
  }
  let signature: Uint8Array | null = null;
  if (sig !== undefined) {
    signature = decode(sig);
    if (signature === null || signature.length !== 64) return "a malformed sig";
  }
  const frame: TextFrame = {
    type: "T",
    room,
    originHid: origin,
    originName: name,
    msgId: BigInt(msgId),
    text: "",
  };
  if (follows === true) return { frame, content: new Uint8Array(), sig: signature, follows: true };
  if (typeof text !== "string") return "no text";
  const content = encoder.encode(text);
  if (content.length > maxTextBytes) {
    return `a text of ${content.length} bytes, over the limit of ${maxTextBytes}`;
  }
  frame.text = text;
  return { frame, content, sig: signature, follows: false };
}

/** True when `sig` is `key`'s signature of the text `frame` with `content`. */
export function verifyText(
  key: string,
  frame: TextFrame,
  content: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  return verify(key, textSigningInput(frame.room, frame.originHid, frame.msgId, content), sig);
}
