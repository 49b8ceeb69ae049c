/**
 * The `peer` program: parses flags, configures logging, starts a peer and
 * wires it to a UI: JSON lines with `--json`, an interactive prompt on a
 * terminal, plain lines on a pipe. Commands come from stdin, one per line.
 * With `--web [HOST:PORT]` the peer also serves its web page (`web/`), and
 * prints its URL (`web on http://127.0.0.1:PORT/?token=…`).
 * `/quit`, end of input, SIGINT and SIGTERM release every socket and exit 0.
 *
 *     peer [OPTIONS]
 *     peer [OPTIONS] REGISTRY_HOST REGISTRY_PORT MY_PORT
 *
 * The flags, their defaults and help come from the option table
 * (`peer/options.ts`); `peer --help` lists them, `docs/peer_limits.md`
 * explains the limits.
 *
 * @module
 */

import { argument, merge, message, object, optional, port, string } from "@optique/core";
import { getLogger } from "@logtape/logtape";
import { runCli, usageError } from "../lib/cli_options.ts";
import { VERSION } from "../lib/flags.ts";
import { logFileOptions } from "../lib/log_file.ts";
import { configureLogging } from "../lib/logging.ts";
import { nameProblem } from "../lib/names.ts";
import { tableParser } from "../lib/option_table.ts";
import { type Command, commandSummary, executeCommand, parseInputLine } from "./commands.ts";
import { needsPassword } from "./people_commands.ts";
import { defaultDataDir } from "./data_dir.ts";
import type { PeerEvent } from "./events.ts";
import { type PeerHandle, startPeer } from "./peer.ts";
import { PEER_OPTION_GROUPS, PEER_OPTION_TABLE, PEER_PROGRAM_FLAGS } from "./options.ts";
import { JsonUi } from "./ui/json.ts";
import { type PeerUi, PlainUi } from "./ui/plain.ts";
import { TerminalUi } from "./ui/terminal.ts";
import { webFlagArgs } from "./web/flag.ts";

/** `peer REGISTRY_HOST REGISTRY_PORT MY_PORT`, all three or none, as the reference client takes them. */
const positional = optional(object("Arguments (all three or none)", {
  registryHost: argument(string({ metavar: "REGISTRY_HOST" }), {
    description: message`Registry host; with REGISTRY_PORT, the same as --registry HOST:PORT.`,
  }),
  registryPort: argument(port({ metavar: "REGISTRY_PORT" }), {
    description: message`Registry port.`,
  }),
  myPort: argument(port({ min: 0, metavar: "MY_PORT" }), {
    description: message`My TCP and UDP port; the same as --port.`,
  }),
}));

const args = runCli(
  merge(
    tableParser(PEER_OPTION_TABLE),
    tableParser(PEER_PROGRAM_FLAGS),
    tableParser(PEER_OPTION_TABLE, PEER_OPTION_GROUPS.timings),
    tableParser(PEER_OPTION_TABLE, PEER_OPTION_GROUPS.limits),
    positional,
  ),
  {
    name: "peer",
    args: webFlagArgs(Deno.args),
    version: VERSION,
    brief: "A P2PChat peer: chat in a room over a ring of TCP links.",
    usage: ["[OPTIONS]", "[OPTIONS] REGISTRY_HOST REGISTRY_PORT MY_PORT"],
    footer: commandSummary(),
  },
);
const json = args.json ?? PEER_PROGRAM_FLAGS.json.default;
const logLevel = args.logLevel ?? PEER_PROGRAM_FLAGS.logLevel.default;

if (args.registryHost !== undefined && (args.registry !== undefined || args.port !== undefined)) {
  usageError(
    "peer",
    "give the registry and port as REGISTRY_HOST REGISTRY_PORT MY_PORT or as flags",
  );
}
if (args.room !== undefined && args.name === undefined) usageError("peer", "--room needs --name");
const nameError = args.name === undefined ? null : nameProblem(args.name, "User name");
if (nameError !== null) usageError("peer", `--name: ${nameError}`);
const roomError = args.room === undefined ? null : nameProblem(args.room, "Room name");
if (roomError !== null) usageError("peer", `--room: ${roomError}`);

await configureLogging({ level: logLevel, json, file: logFileOptions(args) });
const logger = getLogger(["ringchat", "peer", "main"]);

const ui: PeerUi = json
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
  const {
    registryHost,
    registryPort,
    myPort,
    json: _json,
    logLevel: _logLevel,
    logFile: _logFile,
    logMaxBytes: _logMaxBytes,
    logMaxFiles: _logMaxFiles,
    ...options
  } = args;
  peer = await startPeer({
    ...options,
    // The program keeps its key in the per-user data directory unless told otherwise.
    dataDir: options.dataDir === undefined
      ? defaultDataDir(Deno.build.os, (name) => Deno.env.get(name))
      : options.dataDir,
    ...(registryHost === undefined
      ? {}
      : { registry: { hostname: registryHost, port: registryPort }, port: myPort }),
    onEvent: render,
  });
} catch (error) {
  ui.close();
  console.error(`peer: cannot start: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
if (quitRequested) void peer.quit();

/**
 * Whose password the line after `command` is: the account's for `/login` and
 * `/register`, the room's for `/join ROOM --password`; null when none.
 */
function passwordPrompt(command: Command): string | null {
  if (needsPassword(command)) return command.name;
  if (command.type === "join" && command.askPassword && command.password === undefined) {
    return command.room;
  }
  return null;
}

/** Runs the command lines until end of input or `/quit`. */
async function readCommands(peer: PeerHandle): Promise<void> {
  const lines = ui.lines()[Symbol.asyncIterator]();
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    let command = parseInputLine(next.value, json);
    if (command === null) continue;
    if (command.type === "invalid") {
      render({ type: "error", message: command.message });
      continue;
    }
    const asked = passwordPrompt(command);
    if (asked !== null) {
      // The password is the next line (not echoed at a terminal).
      const prompt = `Password for ${asked}: `;
      if (ui.askSecret === undefined) render({ type: "info", message: `${prompt}the next line` });
      else ui.askSecret(prompt);
      const secret = await lines.next();
      if (secret.done) return;
      command = { ...command, password: secret.value } as Command;
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
