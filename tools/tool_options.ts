/**
 * The flag shapes of the tools (chaos, cluster, benchmarks) that
 * lib/cli_options.ts does not have: text, choice, optional and on/off
 * flags, each with its help text. Integer flags with a default use
 * `integerOption` of lib/cli_options.ts, as the programs do.
 *
 * @example
 * ```ts
 * import { message, object } from "@optique/core";
 * import { integerOption } from "../lib/cli_options.ts";
 * import { jsonOption, textOption } from "./tool_options.ts";
 * const parser = object({
 *   sizes: textOption("--sizes", "LIST", message`Room sizes, comma-separated.`, "10,100"),
 *   samples: integerOption("--samples", { min: 1, metavar: "K" }, message`Samples.`, 30),
 *   json: jsonOption(),
 * });
 * ```
 *
 * @module
 */

import {
  choice,
  integer,
  type Message,
  message,
  type NonEmptyString,
  option,
  optional,
  string,
  withDefault,
} from "@optique/core";
import type { IntegerFlag } from "../lib/cli_options.ts";

/** `--flag VALUE` (any text), or `fallback` when absent. */
export function textOption(
  flag: `--${string}`,
  metavar: NonEmptyString,
  description: Message,
  fallback: string,
) {
  return withDefault(option(flag, string({ metavar }), { description }), fallback);
}

/** `--flag VALUE` (any text) that must be given. */
export function requiredText(flag: `--${string}`, metavar: NonEmptyString, description: Message) {
  return option(flag, string({ metavar }), { description });
}

/** `--flag VALUE` (any text), or undefined when absent. */
export function optionalText(flag: `--${string}`, metavar: NonEmptyString, description: Message) {
  return optional(option(flag, string({ metavar }), { description }));
}

/** `--flag N` checked against its bounds, or undefined when absent. */
export function optionalInteger(flag: `--${string}`, bounds: IntegerFlag, description: Message) {
  const value = integer({
    min: bounds.min,
    ...(bounds.max === undefined ? {} : { max: bounds.max }),
    metavar: bounds.metavar,
  });
  return optional(option(flag, value, { description }));
}

/** `--flag VALUE`, one of `values`, or `fallback` when absent. */
export function choiceOption<const T extends string>(
  flag: `--${string}`,
  values: readonly [T, ...T[]],
  metavar: NonEmptyString,
  description: Message,
  fallback: T,
) {
  return withDefault(option(flag, choice(values, { metavar }), { description }), fallback);
}

/** `--flag VALUE`, one of `values`, or undefined when absent. */
export function optionalChoice<const T extends string>(
  flag: `--${string}`,
  values: readonly [T, ...T[]],
  metavar: NonEmptyString,
  description: Message,
) {
  return optional(option(flag, choice(values, { metavar }), { description }));
}

/** An on/off flag: true when given. */
export function switchOption(flag: `--${string}`, description: Message) {
  return option(flag, { description });
}

/** `--port PORT` of a target server (1–65535), or undefined when absent. */
export function portOption(description: Message) {
  return optionalInteger("--port", { min: 1, max: 65535, metavar: "PORT" }, description);
}

/** `--json`: the benchmarks' switch for printing the result as one JSON object. */
export function jsonOption() {
  return switchOption("--json", message`Print the result as one JSON object.`);
}
