/**
 * The victims of the room attacks: a room of peer processes (the harness of
 * ../process/) on the target registry, watched through their `--json`
 * events: what each shows (`message`, `poke`, `poke-ack` events), their
 * counters (the `stats` event, when the peer has it) and their resident
 * memory (/proc/PID/status).
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { PeerProcess } from "../process/peer_process.ts";
import type { PeerCounters } from "../process/peer_stats.ts";
import { memory } from "../process/proc.ts";
import { fail, sleep } from "./attack_kit.ts";

type MessageEvent = Extract<PeerEvent, { type: "message" }>;

/** One peer of the room, with counts of what it showed. */
export class RoomPeer implements AsyncDisposable {
  readonly name: string;
  process: PeerProcess;
  /** Messages shown (not its own), counted since it started (all restarts). */
  shown = 0;
  /** Every message shown whose text starts with "chaos:" (the probes' own texts). */
  readonly marked: MessageEvent[] = [];
  #off: () => void;

  constructor(process: PeerProcess) {
    this.name = process.name;
    this.process = process;
    this.#off = this.#watch();
  }

  #watch(): () => void {
    return this.process.on((event) => {
      if (event.type !== "message" || event.self) return;
      this.shown++;
      if (event.text.startsWith("chaos:")) this.marked.push(event);
    });
  }

  /** Its TCP and UDP port. */
  get port(): number {
    return this.process.port;
  }

  /** How many times it showed `text`, and from whom. */
  showings(text: string): MessageEvent[] {
    return this.marked.filter((m) => m.text === text);
  }

  /** Its counters from the `stats` event, or null when it has no such event. */
  async stats(): Promise<PeerCounters | null> {
    try {
      return await this.process.stats(2000);
    } catch {
      return null;
    }
  }

  /** Its resident memory (VmRSS) in MiB. */
  async rssMiB(): Promise<number> {
    return (await memory(this.process.pid)).rssKiB / 1024;
  }

  /** Kills it and starts it again on the same name and port. */
  async restart(): Promise<void> {
    const options = { ...this.process.options, port: this.process.port };
    this.#off();
    await this.process.kill("SIGKILL");
    this.process = await PeerProcess.start(options);
    this.#off = this.#watch();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#off();
    await this.process[Symbol.asyncDispose]();
  }
}

/** How to start the room. */
export interface AttackRoomOptions {
  registryPort: number;
  room: string;
  /** The peers' names, started in this order. */
  names: readonly string[];
  /** Their keepalive (also how often they refresh the member list), ms. Default 1000. */
  keepaliveMs?: number;
  /** A fixed port per name, when wanted (an eclipse grinds names around it). */
  ports?: Readonly<Record<string, number>>;
  /** Extra peer arguments (defences' options), the same for every peer. */
  peerArgs?: readonly string[];
  /** A compiled peer binary instead of `deno run` of the sources. */
  binary?: string;
}

/** A room of peer processes. Disposing it stops them all. */
export class AttackRoom implements AsyncDisposable {
  readonly peers: RoomPeer[] = [];
  readonly options: AttackRoomOptions;
  #sent = 0;

  private constructor(options: AttackRoomOptions) {
    this.options = options;
  }

  /** Starts the peers one after another, then checks that every message reaches everyone once. */
  static async start(options: AttackRoomOptions): Promise<AttackRoom> {
    const room = new AttackRoom(options);
    try {
      for (const name of options.names) await room.add(name);
      const ok = await room.exchange(room.peers, 10_000);
      if (ok !== "") fail(`the room does not deliver before the attack: ${ok}`);
    } catch (error) {
      await room[Symbol.asyncDispose]();
      throw error;
    }
    return room;
  }

  /** Starts one more peer and waits for its first link (or for being alone). */
  async add(name: string, port?: number): Promise<RoomPeer> {
    const process = await PeerProcess.start({
      name,
      room: this.options.room,
      registryPort: this.options.registryPort,
      port: port ?? this.options.ports?.[name] ?? 0,
      keepaliveMs: this.options.keepaliveMs ?? 1000,
      retryMs: 500,
      args: [...(this.options.peerArgs ?? [])],
      ...(this.options.binary === undefined ? {} : { binary: this.options.binary }),
    });
    const peer = new RoomPeer(process);
    this.peers.push(peer);
    if (this.peers.length > 1) {
      await process.waitFor((e) => e.type === "link" && e.state === "up", 10_000, true)
        .catch(() => {});
    }
    return peer;
  }

  /** The peer named `name`. */
  peer(name: string): RoomPeer {
    const found = this.peers.find((p) => p.name === name);
    if (found === undefined) throw new RangeError(`No peer ${name}`);
    return found;
  }

  /**
   * Each of `senders` sends one marked message; waits up to `withinMs` until
   * every other peer showed each exactly once (then 300 ms more for late
   * copies). Returns "" when so, else what was missing or doubled.
   */
  async exchange(senders: readonly RoomPeer[], withinMs: number): Promise<string> {
    const texts = new Map<RoomPeer, string>();
    for (const s of senders) {
      const text = `chaos:${s.name}:${this.#sent++}`;
      texts.set(s, text);
      await s.process.send(text);
    }
    const wrong = () => {
      const problems: string[] = [];
      for (const [sender, text] of texts) {
        for (const p of this.peers) {
          if (p === sender || !p.process.alive) continue;
          const n = p.showings(text).length;
          if (n !== 1) problems.push(`${p.name} showed ${sender.name}'s message ${n}×`);
        }
      }
      return problems;
    };
    const deadline = performance.now() + withinMs;
    while (wrong().some((w) => w.endsWith(" 0×")) && performance.now() < deadline) {
      await sleep(50);
    }
    await sleep(300);
    return wrong().join(", ");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.peers.map((p) => p[Symbol.asyncDispose]()));
  }
}
