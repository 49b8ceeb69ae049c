/**
 * The `peer` program: parses flags, configures logging, starts a peer and
 * wires it to a UI: JSON lines with `--json`, an interactive prompt on a
 * terminal, plain lines on a pipe. Commands come from stdin, one per line.
 * `/quit`, end of input, SIGINT and SIGTERM release every socket and exit 0.
 *
 *     peer [REGISTRY_HOST REGISTRY_PORT MY_PORT] [--registry HOST:PORT] [--port N]
 *          [--advertise IP] [--name NAME] [--room ROOM] [--json] [--keepalive-ms MS]
 *          [--retry-ms MS] [--poke-timeout-ms MS] [--handshake-timeout-ms MS]
 *          [--request-timeout-ms MS] [--max-text-bytes N] [--frame-timeout-ms MS]
 *          [--max-handshakes N] [--max-queued-bytes N] [--max-registry-frame-bytes N]
 *          [--max-text-rate N] [--text-burst N] [--max-poke-rate N] [--poke-burst N]
 *          [--max-stranger-poke-rate N] [--refresh-interval-ms MS]
 *          [--log-level LEVEL] [--version]
 *
 * The limits and their defaults: `docs/peer_limits.md`.
 *
 * @module
 */

import {
  argument,
  choice,
  integer,
  ipv4,
  merge,
  message,
  object,
  option,
  optional,
  port,
  socketAddress,
  string,
  withDefault,
} from "@optique/core";
import { run } from "@optique/run";
import { getLogger } from "@logtape/logtape";
import { integerOption } from "../lib/cli_options.ts";
import { VERSION } from "../lib/flags.ts";
import { configureLogging, LOG_LEVELS } from "../lib/logging.ts";
import { nameProblem } from "../lib/names.ts";
import { executeCommand, parseInputLine } from "./commands.ts";
import type { PeerEvent } from "./events.ts";
import { PEER_DEFAULTS, type PeerHandle, startPeer } from "./peer.ts";
import { JsonUi } from "./ui/json.ts";
import { type PeerUi, PlainUi } from "./ui/plain.ts";
import { TerminalUi } from "./ui/terminal.ts";

const DEFAULT_REGISTRY = { hostname: "127.0.0.1", port: 32340 };

/** The seed's form: `peer REGISTRY_HOST REGISTRY_PORT MY_PORT`, all three or none. */
const seedForm = optional(object("The seed's form", {
  registryHost: argument(string({ metavar: "REGISTRY_HOST" }), {
    description: message`Registry host (the seed's form of ${"--registry"}).`,
  }),
  registryPort: argument(port({ metavar: "REGISTRY_PORT" }), {
    description: message`Registry port.`,
  }),
  myPort: argument(port({ min: 0, metavar: "MY_PORT" }), {
    description: message`My TCP and UDP port (the seed's form of ${"--port"}).`,
  }),
}));

const flags = object({
  registry: optional(
    option("--registry", socketAddress({ requirePort: true }), {
      description:
        message`Registry address. Default ${`${DEFAULT_REGISTRY.hostname}:${DEFAULT_REGISTRY.port}`}.`,
    }),
  ),
  port: optional(
    option("--port", port({ min: 0 }), {
      description: message`TCP and UDP listening port; 0 picks a free one. Default 0.`,
    }),
  ),
  advertise: optional(
    option("--advertise", ipv4({ metavar: "IP" }), {
      description:
        message`IP sent in JOIN and handshakes. Default: the local address of the registry connection.`,
    }),
  ),
  name: optional(
    option("--name", string({ metavar: "NAME" }), {
      description: message`User name to take at start.`,
    }),
  ),
  room: optional(
    option("--room", string({ metavar: "ROOM" }), {
      description: message`Room to join at start (needs ${"--name"}).`,
    }),
  ),
  json: option("--json", {
    description: message`One JSON object per event on stdout; logs as JSON lines on stderr.`,
  }),
  keepaliveMs: integerOption(
    "--keepalive-ms",
    { min: 1, metavar: "MS" },
    message`How often to renew the membership (JOIN).`,
    PEER_DEFAULTS.keepaliveMs,
  ),
  retryMs: optional(
    option("--retry-ms", integer({ min: 1, metavar: "MS" }), {
      description: message`How soon to retry when no forward link could be made.`,
    }),
  ),
  pokeTimeoutMs: integerOption(
    "--poke-timeout-ms",
    { min: 1, metavar: "MS" },
    message`How long to wait for a poke's ACK.`,
    PEER_DEFAULTS.pokeTimeoutMs,
  ),
  handshakeTimeoutMs: integerOption(
    "--handshake-timeout-ms",
    { min: 1, metavar: "MS" },
    message`How long a link handshake may take; an accepted connection must send its first frame within it.`,
    PEER_DEFAULTS.handshakeTimeoutMs,
  ),
  requestTimeoutMs: integerOption(
    "--request-timeout-ms",
    { min: 1, metavar: "MS" },
    message`How long a registry request may wait for its reply.`,
    PEER_DEFAULTS.requestTimeoutMs,
  ),
  maxTextBytes: integerOption(
    "--max-text-bytes",
    { min: 1, metavar: "BYTES" },
    message`Longest chat text sent or accepted; a link frame may be 1 KiB longer.`,
    PEER_DEFAULTS.maxTextBytes,
  ),
  frameTimeoutMs: integerOption(
    "--frame-timeout-ms",
    { min: 1, metavar: "MS" },
    message`Drop a link whose frame does not complete within this.`,
    PEER_DEFAULTS.frameTimeoutMs,
  ),
  maxHandshakes: integerOption(
    "--max-handshakes",
    { min: 1, metavar: "N" },
    message`Accepted connections handshaking at once; more are closed.`,
    PEER_DEFAULTS.maxHandshakes,
  ),
  maxQueuedBytes: integerOption(
    "--max-queued-bytes",
    { min: 1, metavar: "BYTES" },
    message`Bytes waiting to be sent on one link before it is dropped as too slow.`,
    PEER_DEFAULTS.maxQueuedBytes,
  ),
  maxRegistryFrameBytes: integerOption(
    "--max-registry-frame-bytes",
    { min: 16, metavar: "BYTES" },
    message`Largest registry reply accepted.`,
    PEER_DEFAULTS.maxRegistryFrameBytes,
  ),
  maxTextRate: integerOption(
    "--max-text-rate",
    { min: 0, metavar: "N" },
    message`Messages per second accepted from one origin; more are dropped. 0: no limit.`,
    PEER_DEFAULTS.maxTextRate,
  ),
  textBurst: integerOption(
    "--text-burst",
    { min: 1, metavar: "N" },
    message`Messages accepted at once from one origin above the rate.`,
    PEER_DEFAULTS.textBurst,
  ),
  maxPokeRate: integerOption(
    "--max-poke-rate",
    { min: 0, metavar: "N" },
    message`Pokes answered per second from one address; more are ignored. 0: no limit.`,
    PEER_DEFAULTS.maxPokeRate,
  ),
  pokeBurst: integerOption(
    "--poke-burst",
    { min: 1, metavar: "N" },
    message`Pokes answered at once from one address above the rate.`,
    PEER_DEFAULTS.pokeBurst,
  ),
  maxStrangerPokeRate: integerOption(
    "--max-stranger-poke-rate",
    { min: 0, metavar: "N" },
    message`Pokes answered per second from all non-member addresses together. 0: no limit.`,
    PEER_DEFAULTS.maxStrangerPokeRate,
  ),
  refreshIntervalMs: integerOption(
    "--refresh-interval-ms",
    { min: 1, metavar: "MS" },
    message`Least time between re-JOINs that look up an unknown member.`,
    PEER_DEFAULTS.refreshIntervalMs,
  ),
  logLevel: withDefault(
    option("--log-level", choice(LOG_LEVELS, { metavar: "LEVEL" }), {
      description: message`Lowest level of log records written to stderr.`,
    }),
    "warning" as const,
  ),
});

const args = run(merge(seedForm, flags), {
  programName: "peer",
  args: Deno.args,
  brief: message`A P2PChat peer: chat in a room over a ring of TCP links.`,
  footer: message`Commands on stdin: /user NAME, /list, /join ROOM, /send TEXT (or any line not
starting with /), /poke [NAME], /who, /links, /quit, /help.`,
  help: "option",
  version: VERSION,
  colors: false,
  maxWidth: 80,
  showDefault: true,
  errorExitCode: 2,
});

/** A rate flag's 0 means no limit. */
function unlimitedIfZero(rate: number): number {
  return rate === 0 ? Infinity : rate;
}

function usageError(text: string): never {
  console.error(`peer: ${text}`);
  Deno.exit(2);
}

if (args.registryHost !== undefined && (args.registry !== undefined || args.port !== undefined)) {
  usageError("give the registry and port as REGISTRY_HOST REGISTRY_PORT MY_PORT or as flags");
}
if (args.room !== undefined && args.name === undefined) usageError("--room needs --name");
const nameError = args.name === undefined ? null : nameProblem(args.name, "User name");
if (nameError !== null) usageError(`--name: ${nameError}`);
const roomError = args.room === undefined ? null : nameProblem(args.room, "Room name");
if (roomError !== null) usageError(`--room: ${roomError}`);

await configureLogging({ level: args.logLevel, json: args.json });
const logger = getLogger(["ringchat", "peer", "main"]);

const ui: PeerUi = args.json
  ? new JsonUi()
  : Deno.stdin.isTerminal() && Deno.stdout.isTerminal()
  ? new TerminalUi()
  : new PlainUi();

let peer: PeerHandle | undefined;
let outputBroken = false;
let quitRequested = false;

/** Quits on SIGINT and SIGTERM, even one that comes while the peer is starting. */
function requestQuit(): void {
  quitRequested = true;
  void peer?.quit();
}
Deno.addSignalListener("SIGINT", requestQuit);
Deno.addSignalListener("SIGTERM", requestQuit);

function render(event: PeerEvent): void {
  if (outputBroken) return;
  try {
    ui.render(event);
  } catch (error) {
    // Nobody reads stdout any more: stop.
    outputBroken = true;
    logger.error("Cannot write to stdout, quitting: {error}", { error });
    requestQuit();
  }
}

try {
  peer = await startPeer({
    registry: args.registryHost !== undefined
      ? { hostname: args.registryHost, port: args.registryPort }
      : args.registry !== undefined
      ? { hostname: args.registry.host, port: args.registry.port }
      : DEFAULT_REGISTRY,
    port: args.myPort ?? args.port ?? 0,
    advertise: args.advertise,
    name: args.name,
    room: args.room,
    keepaliveMs: args.keepaliveMs,
    retryMs: args.retryMs,
    pokeTimeoutMs: args.pokeTimeoutMs,
    handshakeTimeoutMs: args.handshakeTimeoutMs,
    requestTimeoutMs: args.requestTimeoutMs,
    maxTextBytes: args.maxTextBytes,
    frameTimeoutMs: args.frameTimeoutMs,
    maxHandshakes: args.maxHandshakes,
    maxQueuedBytes: args.maxQueuedBytes,
    maxRegistryFrameBytes: args.maxRegistryFrameBytes,
    maxTextRate: unlimitedIfZero(args.maxTextRate),
    textBurst: args.textBurst,
    maxPokeRate: unlimitedIfZero(args.maxPokeRate),
    pokeBurst: args.pokeBurst,
    maxStrangerPokeRate: unlimitedIfZero(args.maxStrangerPokeRate),
    refreshIntervalMs: args.refreshIntervalMs,
    onEvent: render,
  });
} catch (error) {
  ui.close();
  console.error(`peer: cannot start: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
if (quitRequested) void peer.quit();

/** Runs the command lines until end of input or `/quit`. */
async function readCommands(peer: PeerHandle): Promise<void> {
  for await (const line of ui.lines()) {
    const command = parseInputLine(line, args.json);
    if (command === null) continue;
    if (command.type === "invalid") {
      render({ type: "error", message: command.message });
      continue;
    }
    try {
      await executeCommand(peer, command, () => ui.help());
    } catch (error) {
      logger.error("Command {command} failed: {error}", { command: command.type, error });
      render({ type: "error", message: error instanceof Error ? error.message : String(error) });
    }
    if (command.type === "quit") return;
  }
}

const input = readCommands(peer).catch((error) => {
  logger.error("Cannot read commands, quitting: {error}", { error });
});
await Promise.race([input, peer.closed]);
await peer.quit();
await peer.closed;
ui.close();
Deno.removeSignalListener("SIGINT", requestQuit);
Deno.removeSignalListener("SIGTERM", requestQuit);
Deno.exit(0);
