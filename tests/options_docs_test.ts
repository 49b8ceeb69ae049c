import assert from "node:assert/strict";
import type { OptionTable } from "../lib/option_table.ts";
import { markedContent, replaceMarked, tableCells } from "../lib/option_docs.ts";
import { PEER_OPTION_TABLE } from "../peer/options.ts";
import { REGISTRY_OPTION_TABLE } from "../registry/options.ts";
import { generatedTables } from "../tools/options_docs.ts";

const root = new URL("..", import.meta.url);

/** The tables of `generatedTables()` that `read` disagrees with, as messages. */
function disagreements(read: (path: string) => string): string[] {
  return generatedTables().flatMap(({ path, marker, content }) => {
    const actual = tableCells(markedContent(read(path), marker));
    const expected = tableCells(content);
    try {
      assert.deepEqual(actual, expected);
      return [];
    } catch (error) {
      return [`${path}, table ${marker}: ${(error as Error).message}`];
    }
  });
}

Deno.test("options docs: README and docs/*limits.md hold the tables made from the option tables", () => {
  const problems = disagreements((path) => Deno.readTextFileSync(new URL(path, root)));
  assert.deepEqual(problems, [], `run \`deno task docs:options\`:\n${problems.join("\n")}`);
});

Deno.test("options docs: a changed default, flag or row in a document is a disagreement", () => {
  const files = new Map<string, string>();
  const read = (path: string) => {
    if (!files.has(path)) files.set(path, Deno.readTextFileSync(new URL(path, root)));
    return files.get(path)!;
  };
  assert.deepEqual(disagreements(read), []);
  const tamper = (path: string, from: string, to: string) => {
    const text = read(path);
    assert.ok(text.includes(from), `${path} holds ${from}`);
    files.set(path, text.replace(from, to));
  };
  tamper("docs/peer_limits.md", "| 200 ", "| 300 ");
  tamper("docs/limits.md", "`--max-members`", "`--max-room-members`");
  tamper("README.md", "| `--retry-ms MS` ", "| `--retry MS` ");
  const problems = disagreements(read);
  assert.equal(problems.length, 3, problems.join("\n"));
  assert.match(problems.join("\n"), /docs\/peer_limits\.md, table peer-flooding/);
  assert.match(problems.join("\n"), /docs\/limits\.md, table registry/);
  assert.match(problems.join("\n"), /README\.md, table peer-flags/);
});

Deno.test("options docs: every documented option of both tables is in a docs table, once", () => {
  const documented = (table: OptionTable) =>
    Object.keys(table).filter((key) => table[key]!.docs !== undefined).map((key) => `\`${key}\``);
  for (
    const [path, table] of [
      ["docs/peer_limits.md", PEER_OPTION_TABLE],
      ["docs/limits.md", REGISTRY_OPTION_TABLE],
    ] as const
  ) {
    const cells = generatedTables().filter((t) => t.path === path)
      .flatMap((t) => tableCells(t.content)).map((row) => row[1]);
    for (const key of documented(table)) {
      assert.equal(cells.filter((cell) => cell === key).length, 1, `${path} lists ${key} once`);
    }
  }
});

Deno.test("options docs: markers are replaced in place, and missing markers are an error", () => {
  const doc = "# T\n\n<!-- options:x -->\n\n| a |\n\n<!-- /options:x -->\n\nafter\n";
  const updated = replaceMarked(doc, "x", "| b   |\n| --- |");
  assert.equal(
    updated,
    "# T\n\n<!-- options:x -->\n\n| b   |\n| --- |\n\n<!-- /options:x -->\n\nafter\n",
  );
  assert.deepEqual(tableCells(markedContent(updated, "x")), [["b"], ["---"]]);
  assert.throws(() => markedContent(doc, "y"), TypeError);
  assert.throws(() => replaceMarked(doc, "y", ""), TypeError);
});
