import assert from "node:assert/strict";
import { runArgs } from "../lib/flags.ts";
import { helpText, type OptionRow, type OptionTable } from "../lib/option_table.ts";
import { COMMANDS } from "../peer/commands.ts";
import { PEER_OPTION_TABLE, PEER_PROGRAM_FLAGS } from "../peer/options.ts";
import { REGISTRY_OPTION_TABLE, REGISTRY_PROGRAM_FLAGS } from "../registry/options.ts";

const decoder = new TextDecoder();

async function run(program: "peer" | "registry", args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: runArgs(program, args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

const programs = [
  ["peer", { ...PEER_OPTION_TABLE, ...PEER_PROGRAM_FLAGS }],
  ["registry", { ...REGISTRY_OPTION_TABLE, ...REGISTRY_PROGRAM_FLAGS }],
] as const satisfies readonly (readonly [string, OptionTable])[];

for (const [program, table] of programs) {
  Deno.test(`${program} cli: -h and --help print the same help, every flag with its table help`, async () => {
    const [short, long] = await Promise.all([run(program, ["-h"]), run(program, ["--help"])]);
    assert.equal(long.code, 0, long.stderr);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stdout, long.stdout);
    assert.equal(long.stderr, "");
    const help = long.stdout;
    const flat = help.replace(/\s+/g, " ");
    for (const row of Object.values(table) as OptionRow<unknown>[]) {
      if (row.flag === undefined) continue;
      const metavar = row.metavar ?? row.kind.metavar;
      assert.ok(flat.includes(` ${row.flag}${metavar ? ` ${metavar}` : ""} `), row.flag);
      // The help line, default included, exactly as the table makes it.
      assert.ok(flat.includes(` ${helpText(row)} `), `${row.flag}: ${helpText(row)}`);
    }
  });

  Deno.test(`${program} cli: the help has no internal words, one form of default, whole usage lines`, async () => {
    const { stdout: help } = await run(program, ["--help"]);
    assert.doesNotMatch(help, /seed/i);
    assert.doesNotMatch(help, /\[\s*"/, 'no Optique-style ["default"]');
    assert.doesNotMatch(help, /[ \t]$/m, "no trailing spaces");
    const usage = help.slice(help.indexOf("Usage:"), help.indexOf("\n\n", help.indexOf("Usage:")));
    for (const line of usage.split("\n")) {
      assert.equal(line.split("[").length, line.split("]").length, `brackets closed on: ${line}`);
      assert.match(line, new RegExp(`^(Usage:)?\\s+${program} `), line);
    }
    for (const line of help.split("\n")) assert.ok(line.length <= 80, line);
  });

  Deno.test(`${program} cli: bad flags exit 2, the error first, then a hint to --help`, async () => {
    const cases: [string[], RegExp][] = [
      [["--bogus"], /--bogus/],
      [["--port", "x"], /--port/],
      [["--log-level", "loud"], /--log-level/],
      [[program === "registry" ? "--max-rooms" : "--max-handshakes", "0"], /--max-/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stdout, stderr } = await run(program, args);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.equal(stdout, "", args.join(" "));
      assert.ok(lines[0]!.startsWith(`${program}: `), stderr);
      assert.match(lines[0]!, pattern, stderr);
      assert.equal(lines.at(-1), `Try '${program} --help' for the options.`, stderr);
      assert.ok(lines.length <= 3, stderr);
    }
  });
}

Deno.test("peer cli: --help names every command /help lists", async () => {
  const { stdout } = await run("peer", ["--help"]);
  const flat = stdout.replace(/\s+/g, " ");
  for (const { usage } of COMMANDS) assert.ok(flat.includes(usage), usage);
});
