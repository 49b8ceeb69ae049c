/**
 * The peer's commands: what a person types or a program writes on stdin, one
 * line per command, parsed into a typed {@linkcode Command}.
 *
 * Text lines: `/user NAME`, `/list`, `/join ROOM [--password]`, `/send TEXT`, `/poke [NAME]`,
 * `/who`, `/links`, `/leave`, `/nick NAME`, `/history [N]`, `/stats`, `/quit`, `/help` (and the people
 * commands of `people_commands.ts`). A line that does not start with `/` is
 * sent as it is, and `//text` sends `/text`. The argument of a command is
 * everything after the single space that follows the command word, verbatim
 * (`:` and all spaces kept): the engine, not the parser, judges names and text.
 *
 * In `--json` mode a line starting with `{` is a JSON command: the command's
 * name in `command` and its argument under the name {@linkcode Command} gives
 * it (`{"command":"send","text":"a::\r\nb"}`, `{"command":"poke","name":"bob"}`),
 * so a program can send any text, line breaks included. `type` is accepted in
 * place of `command`.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./commands.ts";
 * parseCommand("/send a:b"); // { type: "send", text: "a:b" }
 * parseCommand("hello"); // { type: "send", text: "hello" }
 * parseCommand("/nope"); // { type: "invalid", message: "Unknown command /nope: …" }
 * ```
 *
 * @module
 */

import { parseJson } from "../lib/json_parse.ts";
import { PeerError } from "./errors.ts";
import type { PeerHandle } from "./peer.ts";
import {
  parsePeopleCommand,
  parsePeopleJson,
  PEOPLE_COMMAND_TYPES,
  PEOPLE_HELP,
  type PeopleCommand,
  type PeopleTarget,
  runPeopleCommand,
} from "./people_commands.ts";

/** A command for the peer. */
export type Command =
  /** Set my user name. */
  | { type: "user"; name: string }
  /** List the registry's rooms. */
  | { type: "list" }
  /**
   * Join a room; with `password`, a private room. `askPassword`: the UI asks
   * for the password (`/join ROOM --password`) and puts it in `password`.
   */
  | { type: "join"; room: string; password?: string; askPassword?: true }
  /** Send a chat message. */
  | { type: "send"; text: string }
  /** Poke a member by UDP; with no name, show the members. */
  | { type: "poke"; name?: string }
  /** Show the members, marking my links. */
  | { type: "who" }
  /** Show my forward and backward links. */
  | { type: "links" }
  /** Leave the room, back to named. */
  | { type: "leave" }
  /** Take a new name in the room I am in. */
  | { type: "nick"; name: string }
  /** Show the room's last `count` messages (default 50). */
  | { type: "history"; count?: number }
  /** Show what I have sent, shown, forwarded and dropped. */
  | { type: "stats" }
  /** Release everything and stop. */
  | { type: "quit" }
  /** Show the commands. */
  | { type: "help" }
  /** Accounts, people and direct messages (issue 12): `./people_commands.ts`. */
  | PeopleCommand;

/** A line that is not a command, and why. */
export interface InvalidCommand {
  type: "invalid";
  message: string;
}

/** The kinds of {@linkcode Command}. */
export type CommandType = Command["type"];

/** One line of `/help`: the command as typed and what it does. */
export interface CommandHelp {
  usage: string;
  description: string;
}

/** The commands, in the order `/help` lists them. */
export const COMMANDS: readonly CommandHelp[] = [
  { usage: "/user NAME", description: "set your name (1-32 printable ASCII, no ':')" },
  { usage: "/list", description: "list the rooms" },
  {
    usage: "/join ROOM [--password]",
    description: "join a room (needs a name); --password: a private room, asks its password",
  },
  { usage: "/send TEXT", description: "send TEXT (a line without a leading / also sends)" },
  { usage: "/poke [NAME]", description: "poke a member; with no name, list the members" },
  { usage: "/who", description: "list the members, marking your forward and backward links" },
  { usage: "/links", description: "show your forward and backward links" },
  { usage: "/leave", description: "leave the room (then /user and /join another)" },
  { usage: "/nick NAME", description: "take a new name in the room you are in" },
  { usage: "/history [N]", description: "show the room's last N messages (default 50)" },
  { usage: "/stats", description: "show messages sent, shown, forwarded, duplicates, links" },
  ...PEOPLE_HELP,
  { usage: "/quit", description: "close every link and exit" },
  { usage: "/help", description: "show this help" },
];

/** The `/help` text, one command per line. */
export function helpText(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length));
  const lines = COMMANDS.map((command) => `${command.usage.padEnd(width)}  ${command.description}`);
  lines.push(`${"//TEXT".padEnd(width)}  send /TEXT (a line starting with /)`);
  return lines.join("\n");
}

/** The commands in one sentence, for `peer --help`: every one of {@linkcode COMMANDS}. */
export function commandSummary(): string {
  return `Commands on stdin (a line not starting with / is sent): ${
    COMMANDS.map((command) => command.usage).join(", ")
  }; with --json also as objects ({"command":"dm","to":"bob","text":"hi"}; peer/commands.ts).`;
}

/** What `/join ROOM` ends with to join a private room. */
const PASSWORD_FLAG = " --password";

const NO_ARGUMENT = new Set<CommandType>([
  "list",
  "who",
  "links",
  "leave",
  "stats",
  "quit",
  "help",
]);

/**
 * Parses one input line into a command. Returns null for an empty line (there
 * is nothing to do) and an {@linkcode InvalidCommand} for an unknown command
 * or a command given an argument it does not take.
 */
export function parseCommand(line: string): Command | InvalidCommand | null {
  if (line.length === 0) return null;
  if (!line.startsWith("/")) return { type: "send", text: line };
  if (line.startsWith("//")) return { type: "send", text: line.slice(1) };
  const space = line.indexOf(" ");
  const word = (space === -1 ? line.slice(1) : line.slice(1, space)).toLowerCase();
  const argument = space === -1 ? undefined : line.slice(space + 1);
  switch (word) {
    case "user":
      return { type: "user", name: argument ?? "" };
    case "join": {
      const room = argument ?? "";
      return room.endsWith(PASSWORD_FLAG)
        ? { type: "join", room: room.slice(0, -PASSWORD_FLAG.length), askPassword: true }
        : { type: "join", room };
    }
    case "send":
      return { type: "send", text: argument ?? "" };
    case "nick":
      return { type: "nick", name: argument ?? "" };
    case "poke":
      return argument === undefined || argument.trim() === ""
        ? { type: "poke" }
        : { type: "poke", name: argument };
    case "history": {
      if (argument === undefined || argument.trim() === "") return { type: "history" };
      const count = Number(argument.trim());
      return /^[0-9]{1,9}$/.test(argument.trim()) && count >= 1
        ? { type: "history", count }
        : { type: "invalid", message: "/history takes a positive count of messages" };
    }
    case "list":
    case "who":
    case "links":
    case "leave":
    case "stats":
    case "quit":
    case "help":
      if (argument !== undefined && argument.trim() !== "") {
        return { type: "invalid", message: `/${word} takes no argument` };
      }
      return { type: word };
    default:
      return parsePeopleCommand(word, argument) ?? {
        type: "invalid",
        message: `Unknown command ${printableWord(line, space)}: type /help for the list`,
      };
  }
}

/**
 * Parses a JSON command line (`--json` mode): an object naming the command in
 * `command` (or `type`) with the fields of its {@linkcode Command}, such as
 * `{"command":"send","text":"a::\r\nb"}`.
 */
export function parseJsonCommand(line: string): Command | InvalidCommand {
  let value: unknown;
  try {
    value = parseJson(line);
  } catch {
    return { type: "invalid", message: "Invalid JSON command: not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { type: "invalid", message: "Invalid JSON command: expected an object" };
  }
  const object = value as Record<string, unknown>;
  const type = object.command ?? object.type;
  switch (type) {
    case "user":
      return stringField(type, object, "name", (name) => ({ type, name }));
    case "join":
      if (object.password !== undefined && typeof object.password !== "string") {
        return { type: "invalid", message: 'Invalid JSON command: join needs a string "password"' };
      }
      return stringField(
        type,
        object,
        "room",
        (room) =>
          typeof object.password === "string"
            ? { type, room, password: object.password }
            : { type, room },
      );
    case "send":
      return stringField(type, object, "text", (text) => ({ type, text }));
    case "nick":
      return stringField(type, object, "name", (name) => ({ type, name }));
    case "poke":
      if (object.name === undefined || object.name === null) return { type };
      return stringField(type, object, "name", (name) => ({ type, name }));
    case "history":
      if (object.count === undefined || object.count === null) return { type };
      return Number.isSafeInteger(object.count) && (object.count as number) >= 1
        ? { type, count: object.count as number }
        : { type: "invalid", message: 'Invalid JSON command: history needs a positive "count"' };
    default: {
      const people = parsePeopleJson(type, object);
      if (people !== undefined) return people;
      if (typeof type === "string" && NO_ARGUMENT.has(type as CommandType)) {
        return {
          type: type as "list" | "who" | "links" | "leave" | "stats" | "quit" | "help",
        };
      }
      return {
        type: "invalid",
        message: `Invalid JSON command: unknown command ${JSON.stringify(type) ?? "undefined"}, ` +
          `expected one of ${COMMAND_TYPES.join(", ")}`,
      };
    }
  }
}

/**
 * Parses one stdin line: a JSON command when `json` is set and the line starts
 * with `{`, else a text command.
 */
export function parseInputLine(line: string, json: boolean): Command | InvalidCommand | null {
  if (json && line.startsWith("{")) return parseJsonCommand(line);
  return parseCommand(line);
}

/** What {@linkcode executeCommand} drives: the command methods of a peer handle. */
export type CommandTarget =
  & Pick<
    PeerHandle,
    | "user"
    | "list"
    | "join"
    | "send"
    | "poke"
    | "who"
    | "links"
    | "leave"
    | "nick"
    | "history"
    | "showStats"
    | "showError"
    | "quit"
  >
  & Partial<PeopleTarget>;

/**
 * Runs a command on a peer, as the CLIs do: a command that fails with a
 * `PeerError` is shown as an `error` event (through `showError`), not
 * thrown. `/help` is not the peer's business: it goes to `help`, which the
 * UI provides.
 */
export async function executeCommand(
  target: CommandTarget,
  command: Command,
  help: () => void,
): Promise<void> {
  try {
    await dispatch(target, command, help);
  } catch (error) {
    if (!(error instanceof PeerError)) throw error;
    target.showError(error);
  }
}

async function dispatch(target: CommandTarget, command: Command, help: () => void): Promise<void> {
  switch (command.type) {
    case "user":
      return target.user(command.name);
    case "list":
      return await target.list();
    case "join":
      if (command.password !== undefined) {
        return await target.join(command.room, { password: command.password });
      }
      if (command.askPassword) {
        throw new PeerError("bad-room-password", `No password given for room ${command.room}`);
      }
      return await target.join(command.room);
    case "send":
      return await target.send(command.text);
    case "poke":
      return await target.poke(command.name);
    case "who":
      return target.who();
    case "links":
      return target.links();
    case "leave":
      return await target.leave();
    case "nick":
      return await target.nick(command.name);
    case "history":
      return target.history(command.count);
    case "stats":
      return target.showStats();
    case "quit":
      return await target.quit();
    case "help":
      return help();
    default:
      return await runPeopleCommand(target, command);
  }
}

const COMMAND_TYPES: readonly CommandType[] = [
  "user",
  "list",
  "join",
  "send",
  "poke",
  "who",
  "links",
  "leave",
  "nick",
  "history",
  "stats",
  "quit",
  "help",
  ...PEOPLE_COMMAND_TYPES,
];

function stringField(
  command: string,
  object: Record<string, unknown>,
  field: string,
  make: (value: string) => Command,
): Command | InvalidCommand {
  const value = object[field];
  if (typeof value !== "string") {
    return {
      type: "invalid",
      message: `Invalid JSON command: ${command} needs a string "${field}"`,
    };
  }
  return make(value);
}

/** The command word as typed, shortened and with control characters escaped. */
function printableWord(line: string, space: number): string {
  const word = space === -1 ? line : line.slice(0, space);
  const short = word.length > 40 ? `${word.slice(0, 40)}…` : word;
  return short.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
