/**
 * fast-check arbitraries for valid P2PChat frames, and a corpus of real frames
 * (the bytes of PROTOCOL.md's examples and of the reference server's quirks).
 *
 * @module
 */

import fc from "fast-check";
import type { Frame, Member } from "../../lib/frames.ts";

const FIELD_CHARS: string[] = [];
for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x3a) FIELD_CHARS.push(String.fromCharCode(c));

/** A field as names and rooms are: 1–32 printable ASCII characters, no `:`. */
export const field: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(...FIELD_CHARS),
  minLength: 1,
  maxLength: 32,
});

const u64: fc.Arbitrary<bigint> = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const port: fc.Arbitrary<number> = fc.integer({ min: 0, max: 65535 });
const member: fc.Arbitrary<Member> = fc.record({ name: field, ip: field, port }).map((m) => ({
  ...m,
}));

/** Chat text that stresses the framing: colons, terminators, newlines, non-ASCII. */
export const chatText: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(":", "::", "::\r\n", ":\r\n", "\r\n", "\n", "T:", "é", "😀", "\u0000"),
      fc.string({ maxLength: 20 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));

/** Any valid frame of PROTOCOL.md §3. */
export const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.constant<Frame>({ type: "L" }),
  fc.constant<Frame>({ type: "A" }),
  fc.record({ type: fc.constant("G" as const), rooms: fc.array(field, { maxLength: 5 }) }),
  fc.record({ type: fc.constant("J" as const), room: field, name: field, ip: field, port }),
  fc.record({ type: fc.constant("D" as const), room: field, name: field, ip: field, port }),
  fc.record({
    type: fc.constant("M" as const),
    msid: u64,
    members: fc.array(member, { maxLength: 6 }),
  }),
  fc.record({
    type: fc.constant("F" as const),
    message: fc.array(field, { minLength: 1, maxLength: 3 }).map((p) => p.join(":")),
  }),
  fc.record({
    type: fc.constant("P" as const),
    room: field,
    name: field,
    ip: field,
    port,
    msgId: u64,
  }),
  fc.record({ type: fc.constant("S" as const), msgId: fc.option(u64, { nil: null }) }),
  fc.record({
    type: fc.constant("T" as const),
    room: field,
    originHid: field,
    originName: field,
    msgId: u64,
    text: chatText,
  }),
  fc.record({ type: fc.constant("K" as const), room: field, name: field }),
).map((f) => ({ ...f }) as Frame); // fc.record makes null-prototype objects; decoders make plain ones

/** Real frames, byte for byte, as the reference server and its clients send them. */
export const CORPUS: string[] = [
  "L::\r\n",
  "G::\r\n",
  "G:room1:room2::\r\n",
  "J:room1:alice:127.0.0.1:50001::\r\n",
  "J:room1:erin:127.0.0.1:50005:\r\n",
  "M:9774350085627291144:carol:127.0.0.1:50003:bob:127.0.0.1:50002:alice:127.0.0.1:50001::\r\n",
  "F:JOIN message - Wrong format!!::\r\n",
  "F:JOIN message - Already joined another chatroom!!::\r\n",
  "F:LIST message - Wrong format!!::\r\n",
  "F:Unknown message - Unknown request!!::\r\n",
  "D:room1:alice:127.0.0.1:50001::\r\n",
  "S::\r\n",
  "P:room1:alice:127.0.0.1:50001:0::\r\n",
  "S:12::\r\n",
  "T:room1:1419600254385803609:alice:1:5:hello::\r\n",
  "T:room1:1419600254385803609:alice:2:10:a:b::\r\nc:d::\r\n",
  "T:room1:alice:alice:3:2:hi::\r\n",
  "K:room1:bob::\r\n",
  "A::\r\n",
  "L::\n",
  "L:x::\r\n",
];
