/**
 * The peer's events as plain lines, for a pipe: one line per event, written
 * and flushed at once, no prompt, no colour. The terminal UI styles the same
 * lines ({@linkcode describeEvent}), so a person and a log read the same words.
 *
 * Chat lines read `23:15 <alice> text` (the local time the message came);
 * system lines start with `-- `, errors with
 * `!! `. Everything that came from the network is shown with its control
 * characters escaped (`\r`, `\n`, `\x1b`), so one event stays one line and a
 * peer cannot drive the reader's terminal.
 *
 * @module
 */

import process from "node:process";
import { createInterface, type Interface } from "node:readline";
import type { LinkPeer, MemberInfo, PeerEvent } from "../events.ts";
import { helpText } from "../commands.ts";
import { describePeopleEvent } from "./people_lines.ts";

/** How a line looks: chat, a system notice, something calling for attention, an error. */
export type LineKind = "chat" | "system" | "alert" | "error";

/** One event as a line of text. */
export interface EventLine {
  kind: LineKind;
  /** The whole line as a pipe shows it. */
  text: string;
  /** For chat lines: who sent it (escaped), and whether it was me. */
  from?: string;
  self?: boolean;
  /** For chat lines: the message text (escaped). */
  body?: string;
  /** For chat lines: when it came, `HH:MM` in local time. */
  time?: string;
}

/** What a renderer knows besides the event: my name, to mark me in lists, and my room. */
export interface DescribeContext {
  name?: string;
  room?: string;
  /** Names whose leave or nick line was just shown: their `offline` presence says nothing more. */
  justLeft?: Set<string>;
}

/** Names {@linkcode DescribeContext.justLeft} holds at most. */
const JUST_LEFT = 64;

/** The prefix of system lines. */
export const SYSTEM_PREFIX = "-- ";
/** The prefix of error lines. */
export const ERROR_PREFIX = "!! ";

/** A UI: renders events and reads command lines. */
export interface PeerUi {
  /** Shows one event. */
  render(event: PeerEvent): void;
  /** Shows the list of commands. */
  help(): void;
  /** The command lines typed or piped in; ends at end of input or on close. */
  lines(): AsyncIterable<string>;
  /** Stops reading input. */
  close(): void;
  /**
   * The next line read is a secret (a password): asked with `prompt`, not
   * echoed, not kept. Without it, the next line is the secret as it comes.
   */
  askSecret?(prompt: string): void;
}

/** Options of the plain and JSON UIs. */
export interface LineUiOptions {
  /** Writes one line (no newline at the end); by default to stdout, synchronously. */
  write?: (line: string) => void;
}

/** Plain lines on stdout, command lines from stdin. */
export class PlainUi implements PeerUi {
  #write: (line: string) => void;
  #context: DescribeContext = {};
  #input: ReadlineLines | undefined;

  constructor(options: LineUiOptions = {}) {
    this.#write = options.write ?? writeStdoutLine;
  }

  render(event: PeerEvent): void {
    updateContext(this.#context, event);
    if (shownAsLine(event, this.#context)) this.#write(describeEvent(event, this.#context).text);
  }

  help(): void {
    for (const line of helpText().split("\n")) this.#write(SYSTEM_PREFIX + line);
  }

  lines(): AsyncIterable<string> {
    this.#input ??= stdinLines();
    return this.#input;
  }

  close(): void {
    this.#input?.close();
  }
}

/**
 * Whether a person sees `event` as a line: a member list that changed is not
 * shown (its join and leave lines are), one asked for with `/who` is; nor is
 * the `presence` that only repeats a join, leave or nick line of my room
 * (someone coming online in it, or going offline just after leaving it or
 * taking another name). Call it
 * after {@linkcode updateContext}.
 */
export function shownAsLine(event: PeerEvent, context: DescribeContext = {}): boolean {
  if (event.type === "presence") {
    if (event.state === "offline") return !(context.justLeft?.delete(event.name) ?? false);
    return !(event.state === "online" && event.room !== undefined && event.room === context.room);
  }
  return event.type !== "members" || event.asked === true;
}

/** Keeps what later lines need to know (my name and room) from an event. */
export function updateContext(context: DescribeContext, event: PeerEvent): void {
  if (event.type === "named") context.name = event.name;
  if (event.type === "nick" && event.self === true) context.name = event.to;
  if (event.type === "joined") context.room = event.room;
  if (event.type === "left") delete context.room;
  if (event.type === "member-joined") context.justLeft?.delete(event.name);
  // A leave line, or a nick line (mine too): the old name's offline says nothing more.
  const gone = event.type === "member-left"
    ? event.name
    : event.type === "nick"
    ? event.from
    : null;
  if (gone !== null) {
    const left = context.justLeft ??= new Set();
    left.delete(gone);
    left.add(gone);
    if (left.size > JUST_LEFT) left.delete(left.values().next().value!);
  }
}

/**
 * Escapes control characters (`\r`, `\n`, `\x1b` …) so a string shows on one
 * line and cannot drive a terminal. Everything else, a backslash included, is
 * shown as it was typed.
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
}

/** One event as one line. */
export function describeEvent(event: PeerEvent, context: DescribeContext = {}): EventLine {
  switch (event.type) {
    case "message": {
      // A text whose origin's signature did not verify says so after the name (docs/security.md).
      // A message from a catch-up says so (history entries carry no signature).
      const note = event.history
        ? " (missed, unverified)"
        : event.verified || event.self
        ? ""
        : " (unverified)";
      const from = printable(event.from) + note;
      const body = printable(event.text);
      const time = clockTime(event.at);
      return {
        kind: "chat",
        text: `${time} <${from}> ${body}`,
        from,
        body,
        self: event.self,
        time,
      };
    }
    case "member-joined":
      return system(`${printable(event.name)} joined`);
    case "member-left":
      return system(`${printable(event.name)} left (${event.reason})`);
    case "nick":
      return system(
        event.self === true
          ? `You are now ${printable(event.to)} (were ${printable(event.from)})`
          : `${printable(event.from)} is now ${printable(event.to)}`,
      );
    case "left":
      return system(`Left ${printable(event.room)}: in no room; /join another (or /user first)`);
    case "ready":
      return system(`Listening on port ${event.port} (TCP and UDP); /help lists the commands`);
    case "named":
      return system(`You are ${printable(event.name)}`);
    case "rooms":
      return system(
        event.rooms.length === 0
          ? "No rooms yet"
          : `Rooms (${event.rooms.length}): ${event.rooms.map(printable).join(", ")}`,
      );
    case "joined":
      return system(
        `Joined ${printable(event.room)}; ${count(event.members.length, "member")}: ` +
          memberList(event.members, context),
      );
    case "members":
      return system(
        `${context.room === undefined ? "" : `${printable(context.room)}: `}` +
          `${count(event.members.length, "member")}: ` +
          memberList(event.members, context, event.forward, event.backward),
      );
    case "link":
      return event.direction === "forward"
        ? system(`Forward link to ${peer(event.peer)} ${event.state}`)
        : system(`Backward link from ${peer(event.peer)} ${event.state}`);
    case "history":
      return system(
        [
          `History of ${printable(event.room)}: ${count(event.messages.length, "message")}`,
          ...event.messages.map((m) =>
            `  ${m.at.slice(11, 16)} <${printable(m.from)}> ${printable(m.text)}`
          ),
        ].join("\n"),
      );
    case "links":
      return system(
        `Links: forward ${event.forward === null ? "none" : peer(event.forward)}; backward ${
          event.backward.length === 0 ? "none" : event.backward.map(peer).join(", ")
        }`,
      );
    case "poke": {
      const as = event.claimed === undefined
        ? ""
        : `, as ${printable(event.claimed)} (not ${printable(event.claimed)}'s address)`;
      return { kind: "alert", text: `${SYSTEM_PREFIX}${printable(event.from)} poked you${as}` };
    }
    case "poke-ack":
      return system(`${printable(event.to)} got your poke`);
    case "poke-timeout":
      return {
        kind: "error",
        text: `${ERROR_PREFIX}${printable(event.to)} did not answer your poke in time`,
      };
    case "info":
      return system(printable(event.message));
    case "error":
      return { kind: "error", text: ERROR_PREFIX + printable(event.message) };
    case "stats":
      return system(
        `Stats: sent ${event.sent}, delivered ${event.delivered}, forwarded ${event.forwarded}, ` +
          `duplicates ${event.duplicates}, refused ${event.refused}, caught up ${event.caughtUp}, ` +
          `remembered ${event.remembered}, ` +
          `links ${event.links}, queued ${event.queuedBytes} bytes`,
      );
    case "web":
      return system(`web on ${event.url}`);
    case "quit":
      return system("Quit: every link and socket closed");
    default:
      return describePeopleEvent(event);
  }
}

/** Lines handed over one by one, read as an async iterable that ends after {@linkcode LineQueue.end}. */
export class LineQueue implements AsyncIterable<string> {
  #lines: string[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  /** Adds a line for the reader. */
  push(line: string): void {
    this.#lines.push(line);
    this.#notify();
  }

  /** Ends the iteration once the lines already pushed are taken. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    while (true) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        yield line;
      } else if (this.#ended) {
        return;
      } else {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * The lines a `node:readline` interface reads, as an async iterable. Ends when
 * the interface closes (end of input, or {@linkcode ReadlineLines.close});
 * iterate it once.
 */
export class ReadlineLines implements AsyncIterable<string> {
  #queue = new LineQueue();
  #readline: Interface;

  constructor(readline: Interface) {
    this.#readline = readline;
    readline.on("line", (line) => this.#queue.push(line));
    readline.on("close", () => this.#queue.end());
  }

  /** Stops reading; the iteration ends once the lines already read are taken. */
  close(): void {
    this.#readline.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

/** The lines of stdin, for a pipe or a file: no prompt, no echo. */
export function stdinLines(): ReadlineLines {
  return new ReadlineLines(
    createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false }),
  );
}

/** Writes one line to stdout at once, retrying partial writes. */
export function writeStdoutLine(line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** `HH:MM` in local time of the ISO 8601 instant `at` (`--:--` when it is not one). */
export function clockTime(at: string): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return "--:--";
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}`;
}

function system(text: string): EventLine {
  return { kind: "system", text: SYSTEM_PREFIX + text };
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

function peer(peer: LinkPeer): string {
  return `${printable(peer.name)} (${printable(peer.ip)}:${peer.port})`;
}

function memberList(
  members: readonly MemberInfo[],
  context: DescribeContext,
  forward?: string | null,
  backward?: readonly string[],
): string {
  if (members.length === 0) return "none";
  return members.map((member) => {
    const marks: string[] = [];
    if (member.name === context.name) marks.push("you");
    if (forward !== undefined && forward !== null && member.name === forward) marks.push("forward");
    if (backward?.includes(member.name)) marks.push("backward");
    const address = `${printable(member.ip)}:${member.port}`;
    return `${printable(member.name)} ${address}${
      marks.length > 0 ? ` [${marks.join(", ")}]` : ""
    }`;
  }).join(", ");
}
