/**
 * Where the prompt and the line being typed go on the screen: which part of
 * the line is shown, on how many rows, and where the cursor stands. A line
 * that does not fit on the screen is shown as a window around the cursor
 * (`…` marks the parts cut off), so the input never takes more rows than the
 * screen has: the terminal can always erase it and draw it again, and nothing
 * of it is left behind in the scrollback.
 *
 * Pure: the screen's size is passed in. The work done is bounded by the size
 * of the screen, not the length of the line.
 *
 * @module
 */

/** The prompt and the input as drawn: the text to write and where the cursor ends up. */
export interface InputView {
  /** What to write, from the first column of the prompt's row (tabs shown as spaces). */
  text: string;
  /** The cursor's row below the prompt's row, and its column. */
  cursorRow: number;
  cursorColumn: number;
  /** The row and column right after the text (column 0 of the next row after a full row). */
  endRow: number;
  endColumn: number;
  /** Whether the text ends at the right margin (the terminal has not moved to the next row yet). */
  endsAtMargin: boolean;
}

/** The mark for a part of the line not shown. */
export const CUT = "…";

/**
 * The view of `prompt` then `line` with the cursor at `cursor` (an index into
 * `line`) on a screen `columns` wide, in at most `maxRows` rows.
 */
export function inputView(
  prompt: string,
  line: string,
  cursor: number,
  columns: number,
  maxRows: number,
): InputView {
  const width = Math.max(1, columns);
  // Cells the line may take: leave room for the cursor after the last
  // character, and for a column lost at each row end to a wide character.
  const rows = Math.max(1, maxRows);
  const room = Math.max(1, rows * width - 1 - rows - displayWidth(prompt, rows * width));
  let shown = line;
  let shownCursor = cursor;
  if (displayWidth(line, room + 1) > room) {
    const [start, end] = windowAround(line, cursor, Math.max(1, room - 2 * CUT.length));
    const head = start > 0 ? CUT : "";
    shown = head + line.slice(start, end) + (end < line.length ? CUT : "");
    shownCursor = cursor - start + head.length;
  }
  return place(prompt, shown.replaceAll("\t", " "), prompt.length + shownCursor, width);
}

/**
 * Display cells of `text` on a terminal (wide characters take two, combining
 * marks none), counting no further than `limit`.
 */
export function displayWidth(text: string, limit = Infinity): number {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7e]*$/.test(text)) return Math.min(text.length, limit);
  let cells = 0;
  for (const char of text) {
    cells += charWidth(char.codePointAt(0)!);
    if (cells >= limit) return limit;
  }
  return cells;
}

/** The start and end of the part of `line` around `cursor` that takes at most `cells`. */
function windowAround(line: string, cursor: number, cells: number): [number, number] {
  // Show what follows the cursor (up to half the room), then what precedes it,
  // then fill what is left with what follows.
  let end = extendRight(line, cursor, Math.floor(cells / 2));
  const afterWidth = widthBetween(line, cursor, end);
  const start = extendLeft(line, cursor, cells - afterWidth);
  end = extendRight(line, end, cells - afterWidth - widthBetween(line, start, cursor));
  return [start, end];
}

function extendRight(line: string, from: number, cells: number): number {
  let i = from;
  let used = 0;
  while (i < line.length) {
    const code = line.codePointAt(i)!;
    const w = charWidth(code);
    if (used + w > cells) break;
    used += w;
    i += code > 0xffff ? 2 : 1;
  }
  return i;
}

function extendLeft(line: string, from: number, cells: number): number {
  let i = from;
  let used = 0;
  while (i > 0) {
    const low = line.charCodeAt(i - 1);
    const size = i >= 2 && low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
    const w = charWidth(line.codePointAt(i - size)!);
    if (used + w > cells) break;
    used += w;
    i -= size;
  }
  return i;
}

function widthBetween(line: string, from: number, to: number): number {
  return displayWidth(line.slice(from, to));
}

/** Lays `prompt + shown` out in rows of `width` cells; `cursorIndex` indexes into the joined text. */
function place(prompt: string, shown: string, cursorIndex: number, width: number): InputView {
  const text = prompt + shown;
  let row = 0;
  let column = 0;
  let cursorRow = 0;
  let cursorColumn = 0;
  let index = 0;
  for (const char of text) {
    if (index === cursorIndex) [cursorRow, cursorColumn] = wrapped(row, column, width);
    const w = charWidth(char.codePointAt(0)!);
    // The terminal wraps before a character that does not fit in the row.
    if (column + w > width) {
      row++;
      column = 0;
    }
    column += w;
    index += char.length;
  }
  if (index <= cursorIndex) [cursorRow, cursorColumn] = wrapped(row, column, width);
  const [endRow, endColumn] = wrapped(row, column, width);
  return {
    text,
    cursorRow,
    cursorColumn,
    endRow,
    endColumn,
    endsAtMargin: column === width && text.length > 0,
  };
}

/** A position at the right margin is, for the cursor, the start of the next row. */
function wrapped(row: number, column: number, width: number): [number, number] {
  return column >= width ? [row + 1, 0] : [row, column];
}

/** Display cells of one code point. */
function charWidth(code: number): number {
  if (code < 0x300) return 1;
  if (
    (code >= 0x300 && code <= 0x36f) || (code >= 0x200b && code <= 0x200f) ||
    (code >= 0xfe00 && code <= 0xfe0f) || (code >= 0x20d0 && code <= 0x20ff)
  ) return 0;
  if (
    (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
    (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1f64f) ||
    (code >= 0x1f900 && code <= 0x1f9ff) || (code >= 0x20000 && code <= 0x3fffd)
  ) return 2;
  return 1;
}
