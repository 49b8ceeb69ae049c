/**
 * The docs tables made from an option table (`lib/option_table.ts`): the
 * Markdown of each table, and the marker comments between which a document
 * holds it. `deno task docs:options` writes them; `tests/options_docs_test.ts`
 * fails when a document disagrees.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markedContent, replaceMarked } from "./option_docs.ts";
 * const doc = "a\n<!-- options:t -->\nold\n<!-- /options:t -->\nb\n";
 * const updated = replaceMarked(doc, "t", "new");
 * assert.equal(markedContent(updated, "t"), "new");
 * ```
 *
 * @module
 */

import { docsDefault, type OptionRow, type OptionTable, shownDefault } from "./option_table.ts";

/** What a column of a docs table shows of an option. */
export type DocsColumn =
  | "limit"
  | "short"
  | "option"
  | "flag"
  | "usage"
  | "default"
  | "shown"
  | "help"
  | "details";

/** A docs table: its marker, header and columns, and its rows. */
export interface DocsTable {
  /** The name in its marker comments (`<!-- options:NAME -->`). */
  readonly marker: string;
  /** The header cells. */
  readonly header: readonly string[];
  /** What each column shows of an option; the default: limit, option, flag, default, details. */
  readonly columns?: readonly DocsColumn[];
  /** An option's key, or the cells of a row that is not an option (a fixed bound). */
  readonly rows: readonly (string | readonly string[])[];
}

const DEFAULT_COLUMNS: readonly DocsColumn[] = ["limit", "option", "flag", "default", "details"];

/** The cell of `column` for the option `key`. */
function cell(key: string, row: OptionRow<unknown>, column: DocsColumn): string {
  switch (column) {
    case "limit":
      return row.docs?.limit ?? key;
    case "short":
      return row.docs?.short ?? row.docs?.limit ?? key;
    case "option":
      return `\`${key}\``;
    case "flag":
      return row.flag === undefined ? "" : `\`${row.flag}\``;
    case "usage": {
      const metavar = row.metavar ?? row.kind.metavar;
      return row.flag === undefined
        ? ""
        : `\`${row.flag}${metavar === undefined ? "" : ` ${metavar}`}\``;
    }
    case "default":
      return docsDefault(row);
    case "shown":
      return shownDefault(row) ?? "";
    case "help":
      return row.help;
    case "details":
      return row.docs?.details ?? row.help;
  }
}

/**
 * The rows of `spec`, cells made from `table` for option keys.
 *
 * @throws {TypeError} when `spec` names an option `table` does not have
 */
export function docsRows(table: OptionTable, spec: DocsTable): string[][] {
  const columns = spec.columns ?? DEFAULT_COLUMNS;
  return spec.rows.map((row) => {
    if (typeof row !== "string") return [...row];
    const option = table[row];
    if (option === undefined) throw new TypeError(`No option ${row} in the table`);
    return columns.map((column) => cell(row, option, column));
  });
}

/** A Markdown table, its columns padded as `deno fmt` pads them. */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const escaped = [header, ...rows].map((cells) => cells.map((c) => c.replaceAll("|", "\\|")));
  const widths = header.map((_, i) =>
    Math.max(3, ...escaped.map((cells) => [...(cells[i] ?? "")].length))
  );
  const line = (cells: readonly string[]) =>
    `| ${widths.map((w, i) => pad(cells[i] ?? "", w)).join(" | ")} |`;
  return [
    line(escaped[0]!),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...escaped.slice(1).map(line),
  ].join("\n");
}

/** `text` padded with spaces to `width` characters (code points, as `deno fmt` counts). */
function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - [...text].length));
}

function markers(marker: string): [string, string] {
  return [`<!-- options:${marker} -->`, `<!-- /options:${marker} -->`];
}

/**
 * What `text` holds between the marker comments of `marker`, trimmed.
 *
 * @throws {TypeError} when the markers are missing
 */
export function markedContent(text: string, marker: string): string {
  const [open, close] = markers(marker);
  const start = text.indexOf(open);
  const end = text.indexOf(close, start);
  if (start === -1 || end === -1) throw new TypeError(`No ${open} … ${close} in the document`);
  return text.slice(start + open.length, end).trim();
}

/**
 * `text` with `content` between the marker comments of `marker`.
 *
 * @throws {TypeError} when the markers are missing
 */
export function replaceMarked(text: string, marker: string, content: string): string {
  const [open, close] = markers(marker);
  markedContent(text, marker);
  const start = text.indexOf(open) + open.length;
  const end = text.indexOf(close, start);
  return `${text.slice(0, start)}\n\n${content}\n\n${text.slice(end)}`;
}

/**
 * A Markdown table's lines as cells, whitespace and column padding ignored,
 * so that a table compares equal however `deno fmt` padded it.
 */
export function tableCells(markdown: string): string[][] {
  return markdown.split("\n").filter((line) => line.trim().startsWith("|")).map((line) =>
    line.trim().slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/^-+$/, "---"))
  );
}
