/**
 * A registry running as a separate process for tests, spawned with exactly
 * the flags of its compiled binary (`runArgs("registry", …)`), with what
 * Linux tells about it: resident memory (`VmRSS` in /proc/PID/status) and the
 * connections it holds (/proc/net/tcp).
 *
 * @example
 * ```ts
 * import { RegistryProcess } from "./registry_process.ts";
 * await using registry = await RegistryProcess.spawn(["--log-level", "warning"]);
 * console.log(registry.port, await registry.rssBytes());
 * ```
 *
 * @module
 */

import { runArgs } from "../../lib/flags.ts";

/** A spawned registry; disposing it stops it with SIGTERM (SIGKILL if it hangs). */
export class RegistryProcess implements AsyncDisposable {
  /** The process id. */
  readonly pid: number;
  /** The port it listens on, from its `listening on HOST:PORT` line. */
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Promise<string>;
  readonly #stderr: Promise<string>;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  private constructor(
    child: Deno.ChildProcess,
    port: number,
    stdout: Promise<string>,
    stderr: Promise<string>,
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.port = port;
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  /**
   * Spawns `registry --port 0 --host 127.0.0.1 ...args` and waits for its
   * `listening on` line.
   */
  static async spawn(args: readonly string[] = []): Promise<RegistryProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: runArgs("registry", ["--port", "0", "--host", "127.0.0.1", ...args]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = drain(child.stderr);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    try {
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`The registry exited before listening: ${await stderr}`);
        text += value;
      }
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.status;
      await stderr;
      throw error;
    }
    const m = text.match(/^listening on [^\s]+:(\d+)\n/);
    const stdout = (async () => {
      let rest = text.slice(text.indexOf("\n") + 1);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return rest;
        rest += value;
      }
    })();
    const registry = new RegistryProcess(child, Number(m?.[1] ?? 0), stdout, stderr);
    if (m === null) {
      await registry.stop().catch(() => {});
      throw new Error(`Unexpected first line from the registry: ${JSON.stringify(text)}`);
    }
    return registry;
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

  /** Sends SIGTERM and waits for the exit; resolves with the status. Idempotent. */
  stop(): Promise<Deno.CommandStatus> {
    this.#stopped ??= (async () => {
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Already exited.
        }
      }, 5000);
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      try {
        return await this.#child.status;
      } finally {
        clearTimeout(timer);
        await this.#stdout;
        await this.#stderr;
      }
    })();
    return this.#stopped;
  }

  /** Everything the process wrote to stderr (complete once it has stopped). */
  stderr(): Promise<string> {
    return this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * The text of a /proc file. `deno test` refuses /proc/PID/… and /proc/net/…
 * to anything short of `--allow-all`, so `cat` (`--allow-run`) reads it.
 */
async function readProc(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdin: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`Cannot read ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}
