/**
 * A seed client's link, for tests of what seed clients get: a
 * {@linkcode RawLink} that reads at most 1,024 bytes per `read()`, as the
 * seed's clients `recv(1024)`, with its `T` frames decoded from their bytes.
 *
 * @module
 */

import { decodeFrame, type TextFrame } from "../../lib/frames.ts";
import { textContent } from "../../peer/flood.ts";
import { RawLink } from "./raw_peer.ts";

/** A `T` frame a seed client got: decoded, with its bytes as they came. */
export interface SeedText {
  frame: TextFrame;
  raw: Uint8Array;
  content: Uint8Array;
}

/** Dials `port` as member `name` listening on `myPort` of `room`; resolves once the `S` came. */
export async function dialSeed(
  port: number,
  room: string,
  name: string,
  myPort: number,
): Promise<RawLink> {
  const link = await RawLink.connect(port, 1024);
  await link.write(`P:${room}:${name}:127.0.0.1:${myPort}:0::\r\n`);
  await link.until(() => link.frames.length > 0, "the S");
  if (!/^S:\d+::\r\n$/.test(link.frames[0]!)) {
    throw new Error(`Unexpected reply ${JSON.stringify(link.frames[0])}`);
  }
  return link;
}

/** The `T` frames `link` received, in order. */
export function seedTexts(link: RawLink): SeedText[] {
  return link.raw.filter((raw) => raw[0] === 0x54).map((raw) => ({
    frame: decodeFrame(raw) as TextFrame,
    raw,
    content: textContent(raw),
  }));
}

/** The frames `link` received that are neither `T` nor the handshake's `S` (an `X` breaks a seed client). */
export function otherFrames(link: RawLink): string[] {
  return link.frames.filter((f) => !f.startsWith("T:") && !f.startsWith("S:"));
}
