/**
 * The permission and unstable flags of ringchat's programs, from one source:
 * the `permissions` sets and the `unstable` list of `deno.json`. The tasks use
 * those sets by name (`deno run -P=registry`); the compile task, the fault
 * tests and the benchmarks use the flags this module derives from them, so a
 * spawned program runs with exactly what a compiled binary gets.
 *
 * @example
 * ```ts
 * import { runArgs } from "./flags.ts";
 * const cmd = new Deno.Command(Deno.execPath(), {
 *   args: runArgs("registry", ["--port", "0"]),
 * });
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };

/** The programs ringchat ships. */
export type Program = "registry" | "peer";

/** A permission value in a `deno.json` permission set. */
export type PermissionValue = boolean | string[];

const PERMISSION_FLAGS: Record<string, string> = {
  net: "--allow-net",
  read: "--allow-read",
  write: "--allow-write",
  env: "--allow-env",
  run: "--allow-run",
  sys: "--allow-sys",
  ffi: "--allow-ffi",
  import: "--allow-import",
};

/** The version in `deno.json`. */
export const VERSION: string = config.version;

/** `--unstable-*` flags from `deno.json`'s `unstable` list. */
export function unstableFlags(): string[] {
  return config.unstable.map((feature) => `--unstable-${feature}`);
}

/** The `--allow-*` flags of a program's permission set in `deno.json`. */
export function permissionFlags(program: Program): string[] {
  return permissionSetFlags(
    (config.permissions as Record<Program, Record<string, PermissionValue>>)[program],
  );
}

/**
 * The `--allow-*` flags of a permission set as `deno.json` writes it:
 * `true` grants all of a kind, a list grants those entries, `false` or an
 * empty list grants nothing.
 *
 * @example
 * ```ts
 * import { permissionSetFlags } from "./flags.ts";
 * permissionSetFlags({ net: true, env: ["NO_COLOR"] }); // ["--allow-net", "--allow-env=NO_COLOR"]
 * ```
 */
export function permissionSetFlags(set: Record<string, PermissionValue>): string[] {
  const flags: string[] = [];
  for (const [name, value] of Object.entries(set)) {
    const flag = PERMISSION_FLAGS[name];
    if (flag === undefined) throw new TypeError(`Unknown permission ${name} in deno.json`);
    if (value === true) flags.push(flag);
    else if (Array.isArray(value) && value.length > 0) flags.push(`${flag}=${value.join(",")}`);
  }
  return flags;
}

/**
 * The environment every ringchat program runs with.
 *
 * `DENO_TOKIO_EVENT_INTERVAL=1` makes Deno's I/O driver look for ready
 * sockets on every turn of its event loop instead of every 61st (its
 * default). Under load a socket otherwise waits tens of milliseconds to be
 * noticed. Measured on the 2-core machine (`deno task bench:registry`, 200
 * clients): registry JOIN p99 4.1–4.2 ms instead of 12–13 ms at the same
 * ~100,000 JOIN/s; in-process propagation to the last of 200 peers p50
 * 7.0–7.5 ms instead of 9–14 ms. Deno reads it when the process starts, so
 * it must be in the environment of the process (the tasks, the cluster and
 * the benchmarks set it; a compiled binary needs it from its caller).
 */
export function programEnv(_program: Program): Record<string, string> {
  return { DENO_TOKIO_EVENT_INTERVAL: "1" };
}

/** Every flag a program runs with: unstable features, then permissions. */
export function programFlags(program: Program): string[] {
  return [...unstableFlags(), ...permissionFlags(program)];
}

/** The source entry point of a program, as an absolute path. */
export function entryPoint(program: Program): string {
  return fileURLToPath(new URL(`../${program}/main.ts`, import.meta.url));
}

/**
 * Arguments for `Deno.execPath()` that run a program from source with exactly
 * the flags its compiled binary gets, followed by the program's own arguments.
 */
export function runArgs(program: Program, args: readonly string[] = []): string[] {
  return ["run", "--quiet", "--no-prompt", ...programFlags(program), entryPoint(program), ...args];
}
