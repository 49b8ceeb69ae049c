/**
 * Logging setup for ringchat's command-line programs. Library code never
 * calls this: it only takes a LogTape logger (`getLogger(["ringchat", …])`).
 * A program's `main.ts` calls {@linkcode configureLogging} once, before it
 * starts anything.
 *
 * Records go to **stderr** (stdout belongs to the program's own output), one
 * line each: human-readable text by default, JSON lines with `json: true`;
 * with `file`, to that rotating file instead (./log_file.ts).
 *
 * @example
 * ```ts
 * import { configureLogging } from "./logging.ts";
 * await configureLogging({ level: "info", json: false });
 * ```
 *
 * @module
 */

import {
  configure,
  getJsonLinesFormatter,
  getTextFormatter,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import { type LogFileOptions, logFileSink } from "./log_file.ts";

/** The levels a program's `--log-level` accepts. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevelName = typeof LOG_LEVELS[number];

/** Options of {@linkcode configureLogging}. */
export interface LoggingOptions {
  /** The lowest level recorded. */
  level: LogLevelName;
  /** JSON lines instead of human-readable lines. */
  json: boolean;
  /** Write to this rotating file instead of stderr. */
  file?: LogFileOptions;
}

/**
 * A sink that writes each formatted record to stderr synchronously, so no
 * record is lost when the program exits right after logging it, and nothing
 * is left pending for a test's op sanitizer.
 */
function stderrSink(formatter: TextFormatter): Sink {
  const encoder = new TextEncoder();
  return (record: LogRecord) => {
    const bytes = encoder.encode(formatter(record));
    let written = 0;
    try {
      while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
    } catch {
      // stderr is gone (closed pipe): logging must never take the program down.
    }
  };
}

/**
 * Sends every `["ringchat", …]` record at `level` or above to stderr (or
 * `options.file`). Call once per program; calling again replaces the
 * configuration (and closes the file; so does LogTape's `reset()`).
 */
export async function configureLogging(options: LoggingOptions): Promise<void> {
  const formatter = options.json ? getJsonLinesFormatter() : getTextFormatter({ value: "bare" });
  await configure({
    reset: true,
    sinks: {
      out: options.file === undefined
        ? stderrSink(formatter)
        : logFileSink(options.file, formatter),
    },
    loggers: [
      { category: ["ringchat"], lowestLevel: options.level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}
