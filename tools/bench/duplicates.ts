/**
 * Duplicate receipts of in-process peers. The engine drops a `T` frame it has
 * seen with a debug log record (`"Dropped a duplicate {id} from {origin}"`,
 * category `["ringchat", "peer"]`) and exposes no counter, so the benchmark
 * program (which owns the logging configuration) routes that category's debug
 * records to a counting sink. Warnings and errors of every ringchat category
 * still go to stderr.
 *
 * @module
 */

import { configure, type LogRecord } from "@logtape/logtape";

/** Duplicate receipts counted per message, keyed by `origin name` and msgID. */
export class DuplicateCounter {
  readonly #counts = new Map<string, number>();
  #total = 0;

  /** The log sink that counts. */
  readonly sink = (record: LogRecord): void => {
    if (record.level === "warning" || record.level === "error" || record.level === "fatal") {
      console.error(`[${record.category.join(".")}] ${record.message.join("")}`);
      return;
    }
    if (typeof record.rawMessage !== "string") return;
    if (!record.rawMessage.startsWith("Dropped a duplicate")) return;
    const key = DuplicateCounter.key(
      String(record.properties.origin),
      String(record.properties.id),
    );
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    this.#total++;
  };

  /** The key of a message. */
  static key(originName: string, msgId: string): string {
    return `${originName}\u0000${msgId}`;
  }

  /** Duplicate receipts of one message so far. */
  of(originName: string, msgId: string): number {
    return this.#counts.get(DuplicateCounter.key(originName, msgId)) ?? 0;
  }

  /** Every duplicate receipt so far. */
  get total(): number {
    return this.#total;
  }

  /** Counts one duplicate (for receipts observed elsewhere, e.g. a process's log line). */
  add(originName: string, msgId: string): void {
    const key = DuplicateCounter.key(originName, msgId);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    this.#total++;
  }
}

/**
 * Configures logging of this program: ringchat warnings and errors to
 * stderr, and the peer's debug records to a {@linkcode DuplicateCounter}.
 */
export async function countDuplicates(): Promise<DuplicateCounter> {
  const counter = new DuplicateCounter();
  await configure({
    reset: true,
    sinks: { counter: counter.sink },
    loggers: [
      { category: ["ringchat"], lowestLevel: "warning", sinks: ["counter"] },
      {
        category: ["ringchat", "peer"],
        lowestLevel: "debug",
        sinks: ["counter"],
        parentSinks: "override",
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["counter"] },
    ],
  });
  return counter;
}

/**
 * Reads a duplicate from one `--json` log line of a peer process run with
 * `--log-level debug`; null when the line is something else.
 */
export function duplicateFromLogLine(line: string): { origin: string; id: string } | null {
  if (!line.includes("Dropped a duplicate")) return null;
  try {
    const record = JSON.parse(line);
    const props = record?.properties;
    if (props === undefined || props.id === undefined) return null;
    return { origin: String(props.origin), id: String(props.id) };
  } catch {
    return null;
  }
}
