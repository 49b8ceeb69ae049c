/**
 * Source addresses of registry connections: their normal form, loopback,
 * lists of trusted addresses (`127.0.0.1,::1`, `10.0.0.0/8`), and whether
 * the `ip` a JOIN advertises may be believed of a connection from a source.
 *
 * The rule for the advertised ip (option `allowAnyIp` off, source not
 * trusted): it must be the connection's source address, written the same
 * way (IPv4-mapped IPv6 `::ffff:a.b.c.d` counts as `a.b.c.d`, IPv6 case is
 * ignored); a connection from a loopback address may advertise any loopback
 * address (`127.0.0.0/8`, `::1`) or `localhost`, since it runs on the
 * registry's own host and some clients hard-code those (PROTOCOL.md §8).
 * Anything else (another address, a host name, `0.0.0.0`) is refused.
 *
 * @module
 */

/** The normal form of an address: IPv4-mapped IPv6 as IPv4, IPv6 lower case. */
export function normalAddress(address: string): string {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped === null ? lower : mapped[1]!;
}

/** The 32-bit value of a dotted IPv4 address, or null when `address` is not one. */
function ipv4Value(address: string): number | null {
  const parts = address.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const byte = Number(part);
    if (byte > 255) return null;
    value = value * 256 + byte;
  }
  return value;
}

/** True for `127.0.0.0/8`, `::1` and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  const normal = normalAddress(address);
  if (normal === "::1") return true;
  const v4 = ipv4Value(normal);
  return v4 !== null && v4 >>> 24 === 127;
}

/**
 * A list of trusted source addresses: exact addresses and IPv4 prefixes,
 * comma separated (`127.0.0.1,::1`, `10.0.0.0/8`); `""` or `none`: no
 * address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressList } from "./source_address.ts";
 * const list = new AddressList("127.0.0.1,::1,10.0.0.0/8");
 * assert.ok(list.has("127.0.0.1") && list.has("::ffff:127.0.0.1") && list.has("10.2.3.4"));
 * assert.ok(!list.has("127.0.0.4"));
 * ```
 */
export class AddressList {
  readonly #exact = new Set<string>();
  readonly #prefixes: { value: number; mask: number }[] = [];

  /** @throws {RangeError} on an entry that is neither an address nor an IPv4 prefix */
  constructor(list: string) {
    const problem = AddressList.problem(list);
    if (problem !== null) throw new RangeError(problem);
    for (const entry of AddressList.#entries(list)) {
      const slash = entry.indexOf("/");
      if (slash < 0) {
        this.#exact.add(normalAddress(entry));
        continue;
      }
      const bits = Number(entry.slice(slash + 1));
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      this.#prefixes.push({ value: (ipv4Value(entry.slice(0, slash))! & mask) >>> 0, mask });
    }
  }

  /** Why `list` is not a valid list ("… is not …"), or null when it is. */
  static problem(list: string): string | null {
    for (const entry of AddressList.#entries(list)) {
      const slash = entry.indexOf("/");
      if (slash < 0) {
        if (ipv4Value(entry) === null && !/^[0-9a-f:.]+$/i.test(entry)) {
          return `must list IP addresses or IPv4 prefixes: ${JSON.stringify(entry)} is not one`;
        }
        continue;
      }
      const bits = entry.slice(slash + 1);
      if (
        ipv4Value(entry.slice(0, slash)) === null || !/^\d{1,2}$/.test(bits) || Number(bits) > 32
      ) {
        return `must list IP addresses or IPv4 prefixes: ${JSON.stringify(entry)} is not one`;
      }
    }
    return null;
  }

  static #entries(list: string): string[] {
    const trimmed = list.trim();
    if (trimmed === "" || trimmed === "none") return [];
    return trimmed.split(",").map((e) => e.trim()).filter((e) => e !== "");
  }

  /** True when `address` is listed or inside a listed prefix. */
  has(address: string): boolean {
    const normal = normalAddress(address);
    if (this.#exact.has(normal)) return true;
    if (this.#prefixes.length === 0) return false;
    const v4 = ipv4Value(normal);
    if (v4 === null) return false;
    return this.#prefixes.some((p) => ((v4 & p.mask) >>> 0) === p.value);
  }
}

/**
 * True when a JOIN from a connection whose source address is `source` may
 * advertise `ip` (the rule of this module's header).
 */
export function mayAdvertise(ip: string, source: string): boolean {
  const normal = normalAddress(source);
  if (normalAddress(ip) === normal) return true;
  return isLoopback(normal) && (ip === "localhost" || isLoopback(ip));
}
