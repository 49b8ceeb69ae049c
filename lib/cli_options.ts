/**
 * Building blocks the command lines of ringchat's programs share (Optique
 * parsers, the runner and its error lines). Only the `main.ts` files and
 * tools use them; the programs' options come from their option tables
 * (`lib/option_table.ts`).
 *
 * @module
 */

import {
  integer,
  type Message,
  type NonEmptyString,
  option,
  type Parser,
  text,
  type Usage,
  type UsageTerm,
  withDefault,
} from "@optique/core";
import { run } from "@optique/run";

/** Bounds and the placeholder of an integer flag's value. */
export interface IntegerFlag {
  /** Smallest value accepted. */
  min: number;
  /** Largest value accepted, if any. */
  max?: number;
  /** The value's name in help (`MS`, `N`, `BYTES`). */
  metavar: NonEmptyString;
}

/**
 * An integer flag with a default: `--flag N`, checked against its bounds, or
 * `fallback` when absent.
 *
 * @example
 * ```ts
 * import { message } from "@optique/core";
 * import { integerOption } from "./cli_options.ts";
 * const expiry = integerOption("--expiry-ms", { min: 1, metavar: "MS" }, message`Expiry.`, 60_000);
 * ```
 */
export function integerOption(
  flag: `--${string}`,
  bounds: IntegerFlag,
  description: Message,
  fallback: number,
) {
  const value = integer({
    min: bounds.min,
    ...(bounds.max === undefined ? {} : { max: bounds.max }),
    metavar: bounds.metavar,
  });
  return withDefault(option(flag, value, { description }), fallback);
}

/** What {@linkcode runCli} needs besides the parser. */
export interface CliProgram {
  /** The program's name, first on every error line (`peer: …`). */
  name: string;
  /** One sentence on top of `--help`. */
  brief: string;
  /** The usage lines without the program's name: `[OPTIONS] [PORT]`; `[X]` is optional. */
  usage: readonly string[];
  /** Text after the options in `--help`. */
  footer?: string;
  /** The arguments to parse. */
  args: readonly string[];
  /** Printed by `--version`. */
  version: string;
}

/** The hint that follows every command-line error. */
export function helpHint(program: string): string {
  return `Try '${program} --help' for the options.`;
}

/**
 * Prints `PROGRAM: text` and the hint to `--help` on stderr, and exits 2,
 * as every command-line error does.
 */
export function usageError(program: string, text: string): never {
  console.error(`${program}: ${text}\n${helpHint(program)}`);
  Deno.exit(2);
}

function usageLine(line: string): Usage {
  return line.split(/\s+/).filter((word) => word !== "").map((word): UsageTerm => {
    const optional = word.startsWith("[") && word.endsWith("]");
    const metavar = (optional ? word.slice(1, -1) : word) as NonEmptyString;
    const argument: UsageTerm = { type: "argument", metavar };
    return optional ? { type: "optional", terms: [argument] } : argument;
  });
}

/**
 * Parses `program.args` with `parser` (Optique) the same way in every
 * ringchat program: `-h`/`--help` and `--version` print and exit 0; a bad
 * flag prints `PROGRAM: the error` then a hint to `--help`, and exits 2.
 */
export function runCli<T>(parser: Parser<"sync", T, unknown>, program: CliProgram): T {
  const [first, ...rest] = program.usage.map(usageLine);
  return run(parser, {
    programName: program.name,
    args: program.args,
    brief: [text(program.brief)],
    ...(program.footer === undefined ? {} : { footer: [text(program.footer)] }),
    usageLine: rest.length === 0 ? first : [{ type: "exclusive", terms: [first!, ...rest] }],
    help: { option: { names: ["-h", "--help"] } },
    version: program.version,
    colors: false,
    maxWidth: 80,
    termWidth: "auto",
    aboveError: "none",
    errorExitCode: 2,
    stdout: (output) => console.log(output.replace(/[ \t]+$/gm, "")),
    stderr: (output) =>
      console.error(
        `${output.replace(/^Error: /, `${program.name}: `)}\n${helpHint(program.name)}`,
      ),
  });
}
