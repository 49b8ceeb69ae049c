/**
 * What is measured while an attack of ./attacks.ts runs, beside its own
 * PASS condition (issue 16's Tests): how long legitimate newcomers wait to
 * be served by the registry and to get their first link up, and the
 * resident memory (VmRSS) of the processes attacked, before, during (the
 * most sampled) and after. An attack writes them into its
 * {@linkcode AttackFigures}; the chaos tool prints them as a table.
 *
 * @module
 */

import { memory } from "../process/proc.ts";
import {
  describeNewcomers,
  fail,
  ms,
  type NewcomerLink,
  newcomersServed,
  type NewcomerWatch,
  percentile,
  sleep,
  watchNewcomers,
} from "./attack_kit.ts";

/** VmRSS of one process around an attack, MiB. */
export interface RssFigures {
  name: string;
  before: number;
  /** The most sampled while the attack ran. */
  during: number;
  after: number;
}

/** The figures of one attack run. */
export interface AttackFigures {
  /** Newcomers during the attack: connect, `L`, JOIN → `M` listing them, ms (Infinity: unserved). */
  served: number[];
  /** The same newcomers' first link up (a `P` to a room peer answered `S`), ms; empty: none tried. */
  linked: number[];
  /** VmRSS of the processes attacked. */
  rss: RssFigures[];
  /** doors-churn: the JOIN-and-close that connected and wrote their JOIN (0 for other attacks). */
  churned: number;
}

/** Figures with nothing measured yet. */
export function emptyFigures(): AttackFigures {
  return { served: [], linked: [], rss: [], churned: 0 };
}

/** A process to watch: its name in the report and its pid. */
export interface Watched {
  name: string;
  pid: number;
}

async function rssMiB(pid: number): Promise<number> {
  try {
    return (await memory(pid)).rssKiB / 1024;
  } catch {
    return NaN; // Gone (killed by the attack, or restarted under another pid).
  }
}

/**
 * Samples the VmRSS of `watched()` every `everyMs` from now until `stop()`;
 * `after()` takes the last reading and writes all three into `figures`.
 */
export async function watchRss(
  figures: AttackFigures,
  watched: () => readonly Watched[],
  everyMs = 500,
): Promise<{ stop(): Promise<void>; after(): Promise<void> }> {
  const rows = new Map<string, RssFigures>();
  const sample = async (field: "before" | "during" | "after") => {
    for (const w of watched()) {
      const value = await rssMiB(w.pid);
      const row = rows.get(w.name) ?? { name: w.name, before: NaN, during: NaN, after: NaN };
      rows.set(w.name, row);
      if (field !== "during") row[field] = value;
      // The most read from the start until the attack's end; no reading (NaN) changes nothing.
      if (field !== "after" && !(row.during >= value) && !Number.isNaN(value)) {
        row.during = value;
      }
    }
  };
  await sample("before");
  let running = true;
  const loop = (async () => {
    while (running) {
      await sleep(everyMs);
      if (running) await sample("during");
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
    async after() {
      await sample("after");
      figures.rss.push(...rows.values());
    },
  };
}

/**
 * The pid of the process listening on TCP `port` (of this machine), from
 * `ss -ltnp`; null when it cannot tell (no `ss`, or another user's process).
 */
export async function listenerPid(port: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("ss", {
      args: ["-Hltnp", `sport = :${port}`],
      stdin: "null",
      stderr: "null",
    }).output();
    const m = /pid=(\d+)/.exec(new TextDecoder().decode(out.stdout));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Where newcomers go during a room attack. */
export interface RoomWatchOptions {
  host: string;
  /** The registry's port. */
  port: number;
  /** The attacked room: newcomers join it. */
  room: string;
  /** The peer of the room each newcomer links to (its port), at the time it does. */
  linkTo: () => number;
  /** The room's peer processes (their VmRSS). */
  peers: () => readonly Watched[];
  /** Newcomers start this often, ms. @default 100 */
  everyMs?: number;
  /** At least this many newcomers (the last ones may start after the attack's end). @default 3 */
  least?: number;
}

/**
 * A TCP port of 127.0.0.1 that nothing listens on (one was given, and
 * closed): what newcomers JOIN with, so that a room peer that tries to link
 * to one is refused at once and keeps its link (a listener that swallowed
 * would be an eclipse of its own).
 */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * Watches a room attack while it runs: newcomers join the attacked room
 * (at a port nothing listens on) and link to a room peer, and the peers'
 * VmRSS is sampled. `stop()` ends the watch (when the attack does);
 * `finish()` reads the VmRSS after, puts the figures in `figures`, and
 * returns them as text; `judge()` fails unless every newcomer was served,
 * 95% under `servedMs`, and every one got its link up.
 */
export class RoomWatch implements AsyncDisposable {
  readonly #figures: AttackFigures;
  readonly #newcomers: NewcomerWatch;
  readonly #rss: Awaited<ReturnType<typeof watchRss>>;
  readonly #least: number;
  #stopped = false;

  private constructor(
    figures: AttackFigures,
    newcomers: NewcomerWatch,
    rss: Awaited<ReturnType<typeof watchRss>>,
    least: number,
  ) {
    this.#figures = figures;
    this.#newcomers = newcomers;
    this.#rss = rss;
    this.#least = least;
  }

  /** Starts watching (the VmRSS before is read first). */
  static async start(figures: AttackFigures, o: RoomWatchOptions): Promise<RoomWatch> {
    const rss = await watchRss(figures, o.peers);
    const listenPort = closedPort();
    const link = (): NewcomerLink => ({ peerPort: o.linkTo(), listenPort });
    try {
      const newcomers = await watchNewcomers(o.host, o.port, o.room, o.everyMs ?? 100, link);
      return new RoomWatch(figures, newcomers, rss, o.least ?? 3);
    } catch (error) {
      await rss.stop();
      throw error;
    }
  }

  /** Ends the watch: no newcomer starts after this, and the VmRSS during is final. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const samples = await this.#newcomers.stop(this.#least);
    this.#figures.served.push(...samples.map((s) => s.ms));
    this.#figures.linked.push(...samples.map((s) => s.linkMs));
    await this.#rss.stop();
  }

  /** Reads the VmRSS after and returns the figures as text. */
  async finish(): Promise<string> {
    await this.stop();
    await this.#rss.after();
    return describeFigures(this.#figures);
  }

  /** Fails unless the newcomers were served (see the class doc); `seen` goes into the failure. */
  judge(servedMs: number, seen: string): void {
    const f = this.#figures;
    if (!newcomersServed(f.served, servedMs)) fail(`newcomers not served: ${seen}`);
    if (!f.linked.every(Number.isFinite)) fail(`a newcomer got no link up: ${seen}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** "p50 x ms, max y ms" of `values` (Infinity counts as the max). */
function spread(values: readonly number[]): string {
  return `p50 ${ms(percentile(values, 50))} ms, max ${ms(Math.max(...values))} ms`;
}

/** "alice 62/70/64" (MiB before/during/after) for each watched process. */
export function describeRss(rows: readonly RssFigures[]): string {
  const mib = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "-");
  return rows.map((r) => `${r.name} ${mib(r.before)}/${mib(r.during)}/${mib(r.after)}`)
    .join(", ");
}

/** The figures as one line of text. */
export function describeFigures(f: AttackFigures): string {
  const parts = [];
  if (f.served.length > 0) {
    parts.push(`newcomers during the attack: ${describeNewcomers(f.served)}`);
  }
  if (f.linked.length > 0) {
    const linked = f.linked.filter((v) => !Number.isNaN(v));
    parts.push(
      `their first link up: ${spread(linked)} (${
        linked.filter((v) => !Number.isFinite(v)).length
      } not linked)`,
    );
  }
  if (f.rss.length > 0) parts.push(`VmRSS MiB before/during/after: ${describeRss(f.rss)}`);
  return parts.join("; ");
}

/** An attack's name and figures, as {@linkcode formatFigures} takes them. */
export interface NamedFigures {
  name: string;
  figures: AttackFigures;
}

/**
 * The figures of several attacks as a table: newcomers (count, served p50
 * and max, first link up p50 and max) and VmRSS before/during/after.
 */
export function formatFigures(results: readonly NamedFigures[]): string {
  const cell = (values: readonly number[], p: number | "max") =>
    values.length === 0 ? "-" : ms(p === "max" ? Math.max(...values) : percentile(values, p));
  const rows = [
    ["attack", "newcomers", "served p50", "max", "link-up p50", "max", "VmRSS MiB b/d/a"],
    ...results.map(({ name, figures: f }) => {
      const linked = f.linked.filter((v) => !Number.isNaN(v));
      return [
        name,
        String(f.served.length),
        cell(f.served, 50),
        cell(f.served, "max"),
        cell(linked, 50),
        cell(linked, "max"),
        describeRss(f.rss) || "-",
      ];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r.map((
      v,
      c,
    ) => (c === r.length - 1 ? v : c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!)))
      .join("  ").trimEnd()
  ).join("\n");
}
