/**
 * `deno task docs:options`: writes the option tables of the docs from the
 * programs' option tables (`peer/options.ts`, `registry/options.ts`), each
 * between its marker comments (`<!-- options:NAME -->`), then formats the
 * files with `deno fmt`. `tests/options_docs_test.ts` fails when a document
 * disagrees with what this writes.
 *
 * @module
 */

import { docsRows, markdownTable, replaceMarked } from "../lib/option_docs.ts";
import type { OptionTable } from "../lib/option_table.ts";
import { PEER_DOCS_TABLES, PEER_OPTION_TABLE, PEER_PROGRAM_FLAGS } from "../peer/options.ts";
import {
  REGISTRY_DOCS_TABLES,
  REGISTRY_OPTION_TABLE,
  REGISTRY_PROGRAM_FLAGS,
} from "../registry/options.ts";

/** One generated table: the document, its marker, and the Markdown between. */
export interface GeneratedTable {
  /** The document, relative to the repository's root. */
  path: string;
  /** The name in its marker comments. */
  marker: string;
  /** The table. */
  content: string;
}

/** The README's table of every limit, both programs, one row per option. */
function readmeTable(): string {
  const columns = ["short", "default", "flag"] as const;
  const rowsOf = (program: string, rows: string[][]) => rows.map((cells) => [program, ...cells]);
  const registryKeys = Object.entries(REGISTRY_OPTION_TABLE)
    .filter(([, row]) => "docs" in row).map(([key]) => key);
  const peerKeys = Object.entries(PEER_OPTION_TABLE)
    .filter(([, row]) => "docs" in row).map(([key]) => key);
  return markdownTable(["program", "limit", "default", "flag"], [
    ...rowsOf(
      "registry",
      docsRows(REGISTRY_OPTION_TABLE, { marker: "", header: [], columns, rows: registryKeys }),
    ),
    ["both", "User and room names", "1–32 printable ASCII, no `:`", "(fixed: `lib/limits.ts`)"],
    ["both", "`ip` field", "253 bytes", "(fixed: `lib/limits.ts`)"],
    ...rowsOf(
      "peer",
      docsRows(PEER_OPTION_TABLE, { marker: "", header: [], columns, rows: peerKeys }),
    ),
  ]);
}

/** The README's table of a program's flags: every row of `tables` that has a flag. */
function flagsTable(...tables: OptionTable[]): string {
  const rows = tables.flatMap((table) =>
    docsRows(table, {
      marker: "",
      header: [],
      columns: ["usage", "shown", "help"],
      rows: Object.keys(table).filter((key) => table[key]!.flag !== undefined),
    })
  );
  return markdownTable(["flag", "default", "what it does"], rows);
}

/** Every table the docs hold, made from the option tables. */
export function generatedTables(): GeneratedTable[] {
  const tables = (path: string, specs: typeof PEER_DOCS_TABLES, table: OptionTable) =>
    specs.map((spec) => ({
      path,
      marker: spec.marker,
      content: markdownTable(spec.header, docsRows(table, spec)),
    }));
  return [
    ...tables("docs/peer_limits.md", PEER_DOCS_TABLES, PEER_OPTION_TABLE),
    ...tables("docs/limits.md", REGISTRY_DOCS_TABLES, REGISTRY_OPTION_TABLE),
    {
      path: "README.md",
      marker: "registry-flags",
      content: flagsTable(REGISTRY_OPTION_TABLE, REGISTRY_PROGRAM_FLAGS),
    },
    {
      path: "README.md",
      marker: "peer-flags",
      content: flagsTable(PEER_OPTION_TABLE, PEER_PROGRAM_FLAGS),
    },
    { path: "README.md", marker: "limits", content: readmeTable() },
  ];
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url);
  const written = new Set<string>();
  for (const { path, marker, content } of generatedTables()) {
    const url = new URL(path, root);
    await Deno.writeTextFile(url, replaceMarked(await Deno.readTextFile(url), marker, content));
    written.add(url.pathname);
  }
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...written] })
    .output();
  if (!fmt.success) {
    console.error(new TextDecoder().decode(fmt.stderr));
    Deno.exit(1);
  }
  console.log(`Wrote the option tables of ${[...written].length} documents`);
}
