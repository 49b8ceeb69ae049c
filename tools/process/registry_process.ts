/**
 * The registry as its own process (./program_process.ts), on 127.0.0.1 and
 * an ephemeral or given port, started once it has printed `listening on
 * HOST:PORT`, with what Linux tells about it: resident memory and the
 * connections it holds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryProcess } from "./registry_process.ts";
 * await using registry = await RegistryProcess.start({ logLevel: "warning" });
 * assert(registry.port > 0);
 * assert((await registry.rssBytes()) > 0);
 * ```
 *
 * @module
 */

import { ProgramProcess, type SpawnOptions } from "./program_process.ts";
import { readProc } from "./proc.ts";

/** How to start a registry process. */
export interface RegistryProcessOptions extends Omit<SpawnOptions, "stdin"> {
  /** 0 (default) for an ephemeral port. */
  port?: number;
  /** `--max-connections`, when given. */
  maxConnections?: number;
  /** `--log-level`, when given. */
  logLevel?: string;
  /** Longest wait for the `listening on` line (default 30 s). */
  timeoutMs?: number;
}

/** A running registry process. Disposing it stops it (SIGTERM, then SIGKILL). */
export class RegistryProcess implements AsyncDisposable {
  /** The port it listens on, from its `listening on HOST:PORT` line. */
  readonly port: number;
  /** Deno's inspector address when started with `inspect`, else null. */
  readonly inspector: string | null;
  /** The process itself: lines, signals, exit status. */
  readonly process: ProgramProcess;

  private constructor(process: ProgramProcess, port: number, inspector: string | null) {
    this.process = process;
    this.port = port;
    this.inspector = inspector;
  }

  /** Spawns a registry and waits for its `listening on HOST:PORT` line. */
  static async start(options: RegistryProcessOptions = {}): Promise<RegistryProcess> {
    const { port = 0, maxConnections, logLevel, timeoutMs = 30_000, ...spawn } = options;
    // The people database in memory unless a test gives a directory (none written to $HOME).
    const args = (spawn.args ?? []).includes("--data-dir") ? [] : ["--data-dir", ":memory:"];
    args.push("--host", "127.0.0.1", "--port", String(port));
    if (maxConnections !== undefined) args.push("--max-connections", String(maxConnections));
    if (logLevel !== undefined) args.push("--log-level", logLevel);

    const process = ProgramProcess.spawn("registry", {
      ...spawn,
      args: [...args, ...(spawn.args ?? [])],
    });
    try {
      const line = await process.waitForLine((l) => l.startsWith("listening on "), timeoutMs);
      const m = /^listening on \S*:(\d+)$/.exec(line);
      if (m === null) throw new Error(`Unexpected line from the registry: ${line}`);
      const inspector = spawn.inspect ? await inspectorWithin(process, 2_000) : null;
      return new RegistryProcess(process, Number(m[1]), inspector);
    } catch (error) {
      await process.kill("SIGKILL");
      throw error;
    }
  }

  /** The process id. */
  get pid(): number {
    return this.process.pid;
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return this.process.alive;
  }

  /** Resident memory (`VmRSS`), in bytes. */
  async rssBytes(): Promise<number> {
    const status = await readProc(`/proc/${this.pid}/status`);
    const m = /^VmRSS:\s*(\d+) kB/m.exec(status);
    if (m === null) throw new Error(`No VmRSS in /proc/${this.pid}/status`);
    return Number(m[1]) * 1024;
  }

  /**
   * TCP connections to the registry's port that the registry still holds:
   * ESTABLISHED (served, or waiting to be accepted) and CLOSE_WAIT (the client
   * closed, the registry has not yet). Asks `ss` for just those sockets;
   * without `ss`, reads all of /proc/net/tcp.
   */
  async connections(): Promise<number> {
    try {
      const out = await new Deno.Command("ss", {
        args: ["-Htn", "state", "established", "state", "close-wait", `( sport = :${this.port} )`],
        stdin: "null",
        stderr: "null",
      }).output();
      if (out.success) {
        return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "")
          .length;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const port = this.port.toString(16).toUpperCase().padStart(4, "0");
    let count = 0;
    for (const line of (await readProc("/proc/net/tcp")).split("\n")) {
      // "  sl  local_address rem_address   st ...": "0: 0100007F:7E54 0100007F:C35A 01 ..."
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${port}`) && (fields[3] === "01" || fields[3] === "08")) count++;
    }
    return count;
  }

  /** Sends a signal (SIGKILL by default) and resolves with the exit status. */
  kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    return this.process.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it hangs; resolves with the exit status. Idempotent. */
  stop(): Promise<Deno.CommandStatus> {
    return this.process.stop();
  }

  /** The kept stderr lines, once it has exited. */
  stderr(): Promise<string> {
    return this.process.stderr();
  }

  /** Stops the registry (see `stop`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The inspector's address, or null when it has not printed one within `ms`. */
async function inspectorWithin(process: ProgramProcess, ms: number): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      process.inspector,
      new Promise<null>((resolve) => timer = setTimeout(resolve, ms, null)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
