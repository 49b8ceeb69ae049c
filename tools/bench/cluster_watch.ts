/**
 * Watching a process cluster (tools/cluster) the way the benchmarks need:
 * every event of every peer time-stamped as the harness reads it
 * (`PeerProcess.on`), and the member-list sizes and link activity that tell
 * when the overlay has converged.
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { Cluster, type ClusterOptions } from "../cluster/cluster.ts";
import type { PeerProcess } from "../process/peer_process.ts";

/** A listener for every event of a watched peer, with the harness's receipt time. */
export type ClusterListener = (peer: PeerProcess, event: PeerEvent, at: number) => void;

/** A cluster of peer processes, watched. */
export class WatchedCluster implements AsyncDisposable {
  readonly cluster: Cluster;
  readonly #listeners = new Set<ClusterListener>();
  readonly #members = new Map<string, number>();
  readonly #watched = new Set<PeerProcess>();
  /** `performance.now()` of the last link event seen. */
  lastLinkEventAt = 0;

  readonly #unwatch: (() => void)[] = [];

  private constructor(cluster: Cluster) {
    this.cluster = cluster;
  }

  /**
   * Starts a registry and `peers` peers named p1…pN, `concurrency` starting
   * at once (each joined before its start resolves), and watches them.
   */
  static async start(
    options: ClusterOptions & { concurrency?: number },
  ): Promise<WatchedCluster> {
    const { concurrency = 2, ...clusterOptions } = options;
    const cluster = await Cluster.start({ ...clusterOptions, peers: 0 });
    const watched = new WatchedCluster(cluster);
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
    this.#unwatch.push(peer.on((event, at) => {
      if (event.type === "joined" || event.type === "members") {
        this.#members.set(peer.name, event.members.length);
      }
      if (event.type === "link") this.lastLinkEventAt = at;
      for (const listener of this.#listeners) listener(peer, event, at);
    }));
  }

  /** Calls `listener` with every event of every watched peer from now on. */
  on(listener: ClusterListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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

  /** The pid of a peer's process. */
  pid(name: string): number {
    return this.cluster.peer(name).pid;
  }

  /** Stops every peer and the registry. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#listeners.clear();
    for (const unwatch of this.#unwatch) unwatch();
    await this.cluster[Symbol.asyncDispose]();
  }
}
