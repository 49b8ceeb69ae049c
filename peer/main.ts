/**
 * The `peer` program: parses flags, configures logging, starts a peer and
 * wires it to a UI: JSON lines with `--json`, an interactive prompt on a
 * terminal, plain lines on a pipe. Commands come from stdin, one per line.
 * `/quit`, end of input, SIGINT and SIGTERM release every socket and exit 0.
 *
 *     peer [REGISTRY_HOST REGISTRY_PORT MY_PORT] [--registry HOST:PORT] [--port N]
 *          [--advertise IP] [--name NAME] [--room ROOM] [--json] [--keepalive-ms MS]
 *          [--retry-ms MS] [--poke-timeout-ms MS] [--log-level LEVEL] [--version]
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
import { VERSION } from "../lib/flags.ts";
import { configureLogging, LOG_LEVELS } from "../lib/logging.ts";
import { nameProblem } from "../lib/names.ts";
import { executeCommand, parseInputLine } from "./commands.ts";
import type { PeerEvent } from "./events.ts";
import { type PeerHandle, startPeer } from "./peer.ts";
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
  keepaliveMs: withDefault(
    option("--keepalive-ms", integer({ min: 1, metavar: "MS" }), {
      description: message`How often to renew the membership (JOIN).`,
    }),
    20_000,
  ),
  retryMs: optional(
    option("--retry-ms", integer({ min: 1, metavar: "MS" }), {
      description: message`How soon to retry when no forward link could be made.`,
    }),
  ),
  pokeTimeoutMs: withDefault(
    option("--poke-timeout-ms", integer({ min: 1, metavar: "MS" }), {
      description: message`How long to wait for a poke's ACK.`,
    }),
    2_000,
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
