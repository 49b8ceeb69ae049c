/**
 * The peer for a person at a terminal: a prompt showing who and where I am
 * (`alice@lobby> `), chat lines (`23:15 <bob> hi`, names in colour) and system lines
 * (`-- ` in grey, pokes in yellow, errors in red), without colour when
 * `NO_COLOR` is set (`Deno.noColor`).
 *
 * The terminal is in raw mode and the line is edited here (`./keys.ts`,
 * `./line_editor.ts`, `./input_view.ts`): a paste of any length is one insert
 * and one redraw of at most a screenful, however many characters it holds, and
 * the input never takes more rows than the screen has, so it is always erased
 * whole before an event is printed and drawn again after it, with the cursor
 * where it was. A submitted line stays on the screen, whole, above the output.
 *
 * @module
 */

import type { PeerEvent } from "../events.ts";
import { helpText } from "../commands.ts";
import { inputView } from "./input_view.ts";
import { KeyDecoder } from "./keys.ts";
import { LineEditor } from "./line_editor.ts";
import {
  type DescribeContext,
  describeEvent,
  type EventLine,
  LineQueue,
  type PeerUi,
  printable,
  shownAsLine,
  SYSTEM_PREFIX,
  updateContext,
} from "./plain.ts";

/** A terminal: the keys typed (raw bytes), raw mode, the screen and its size. */
export interface TerminalIo {
  /** What the keyboard sends, once raw mode is on. */
  input: ReadableStream<Uint8Array>;
  /** Turns raw mode on (at start) and off (at the end). */
  setRaw(raw: boolean): void;
  /** Writes to the screen, synchronously and whole. */
  write(text: string): void;
  /** The screen's size now. */
  size(): { columns: number; rows: number };
  /** Whether to colour the lines. */
  color: boolean;
}

/** The SGR colour of each kind of line. */
const STYLE = {
  system: "90",
  alert: "1;33",
  error: "31",
  from: "1;36",
  self: "1;32",
} as const;

/** Options of the terminal UI. */
export interface TerminalUiOptions {
  /** The terminal; by default stdin and stdout. */
  io?: TerminalIo;
  /** Lines kept for up and down. Default 100. */
  historySize?: number;
}

/** An interactive terminal UI, on stdin and stdout (both TTYs) unless told otherwise. */
export class TerminalUi implements PeerUi {
  #io: TerminalIo;
  #context: DescribeContext = {};
  #editor: LineEditor;
  #keys = new KeyDecoder();
  #lines = new LineQueue();
  #prompt = "> ";
  /** The prompt of a secret being typed (a password). */
  #secretPrompt = "";
  /** The row the cursor is on, counted from the prompt's row, while the input is drawn. */
  #cursorRow = 0;
  #closed = false;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #reading: Promise<void>;

  constructor(options: TerminalUiOptions = {}) {
    this.#io = options.io ?? stdio();
    this.#editor = new LineEditor(options.historySize ?? 100);
    this.#io.setRaw(true);
    this.#reader = this.#io.input.getReader();
    this.#drawInput();
    this.#reading = this.#read();
  }

  render(event: PeerEvent): void {
    updateContext(this.#context, event);
    if (PROMPT_EVENTS.has(event.type)) this.#updatePrompt();
    if (!shownAsLine(event, this.#context)) return;
    this.#print([styled(describeEvent(event, this.#context), this.#io.color)]);
  }

  help(): void {
    this.#print(
      helpText().split("\n").map((line) =>
        paint(SYSTEM_PREFIX + line, STYLE.system, this.#io.color)
      ),
    );
  }

  lines(): AsyncIterable<string> {
    return this.#lines;
  }

  /** The next line is a secret: asked with `prompt`, never shown as typed nor kept for up and down. */
  askSecret(prompt: string): void {
    this.#editor.askSecret();
    this.#secretPrompt = prompt;
    this.#io.write(this.#eraseInput() + this.#inputText());
  }

  /** Takes the prompt off the screen, stops reading and leaves raw mode; what follows prints on plain lines. */
  close(): void {
    if (this.#closed) return;
    this.#io.write(this.#eraseInput());
    this.#closed = true;
    this.#io.setRaw(false);
    this.#lines.end();
    this.#reader.cancel().catch(() => {});
  }

  /** Resolves when reading has stopped (after {@linkcode TerminalUi.close} or end of input). */
  get done(): Promise<void> {
    return this.#reading;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      while (!this.#closed) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#typed(decoder.decode(value, { stream: true }));
      }
    } catch {
      // The input is gone: end as at end of input.
    } finally {
      this.#reader.releaseLock();
      this.close();
    }
  }

  /** Applies what was typed: one redraw for all of it, however long. */
  #typed(chunk: string): void {
    let changed = false;
    let out = "";
    for (const key of this.#keys.push(chunk)) {
      if (this.#closed) return;
      const result = this.#editor.apply(key);
      if (result.type === "changed") changed = true;
      if (result.type === "submit") {
        // The line stays on the screen whole (a secret does not); a new prompt follows it.
        out += result.secret
          ? `${this.#eraseInput()}${this.#secretPrompt}\r\n`
          : `${this.#eraseInput()}${this.#prompt}${result.line}\r\n`;
        this.#io.write(out);
        out = "";
        changed = true;
        this.#lines.push(result.line);
      } else if (result.type === "end") {
        this.#io.write(out);
        this.close();
        return;
      }
    }
    if (changed) this.#io.write(out + this.#eraseInput() + this.#inputText());
  }

  #updatePrompt(): void {
    const name = printable(this.#context.name ?? "");
    const room = this.#context.room === undefined ? "" : `@${printable(this.#context.room)}`;
    this.#prompt = `${name}${room}> `;
  }

  /** Prints above the prompt: erase the input, print, draw the input again. */
  #print(lines: string[]): void {
    const text = lines.map((line) => line + "\r\n").join("");
    this.#io.write(this.#closed ? text : this.#eraseInput() + text + this.#inputText());
  }

  #drawInput(): void {
    this.#io.write(this.#inputText());
  }

  /** Moves to the prompt's row and erases from there down; nothing once closed. */
  #eraseInput(): string {
    if (this.#closed) return "";
    const up = this.#cursorRow > 0 ? `\x1b[${this.#cursorRow}A` : "";
    this.#cursorRow = 0;
    return `\r${up}\x1b[J`;
  }

  /** The prompt and the input, from the prompt's row, leaving the cursor where it is in the line. */
  #inputText(): string {
    const { columns, rows } = this.#io.size();
    // A secret is not echoed: its prompt alone, the cursor after it.
    const secret = this.#editor.secret;
    const view = inputView(
      secret ? this.#secretPrompt : this.#prompt,
      secret ? "" : this.#editor.line,
      secret ? 0 : this.#editor.cursor,
      columns,
      Math.max(1, rows - 1),
    );
    let out = view.text;
    // At the right margin the terminal waits for the next character: go to the next row now.
    if (view.endsAtMargin) out += "\r\n";
    const up = view.endRow - view.cursorRow;
    if (up > 0) out += `\x1b[${up}A`;
    out += "\r";
    if (view.cursorColumn > 0) out += `\x1b[${view.cursorColumn}C`;
    this.#cursorRow = view.cursorRow;
    return out;
  }
}

/** Stdin and stdout as the terminal. */
export function stdio(): TerminalIo {
  const encoder = new TextEncoder();
  return {
    input: Deno.stdin.readable,
    setRaw: (raw) => Deno.stdin.setRaw(raw),
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    size() {
      try {
        return Deno.consoleSize();
      } catch {
        return { columns: 80, rows: 24 };
      }
    },
    color: !Deno.noColor,
  };
}

/** The events that change who or where I am, and so the prompt. */
const PROMPT_EVENTS: ReadonlySet<PeerEvent["type"]> = new Set(["named", "joined", "left", "nick"]);

/** One line with the style of its kind. */
function styled(line: EventLine, color: boolean): string {
  if (line.kind !== "chat") return paint(line.text, STYLE[line.kind], color);
  const time = line.time === undefined ? "" : `${line.time} `;
  return `${time}${paint(`<${line.from ?? ""}>`, line.self ? STYLE.self : STYLE.from, color)} ${
    line.body ?? ""
  }`;
}

function paint(text: string, style: string, color: boolean): string {
  return color ? `\x1b[${style}m${text}\x1b[0m` : text;
}
