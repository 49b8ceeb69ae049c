/**
 * A closed-loop load generator for any P2PChat room server (ours or the
 * reference). `--clients` connections each JOIN one of `--rooms` rooms, then
 * repeat the JOIN (a keepalive) or a LIST, each waiting for its reply before
 * sending the next request. Prints one JSON line: requests per second and
 * p50/p99 latency over the measured window (after `--warmup-ms`).
 *
 * Without `--port` it spawns our registry as a separate process (with exactly
 * the flags of its compiled binary, `runArgs("registry")`) so the generator
 * does not share the server's event loop, and stops it afterwards.
 *
 *     deno task bench:registry --clients 200 --rooms 10 --duration-ms 10000 --op join
 *     deno task bench:registry --port 32340 --op list   # against a running server
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { choiceOption, portOption, textOption } from "../tool_options.ts";
import { programEnv } from "../../lib/flags.ts";
import { RegistryProcess } from "../process/registry_process.ts";

const args = run(
  object({
    host: textOption("--host", "ADDR", message`Room server address.`, "127.0.0.1"),
    port: portOption(message`Room server port; without it, spawn our registry.`),
    clients: integerOption(
      "--clients",
      { min: 1, metavar: "C" },
      message`Concurrent client connections.`,
      200,
    ),
    rooms: integerOption(
      "--rooms",
      { min: 1, metavar: "R" },
      message`Rooms the clients spread over.`,
      10,
    ),
    durationMs: integerOption(
      "--duration-ms",
      { min: 100, metavar: "MS" },
      message`Measured time.`,
      10_000,
    ),
    warmupMs: integerOption(
      "--warmup-ms",
      { min: 0, metavar: "MS" },
      message`Unmeasured load before the measured time.`,
      1_000,
    ),
    registryEventInterval: integerOption(
      "--registry-event-interval",
      { min: 1, metavar: "N" },
      message`DENO_TOKIO_EVENT_INTERVAL of the spawned registry (1, as ringchat runs it; 61 is Deno's default).`,
      Number(programEnv("registry").DENO_TOKIO_EVENT_INTERVAL),
    ),
    op: choiceOption(
      "--op",
      ["join", "list"],
      "OP",
      message`Repeated request: JOIN (keepalive) or LIST.`,
      "join",
    ),
  }),
  {
    programName: "bench:registry",
    args: Deno.args,
    help: "option",
    colors: false,
    maxWidth: 80,
    showDefault: true,
  },
);

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/** Reads one reply: bytes until a read ends with a newline (one request in flight). */
async function readReply(conn: Deno.TcpConn, buf: Uint8Array): Promise<void> {
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("The server closed the connection");
    if (buf[n - 1] === NEWLINE) return;
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

const spawned = args.port === undefined
  ? await RegistryProcess.start({
    logLevel: "warning",
    echoStderr: true,
    maxConnections: Math.max(10_000, args.clients + 100),
    // Explicit, so the registry never silently inherits the generator's tuning.
    env: { DENO_TOKIO_EVENT_INTERVAL: String(args.registryEventInterval) },
  })
  : null;
const port = args.port ?? spawned!.port;

const conns: Deno.TcpConn[] = [];
/** Latency histogram of measured requests: 10 µs buckets up to 10 s. */
const BUCKET_MS = 0.01;
const histogram = new Uint32Array(1_000_000);
let requests = 0;
let slowest = 0;

function record(ms: number): void {
  histogram[Math.min(histogram.length - 1, Math.floor(ms / BUCKET_MS))]!++;
  requests++;
  if (ms > slowest) slowest = ms;
}

/** The latency under which a fraction `q` of the requests finished, in ms. */
function quantile(q: number): number | null {
  if (requests === 0) return null;
  const rank = Math.ceil(q * requests);
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b]!;
    if (seen >= rank) return round((b + 1) * BUCKET_MS);
  }
  return round(slowest);
}
let errors = 0;
let firstError: unknown = null;

try {
  for (let i = 0; i < args.clients; i++) {
    const conn = await Deno.connect({ hostname: args.host, port });
    conn.setNoDelay(true);
    conns.push(conn);
  }
  const joins = conns.map((_, i) =>
    encoder.encode(`J:bench${i % args.rooms}:client${i}:127.0.0.1:${20000 + i}::\r\n`)
  );
  const list = encoder.encode("L::\r\n");
  // Everybody joins first (the reply to the first JOIN grows with the room).
  await Promise.all(conns.map(async (conn, i) => {
    const buf = new Uint8Array(64 * 1024);
    await writeAll(conn, joins[i]!);
    await readReply(conn, buf);
  }));

  const started = performance.now();
  const measureFrom = started + args.warmupMs;
  const end = measureFrom + args.durationMs;
  let measuredEnd = end;
  await Promise.all(conns.map(async (conn, i) => {
    const buf = new Uint8Array(64 * 1024);
    const request = args.op === "join" ? joins[i]! : list;
    try {
      // One clock read a request: the next request is sent the moment the last reply is in.
      let sent = performance.now();
      for (;;) {
        if (sent >= end) return;
        // The read is posted before the write so its reply is taken as soon as it lands.
        const reading = conn.read(buf);
        const writing = conn.write(request);
        let n = await reading;
        while (n !== null && buf[n - 1] !== NEWLINE) n = await conn.read(buf);
        if (n === null) throw new Error("The server closed the connection");
        if ((await writing) !== request.length) throw new Error("Short write");
        const done = performance.now();
        if (sent >= measureFrom && done <= end) record(done - sent);
        sent = done;
      }
    } catch (error) {
      errors++;
      firstError ??= error;
    }
  }));
  measuredEnd = Math.min(performance.now(), end);

  const seconds = (measuredEnd - measureFrom) / 1000;
  console.log(JSON.stringify({
    op: args.op,
    clients: args.clients,
    rooms: args.rooms,
    durationMs: Math.round(measuredEnd - measureFrom),
    requests,
    requestsPerSecond: Math.round(requests / seconds),
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    maxMs: round(slowest),
    errors,
    server: spawned === null ? `${args.host}:${port}` : "spawned registry",
    registryEventInterval: spawned === null ? null : args.registryEventInterval,
    generatorEventInterval: eventInterval(),
  }));
  if (firstError !== null) console.error("first error:", firstError);
} finally {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Already closed by the server.
    }
  }
  if (spawned !== null) await spawned[Symbol.asyncDispose]();
}

/** This process's DENO_TOKIO_EVENT_INTERVAL, or null when unset or not readable. */
function eventInterval(): number | null {
  const name = "DENO_TOKIO_EVENT_INTERVAL";
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return null;
  const value = Deno.env.get(name);
  return value === undefined ? null : Number(value);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
