/**
 * `--web [HOST:PORT]`: the flag's value may be left out. The option table
 * reads `--web HOST:PORT`; {@linkcode webFlagArgs} gives a bare `--web` (at
 * the end, or before another flag or an argument that is not `HOST:PORT`)
 * the default address first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { webFlagArgs } from "./flag.ts";
 * assert.deepEqual(webFlagArgs(["--web", "--json"]), ["--web", "127.0.0.1:0", "--json"]);
 * assert.deepEqual(webFlagArgs(["--web", "0.0.0.0:8080"]), ["--web", "0.0.0.0:8080"]);
 * ```
 *
 * @module
 */

import { map, option, optional, socketAddress } from "@optique/core";
import { hostPortKind, type OptionKind } from "../../lib/option_table.ts";

/** Where `--web` alone serves the page: this machine only, any free port. */
export const DEFAULT_WEB_ADDRESS = "127.0.0.1:0";

/** `args` with a value given to every bare `--web`. */
export function webFlagArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    out.push(arg);
    if (arg === "--") {
      out.push(...args.slice(i + 1));
      break;
    }
    if (arg !== "--web") continue;
    const next = args[i + 1];
    if (next === undefined || next.startsWith("-") || !/:\d+$/.test(next)) {
      out.push(DEFAULT_WEB_ADDRESS);
    }
  }
  return out;
}

/** An address to listen on: the flag takes `HOST:PORT`, port 0 for any free one. */
export function listenAddressKind(): OptionKind<{ hostname: string; port: number }> {
  return {
    ...hostPortKind(),
    flag: (name, metavar, description) =>
      optional(
        map(
          option(
            name,
            socketAddress({
              requirePort: true,
              port: { min: 0 },
              metavar: metavar ?? "HOST:PORT",
            }),
            { description },
          ),
          ({ host, port }) => ({ hostname: host, port }),
        ),
      ),
  };
}
