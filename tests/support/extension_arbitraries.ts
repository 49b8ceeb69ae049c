/**
 * fast-check arbitraries for `X` extension frames (PROTOCOL.md §9), and a
 * corpus of them as a ringchat/2 party would send them.
 *
 * @module
 */

import fc from "fast-check";
import type { ExtensionFrame } from "../../lib/frames.ts";

/** Any text, non-ASCII and lone surrogates included: the encoder must escape it. */
const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("é", "😀", "\ud800", "::\r\n", "\u0000", "\\u00e9"),
);

/** A valid extension frame: a string `op` and a body of JSON data (plain objects, no `-0`). */
export const extensionFrame: fc.Arbitrary<ExtensionFrame> = fc.record({
  op: anyText,
  body: fc.dictionary(
    anyText.filter((key) => key !== "op"),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 4 },
  ),
}).map(({ op, body }) => ({
  type: "X" as const,
  op,
  body: plainJson(body) as Record<string, unknown>,
}));

/**
 * `value` as a decoder makes it: plain objects, 0 for -0. Not a pass through
 * `JSON.parse`, which V8 15 can get wrong for a key that needs an escape
 * (lib/json_parse.ts). A recursion: the arbitrary's depth is small.
 */
function plainJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainJson);
  if (typeof value !== "object" || value === null) return Object.is(value, -0) ? 0 : value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    // defineProperty, as JSON.parse does: a key "__proto__" stays a plain property.
    Object.defineProperty(out, key, {
      value: plainJson(field),
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return out;
}

/** The `X` frame of one JSON text (ASCII), with its length. */
function x(json: string): string {
  return `X:${json.length}:${json}::\r\n`;
}

/** Extension frames byte for byte, as a ringchat/2 party sends them. */
export const EXTENSION_CORPUS: string[] = [
  x('{"op":"hello"}'),
  x('{"op":"hello","version":2,"features":["names"]}'),
  x('{"op":"note","text":"caf\\u00e9"}'),
  x('{"op":"a",\n"b":"::\\r\\n"}'),
];
