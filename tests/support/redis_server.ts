/**
 * A private `redis-server` for tests: on a free loopback port, in a fresh
 * temporary directory, with the append-only file on and no other persistence
 * (`--save ""`), removed with its directory when disposed:
 *
 * ```ts ignore
 * await using redis = await startRedisServer();
 * // redis.url is "redis://127.0.0.1:PORT"
 * await redis.kill(); // SIGKILL, nothing flushed
 * await redis.restart(); // same port, same directory: it replays its AOF
 * ```
 *
 * When the machine has no `redis-server` (`.ci/run` installs Debian's
 * package), {@linkcode REDIS_MISSING} says why, and tests built with
 * {@linkcode redisTest} are ignored with that reason in their names.
 *
 * @module
 */

import { join } from "node:path";

const decoder = new TextDecoder();

/** Why no `redis-server` can be started here, or null when one can. */
export const REDIS_MISSING: string | null = await findRedisServer();

if (REDIS_MISSING !== null) {
  console.warn(`${REDIS_MISSING}: the Redis tests are ignored`);
}

/** A running private `redis-server`. */
export interface RedisServer extends AsyncDisposable {
  /** Its TCP port on 127.0.0.1; kept across {@linkcode restart}. */
  readonly port: number;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Its working directory (the AOF lives in `appendonlydir/` there). */
  readonly dir: string;
  /** Stops it with SIGTERM (it flushes) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills it with SIGKILL (nothing flushed) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again (killing it first if it runs) on the same port and directory; resolves when it answers PING. */
  restart(): Promise<void>;
}

/** Options of {@linkcode startRedisServer}. */
export interface RedisServerOptions {
  /** Keep an append-only file (`appendonly yes`). Default true. */
  appendOnly?: boolean;
  /** More `--flag value` arguments for `redis-server`. */
  args?: string[];
}

/**
 * Starts a private `redis-server` and resolves once it answers PING.
 *
 * @throws {Error} when `redis-server` is missing or does not come up
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (REDIS_MISSING !== null) throw new Error(REDIS_MISSING);
  const dir = await Deno.makeTempDir({ prefix: "ringchat-redis-test-" });
  const args = [
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    options.appendOnly === false ? "no" : "yes",
    "--logfile",
    join(dir, "redis.log"),
    ...(options.args ?? []),
  ];
  let port = 0;
  let child: Deno.ChildProcess | null = null;
  // A free port may be taken between our probe and redis-server's bind: retry.
  for (let attempt = 0; child === null; attempt++) {
    port = freePort();
    try {
      child = await spawnReady(port, args, dir);
    } catch (error) {
      if (attempt >= 4) {
        await Deno.remove(dir, { recursive: true });
        throw error;
      }
    }
  }
  let running: Deno.ChildProcess | null = child;
  const end = async (signal: Deno.Signal) => {
    if (running === null) return;
    const process = running;
    running = null;
    try {
      process.kill(signal);
    } catch {
      // Already exited.
    }
    await process.status;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
    async restart() {
      await end("SIGKILL");
      running = await spawnReady(port, args, dir);
    },
    async [Symbol.asyncDispose]() {
      await end("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * `Deno.test` for a test that needs `redis-server`: ignored, with the reason
 * in its name, when there is none.
 */
export function redisTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: REDIS_MISSING === null ? name : `${name} (ignored: ${REDIS_MISSING})`,
    ignore: REDIS_MISSING !== null,
    fn,
  });
}

async function findRedisServer(): Promise<string | null> {
  try {
    const { success } = await new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : "redis-server --version failed";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "redis-server is not installed";
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return "running redis-server is not allowed (--allow-run)";
    }
    throw error;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Spawns `redis-server` on `port` and resolves once it answers PING; kills it if it does not. */
async function spawnReady(port: number, args: string[], dir: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 10_000;
  while (!exited && Date.now() < deadline) {
    if (await answersPing(port)) return child;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!exited) child.kill("SIGKILL");
  const { code } = await status;
  const log = await Deno.readTextFile(join(dir, "redis.log")).catch(() => "");
  throw new Error(
    `redis-server on port ${port} did not answer PING (exit ${code}): ${log.slice(-400)}`,
  );
}

async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  try {
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    // While loading its AOF it answers "-LOADING ...": not ready yet.
    return n !== null && decoder.decode(buffer.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn.close();
  }
}
