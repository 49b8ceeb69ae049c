/**
 * One peer running as its own process (`peer --json`), driven through stdin
 * lines and watched through its JSON events: what the fault tests and the
 * cluster tool use. The process runs with exactly the flags of the compiled
 * binary (lib/flags.ts), or is a compiled binary itself.
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { programEnv, runArgs } from "../../lib/flags.ts";
import { forEachLine } from "./lines.ts";

/** How to start a peer process. */
export interface PeerProcessOptions {
  name: string;
  room: string;
  registryPort: number;
  /** Listening port; 0 for an ephemeral one. */
  port?: number;
  keepaliveMs?: number;
  retryMs?: number;
  pokeTimeoutMs?: number;
  /** A compiled `peer` binary to run instead of the sources. */
  binary?: string;
  /** Extra arguments for the peer. */
  args?: string[];
}

/** A link as `/links` reports it. */
export interface LinksAnswer {
  forward: { name: string; ip: string; port: number } | null;
  backward: { name: string; ip: string; port: number }[];
}

interface Waiter {
  match: (event: PeerEvent) => boolean;
  resolve: (event: PeerEvent) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Most events kept per peer; older ones are dropped from `events` (counts stay exact). */
const MAX_KEPT_EVENTS = 100_000;

/** A running peer process. */
export class PeerProcess {
  readonly name: string;
  readonly options: PeerProcessOptions;
  /** Every event seen so far, in order (bounded by MAX_KEPT_EVENTS). */
  readonly events: PeerEvent[] = [];
  /** The last lines the process wrote to stderr, for failure reports. */
  readonly stderrTail: string[] = [];
  /** Resolves with the exit status once the process has exited and its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #waiters = new Set<Waiter>();
  #port = 0;
  #alive = true;

  private constructor(options: PeerProcessOptions, child: Deno.ChildProcess) {
    this.name = options.name;
    this.options = options;
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    const out = forEachLine(child.stdout, (line) => this.#onLine(line));
    const err = forEachLine(child.stderr, (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 50) this.stderrTail.shift();
    });
    this.exited = Promise.all([child.status, out, err]).then(async ([status]) => {
      this.#alive = false;
      for (const w of this.#waiters) {
        clearTimeout(w.timer);
        w.reject(
          new Error(
            `Peer ${this.name} exited (code ${status.code}) while waiting\n${
              this.stderrTail.join("\n")
            }`,
          ),
        );
      }
      this.#waiters.clear();
      await this.#stdin.close().catch(() => {});
      return status;
    });
  }

  /** Spawns a peer and waits for its `ready` event. */
  static async start(options: PeerProcessOptions, readyTimeoutMs = 30_000): Promise<PeerProcess> {
    const args = [
      "--json",
      "--registry",
      `127.0.0.1:${options.registryPort}`,
      "--advertise",
      "127.0.0.1",
      "--port",
      String(options.port ?? 0),
      "--name",
      options.name,
      "--room",
      options.room,
      "--keepalive-ms",
      String(options.keepaliveMs ?? 20_000),
      "--retry-ms",
      String(options.retryMs ?? 1_000),
      "--poke-timeout-ms",
      String(options.pokeTimeoutMs ?? 2_000),
      ...(options.args ?? []),
    ];
    const io = {
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: programEnv("peer"),
    } as const;
    const child =
      (options.binary === undefined
        ? new Deno.Command(Deno.execPath(), { args: runArgs("peer", args), ...io })
        : new Deno.Command(options.binary, { args, ...io })).spawn();
    const peer = new PeerProcess(options, child);
    const ready = await peer.waitFor((e) => e.type === "ready", readyTimeoutMs);
    peer.#port = (ready as Extract<PeerEvent, { type: "ready" }>).port;
    return peer;
  }

  /** The peer's TCP and UDP port. */
  get port(): number {
    return this.#port;
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return this.#alive;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  #onLine(line: string): void {
    let event: PeerEvent;
    try {
      event = JSON.parse(line);
    } catch {
      this.stderrTail.push(`(stdout, not JSON) ${line}`);
      return;
    }
    this.events.push(event);
    if (this.events.length > MAX_KEPT_EVENTS) {
      this.events.splice(0, this.events.length - MAX_KEPT_EVENTS);
    }
    for (const w of this.#waiters) {
      if (w.match(event)) {
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(event);
      }
    }
  }

  /**
   * The next event (from now on) that `match` accepts. With `seen` true, an
   * event already received also counts.
   */
  waitFor(
    match: (event: PeerEvent) => boolean,
    timeoutMs: number,
    seen = false,
  ): Promise<PeerEvent> {
    if (seen) {
      const found = this.events.find(match);
      if (found !== undefined) return Promise.resolve(found);
    }
    if (!this.#alive) return Promise.reject(new Error(`Peer ${this.name} is not running`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new Error(
              `Peer ${this.name}: no matching event within ${timeoutMs} ms\n${
                this.stderrTail.join("\n")
              }`,
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Writes one command line to the peer's stdin. */
  async command(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Asks for `/links` and returns the answer. */
  async links(timeoutMs = 5_000): Promise<LinksAnswer> {
    const answer = this.waitFor((e) => e.type === "links", timeoutMs);
    await this.command("/links");
    const e = (await answer) as Extract<PeerEvent, { type: "links" }>;
    return { forward: e.forward, backward: e.backward };
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
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    if (this.#alive) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
    }
    return await this.exited;
  }

  /** Sends a signal without waiting for an exit (SIGSTOP, SIGCONT). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** `/quit`, then waits for the exit. */
  async quit(): Promise<Deno.CommandStatus> {
    if (this.#alive) {
      try {
        await this.command("/quit");
      } catch {
        // stdin already closed: the process is exiting.
      }
    }
    return await this.exited;
  }
}
