/**
 * The line being typed at the terminal prompt, and what each key does to it:
 * insert text at the cursor, move, delete, recall history, submit, end. Pure
 * state: no terminal, no screen; `./input_view.ts` draws it. The cursor is an
 * index into the line that never splits a surrogate pair.
 *
 * @module
 */

import type { Key } from "./keys.ts";

/** What a key did: changed the line or cursor, submitted a line, asked to end, or nothing. */
export type EditResult =
  | { type: "changed" }
  | { type: "submit"; line: string; secret?: true }
  | { type: "end" }
  | { type: "none" };

/** The line being typed, its cursor, and the lines typed before. */
export class LineEditor {
  #line = "";
  #cursor = 0;
  #history: string[] = [];
  #historySize: number;
  /** Where up/down is in the history: its length means the draft. */
  #recall = 0;
  #draft = "";
  #secret = false;

  /** Keeps the last `historySize` submitted lines for up and down. */
  constructor(historySize = 100) {
    this.#historySize = historySize;
  }

  /** The line as typed so far. */
  get line(): string {
    return this.#line;
  }

  /**
   * True while the line is a secret (a password): it is kept out of the
   * history, up and down recall nothing, and it ends with the line submitted.
   */
  get secret(): boolean {
    return this.#secret;
  }

  /** Makes the next line a secret (see {@linkcode LineEditor.secret}). */
  askSecret(): void {
    this.#secret = true;
  }

  /** The cursor, as an index into {@linkcode LineEditor.line}. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Applies one key. */
  apply(key: Key): EditResult {
    if (key.type === "text") {
      this.#insert(key.text);
      return CHANGED;
    }
    const line = this.#line;
    const cursor = this.#cursor;
    switch (key.name) {
      case "enter":
        return this.#submit();
      case "interrupt":
        return { type: "end" };
      case "eof":
        if (line === "") return { type: "end" };
        return this.#delete(cursor, nextIndex(line, cursor));
      case "backspace":
        return this.#delete(previousIndex(line, cursor), cursor);
      case "delete":
        return this.#delete(cursor, nextIndex(line, cursor));
      case "kill-start":
        return this.#delete(0, cursor);
      case "kill-end":
        return this.#delete(cursor, line.length);
      case "kill-word":
        return this.#delete(wordStart(line, cursor), cursor);
      case "left":
        return this.#move(previousIndex(line, cursor));
      case "right":
        return this.#move(nextIndex(line, cursor));
      case "home":
        return this.#move(0);
      case "end":
        return this.#move(line.length);
      case "word-left":
        return this.#move(wordStart(line, cursor));
      case "word-right":
        return this.#move(wordEnd(line, cursor));
      case "up":
        return this.#secret ? NONE : this.#recallLine(this.#recall - 1);
      case "down":
        return this.#secret ? NONE : this.#recallLine(this.#recall + 1);
    }
  }

  #insert(text: string): void {
    this.#line = this.#line.slice(0, this.#cursor) + text + this.#line.slice(this.#cursor);
    this.#cursor += text.length;
  }

  #delete(from: number, to: number): EditResult {
    if (from >= to) return NONE;
    this.#line = this.#line.slice(0, from) + this.#line.slice(to);
    this.#cursor = from;
    return CHANGED;
  }

  #move(to: number): EditResult {
    if (to === this.#cursor) return NONE;
    this.#cursor = to;
    return CHANGED;
  }

  #submit(): EditResult {
    const line = this.#line;
    if (this.#secret) {
      this.#secret = false;
      this.#line = "";
      this.#cursor = 0;
      return { type: "submit", line, secret: true };
    }
    if (line !== "" && this.#history.at(-1) !== line) {
      this.#history.push(line);
      if (this.#history.length > this.#historySize) this.#history.shift();
    }
    this.#recall = this.#history.length;
    this.#draft = "";
    this.#line = "";
    this.#cursor = 0;
    return { type: "submit", line };
  }

  #recallLine(to: number): EditResult {
    if (to < 0 || to > this.#history.length || to === this.#recall) return NONE;
    if (this.#recall === this.#history.length) this.#draft = this.#line;
    this.#recall = to;
    this.#line = to === this.#history.length ? this.#draft : this.#history[to]!;
    this.#cursor = this.#line.length;
    return CHANGED;
  }
}

const CHANGED: EditResult = { type: "changed" };
const NONE: EditResult = { type: "none" };

/** The index of the code point before `index`. */
function previousIndex(text: string, index: number): number {
  if (index <= 0) return 0;
  const low = text.charCodeAt(index - 1);
  return index >= 2 && low >= 0xdc00 && low <= 0xdfff ? index - 2 : index - 1;
}

/** The index after the code point at `index`. */
function nextIndex(text: string, index: number): number {
  if (index >= text.length) return text.length;
  const high = text.charCodeAt(index);
  return high >= 0xd800 && high <= 0xdbff && index + 1 < text.length ? index + 2 : index + 1;
}

/** The start of the word before `index` (spaces before it skipped). */
function wordStart(text: string, index: number): number {
  let i = index;
  while (i > 0 && text[i - 1] === " ") i--;
  while (i > 0 && text[i - 1] !== " ") i--;
  return i;
}

/** The end of the word after `index` (spaces before it skipped). */
function wordEnd(text: string, index: number): number {
  let i = index;
  while (i < text.length && text[i] === " ") i++;
  while (i < text.length && text[i] !== " ") i++;
  return i;
}
