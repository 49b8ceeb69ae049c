/**
 * The registry running as its own process, started on an ephemeral or given
 * port, killable and restartable on the same port.
 *
 * @module
 */

import { programEnv, runArgs } from "../../lib/flags.ts";
import { forEachLine } from "./lines.ts";

/** How to start a registry process. */
export interface RegistryProcessOptions {
  /** 0 (default) for an ephemeral port. */
  port?: number;
  expiryMs?: number;
  sweepMs?: number;
  /** A compiled `registry` binary to run instead of the sources. */
  binary?: string;
}

/** A running registry process. */
export class RegistryProcess {
  readonly port: number;
  readonly exited: Promise<Deno.CommandStatus>;
  readonly stderrTail: string[];
  #child: Deno.ChildProcess;

  private constructor(
    port: number,
    child: Deno.ChildProcess,
    exited: Promise<Deno.CommandStatus>,
    tail: string[],
  ) {
    this.port = port;
    this.#child = child;
    this.exited = exited;
    this.stderrTail = tail;
  }

  /** Spawns a registry and waits for its `listening on HOST:PORT` line. */
  static async start(
    options: RegistryProcessOptions = {},
    timeoutMs = 30_000,
  ): Promise<RegistryProcess> {
    const args = ["--host", "127.0.0.1", "--port", String(options.port ?? 0)];
    if (options.expiryMs !== undefined) args.push("--expiry-ms", String(options.expiryMs));
    if (options.sweepMs !== undefined) args.push("--sweep-ms", String(options.sweepMs));
    const io = {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: programEnv("registry"),
    } as const;
    const child =
      (options.binary === undefined
        ? new Deno.Command(Deno.execPath(), { args: runArgs("registry", args), ...io })
        : new Deno.Command(options.binary, { args, ...io })).spawn();
    const tail: string[] = [];
    const { promise: listening, resolve, reject } = Promise.withResolvers<number>();
    const out = forEachLine(child.stdout, (line) => {
      const m = /^listening on .*:(\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
      else tail.push(line);
    });
    const err = forEachLine(child.stderr, (line) => {
      tail.push(line);
      if (tail.length > 50) tail.shift();
    });
    const exited = Promise.all([child.status, out, err]).then(([status]) => {
      reject(
        new Error(`Registry exited (code ${status.code}) before listening\n${tail.join("\n")}`),
      );
      return status;
    });
    const timer = setTimeout(
      () => reject(new Error(`Registry not listening within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      return new RegistryProcess(await listening, child, exited, tail);
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await exited;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal (SIGKILL by default) and waits for the exit. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch { /* gone */ }
    return await this.exited;
  }
}
