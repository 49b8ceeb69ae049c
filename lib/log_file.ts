/**
 * Log records to a file that rotates by size (issue 15), with LogTape's
 * rotating file sink (`@logtape/file`): when a record would take the file
 * past `maxBytes`, `PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2`, …,
 * and the oldest beyond `PATH.<maxFiles>` is dropped; `maxFiles` 0 keeps no
 * old file (the file starts over). Every record is written at once, without
 * a buffer, so a SIGKILL loses none.
 *
 * {@linkcode LOG_FILE_FLAGS} are the rows both programs add to their flag
 * tables (`--log-file`, `--log-max-bytes`, `--log-max-files`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getTextFormatter } from "@logtape/logtape";
 * import { logFileSink } from "./log_file.ts";
 * const dir = await Deno.makeTempDir();
 * const sink = logFileSink({ path: `${dir}/x.log`, maxBytes: 1024, maxFiles: 2 }, getTextFormatter());
 * sink[Symbol.dispose]();
 * assert.ok((await Deno.stat(`${dir}/x.log`)).isFile);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { getRotatingFileSink } from "@logtape/file";
import type { Sink, TextFormatter } from "@logtape/logtape";
import { integerKind, stringKind } from "./option_table.ts";

/** Where and how big log files are. */
export interface LogFileOptions {
  /** The file written to. */
  path: string;
  /** The size a file may reach before it rotates, in bytes. */
  maxBytes: number;
  /** Rotated files kept beside `path` (`path.1` … `path.<maxFiles>`). */
  maxFiles: number;
}

/** The rows of the log file flags, shared by the `registry` and `peer` programs' flag tables. */
export const LOG_FILE_FLAGS = Object.freeze(
  {
    logFile: {
      kind: stringKind("PATH"),
      flag: "--log-file",
      default: undefined,
      defaultText: "none: log records go to stderr",
      help: "Write log records to this file, rotated by size, instead of stderr.",
    },
    logMaxBytes: {
      kind: integerKind(1024),
      flag: "--log-max-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: 10 * 1024 * 1024,
      help: "Size at which the log file is rotated (PATH becomes PATH.1).",
    },
    logMaxFiles: {
      kind: integerKind(0, 1000),
      flag: "--log-max-files",
      default: 5,
      help: "Rotated log files kept (PATH.1 … PATH.N); older ones are deleted.",
    },
  } as const,
);

/**
 * The values of {@linkcode LOG_FILE_FLAGS} as {@linkcode LogFileOptions},
 * or undefined when no `--log-file` was given.
 */
export function logFileOptions(
  flags: { logFile?: string; logMaxBytes?: number; logMaxFiles?: number },
): LogFileOptions | undefined {
  if (flags.logFile === undefined) return undefined;
  return {
    path: flags.logFile,
    maxBytes: flags.logMaxBytes ?? LOG_FILE_FLAGS.logMaxBytes.default,
    maxFiles: flags.logMaxFiles ?? LOG_FILE_FLAGS.logMaxFiles.default,
  };
}

/** A sink writing `formatter`'s lines to the rotating file `options.path`. */
export function logFileSink(options: LogFileOptions, formatter: TextFormatter): Sink & Disposable {
  return getRotatingFileSink(options.path, {
    formatter,
    maxSize: options.maxBytes,
    maxFiles: options.maxFiles,
    bufferSize: 0,
  });
}
