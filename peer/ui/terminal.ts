/**
 * The peer for a person at a terminal: a `node:readline` prompt showing who
 * and where I am (`alice@lobby> `), chat lines (`<bob> hi`, names in colour)
 * and system lines (`-- ` in grey, pokes in yellow, errors in red) through
 * Deno's `%c` console styling, which `NO_COLOR` turns off (`Deno.noColor`).
 *
 * An event that arrives while a line is being typed never destroys it: the
 * prompt and the input are cleared, the event is printed, and the prompt is
 * drawn again with the input and the cursor where they were.
 *
 * @module
 */

import process from "node:process";
import {
  clearScreenDown,
  createInterface,
  cursorTo,
  type Interface,
  moveCursor,
} from "node:readline";
import type { PeerEvent } from "../events.ts";
import { helpText } from "../commands.ts";
import {
  type DescribeContext,
  describeEvent,
  type EventLine,
  type PeerUi,
  printable,
  ReadlineLines,
  SYSTEM_PREFIX,
  updateContext,
} from "./plain.ts";

/** The CSS of each kind of line. */
const STYLE = {
  system: "color: gray",
  alert: "color: yellow; font-weight: bold",
  error: "color: red",
  from: "color: cyan; font-weight: bold",
  self: "color: green; font-weight: bold",
} as const;

/** An interactive terminal UI on stdin and stdout (both TTYs). */
export class TerminalUi implements PeerUi {
  #context: DescribeContext = {};
  #readline: Interface;
  #lines: ReadlineLines;
  #closed = false;

  constructor() {
    this.#readline = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: true,
      prompt: "> ",
      historySize: 100,
    });
    this.#lines = new ReadlineLines(this.#readline);
    this.#readline.on("line", () => this.#readline.prompt());
    // Ctrl-C (raw mode turns it into a key) ends the input like Ctrl-D: the peer quits.
    this.#readline.on("SIGINT", () => this.close());
    // Ctrl-D on an empty line closes the interface by itself.
    this.#readline.on("close", () => this.#end());
    this.#readline.prompt();
  }

  render(event: PeerEvent): void {
    updateContext(this.#context, event);
    if (event.type === "named" || event.type === "joined") this.#updatePrompt();
    const line = describeEvent(event, this.#context);
    this.#print(() => printStyled(line));
  }

  help(): void {
    this.#print(() => {
      for (const line of helpText().split("\n")) {
        console.log("%c%s", STYLE.system, SYSTEM_PREFIX + line);
      }
    });
  }

  lines(): AsyncIterable<string> {
    return this.#lines;
  }

  close(): void {
    this.#end();
    this.#readline.close();
  }

  /** Takes the prompt off the screen, once: what follows prints on plain lines. */
  #end(): void {
    if (this.#closed) return;
    this.#clearInput();
    this.#closed = true;
  }

  /** Clears the prompt and the input; returns the rows the cursor went up. */
  #clearInput(): number {
    const { rows } = this.#readline.getCursorPos();
    moveCursor(process.stdout, 0, -rows);
    cursorTo(process.stdout, 0);
    clearScreenDown(process.stdout);
    return rows;
  }

  #updatePrompt(): void {
    const name = printable(this.#context.name ?? "");
    const room = this.#context.room === undefined ? "" : `@${printable(this.#context.room)}`;
    this.#readline.setPrompt(`${name}${room}> `);
  }

  /** Prints above the prompt: clear the prompt and input, print, draw them again. */
  #print(print: () => void): void {
    if (this.#closed) {
      print();
      return;
    }
    const rows = this.#clearInput();
    print();
    // readline redraws from as many rows above the cursor as the cursor was
    // below the start of the prompt: give it that many blank rows to clear.
    if (rows > 0) process.stdout.write("\n".repeat(rows));
    this.#readline.prompt(true);
  }
}

/** Prints one line with the style of its kind. */
function printStyled(line: EventLine): void {
  switch (line.kind) {
    case "chat":
      console.log(
        "%c<%s>%c %s",
        line.self ? STYLE.self : STYLE.from,
        line.from ?? "",
        "",
        line.body ?? "",
      );
      return;
    case "system":
    case "alert":
    case "error":
      console.log("%c%s", STYLE[line.kind], line.text);
      return;
  }
}
