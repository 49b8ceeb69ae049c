/**
 * The `registry` program: parses flags, configures logging, starts a
 * registry, prints `listening on HOST:PORT`, and closes everything on
 * SIGINT or SIGTERM.
 *
 *     registry [PORT] [--port N] [--host ADDR] [--expiry-ms MS] [--sweep-ms MS]
 *              [--max-connections N] [--first-frame-timeout-ms MS] [--max-frame-bytes N]
 *              [--max-rooms N] [--max-members N] [--request-rate N] [--request-burst N]
 *              [--log-level LEVEL] [--json] [--version]
 *
 * The limits and their defaults: `docs/limits.md`.
 *
 * @module
 */

import {
  argument,
  choice,
  integer,
  message,
  object,
  option,
  optional,
  string,
  withDefault,
} from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../lib/cli_options.ts";
import { VERSION } from "../lib/flags.ts";
import { configureLogging, LOG_LEVELS } from "../lib/logging.ts";
import { REGISTRY_DEFAULTS, startRegistry } from "./registry.ts";

const parser = object({
  positionalPort: optional(
    argument(integer({ min: 0, max: 65535, metavar: "PORT" }), {
      description: message`Port to listen on (the seed's form of ${"--port"}).`,
    }),
  ),
  port: optional(
    option("--port", integer({ min: 0, max: 65535, metavar: "PORT" }), {
      description: message`Port to listen on (default 32340); 0 picks a free one.`,
    }),
  ),
  host: withDefault(
    option("--host", string({ metavar: "ADDR" }), {
      description: message`Address to listen on.`,
    }),
    REGISTRY_DEFAULTS.hostname,
  ),
  expiryMs: integerOption(
    "--expiry-ms",
    { min: 1, metavar: "MS" },
    message`Remove a member not heard from for longer than this.`,
    REGISTRY_DEFAULTS.expiryMs,
  ),
  sweepMs: integerOption(
    "--sweep-ms",
    { min: 1, metavar: "MS" },
    message`How often to look for expired members.`,
    REGISTRY_DEFAULTS.sweepMs,
  ),
  maxConnections: integerOption(
    "--max-connections",
    { min: 1, metavar: "N" },
    message`Client connections served at once; more are refused.`,
    REGISTRY_DEFAULTS.maxConnections,
  ),
  firstFrameTimeoutMs: integerOption(
    "--first-frame-timeout-ms",
    { min: 1, metavar: "MS" },
    message`Close a connection that sends no valid frame within this.`,
    REGISTRY_DEFAULTS.firstFrameTimeoutMs,
  ),
  maxFrameBytes: integerOption(
    "--max-frame-bytes",
    { min: 16, metavar: "BYTES" },
    message`Largest frame accepted, and the most held of an unfinished frame per connection.`,
    REGISTRY_DEFAULTS.maxFrameBytes,
  ),
  maxRooms: integerOption(
    "--max-rooms",
    { min: 1, metavar: "N" },
    message`Rooms at once; a JOIN creating one more is refused.`,
    REGISTRY_DEFAULTS.maxRooms,
  ),
  maxMembersPerRoom: integerOption(
    "--max-members",
    { min: 1, metavar: "N" },
    message`Members in one room; a JOIN adding one more is refused.`,
    REGISTRY_DEFAULTS.maxMembersPerRoom,
  ),
  requestsPerSecond: integerOption(
    "--request-rate",
    { min: 0, metavar: "N" },
    message`Requests per second per connection; over it, reading that connection pauses. 0: no limit.`,
    REGISTRY_DEFAULTS.requestsPerSecond,
  ),
  requestBurst: integerOption(
    "--request-burst",
    { min: 1, metavar: "N" },
    message`Requests a connection may make at once above the rate.`,
    REGISTRY_DEFAULTS.requestBurst,
  ),
  logLevel: withDefault(
    option("--log-level", choice(LOG_LEVELS, { metavar: "LEVEL" }), {
      description: message`Lowest level of log records written to stderr.`,
    }),
    "info" as const,
  ),
  json: option("--json", { description: message`Write log records as JSON lines.` }),
});

const args = run(parser, {
  programName: "registry",
  args: Deno.args,
  help: "option",
  version: VERSION,
  colors: false,
  maxWidth: 80,
  showDefault: true,
});

if (
  args.port !== undefined && args.positionalPort !== undefined && args.port !== args.positionalPort
) {
  console.error(`registry: PORT ${args.positionalPort} and --port ${args.port} disagree`);
  Deno.exit(2);
}

await configureLogging({ level: args.logLevel, json: args.json });

const registry = await startRegistry({
  hostname: args.host,
  port: args.port ?? args.positionalPort ?? REGISTRY_DEFAULTS.port,
  expiryMs: args.expiryMs,
  sweepMs: args.sweepMs,
  maxConnections: args.maxConnections,
  firstFrameTimeoutMs: args.firstFrameTimeoutMs,
  maxFrameBytes: args.maxFrameBytes,
  maxRooms: args.maxRooms,
  maxMembersPerRoom: args.maxMembersPerRoom,
  requestsPerSecond: args.requestsPerSecond === 0 ? Infinity : args.requestsPerSecond,
  requestBurst: args.requestBurst,
});
console.log(`listening on ${registry.hostname}:${registry.port}`);

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
