/**
 * `JSON.parse` that names object keys written with escapes right.
 *
 * The V8 of Deno 2.9.6 (15.0.245.2) builds a parsed object along the hidden
 * class transitions that earlier objects with the same first keys made (an
 * object literal, an earlier `JSON.parse`). When the next transition's key is
 * as long as the key being parsed once unescaped, it takes that transition
 * when its key equals the *raw* text of the key over that length, escapes
 * and all. So after
 * `JSON.parse('{"op":0,"\\\\":1}')` (a key `\`), `JSON.parse('{"op":"","\\u00e9":0}')`
 * returns the key `\` (the first raw character of `\u00e9`), not `é`; a
 * reviver sees the wrong key too. Node 20 (V8 11.3) parses it right. Keys
 * without a backslash are immune: their raw text is their value.
 *
 * {@linkcode parseJson} takes the plain `JSON.parse` path unless some key has
 * an escape; then it parses again with every key replaced by a placeholder
 * without escapes (`"k0"`, `"k1"`, …, one per distinct key) and puts the real
 * keys, each unescaped as a lone string (which V8 gets right), back in place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJson } from "./json_parse.ts";
 * JSON.parse('{"op":0,"\\\\":1}');
 * assert.deepEqual(parseJson('{"op":0,"\\u00e9":1}'), { op: 0, "é": 1 });
 * ```
 *
 * @module
 */

/** A JSON string token: outside strings, JSON text has no `"`, so these match in order. */
const STRING = /"(?:[^"\\]|\\.)*"/g;

/**
 * Parses JSON text as `JSON.parse` (no reviver) should, escaped object keys
 * included; see the module doc.
 *
 * @throws {SyntaxError} when `text` is not JSON, as `JSON.parse`
 */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (!text.includes("\\") || !hasEscapedKey(text)) return value;
  const keys: string[] = [];
  const placeholders = new Map<string, string>();
  const masked = text.replace(STRING, (token: string, at: number) => {
    if (!isKey(text, at + token.length)) return token;
    const key = JSON.parse(token) as string;
    let placeholder = placeholders.get(key);
    if (placeholder === undefined) {
      placeholder = `k${keys.length}`;
      keys.push(key);
      placeholders.set(key, placeholder);
    }
    return `"${placeholder}"`;
  });
  return restoreKeys(JSON.parse(masked), keys);
}

/** True when a string token of `text` (valid JSON) has a `\\` and is an object key. */
function hasEscapedKey(text: string): boolean {
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) {
    let escaped = false;
    for (i++; text.charCodeAt(i) !== 0x22; i++) {
      if (text.charCodeAt(i) === 0x5c) {
        escaped = true;
        i++;
      }
    }
    if (escaped && isKey(text, i + 1)) return true;
  }
  return false;
}

/** True when the string token ending at `end` is an object key: a `:` follows it. */
function isKey(text: string, end: number): boolean {
  let i = end;
  while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  return text.charCodeAt(i) === 0x3a;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Rebuilds every object of `root` with `keys[n]` for its placeholder `kn`, in
 * the same order. A loop, not a recursion: deep nesting cannot overflow.
 */
function restoreKeys(root: unknown, keys: readonly string[]): unknown {
  const rename = (masked: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const placeholder of Object.keys(masked)) {
      // defineProperty, as JSON.parse does: a key "__proto__" stays a plain property.
      Object.defineProperty(out, keys[Number(placeholder.slice(1))]!, {
        value: masked[placeholder],
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
    return out;
  };
  const holder: unknown[] = [root];
  const pending: object[] = [holder];
  for (let container = pending.pop(); container !== undefined; container = pending.pop()) {
    const record = container as Record<string, unknown>;
    const fields = Array.isArray(container) ? container.keys() : Object.keys(container);
    for (const field of fields) {
      const value = record[field];
      if (typeof value !== "object" || value === null) continue;
      if (!Array.isArray(value)) {
        Object.defineProperty(record, field, { value: rename(value as Record<string, unknown>) });
      }
      pending.push(record[field] as object);
    }
  }
  return holder[0];
}
