/**
 * Field kinds the ringchat/2 ops of `docs/extensions.md` share. A 64-bit
 * unsigned number (msgID, HashID, digest) travels as a decimal string: JSON
 * numbers are exact only up to 2^53.
 *
 * @module
 */

import { ProtocolError } from "../lib/errors.ts";

const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Reads a 64-bit unsigned decimal string (no sign, no leading zero).
 *
 * @throws {ProtocolError} naming `what` when `value` is anything else
 */
export function decimalUint64(value: unknown, what: string): bigint {
  if (typeof value !== "string" || !/^(0|[1-9][0-9]{0,19})$/.test(value)) {
    throw new ProtocolError(`${what} must be a decimal string`, { frameType: "X" });
  }
  const n = BigInt(value);
  if (n > MAX_UINT64) throw new ProtocolError(`${what} is over 2^64 - 1`, { frameType: "X" });
  return n;
}

/** A ProtocolError about an `X` op's body. */
export function opError(message: string): ProtocolError {
  return new ProtocolError(message, { frameType: "X" });
}
