/**
 * What a terminal in raw mode sends, as keys: a run of printable characters is
 * one `text` key however long it is (a paste of 64 KiB is one key, not 65,536),
 * control characters and escape sequences are named keys, and sequences the
 * line editor has no use for (function keys, mouse reports, bracketed-paste
 * marks) are dropped. An escape sequence split across two reads is put back
 * together.
 *
 * @module
 */

/** The keys the line editor acts on. */
export type KeyName =
  | "enter"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "word-left"
  | "word-right"
  | "kill-start"
  | "kill-end"
  | "kill-word"
  | "interrupt"
  | "eof";

/** Typed text (never holding a control character but tab), or one named key. */
export type Key = { type: "text"; text: string } | { type: "key"; name: KeyName };

/** Control characters, by code. */
const CONTROL: Record<number, KeyName> = {
  0x01: "home", // Ctrl-A
  0x02: "left", // Ctrl-B
  0x03: "interrupt", // Ctrl-C
  0x04: "eof", // Ctrl-D
  0x05: "end", // Ctrl-E
  0x06: "right", // Ctrl-F
  0x08: "backspace", // Ctrl-H
  0x0a: "enter",
  0x0b: "kill-end", // Ctrl-K
  0x0d: "enter",
  0x0e: "down", // Ctrl-N
  0x10: "up", // Ctrl-P
  0x15: "kill-start", // Ctrl-U
  0x17: "kill-word", // Ctrl-W
  0x7f: "backspace",
};

/** CSI and SS3 sequences (without the leading ESC), by their text. */
const SEQUENCES: Record<string, KeyName> = {
  "[A": "up",
  "[B": "down",
  "[C": "right",
  "[D": "left",
  "[H": "home",
  "[F": "end",
  "OA": "up",
  "OB": "down",
  "OC": "right",
  "OD": "left",
  "OH": "home",
  "OF": "end",
  "[1~": "home",
  "[7~": "home",
  "[4~": "end",
  "[8~": "end",
  "[3~": "delete",
  "[1;5C": "word-right",
  "[1;5D": "word-left",
  "[1;3C": "word-right",
  "[1;3D": "word-left",
  "b": "word-left", // Alt-B
  "f": "word-right", // Alt-F
  "\x7f": "kill-word", // Alt-Backspace
};

/** A run of printable text (tab included), or one control character or escape sequence. */
const TOKEN =
  // deno-lint-ignore no-control-regex
  /[^\x00-\x08\x0a-\x1f\x7f-\x9f]+|\x1b\[[0-?]*[ -/]*[@-~]?|\x1bO.|\x1b.?|[\x00-\x1f\x7f-\x9f]/gy;

/** Turns what a raw-mode terminal sends into keys; keeps an unfinished escape sequence. */
export class KeyDecoder {
  #pending = "";

  /** The keys in `chunk` (joined to what an earlier chunk left unfinished). */
  push(chunk: string): Key[] {
    const input = this.#pending + chunk;
    this.#pending = "";
    const keys: Key[] = [];
    TOKEN.lastIndex = 0;
    let match: RegExpExecArray | null;
    while ((match = TOKEN.exec(input)) !== null) {
      const token = match[0];
      const code = token.charCodeAt(0);
      if (!isControl(code)) {
        const last = keys.at(-1);
        if (last?.type === "text") last.text += token;
        else keys.push({ type: "text", text: token });
        continue;
      }
      if (code !== 0x1b) {
        // A lone CR followed by LF (a pasted Windows line end) is one line end.
        if (code === 0x0a && input[match.index - 1] === "\r") continue;
        const name = CONTROL[code];
        if (name !== undefined) keys.push({ type: "key", name });
        continue;
      }
      if (TOKEN.lastIndex === input.length && isUnfinished(token)) {
        this.#pending = token;
        break;
      }
      const name = SEQUENCES[token.slice(1)];
      if (name !== undefined) keys.push({ type: "key", name });
    }
    return keys;
  }
}

/** Whether a character code is a C0 or C1 control character (tab is not). */
function isControl(code: number): boolean {
  return code !== 0x09 && (code < 0x20 || (code >= 0x7f && code <= 0x9f));
}

/** Whether an escape token at the end of a chunk may go on in the next one. */
function isUnfinished(token: string): boolean {
  if (token === "\x1b" || token === "\x1bO") return true;
  // deno-lint-ignore no-control-regex
  return /^\x1b\[[0-?]*[ -/]*$/.test(token);
}
