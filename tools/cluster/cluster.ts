/**
 * A local P2PChat cluster of processes: one registry and N peers in one room,
 * started, killed, restarted and watched through the peers' own `--json`
 * events and `/links` answers. The fault tests and `deno task cluster` use it.
 *
 * @example Six processes (not run by `deno test --doc`; the fault tests run them)
 * ```ts ignore
 * import { Cluster } from "./cluster.ts";
 * await using cluster = await Cluster.start({ peers: 5 });
 * await cluster.waitConnected(10_000);
 * const [victim] = cluster.mostLinked(await cluster.overlay());
 * await cluster.kill(victim!);
 * ```
 *
 * @module
 */

import { isConnected, mostLinked, type Overlay } from "./overlay.ts";
import { PeerProcess } from "../process/peer_process.ts";
import { RegistryProcess } from "../process/registry_process.ts";

/** How to start a cluster. */
export interface ClusterOptions {
  /** Number of peers, named p1, p2, … */
  peers: number;
  room?: string;
  keepaliveMs?: number;
  retryMs?: number;
  expiryMs?: number;
  sweepMs?: number;
  /** Compiled binaries to run instead of the sources. */
  binaries?: { registry: string; peer: string };
  /** Extra arguments for every peer. */
  peerArgs?: string[];
  /**
   * A directory in which each peer keeps its data (`--data-dir <dir>/<name>`:
   * key and room history), so a restarted peer finds them again; default:
   * none (`--data-dir none`).
   */
  dataDirs?: string;
}

/** A delivered message, as the cluster checks delivery. */
export interface Delivery {
  from: string;
  text: string;
}

/** A registry and its peers, all processes. */
export class Cluster implements AsyncDisposable {
  readonly options:
    & Required<Omit<ClusterOptions, "binaries" | "peerArgs" | "dataDirs">>
    & ClusterOptions;
  readonly peers = new Map<string, PeerProcess>();
  #registry: RegistryProcess;

  private constructor(options: Cluster["options"], registry: RegistryProcess) {
    this.options = options;
    this.#registry = registry;
  }

  /** Starts the registry, then the peers one after another, each joined before the next starts. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const full = {
      room: "ringchat",
      keepaliveMs: 20_000,
      retryMs: 1_000,
      expiryMs: 60_000,
      sweepMs: 20_000,
      ...options,
    };
    const cluster = new Cluster(full, await startRegistry(full, 0));
    try {
      for (let i = 1; i <= options.peers; i++) await cluster.startPeer(`p${i}`);
    } catch (e) {
      await cluster[Symbol.asyncDispose]();
      throw e;
    }
    return cluster;
  }

  /** The registry's port. */
  get registryPort(): number {
    return this.#registry.port;
  }

  /** The running peers. */
  alive(): PeerProcess[] {
    return [...this.peers.values()].filter((p) => p.alive);
  }

  /** The peer called `name`. */
  peer(name: string): PeerProcess {
    const p = this.peers.get(name);
    if (p === undefined) throw new RangeError(`No peer called ${name}`);
    return p;
  }

  /** Starts a peer (on `port`, or an ephemeral one) and waits until it has joined. */
  async startPeer(name: string, port = 0): Promise<PeerProcess> {
    const peer = await PeerProcess.start({
      name,
      room: this.options.room,
      registryPort: this.#registry.port,
      port,
      keepaliveMs: this.options.keepaliveMs,
      retryMs: this.options.retryMs,
      ...(this.options.binaries ? { binary: this.options.binaries.peer } : {}),
      ...(this.options.peerArgs ? { args: this.options.peerArgs } : {}),
      ...(this.options.dataDirs ? { dataDir: `${this.options.dataDirs}/${name}` } : {}),
    });
    this.peers.set(name, peer);
    await peer.waitFor((e) => e.type === "joined", 15_000, true);
    return peer;
  }

  /** SIGKILLs a peer and waits until its process is gone. */
  async kill(name: string): Promise<void> {
    await this.peer(name).kill("SIGKILL");
  }

  /** Starts a killed peer again under the same name and port. */
  async restart(name: string): Promise<PeerProcess> {
    const old = this.peer(name);
    if (old.alive) throw new RangeError(`Peer ${name} is still running`);
    return await this.startPeer(name, old.port);
  }

  /** SIGKILLs the registry. */
  async killRegistry(): Promise<void> {
    await this.#registry.kill("SIGKILL");
  }

  /** Starts the registry again on the same port. */
  async restartRegistry(): Promise<void> {
    this.#registry = await startRegistry(this.options, this.#registry.port);
  }

  /** Every running peer's `/links` answer. */
  async overlay(): Promise<Overlay> {
    const alive = this.alive();
    const answers = await Promise.all(alive.map((p) => p.links()));
    return new Map(alive.map((p, i) => [p.name, answers[i]!]));
  }

  /** The running peers, most backward links first. */
  mostLinked(overlay: Overlay): string[] {
    return mostLinked(overlay);
  }

  /**
   * Resolves with the overlay once the running peers' links form one connected
   * graph. Between looks it waits for the next link event of any peer (or
   * 100 ms at most), so it follows the repair as it happens.
   */
  async waitConnected(timeoutMs: number): Promise<Overlay> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const watchers = this.alive().map((p) =>
        p.waitFor((e) => e.type === "link", 100).catch(() => null)
      );
      const overlay = await this.overlay();
      if (isConnected(overlay)) return overlay;
      if (Date.now() > deadline) {
        throw new Error(
          `Overlay not connected within ${timeoutMs} ms:\n${JSON.stringify([...overlay])}`,
        );
      }
      await Promise.race(watchers);
    }
  }

  /**
   * Every peer of `among` (the running ones by default) sends its texts;
   * resolves when each of them has received every other one's messages.
   */
  async exchange(
    texts: (sender: string) => string[],
    timeoutMs: number,
    among: PeerProcess[] = this.alive(),
  ): Promise<void> {
    const alive = among;
    const expected = new Map(alive.map((p) => [p.name, texts(p.name)]));
    const waits: Promise<unknown>[] = [];
    for (const receiver of alive) {
      for (const [from, list] of expected) {
        if (from === receiver.name) continue;
        for (const text of list) {
          waits.push(
            receiver.waitFor(
              (e) => e.type === "message" && e.from === from && e.text === text,
              timeoutMs,
              true,
            ),
          );
        }
      }
    }
    for (const sender of alive) {
      for (const text of expected.get(sender.name)!) await sender.send(text);
    }
    await Promise.all(waits);
  }

  /**
   * Problems with delivery at every running peer: a message seen more than
   * once, or one sender's messages out of order. Empty when all is well.
   */
  deliveryProblems(): string[] {
    const problems: string[] = [];
    for (const peer of this.alive()) {
      const counts = new Map<string, number>();
      const lastSeq = new Map<string, number>();
      for (const m of peer.messages()) {
        const key = `${m.from}\u0000${m.text}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        const seq = /#(\d+)$/.exec(m.text);
        if (seq) {
          const n = Number(seq[1]);
          const stream = `${m.from}\u0000${m.text.slice(0, -seq[0].length)}`;
          if ((lastSeq.get(stream) ?? -1) >= n) {
            problems.push(`${peer.name}: ${m.from}'s "${m.text}" out of order`);
          }
          lastSeq.set(stream, n);
        }
      }
      for (const [key, n] of counts) {
        if (n > 1) {
          problems.push(
            `${peer.name}: ${JSON.stringify(key.replace("\u0000", ": "))} delivered ${n} times`,
          );
        }
      }
    }
    return problems;
  }

  /** Stops every peer (SIGKILL) and the registry. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.peers.values()].map((p) => p.kill("SIGKILL")));
    await this.#registry.kill("SIGKILL");
  }
}

/** The cluster's registry on `port` (0: an ephemeral one). */
function startRegistry(options: Cluster["options"], port: number): Promise<RegistryProcess> {
  return RegistryProcess.start({
    port,
    args: ["--expiry-ms", String(options.expiryMs), "--sweep-ms", String(options.sweepMs)],
    ...(options.binaries ? { binary: options.binaries.registry } : {}),
  });
}
