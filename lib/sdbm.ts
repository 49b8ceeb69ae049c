/**
 * The sdbm hash the P2PChat protocol uses for member HashIDs and room MSIDs
 * (PROTOCOL.md §4): 64-bit unsigned, wrapping.
 *
 *     h = 0; for each byte c: h = c + (h << 6) + (h << 16) - h   (mod 2^64)
 *
 * That is `h = h * 65599 + c (mod 2^64)`. It is computed here on four 16-bit
 * limbs held in plain numbers (exact, and far faster than a `bigint` per byte),
 * and returned as a `bigint`.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The multiplier of one sdbm step: 2^6 + 2^16 - 1. */
const SDBM_MULTIPLIER = 65599;
const LIMB = 65536;

/**
 * The 64-bit sdbm hash of a string's UTF-8 bytes, or of raw bytes.
 *
 * @example
 * ```ts
 * import { sdbmHash } from "./sdbm.ts";
 * sdbmHash("alice127.0.0.150001"); // 1419600254385803609n
 * ```
 */
export function sdbmHash(input: string | Uint8Array): bigint {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let i = 0; i < bytes.length; i++) {
    // Each product is below 2^33, exact in a double; carries stay below 2^17.
    let t = a0 * SDBM_MULTIPLIER + bytes[i]!;
    let carry = Math.floor(t / LIMB);
    a0 = t - carry * LIMB;
    t = a1 * SDBM_MULTIPLIER + carry;
    carry = Math.floor(t / LIMB);
    a1 = t - carry * LIMB;
    t = a2 * SDBM_MULTIPLIER + carry;
    carry = Math.floor(t / LIMB);
    a2 = t - carry * LIMB;
    t = a3 * SDBM_MULTIPLIER + carry;
    a3 = t % LIMB;
  }
  return (BigInt(a3) << 48n) | (BigInt(a2) << 32n) | (BigInt(a1) << 16n) | BigInt(a0);
}

/**
 * A member's HashID: `sdbmHash(name + ip + port)`, the port as its decimal string.
 *
 * @example
 * ```ts
 * import { hashId } from "./sdbm.ts";
 * hashId("bob", "127.0.0.1", 50002); // 7096407668745481807n
 * ```
 */
export function hashId(name: string, ip: string, port: number): bigint {
  return sdbmHash(`${name}${ip}${port}`);
}
