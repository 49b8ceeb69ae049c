/**
 * Registry throughput and latency across client counts: runs the closed-loop
 * load generator (./registry.ts, the registry engineer's tool) once per
 * client count and operation, each run against a fresh spawned registry
 * (with `--request-rate 0`: the per-connection rate limit would cap one
 * client at 1,000 requests a second; `--default-limits` keeps it), or
 * against `--host/--port` (any P2PChat room server, the original included).
 *
 *     deno task bench:registry_sweep --clients 1,20,200,1000 --ops join,list
 *     deno task bench:registry_sweep --port 32340     # a server already running
 *     deno task bench:registry_sweep --metrics        # spawned with --metrics 127.0.0.1:0
 *
 * The generator runs as its own process with the flags of the
 * `bench:registry` task (DENO_TOKIO_EVENT_INTERVAL=1 for the generator, as
 * that task sets it; the spawned registry gets Deno's default).
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption, optionalText, portOption, switchOption, textOption } from "../tool_options.ts";
import { fileURLToPath } from "node:url";
import { machine } from "./machine.ts";
import { type BenchResult, printResult } from "./report.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { integerList } from "./stats.ts";

/** One line of the generator's output. */
export interface LoadResult {
  op: "join" | "list";
  clients: number;
  rooms: number;
  durationMs: number;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  errors: number;
  server: string;
}

const GENERATOR = fileURLToPath(new URL("./registry.ts", import.meta.url));

/** Runs the generator once and returns its JSON line. */
export async function runGenerator(
  options: {
    op: "join" | "list";
    clients: number;
    rooms: number;
    durationMs: number;
    warmupMs: number;
    host?: string;
    port?: number;
  },
): Promise<LoadResult> {
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-net",
    "--allow-run",
    "--allow-read",
    "--allow-env=DENO_TOKIO_EVENT_INTERVAL",
    GENERATOR,
    "--op",
    options.op,
    "--clients",
    String(options.clients),
    "--rooms",
    String(options.rooms),
    "--duration-ms",
    String(options.durationMs),
    "--warmup-ms",
    String(options.warmupMs),
    ...(options.host === undefined ? [] : ["--host", options.host]),
    ...(options.port === undefined ? [] : ["--port", String(options.port)]),
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { DENO_TOKIO_EVENT_INTERVAL: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const line = text.split("\n").findLast((l) => l.startsWith("{"));
  if (!out.success || line === undefined) {
    throw new Error(
      `The generator failed (${out.code}): ${new TextDecoder().decode(out.stderr).slice(-500)}`,
    );
  }
  return JSON.parse(line) as LoadResult;
}

if (import.meta.main) {
  const args = run(
    object({
      host: optionalText("--host", "ADDR", message`Room server address (with --port).`),
      port: portOption(message`Room server port; without it each run spawns our registry.`),
      clients: textOption(
        "--clients",
        "LIST",
        message`Client counts, comma-separated.`,
        "1,20,200,1000",
      ),
      ops: textOption("--ops", "LIST", message`Operations: join (keepalive), list.`, "join,list"),
      rooms: integerOption(
        "--rooms",
        { min: 1, metavar: "R" },
        message`Rooms the clients spread over.`,
        10,
      ),
      durationMs: integerOption(
        "--duration-ms",
        { min: 100, metavar: "MS" },
        message`Measured time per run.`,
        3000,
      ),
      warmupMs: integerOption(
        "--warmup-ms",
        { min: 0, metavar: "MS" },
        message`Unmeasured load before each run.`,
        500,
      ),
      defaultLimits: switchOption(
        "--default-limits",
        message`Keep the spawned registry's request rate limit (1,000/s per connection).`,
      ),
      metrics: switchOption(
        "--metrics",
        message`Spawn each registry with --metrics 127.0.0.1:0 (requests counted and timed).`,
      ),
      json: jsonOption(),
    }),
    { programName: "bench:registry_sweep", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const ops = args.ops.split(",").map((op) => op.trim());
  for (const op of ops) {
    if (op !== "join" && op !== "list") throw new RangeError(`Unknown op ${op}`);
  }
  const rows: LoadResult[] = [];
  const failures: string[] = [];
  for (const op of ops as ("join" | "list")[]) {
    for (const clients of integerList(args.clients, "--clients")) {
      try {
        const load = {
          op,
          clients,
          rooms: Math.min(args.rooms, clients),
          durationMs: args.durationMs,
          warmupMs: args.warmupMs,
        };
        if (args.port !== undefined) {
          rows.push(await runGenerator({ ...load, host: args.host, port: args.port }));
        } else {
          await using registry = await RegistryProcess.start({
            logLevel: "warning",
            echoStderr: true,
            maxConnections: Math.max(10_000, clients + 100),
            args: [
              ...(args.defaultLimits ? [] : ["--request-rate", "0"]),
              ...(args.metrics ? ["--metrics", "127.0.0.1:0"] : []),
            ],
          });
          rows.push(
            {
              ...await runGenerator({ ...load, host: "127.0.0.1", port: registry.port }),
              server: `spawned registry${args.defaultLimits ? "" : ", --request-rate 0"}${
                args.metrics ? ", --metrics" : ""
              }`,
            },
          );
        }
      } catch (error) {
        failures.push(`${op} × ${clients}: ${error instanceof Error ? error.message : error}`);
      }
    }
  }
  const result: BenchResult = {
    name: "registry_sweep",
    title: "Registry: closed-loop JOIN (keepalive) and LIST",
    command: `deno task bench:registry_sweep ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { ...args, json: undefined },
    tables: [{
      title: args.port !== undefined
        ? `against ${args.host ?? "127.0.0.1"}:${args.port}`
        : `each run against a fresh spawned registry${
          args.defaultLimits ? "" : " (--request-rate 0)"
        }${args.metrics ? " with --metrics" : ""}`,
      columns: ["op", "clients", "rooms", "requests/s", "p50 ms", "p99 ms", "max ms", "errors"],
      rows: rows.map((r) => [
        r.op,
        r.clients,
        r.rooms,
        r.requestsPerSecond,
        r.p50Ms,
        r.p99Ms,
        r.maxMs,
        r.errors,
      ]),
    }],
    targets: [],
    notes: [
      "Closed loop: every client sends its next request when the reply to the last one is in " +
      "(tools/bench/registry.ts); each client is a member of one of the rooms, so a JOIN is a " +
      "keepalive answered with that room's member list.",
      "Generator and registry share the machine's cores; at 200 and 1,000 clients the generator " +
      "is part of what is measured.",
      "With the registry's default limits a connection is held to 1,000 requests a second " +
      "(bursts of 2,000; over it the registry stops reading, it refuses nothing), which caps " +
      "the 1- and 20-client rows; --default-limits measures that.",
      ...failures,
    ],
    data: rows,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
