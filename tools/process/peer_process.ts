/**
 * One peer running as its own process (`peer --json`, ./program_process.ts),
 * driven through stdin lines and watched through its JSON events: what the
 * cluster tool, the benchmarks and the fault tests use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PeerProcess } from "./peer_process.ts";
 * import { RegistryProcess } from "./registry_process.ts";
 * await using registry = await RegistryProcess.start({ logLevel: "warning" });
 * await using alice = await PeerProcess.start({
 *   name: "alice",
 *   room: "r",
 *   registryPort: registry.port,
 * });
 * await alice.send("hello");
 * assert.equal((await alice.stats()).sent, 1);
 * ```
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { type PeerCounters, statsOfEvent } from "./peer_stats.ts";
import { ProgramProcess, type SpawnOptions } from "./program_process.ts";

/** How to start a peer process. */
export interface PeerProcessOptions extends Omit<SpawnOptions, "args" | "stdin"> {
  name: string;
  room: string;
  registryPort: number;
  /** Listening port; 0 for an ephemeral one. */
  port?: number;
  keepaliveMs?: number;
  retryMs?: number;
  pokeTimeoutMs?: number;
  /**
   * Where the peer keeps its identity key (`--data-dir`); default `"none"`, a
   * fresh key in memory, so spawned peers never write into the user's home.
   */
  dataDir?: string;
  /** Extra arguments for the peer. */
  args?: string[];
}

/** A link as `/links` reports it. */
export interface LinksAnswer {
  forward: { name: string; ip: string; port: number } | null;
  backward: { name: string; ip: string; port: number }[];
}

/** Called with every event of a peer and `performance.now()` as its line was read. */
export type EventListener = (event: PeerEvent, at: number) => void;

/** Most events kept per peer; older ones are dropped from `events` (counts stay exact). */
const MAX_KEPT_EVENTS = 100_000;

/** A running peer process. Disposing it stops it (SIGTERM, then SIGKILL). */
export class PeerProcess implements AsyncDisposable {
  readonly name: string;
  readonly options: PeerProcessOptions;
  /** Every event seen so far, in order (bounded by MAX_KEPT_EVENTS). */
  readonly events: PeerEvent[] = [];
  /** The process itself: lines, signals, exit status. */
  readonly process: ProgramProcess;
  readonly #listeners = new Set<EventListener>();
  #port = 0;

  private constructor(options: PeerProcessOptions, process: ProgramProcess) {
    this.name = options.name;
    this.options = options;
    this.process = process;
    process.onLine("stdout", (line, at) => this.#onLine(line, at));
  }

  /** Spawns a peer and waits for its `ready` event. */
  static async start(options: PeerProcessOptions, readyTimeoutMs = 30_000): Promise<PeerProcess> {
    const {
      name,
      room,
      registryPort,
      port,
      keepaliveMs,
      retryMs,
      pokeTimeoutMs,
      dataDir,
      args,
      ...spawn
    } = options;
    const process = ProgramProcess.spawn("peer", {
      ...spawn,
      stdin: true,
      args: [
        "--json",
        "--data-dir",
        dataDir ?? "none",
        // A `--registry` of the extra arguments (a list, a host name) replaces this one.
        ...((args ?? []).includes("--registry") ? [] : ["--registry", `127.0.0.1:${registryPort}`]),
        "--advertise",
        "127.0.0.1",
        "--port",
        String(port ?? 0),
        "--name",
        name,
        "--room",
        room,
        "--keepalive-ms",
        String(keepaliveMs ?? 20_000),
        "--retry-ms",
        String(retryMs ?? 1_000),
        "--poke-timeout-ms",
        String(pokeTimeoutMs ?? 2_000),
        ...(args ?? []),
      ],
    });
    const peer = new PeerProcess(options, process);
    try {
      const ready = await peer.waitFor((e) => e.type === "ready", readyTimeoutMs);
      peer.#port = (ready as Extract<PeerEvent, { type: "ready" }>).port;
    } catch (error) {
      await process.kill("SIGKILL");
      throw error;
    }
    return peer;
  }

  /** The peer's TCP and UDP port. */
  get port(): number {
    return this.#port;
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return this.process.alive;
  }

  /** The process id. */
  get pid(): number {
    return this.process.pid;
  }

  /** Resolves with the exit status once the process has exited and its output is read. */
  get exited(): Promise<Deno.CommandStatus> {
    return this.process.exited;
  }

  /** The last lines the process wrote to stderr, for failure reports. */
  get stderrTail(): string[] {
    return this.process.stderrTail;
  }

  #onLine(line: string, at: number): void {
    let event: PeerEvent;
    try {
      event = JSON.parse(line);
    } catch {
      this.process.stderrTail.push(`(stdout, not JSON) ${line}`);
      return;
    }
    this.events.push(event);
    if (this.events.length > MAX_KEPT_EVENTS) {
      this.events.splice(0, this.events.length - MAX_KEPT_EVENTS);
    }
    for (const listener of this.#listeners) listener(event, at);
  }

  /** Calls `listener` with every event from now on; returns the unsubscriber. */
  on(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The next event (from now on) that `match` accepts. With `seen` true, an
   * event already received also counts. Rejects when the process exits first
   * or after `timeoutMs`.
   */
  async waitFor(
    match: (event: PeerEvent) => boolean,
    timeoutMs: number,
    seen = false,
  ): Promise<PeerEvent> {
    if (seen) {
      const found = this.events.find(match);
      if (found !== undefined) return found;
    }
    let event: PeerEvent | undefined;
    const off = this.on((e) => {
      if (event === undefined && match(e)) event = e;
    });
    try {
      // Every event is one stdout line: a line that parses to a matching event is the one.
      await this.process.waitForLine(() => event !== undefined, timeoutMs);
    } catch (error) {
      throw new Error(`Peer ${this.name}: ${(error as Error).message}`);
    } finally {
      off();
    }
    return event!;
  }

  /** Writes one command line to the peer's stdin. */
  async command(line: string): Promise<void> {
    await this.process.write(line);
  }

  /** Asks for `/links` and returns the answer. */
  async links(timeoutMs = 5_000): Promise<LinksAnswer> {
    const answer = this.waitFor((e) => e.type === "links", timeoutMs);
    await this.command("/links");
    const e = (await answer) as Extract<PeerEvent, { type: "links" }>;
    return { forward: e.forward, backward: e.backward };
  }

  /**
   * Asks for `{"command":"stats"}` and returns the peer's counters from its
   * `stats` event; rejects when the peer answers with an `error` event (a
   * peer without the command) instead.
   */
  async stats(timeoutMs = 5_000): Promise<PeerCounters> {
    const answer = this.waitFor((e) => e.type === "error" || statsOfEvent(e) !== null, timeoutMs);
    await this.command(JSON.stringify({ command: "stats" }));
    const event = await answer;
    if (event.type === "error") {
      throw new Error(`Peer ${this.name} answered {"command":"stats"} with: ${event.message}`);
    }
    return statsOfEvent(event)!;
  }

  /**
   * Sends `text` as a JSON command line (`{"command":"send","text":…}`), so
   * text with `\r\n` inside travels intact.
   */
  send(text: string): Promise<void> {
    return this.command(JSON.stringify({ command: "send", text }));
  }

  /** The chat messages received so far (not my own). */
  messages(): Extract<PeerEvent, { type: "message" }>[] {
    return this.events.filter((e): e is Extract<PeerEvent, { type: "message" }> =>
      e.type === "message" && !e.self
    );
  }

  /** Sends a signal; SIGKILL by default. Resolves when the process has exited. */
  kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    return this.process.kill(signal);
  }

  /** Sends a signal without waiting for an exit (SIGSTOP, SIGCONT). */
  signal(signal: Deno.Signal): void {
    this.process.signal(signal);
  }

  /** `/quit`, then waits for the exit. */
  async quit(): Promise<Deno.CommandStatus> {
    if (this.alive) {
      try {
        await this.command("/quit");
      } catch {
        // stdin already closed: the process is exiting.
      }
    }
    return await this.exited;
  }

  /** Stops the peer (SIGTERM, then SIGKILL if it hangs). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.process.stop();
  }
}
