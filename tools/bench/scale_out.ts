/**
 * Registries on one Redis against one embedded registry (issue 15):
 * `--clients` connections (600) JOIN one of `--rooms` rooms, spread round
 * robin over the registries, then each repeats its JOIN (the keepalive) in
 * a closed loop, one request in flight per connection. For each setup (one
 * embedded registry; 1, 2 and 3 registries with `--store` on a private
 * `redis-server` with its AOF on) it prints one JSON line: keepalives per
 * second and p50/p99 over the measured window, the Redis round trips
 * (scripts run) and commands (those the scripts call included) per keepalive
 * (`INFO commandstats` around the window), and the CPU each
 * process used and the whole machine's busy time (ms per second of the
 * window, from /proc; `cores` × 1000 is all of it), which shows what the
 * machine's cores are spent on, and how much of them others took.
 *
 *     deno task bench:scale_out [--clients 600] [--rooms 6] [--duration-ms 5000] [--warmup-ms 1000]
 *
 * The registries are separate processes (as `deno task registry` runs
 * them); the load generator is this process.
 *
 * @module
 */

import { RedisConnection } from "../../registry/redis_connection.ts";
import { startRedisServer } from "../../tests/support/redis_server.ts";
import { cpuTimeMs, machineTicks } from "../process/proc.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { loadAverage } from "./machine.ts";
import { quantile, round } from "./stats.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}

const clients = flag("clients", 600);
const rooms = flag("rooms", 6);
const durationMs = flag("duration-ms", 5000);
const warmupMs = flag("warmup-ms", 1000);

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/** Sends `request` and reads its reply (bytes until a read ends with a newline). */
async function exchange(conn: Deno.TcpConn, request: Uint8Array, buf: Uint8Array): Promise<void> {
  const reading = conn.read(buf);
  let written = await conn.write(request);
  while (written < request.length) written += await conn.write(request.subarray(written));
  let n = await reading;
  while (n !== null && buf[n - 1] !== NEWLINE) n = await conn.read(buf);
  if (n === null) throw new Error("The registry closed the connection");
}

/**
 * Commands Redis has run: the scripts run (`EVALSHA`/`EVAL`, each one round
 * trip of a registry) and every command, those the scripts call included.
 */
async function redisCalls(redis: RedisConnection): Promise<{ scripts: number; all: number }> {
  const text = await redis.client.sendCommand<string>(["INFO", "commandstats"]);
  const calls = { scripts: 0, all: 0 };
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] === "info") continue;
    calls.all += Number(m[2]);
    if (m[1] === "evalsha" || m[1] === "eval") calls.scripts += Number(m[2]);
  }
  return calls;
}

interface Setup {
  name: string;
  registries: number;
  store: boolean;
}

const SETUPS: Setup[] = [
  { name: "embedded", registries: 1, store: false },
  { name: "redis x1", registries: 1, store: true },
  { name: "redis x2", registries: 2, store: true },
  { name: "redis x3", registries: 3, store: true },
];

await using redisServer = await startRedisServer({ appendOnly: true });
await using redis = await RedisConnection.open(redisServer.url);
const redisPid = Number(
  /process_id:(\d+)/.exec(await redis.client.sendCommand<string>(["INFO", "server"]))![1],
);

for (const setup of SETUPS) {
  await redis.client.sendCommand(["FLUSHALL"]);
  const registries = await Promise.all(
    Array.from({ length: setup.registries }, () =>
      RegistryProcess.start({
        logLevel: "warning",
        echoStderr: true,
        maxConnections: clients + 100,
        env: { DENO_TOKIO_EVENT_INTERVAL: "1" },
        args: setup.store ? ["--store", redisServer.url] : [],
      })),
  );
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < clients; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: registries[i % registries.length]!.port,
      });
      conn.setNoDelay(true);
      conns.push(conn);
    }
    const joins = conns.map((_, i) =>
      encoder.encode(`J:bench${i % rooms}:client${i}:127.0.0.1:${20000 + i}::\r\n`)
    );
    const buf = new Uint8Array(64 * 1024);
    for (const [i, conn] of conns.entries()) await exchange(conn, joins[i]!, buf);

    const latencies: number[] = [];
    const measureFrom = performance.now() + warmupMs;
    const end = measureFrom + durationMs;
    const pids = [...registries.map((r) => r.pid), redisPid, Deno.pid];
    let cpuBefore: number[] = [];
    let callsBefore = { scripts: 0, all: 0 };
    let ticksBefore = { busy: 0, total: 0 };
    const window = (async () => {
      await new Promise((resolve) => setTimeout(resolve, warmupMs));
      cpuBefore = await Promise.all(pids.map(cpuTimeMs));
      ticksBefore = await machineTicks();
      callsBefore = await redisCalls(redis);
    })();
    await Promise.all(conns.map(async (conn, i) => {
      const own = new Uint8Array(64 * 1024);
      for (;;) {
        const sent = performance.now();
        if (sent >= end) return;
        await exchange(conn, joins[i]!, own);
        const done = performance.now();
        if (sent >= measureFrom && done <= end) latencies.push(done - sent);
      }
    }));
    await window;
    const callsAfter = await redisCalls(redis);
    const cpuAfter = await Promise.all(pids.map(cpuTimeMs));
    const ticksAfter = await machineTicks();
    const busy = (ticksAfter.busy - ticksBefore.busy) / (ticksAfter.total - ticksBefore.total);
    const cores = navigator.hardwareConcurrency;
    const seconds = durationMs / 1000;
    const cpu = cpuAfter.map((t, i) => Math.round((t - cpuBefore[i]!) / seconds));
    latencies.sort((a, b) => a - b);
    console.log(JSON.stringify({
      setup: setup.name,
      clients,
      rooms,
      durationMs,
      keepalivesPerSecond: Math.round(latencies.length / seconds),
      p50Ms: round(quantile(latencies, 0.5) ?? 0),
      p99Ms: round(quantile(latencies, 0.99) ?? 0),
      // Per CPU second spent: what a dedicated core of each would serve (less noisy than /s
      // on a machine others share).
      keepalivesPerRegistryCpuSecond: Math.round(
        latencies.length / (cpu.slice(0, -2).reduce((a, b) => a + b, 0) * seconds / 1000),
      ),
      keepalivesPerRedisCpuSecond: setup.store
        ? Math.round(latencies.length / (cpu.at(-2)! * seconds / 1000))
        : null,
      redisRoundTripsPerKeepalive: setup.store
        ? round((callsAfter.scripts - callsBefore.scripts) / latencies.length, 3)
        : null,
      redisCommandsPerKeepalive: setup.store
        ? round((callsAfter.all - callsBefore.all) / latencies.length, 3)
        : null,
      cpuMsPerSecond: {
        registries: cpu.slice(0, -2),
        redis: setup.store ? cpu.at(-2) : null,
        generator: cpu.at(-1),
        // Every core's busy time (ms/s), ours and others' (other processes on the machine).
        machine: Math.round(busy * cores * 1000),
        cores,
      },
      loadAverage: await loadAverage(),
    }));
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed by the registry.
      }
    }
    await Promise.all(registries.map((r) => r.stop()));
  }
}
