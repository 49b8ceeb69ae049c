/**
 * Building blocks the command lines of ringchat's programs share (Optique
 * parsers). Only the `main.ts` files and tools use them.
 *
 * @module
 */

import { integer, type Message, type NonEmptyString, option, withDefault } from "@optique/core";

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
