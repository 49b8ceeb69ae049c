/**
 * Our registry as a separate process for the benchmarks, with its pid (so
 * its memory and CPU can be read from /proc) and quiet logs. It runs with
 * exactly the flags of its compiled binary (`runArgs("registry")`).
 *
 * @module
 */

import { programEnv, runArgs } from "../../lib/flags.ts";

/** A registry process. Disposing it stops it (SIGTERM, then SIGKILL). */
export interface SpawnedRegistry extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  /** The inspector's ws:// address, when started with `inspect`. */
  readonly inspector: string | null;
}

/**
 * Starts `registry --port 0` on 127.0.0.1 and waits for its `listening on`
 * line. With `inspect`, Deno's inspector listens too (for heap figures).
 */
export async function spawnRegistry(
  options: {
    maxConnections?: number;
    args?: string[];
    timeoutMs?: number;
    inspect?: boolean;
    /** The registry's environment (default: `programEnv("registry")`, as users run it). */
    env?: Record<string, string>;
  } = {},
): Promise<SpawnedRegistry> {
  const args = runArgs("registry", [
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--log-level",
    "warning",
    "--max-connections",
    String(options.maxConnections ?? 20_000),
    ...(options.args ?? []),
  ]);
  // A flag of Deno's, not of the program; `--quiet` would hide the inspector's address.
  if (options.inspect) args.splice(args.indexOf("--quiet"), 1, "--inspect=127.0.0.1:0");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: options.env ?? programEnv("registry"),
    stdin: "null",
    stdout: "piped",
    stderr: options.inspect ? "piped" : "inherit",
  }).spawn();
  const inspector = options.inspect ? inspectorAddress(child.stderr) : Promise.resolve(null);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 3000);
    await child.status;
    clearTimeout(timer);
  };
  let text = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), options.timeoutMs ?? 30_000);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The registry exited before listening");
      text += value;
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const m = /listening on \S*:(\d+)/.exec(text);
  if (m === null) {
    await stop();
    throw new Error(`Unexpected first line from the registry: ${text}`);
  }
  const inspectorUrl = await Promise.race([
    inspector,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000)),
  ]);
  const drained = (async () => {
    while (!(await reader.read()).done) { /* drain stdout */ }
  })().catch(() => {});
  return {
    port: Number(m[1]),
    pid: child.pid,
    inspector: inspectorUrl,
    async [Symbol.asyncDispose]() {
      await stop();
      await drained;
    },
  };
}

/**
 * The ws:// address from Deno's "Debugger listening on" line; the rest of
 * stderr is passed on to ours.
 */
function inspectorAddress(stderr: ReadableStream<Uint8Array>): Promise<string | null> {
  const { promise, resolve } = Promise.withResolvers<string | null>();
  (async () => {
    let pending = "";
    for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
        if (m !== null) resolve(m[1]!);
        else if (!/^(Visit chrome:\/\/inspect|Debugger session)/.test(line)) console.error(line);
      }
    }
    resolve(null);
  })().catch(() => resolve(null));
  return promise;
}
