/**
 * The rules for user names and room names (PROTOCOL.md §6): 1 to 32 printable
 * ASCII characters, none of them `:`.
 *
 * @example
 * ```ts
 * import { nameProblem } from "./names.ts";
 * nameProblem("alice", "User name"); // null
 * nameProblem("a:b", "User name"); // "User name must not contain ':'"
 * ```
 *
 * @module
 */

import { MAX_NAME_BYTES } from "./limits.ts";

/**
 * Why `name` is not a valid user or room name, as a sentence starting with
 * `what`, or null when it is valid.
 */
export function nameProblem(
  name: string,
  what: string,
  maxBytes: number = MAX_NAME_BYTES,
): string | null {
  if (name.length === 0) return `${what} must not be empty`;
  if (name.includes(":")) return `${what} must not contain ':'`;
  if (!/^[\x20-\x7e]+$/.test(name)) return `${what} must be printable ASCII`;
  if (name.length > maxBytes) {
    return `${what} must be at most ${maxBytes} characters, got ${name.length}`;
  }
  return null;
}
