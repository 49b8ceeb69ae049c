/**
 * The registries a peer may use (issue 15's failover): `--registry
 * HOST:PORT,HOST:PORT,…`, in order, and which one is current. The peer's
 * registry client connects to the current one and, when it cannot be
 * reached, to the next, in turn; when its connection drops it starts from
 * the next one, so a dead registry is tried last. A host may be a DNS name
 * (`localhost:32340`, `registry.example:32340`) or an IPv6 address in
 * brackets (`[::1]:32340`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRegistryList, RegistryAddresses } from "./registry_addresses.ts";
 * const list = parseRegistryList("127.0.0.1:32340,[::1]:32341,localhost:32342");
 * assert.ok(Array.isArray(list));
 * const addresses = new RegistryAddresses(list);
 * assert.equal(addresses.current.port, 32340);
 * addresses.advance();
 * assert.equal(addresses.format(addresses.current), "[::1]:32341");
 * ```
 *
 * @module
 */

import {
  map,
  message,
  option,
  optional,
  socketAddress,
  type ValueParser,
  type ValueParserResult,
} from "@optique/core";
import type { OptionKind } from "../lib/option_table.ts";

/** Where one registry listens. */
export interface RegistryAddress {
  /** An IP address or a DNS name. */
  readonly hostname: string;
  readonly port: number;
}

/** One registry, or several to fail over between, in order. */
export type RegistryChoice = RegistryAddress | readonly RegistryAddress[];

/** The list of `choice`: itself, or the one address in a list. */
export function registryList(choice: RegistryChoice): readonly RegistryAddress[] {
  return isList(choice) ? choice : [choice];
}

function isList(choice: RegistryChoice): choice is readonly RegistryAddress[] {
  return Array.isArray(choice);
}

/** `host:port`, an IPv6 address in brackets. */
export function formatAddress(address: RegistryAddress): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/** The registries of a client, and the current one; see the module doc. */
export class RegistryAddresses {
  readonly #list: readonly RegistryAddress[];
  #current = 0;

  /** @throws {RangeError} when `list` is empty */
  constructor(list: readonly RegistryAddress[]) {
    if (list.length === 0) throw new RangeError("A peer needs at least one registry address");
    this.#list = [...list];
  }

  /** How many registries there are. */
  get size(): number {
    return this.#list.length;
  }

  /** The registry to connect to now. */
  get current(): RegistryAddress {
    return this.#list[this.#current]!;
  }

  /** Makes the next registry (after the last: the first) current. */
  advance(): void {
    this.#current = (this.#current + 1) % this.#list.length;
  }

  /** `host:port` of `address`. */
  format(address: RegistryAddress): string {
    return formatAddress(address);
  }

  /** Every registry as `host:port`, comma separated, from the current one. */
  toString(): string {
    const order = [...this.#list.slice(this.#current), ...this.#list.slice(0, this.#current)];
    return order.map(formatAddress).join(",");
  }
}

/**
 * The address a peer advertises for the local address `local` of its
 * registry connection (the default `ip` of its JOIN): `a.b.c.d` for
 * `::ffff:a.b.c.d`, `127.0.0.1` for `::1`, else `local` itself.
 */
export function advertisable(local: string): string {
  const lower = local.toLowerCase();
  if (lower === "::1") return "127.0.0.1";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped === null ? local : mapped[1]!;
}

const one = socketAddress({ requirePort: true, metavar: "HOST:PORT" });

/** The addresses of `HOST:PORT,HOST:PORT,…`, or the reason it is not such a list. */
export function parseRegistryList(text: string): RegistryAddress[] | string {
  const list: RegistryAddress[] = [];
  for (const item of text.split(",")) {
    const parsed = one.parse(item.trim());
    if (!parsed.success) return `${JSON.stringify(item.trim())} is not HOST:PORT`;
    list.push({ hostname: parsed.value.host, port: parsed.value.port });
  }
  return list;
}

/** The value parser of `--registry`: one or more `HOST:PORT`, comma separated. */
function registryListParser(): ValueParser<"sync", readonly RegistryAddress[]> {
  return {
    mode: "sync",
    metavar: "HOST:PORT[,…]",
    placeholder: [],
    parse(input: string): ValueParserResult<readonly RegistryAddress[]> {
      const list = parseRegistryList(input);
      return typeof list === "string"
        ? { success: false, error: message`${list}.` }
        : { success: true, value: list };
    },
    format: (value) => value.map(formatAddress).join(","),
  };
}

/** The option kind of `--registry`: one address, or a list of several to fail over between. */
export function registryChoiceKind(): OptionKind<RegistryChoice> {
  return {
    metavar: "HOST:PORT[,…]",
    problem: (value) => registryList(value).length === 0 ? "must name a registry" : null,
    flag: (name, metavar, description) =>
      optional(
        map(
          option(name, { ...registryListParser(), metavar: metavar ?? "HOST:PORT[,…]" }, {
            description,
          }),
          (list): RegistryChoice => list.length === 1 ? list[0]! : list,
        ),
      ),
    format: (value) => registryList(value).map(formatAddress).join(","),
  };
}
