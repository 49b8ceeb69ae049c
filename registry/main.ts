/**
 * The `registry` program: parses flags, configures logging, starts a
 * registry, prints `listening on HOST:PORT`, and closes everything on
 * SIGINT or SIGTERM. A port in use (or any other failure to listen) is one
 * line on stderr and exit code 1.
 *
 *     registry [OPTIONS] [PORT]
 *
 * The flags, their defaults and help come from the option table
 * (`registry/options.ts`); `registry --help` lists them, `docs/limits.md`
 * explains the limits.
 *
 * @module
 */

import { argument, integer, merge, message, object, optional } from "@optique/core";
import { runCli, usageError } from "../lib/cli_options.ts";
import { VERSION } from "../lib/flags.ts";
import { configureLogging } from "../lib/logging.ts";
import { logFileOptions } from "../lib/log_file.ts";
import { join } from "node:path";
import { defaultDataDir } from "../peer/data_dir.ts";
import { tableParser } from "../lib/option_table.ts";
import { REGISTRY_OPTION_TABLE, REGISTRY_PROGRAM_FLAGS } from "./options.ts";
import { type RegistryHandle, startRegistry } from "./registry.ts";

const positional = object("Arguments", {
  positionalPort: optional(
    argument(integer({ min: 0, max: 65535, metavar: "PORT" }), {
      description: message`Port to listen on; the same as --port.`,
    }),
  ),
});

const args = runCli(
  merge(tableParser(REGISTRY_OPTION_TABLE), tableParser(REGISTRY_PROGRAM_FLAGS), positional),
  {
    name: "registry",
    args: Deno.args,
    version: VERSION,
    brief: "A P2PChat registry: the room server peers join and list rooms with.",
    usage: ["[OPTIONS] [PORT]"],
  },
);
const json = args.json ?? REGISTRY_PROGRAM_FLAGS.json.default;
const logLevel = args.logLevel ?? REGISTRY_PROGRAM_FLAGS.logLevel.default;

if (
  args.port !== undefined && args.positionalPort !== undefined && args.port !== args.positionalPort
) {
  usageError("registry", `PORT ${args.positionalPort} and --port ${args.port} disagree`);
}

await configureLogging({ level: logLevel, json, file: logFileOptions(args) });

const {
  positionalPort,
  logLevel: _logLevel,
  json: _json,
  logFile: _logFile,
  logMaxBytes: _logMaxBytes,
  logMaxFiles: _logMaxFiles,
  ...options
} = args;
const port = options.port ?? positionalPort;
const dataDir = options.dataDir ?? registryDataDir();
let registry: RegistryHandle;
try {
  registry = await startRegistry({ ...options, dataDir, ...(port === undefined ? {} : { port }) });
} catch (error) {
  console.error(`registry: ${listenProblem(error, options.hostname, port)}`);
  Deno.exit(1);
}
console.log(`listening on ${hostPort(registry.hostname, registry.port)}`);
if (registry.metricsAddress !== null) {
  const { hostname, port } = registry.metricsAddress;
  console.log(`metrics on http://${hostPort(hostname, port)}/metrics`);
}

async function shutdown(): Promise<void> {
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  await registry.close();
  Deno.exit(0);
}

function onSignal(): void {
  shutdown().catch(() => Deno.exit(1));
}

Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

/**
 * The registry's default data directory: `registry` in the per-user data
 * directory (peer/data_dir.ts); in memory, said on stderr, when the
 * environment names none.
 */
function registryDataDir(): string {
  const base = defaultDataDir(Deno.build.os, (name) => Deno.env.get(name));
  if (base === null) {
    console.error("registry: no HOME or data directory set: accounts and mail are kept in memory");
    return ":memory:";
  }
  return join(base, "registry");
}

/** `host:port`, an IPv6 host in brackets (`[::]:32340`). */
function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** One line saying why the registry could not start. */
function listenProblem(error: unknown, hostname?: string, port?: number): string {
  const address = `${hostname ?? REGISTRY_OPTION_TABLE.hostname.default}:${
    port ?? REGISTRY_OPTION_TABLE.port.default
  }`;
  if (error instanceof Deno.errors.AddrInUse) {
    return `cannot listen on ${address}: address already in use`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `cannot listen on ${address}: permission denied`;
  }
  return `cannot start: ${error instanceof Error ? error.message : error}`;
}
