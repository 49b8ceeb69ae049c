/**
 * Watching a process cluster (tools/cluster) the way the benchmarks need:
 * every event of every peer time-stamped as the harness reads it, the
 * duplicate receipts each peer logs on stderr, the member-list sizes and
 * link activity that tell when the overlay has converged, and the pids of
 * the peer processes for /proc.
 *
 * The harness has no event subscription, so a tap is a `waitFor` whose
 * predicate sees every event and never matches; it ends when the peer exits
 * (disposing the cluster) or after `budgetMs`. Its stderr lines are only kept
 * as a short tail, so duplicates are read by wrapping that tail's `push`.
 * Both are documented public fields of `PeerProcess`; a `PeerProcess`
 * `onEvent`/`onStderrLine` option would make this unnecessary.
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { Cluster, type ClusterOptions } from "../cluster/cluster.ts";
import type { PeerProcess } from "../cluster/peer_process.ts";
import { duplicateFromLogLine } from "./duplicates.ts";
import { childPid } from "./proc.ts";

/** A listener for every event of a watched peer, with the harness's receipt time. */
export type ClusterListener = (peer: PeerProcess, event: PeerEvent, at: number) => void;

/** A cluster of peer processes, watched. */
export class WatchedCluster implements AsyncDisposable {
  readonly cluster: Cluster;
  readonly #budgetMs: number;
  readonly #listeners = new Set<ClusterListener>();
  readonly #members = new Map<string, number>();
  readonly #duplicates = new Map<string, number>();
  readonly #watched = new Set<PeerProcess>();
  #duplicateTotal = 0;
  /** `performance.now()` of the last link event seen. */
  lastLinkEventAt = 0;

  private constructor(cluster: Cluster, budgetMs: number) {
    this.cluster = cluster;
    this.#budgetMs = budgetMs;
  }

  /**
   * Starts a registry and `peers` peers named p1…pN, `concurrency` starting
   * at once (each joined before its start resolves), and watches them.
   * `budgetMs` bounds the taps (and so the whole run).
   */
  static async start(
    options: ClusterOptions & { concurrency?: number; budgetMs: number },
  ): Promise<WatchedCluster> {
    const { concurrency = 2, budgetMs, ...clusterOptions } = options;
    const cluster = await Cluster.start({ ...clusterOptions, peers: 0 });
    const watched = new WatchedCluster(cluster, budgetMs);
    try {
      for (let i = 1; i <= options.peers; i += concurrency) {
        const batch: Promise<PeerProcess>[] = [];
        for (let j = i; j < i + concurrency && j <= options.peers; j++) {
          batch.push(cluster.startPeer(`p${j}`));
        }
        for (const peer of await Promise.all(batch)) watched.watch(peer);
      }
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    return watched;
  }

  /** Starts watching a peer (one started or restarted after the cluster). */
  watch(peer: PeerProcess): void {
    if (this.#watched.has(peer)) return;
    this.#watched.add(peer);
    for (const event of peer.events) {
      if (event.type === "joined" || event.type === "members") {
        this.#members.set(peer.name, event.members.length);
      }
    }
    peer.waitFor((event) => {
      const at = performance.now();
      if (event.type === "joined" || event.type === "members") {
        this.#members.set(peer.name, event.members.length);
      }
      if (event.type === "link") this.lastLinkEventAt = at;
      for (const listener of this.#listeners) listener(peer, event, at);
      return false;
    }, this.#budgetMs).catch(() => {});
    const tail = peer.stderrTail;
    const push = tail.push.bind(tail);
    tail.push = (...lines: string[]) => {
      for (const line of lines) {
        const dup = duplicateFromLogLine(line);
        if (dup === null) continue;
        const key = `${dup.origin}\u0000${dup.id}`;
        this.#duplicates.set(key, (this.#duplicates.get(key) ?? 0) + 1);
        this.#duplicateTotal++;
      }
      return push(...lines.filter((line) => duplicateFromLogLine(line) === null));
    };
  }

  /** Calls `listener` with every event of every watched peer from now on. */
  on(listener: ClusterListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Duplicate receipts logged for one message (peers need `--log-level debug`). */
  duplicatesOf(originName: string, msgId: string): number {
    return this.#duplicates.get(`${originName}\u0000${msgId}`) ?? 0;
  }

  /** Every duplicate receipt logged so far. */
  get duplicateTotal(): number {
    return this.#duplicateTotal;
  }

  /**
   * Waits until every running peer lists every running member and no link
   * event came for `settleMs`, or until `timeoutMs`.
   */
  async waitConverged(
    timeoutMs: number,
    settleMs: number,
  ): Promise<{ converged: boolean; ms: number }> {
    const started = performance.now();
    for (;;) {
      const alive = this.cluster.alive();
      const now = performance.now();
      const allKnown = alive.every((p) => this.#members.get(p.name) === alive.length);
      if (allKnown && now - this.lastLinkEventAt >= settleMs) {
        return { converged: true, ms: now - started };
      }
      if (now - started >= timeoutMs) return { converged: false, ms: now - started };
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, settleMs)));
    }
  }

  /** The pid of a peer's process (found in /proc by its `--name`). */
  async pid(name: string): Promise<number | null> {
    return await childPid(["--name", name]);
  }

  /** Stops every peer and the registry. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#listeners.clear();
    await this.cluster[Symbol.asyncDispose]();
  }
}
