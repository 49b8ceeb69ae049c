/**
 * One table per program for its options: each row holds an option's flag,
 * kind (bounds), default, help line and docs row. From the table come the
 * defaults, the validation of options given to `startPeer` or
 * `startRegistry`, the command-line parser (Optique), the help text and the
 * docs tables (`deno task docs:options`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultsOf, integerKind, resolveOptions } from "./option_table.ts";
 * const table = {
 *   expiryMs: { kind: integerKind(1), flag: "--expiry-ms", unit: "ms", default: 60_000, help: "Expiry." },
 * } as const;
 * assert.deepEqual(defaultsOf(table), { expiryMs: 60_000 });
 * assert.deepEqual(resolveOptions(table, { expiryMs: 5 }), { expiryMs: 5 });
 * assert.throws(() => resolveOptions(table, { expiryMs: 0 }), RangeError);
 * ```
 *
 * @module
 */

import {
  choice,
  integer,
  ipv4,
  map,
  type Message,
  type NonEmptyString,
  object,
  option,
  optional,
  type Parser,
  port,
  socketAddress,
  string,
  text,
} from "@optique/core";

/** What an option holds: how it is checked, read from a flag and shown. */
export interface OptionKind<T> {
  /** The placeholder of the flag's value in help (`MS`, `N`); none for a switch. */
  readonly metavar?: NonEmptyString;
  /** Why `value` is refused ("must be …"), or `null` when it is fine. */
  problem(value: T): string | null;
  /** The flag's parser: `undefined` when the flag is absent. */
  flag(
    name: `--${string}`,
    metavar: NonEmptyString | undefined,
    description: Message,
  ): Parser<"sync", T | undefined, unknown>;
  /** `value` as it is typed on the command line. */
  format(value: T): string;
}

/** Units whose defaults the docs spell out (`16777216 (16 MiB)`, `60000 (60 s)`). */
export type OptionUnit = "ms" | "bytes";

/** The row of an option in the limits docs. */
export interface OptionDocs {
  /** What the option limits, as the docs table names it. */
  readonly limit: string;
  /** The same in a few words, for the README's table; default `limit`. */
  readonly short?: string;
  /** Why the default is what it is, and what happens past it. */
  readonly details: string;
}

/** One option: its row in a program's table. */
export interface OptionRow<T> {
  /** Its kind: bounds, flag parser and formatting. */
  readonly kind: OptionKind<T>;
  /** Its command-line flag; none: an option of the API only. */
  readonly flag?: `--${string}`;
  /** The flag value's placeholder, when not the kind's. */
  readonly metavar?: NonEmptyString;
  /** Its default; `undefined`: none (then `defaultText` may say what happens). */
  readonly default: T | undefined;
  /** The default in words, for help and docs, when the value alone says too little. */
  readonly defaultText?: string;
  /** Its unit, for the docs' reading of the default. */
  readonly unit?: OptionUnit;
  /** One sentence for `--help`, ending with a period. */
  readonly help: string;
  /** The help section it is listed in; none: the first, unlabelled one. */
  readonly group?: string;
  /** Its row in the limits docs, when it is a limit or a timing. */
  readonly docs?: OptionDocs;
}

/** A program's option table: option key → row. */
export type OptionTable = { readonly [key: string]: OptionRow<unknown> };

/** The value type of each option of `T`. */
export type OptionValues<T extends OptionTable> = {
  -readonly [K in keyof T]: T[K] extends { readonly kind: OptionKind<infer V> } ? V : never;
};

/** Whether two types are the same (for compile-time checks of a table against an interface). */
export type SameType<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2)
  ? true
  : false;

/** The integers from `min` to `max`; the flag takes the same. */
export function integerKind(min: number, max?: number): OptionKind<number> {
  const bound = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
  return {
    metavar: "N",
    problem: (value) =>
      Number.isInteger(value) && value >= min && (max === undefined || value <= max)
        ? null
        : `must be an integer ${bound}`,
    flag: (name, metavar, description) =>
      optional(
        option(
          name,
          integer({ min, ...(max === undefined ? {} : { max }), metavar: metavar ?? "N" }),
          { description },
        ),
      ),
    format: String,
  };
}

/**
 * Positive finite numbers; the flag takes integers of at least 1 (a
 * duration in ms, a count).
 */
export function positiveKind(): OptionKind<number> {
  return {
    ...integerKind(1),
    problem: (value) => Number.isFinite(value) && value > 0 ? null : "must be a positive number",
  };
}

/** Numbers of at least `min`, `Infinity` included; the flag takes integers of at least `min`. */
export function atLeastKind(min: number): OptionKind<number> {
  return {
    ...integerKind(min),
    problem: (value) => value >= min ? null : `must be at least ${min}`,
  };
}

/**
 * A rate: positive, `Infinity` for no limit. The flag takes an integer of at
 * least 0, and 0 for no limit.
 */
export function rateKind(): OptionKind<number> {
  return {
    metavar: "N",
    problem: (value) => value > 0 ? null : "must be positive (Infinity: no limit)",
    flag: (name, metavar, description) =>
      map(
        integerKind(0).flag(name, metavar, description),
        (value) => value === 0 ? Infinity : value,
      ),
    format: (value) => value === Infinity ? "0" : String(value),
  };
}

/** A switch: `true` when the flag is given. */
export function switchKind(): OptionKind<boolean> {
  return {
    problem: () => null,
    flag: (name, _metavar, description) =>
      map(option(name, { description }), (given) => given ? true : undefined),
    format: String,
  };
}

/** Any string; checked by the program, not the table. */
export function stringKind(metavar: NonEmptyString): OptionKind<string> {
  return {
    metavar,
    problem: () => null,
    flag: (name, placeholder, description) =>
      optional(option(name, string({ metavar: placeholder ?? metavar }), { description })),
    format: String,
  };
}

/** One of `values`. */
export function choiceKind<const V extends string>(
  values: readonly V[],
  metavar: NonEmptyString,
): OptionKind<V> {
  return {
    metavar,
    problem: (value) => values.includes(value) ? null : `must be one of ${values.join(", ")}`,
    flag: (name, placeholder, description) =>
      optional(option(name, choice(values, { metavar: placeholder ?? metavar }), { description })),
    format: String,
  };
}

/** An IPv4 address. */
export function ipv4Kind(): OptionKind<string> {
  return {
    ...stringKind("IP"),
    flag: (name, metavar, description) =>
      optional(option(name, ipv4({ metavar: metavar ?? "IP" }), { description })),
  };
}

/** A TCP or UDP port; the flag takes 0 to 65535 (0: any free port). */
export function portKind(): OptionKind<number> {
  return {
    metavar: "PORT",
    problem: () => null,
    flag: (name, metavar, description) =>
      optional(option(name, port({ min: 0, metavar: metavar ?? "PORT" }), { description })),
    format: String,
  };
}

/** An address to connect to: the flag takes `HOST:PORT`. */
export function hostPortKind(): OptionKind<{ hostname: string; port: number }> {
  return {
    metavar: "HOST:PORT",
    problem: () => null,
    flag: (name, metavar, description) =>
      optional(
        map(
          option(
            name,
            socketAddress({ requirePort: true, metavar: metavar ?? "HOST:PORT" }),
            { description },
          ),
          ({ host, port }) => ({ hostname: host, port }),
        ),
      ),
    format: ({ hostname, port }) => `${hostname}:${port}`,
  };
}

/** The defaults of the options of `table` that have one. */
export function defaultsOf<T extends OptionTable>(table: T): Partial<OptionValues<T>> {
  return Object.fromEntries(
    Object.entries(table).filter(([, row]) => row.default !== undefined).map((
      [key, row],
    ) => [key, row.default]),
  ) as Partial<OptionValues<T>>;
}

/**
 * Applies the defaults of `table` to `options` and checks each option of
 * the table; keys the table does not know pass through unchecked.
 *
 * @throws {RangeError} when an option is out of its bounds: `KEY must be …, got VALUE`
 */
export function resolveOptions<T extends OptionTable, O extends Partial<OptionValues<T>>>(
  table: T,
  options: O,
): Partial<OptionValues<T>> & O {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved = { ...defaultsOf(table), ...given } as Partial<OptionValues<T>> & O;
  for (const [key, row] of Object.entries(table)) {
    const value = (resolved as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const problem = row.kind.problem(value);
    if (problem !== null) throw new RangeError(`${key} ${problem}, got ${value}`);
  }
  return resolved;
}

/** The default of `row` as `--help` and the docs show it, if it has one. */
export function shownDefault(row: OptionRow<unknown>): string | undefined {
  if (row.defaultText !== undefined) return row.defaultText;
  return row.default === undefined || row.default === false
    ? undefined
    : row.kind.format(row.default);
}

/** The help line of `row`: its sentence, then `Default: …` when it has one. */
export function helpText(row: OptionRow<unknown>): string {
  const fallback = shownDefault(row);
  return fallback === undefined ? row.help : `${row.help} Default: ${fallback}.`;
}

/** The parser of `row`'s flag, with its help line. */
export function flagParser<T>(row: OptionRow<T>): Parser<"sync", T | undefined, unknown> {
  if (row.flag === undefined) throw new TypeError("The option has no flag");
  return row.kind.flag(row.flag, row.metavar ?? row.kind.metavar, [text(helpText(row))]);
}

/** The options of `T` that have a flag. */
export type FlagKeys<T extends OptionTable> = {
  [K in keyof T]: T[K] extends { readonly flag: `--${string}` } ? K : never;
}[keyof T];

/**
 * The parser of every flag of `table` in the help section `group` (none:
 * the rows without a group), each giving its option's value or
 * `undefined` when absent; the defaults are applied later, by
 * {@linkcode resolveOptions}.
 */
export function tableParser<T extends OptionTable>(
  table: T,
  group?: string,
): Parser<"sync", { readonly [K in FlagKeys<T>]?: OptionValues<T>[K] }, unknown> {
  const parsers = Object.fromEntries(
    Object.entries(table)
      .filter(([, row]) => row.flag !== undefined && row.group === group)
      .map(([key, row]) => [key, flagParser(row)]),
  );
  return (group === undefined ? object(parsers) : object(group, parsers)) as Parser<
    "sync",
    { readonly [K in FlagKeys<T>]?: OptionValues<T>[K] },
    unknown
  >;
}

/** The default of `row` in a docs table, with its unit's reading (`65536 (64 KiB)`). */
export function docsDefault(row: OptionRow<unknown>): string {
  const shown = shownDefault(row) ?? "none";
  const value = row.default;
  if (typeof value !== "number" || !Number.isFinite(value)) return shown;
  if (row.unit === "ms" && value >= 1000 && value % 1000 === 0) {
    return `${shown} (${value / 1000} s)`;
  }
  if (row.unit === "bytes") {
    if (value >= 1 << 20 && value % (1 << 20) === 0) return `${shown} (${value / (1 << 20)} MiB)`;
    if (value >= 1024 && value % 1024 === 0) return `${shown} (${value / 1024} KiB)`;
  }
  return shown;
}
