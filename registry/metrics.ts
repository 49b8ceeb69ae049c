/**
 * What a registry counts for operators (issue 15), and its Prometheus text
 * exposition (format 0.0.4): requests by type, how long each took, store
 * errors, connections refused before they were served, and the gauges of {@linkcode RegistryStats} read at scrape time.
 *
 * Labels are bounded: a request's `type` is `J`, `L`, `D`, `X:<op>` for an
 * op the registry knows (anything else is `X:other`) or `other`; nothing is
 * labelled per client, room or name, so a scrape stays the same size however
 * many clients come and go. Counting a request is an array increment, one
 * `performance.now()` and a walk along {@linkcode DURATION_BUCKETS_SECONDS};
 * nothing is allocated on the JOIN path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryMetrics } from "./metrics.ts";
 * const metrics = new RegistryMetrics(["hello"]);
 * metrics.request("J", 0.00002);
 * metrics.storeError();
 * metrics.refusedConnection("connect-rate");
 * const text = metrics.render({ connections: 1, rooms: 1, members: 1 });
 * assert.match(text, /^ringchat_registry_requests_total\{type="J"\} 1$/m);
 * assert.match(text, /^ringchat_registry_store_errors_total 1$/m);
 * assert.match(text, /^ringchat_registry_connections_refused_total\{reason="connect-rate"\} 1$/m);
 * ```
 *
 * @module
 */

import type { RawFrame } from "../lib/frame_reader.ts";
import type { RegistryStats } from "./registry.ts";

/**
 * Upper bounds of the duration histogram, in seconds: a JOIN answered from
 * the cached reply takes a few µs, a people op up to a password hash (90–340
 * ms on the 2-core machine, `docs/people.md`), one that waits for a hash slot
 * or a shared store more.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.00001,
  0.000025,
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
]);

/**
 * Why a connection was refused before it was served: over the source's
 * connect rate (closed at accept), over `maxConnections`, over
 * `maxConnectionsPerSource`.
 */
export const CONNECTION_REFUSALS = [
  "connect-rate",
  "max-connections",
  "connections-per-source",
] as const;

/** One of {@linkcode CONNECTION_REFUSALS}. */
export type ConnectionRefusal = typeof CONNECTION_REFUSALS[number];

/** The `type` label of the seed's request types; every other first byte is `other`. */
const SEED_TYPES = ["J", "L", "D"] as const;
const OTHER = "other";
const X_TYPE = 0x58;
const X_OTHER = "X:other";

/** Counters of one registry; see the module doc. */
export class RegistryMetrics {
  /** Requests per label, in the order of {@linkcode #labels}. */
  readonly #requests: Float64Array;
  readonly #labels: readonly string[];
  /** Index of each `X:<op>` label, by op. */
  readonly #opIndex: ReadonlyMap<string, number>;
  /** Observations per bucket (not cumulative); the last slot is `+Inf`. */
  readonly #buckets = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  #durationSum = 0;
  #durationCount = 0;
  #storeErrors = 0;
  /** Refused connections, in the order of {@linkcode CONNECTION_REFUSALS}. */
  readonly #refusedConnections = new Float64Array(CONNECTION_REFUSALS.length);

  /** Counts requests of the seed's types and of the ops `knownOps` (any other op is `X:other`). */
  constructor(knownOps: Iterable<string>) {
    const ops = [...new Set(knownOps)].sort();
    this.#labels = [...SEED_TYPES, ...ops.map((op) => `X:${op}`), X_OTHER, OTHER];
    this.#opIndex = new Map(ops.map((op, i) => [op, SEED_TYPES.length + i]));
    this.#requests = new Float64Array(this.#labels.length);
  }

  /**
   * The label index of a request: from its first byte (`firstByte`), and for
   * an `X` frame its `op` (null: not known yet, or not decodable).
   */
  typeIndex(firstByte: number, op: string | null = null): number {
    switch (firstByte) {
      case 0x4a: // J
        return 0;
      case 0x4c: // L
        return 1;
      case 0x44: // D
        return 2;
      case X_TYPE:
        return (op === null ? undefined : this.#opIndex.get(op)) ?? this.#labels.length - 2;
      default:
        return this.#labels.length - 1;
    }
  }

  /** Counts one request of the label `type` (a label, or an index from {@linkcode typeIndex}) that took `seconds`. */
  request(type: string | number, seconds: number): void {
    const index = typeof type === "number" ? type : this.#labels.indexOf(type);
    if (index < 0) throw new RangeError(`Unknown request type ${JSON.stringify(type)}`);
    this.#requests[index]!++;
    let bucket = 0;
    while (
      bucket < DURATION_BUCKETS_SECONDS.length && seconds > DURATION_BUCKETS_SECONDS[bucket]!
    ) {
      bucket++;
    }
    this.#buckets[bucket]!++;
    this.#durationSum += seconds;
    this.#durationCount++;
  }

  /**
   * `answer`, counting and timing each request it answers (a reply still
   * being made: when it is made).
   */
  metered<C, R extends Uint8Array | Promise<unknown>>(
    answer: (client: C, frame: RawFrame) => R,
  ): (client: C, frame: RawFrame) => R {
    return (client, frame) => {
      const started = performance.now();
      const reply = answer(client, frame);
      const first = frame.bytes[0]!;
      const type = this.typeIndex(first, first === X_TYPE ? extensionOp(frame) : null);
      if (reply instanceof Uint8Array) {
        this.request(type, (performance.now() - started) / 1000);
      } else {
        const done = () => this.request(type, (performance.now() - started) / 1000);
        reply.then(done, done);
      }
      return reply;
    };
  }

  /** Counts one failed request to the store (a shared store that did not answer, or answered an error). */
  storeError(): void {
    this.#storeErrors++;
  }

  /** Counts one connection refused before it was served (always counted: an array increment). */
  refusedConnection(reason: ConnectionRefusal): void {
    this.#refusedConnections[CONNECTION_REFUSALS.indexOf(reason)]!++;
  }

  /** Refused connections counted so far, per reason. */
  refusedConnections(): Record<ConnectionRefusal, number> {
    return Object.fromEntries(
      CONNECTION_REFUSALS.map((reason, i) => [reason, this.#refusedConnections[i]!]),
    ) as Record<ConnectionRefusal, number>;
  }

  /** Store errors counted so far. */
  get storeErrors(): number {
    return this.#storeErrors;
  }

  /** Requests counted so far, per label (labels with none included). */
  requests(): Record<string, number> {
    return Object.fromEntries(this.#labels.map((label, i) => [label, this.#requests[i]!]));
  }

  /** The Prometheus text of every metric, with `stats` as the gauges. */
  render(stats: RegistryStats): string {
    const lines: string[] = [];
    gauge(lines, "connections", "Client connections being served.", stats.connections);
    gauge(lines, "rooms", "Rooms that exist.", stats.rooms);
    gauge(lines, "members", "Members of all rooms together.", stats.members);
    header(lines, "requests_total", "counter", "Requests answered, by type.");
    this.#labels.forEach((label, i) => {
      lines.push(`ringchat_registry_requests_total{type="${label}"} ${this.#requests[i]}`);
    });
    const histogram = "ringchat_registry_request_duration_seconds";
    header(
      lines,
      "request_duration_seconds",
      "histogram",
      "Time from a whole request read to its reply made (not written), in seconds.",
    );
    let cumulative = 0;
    DURATION_BUCKETS_SECONDS.forEach((bound, i) => {
      cumulative += this.#buckets[i]!;
      lines.push(`${histogram}_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(`${histogram}_bucket{le="+Inf"} ${this.#durationCount}`);
    lines.push(`${histogram}_sum ${this.#durationSum}`);
    lines.push(`${histogram}_count ${this.#durationCount}`);
    header(lines, "store_errors_total", "counter", "Requests to the store that failed.");
    lines.push(`ringchat_registry_store_errors_total ${this.#storeErrors}`);
    header(
      lines,
      "connections_refused_total",
      "counter",
      "Connections refused before they were served, by reason.",
    );
    CONNECTION_REFUSALS.forEach((reason, i) => {
      lines.push(
        `ringchat_registry_connections_refused_total{reason="${reason}"} ${
          this.#refusedConnections[i]
        }`,
      );
    });
    return lines.join("\n") + "\n";
  }
}

/** The `op` of an `X` frame (counted by op), or null when it does not decode. */
function extensionOp(frame: RawFrame): string | null {
  try {
    const decoded = frame.decode();
    return decoded.type === "X" ? decoded.op : null;
  } catch {
    return null;
  }
}

function header(lines: string[], name: string, type: string, help: string): void {
  lines.push(
    `# HELP ringchat_registry_${name} ${help}`,
    `# TYPE ringchat_registry_${name} ${type}`,
  );
}

function gauge(lines: string[], name: string, help: string, value: number): void {
  header(lines, name, "gauge", help);
  lines.push(`ringchat_registry_${name} ${value}`);
}
