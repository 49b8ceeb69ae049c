/**
 * What logins cost the registry program, over the wire: ms per login (one
 * PBKDF2 hash at the registry's default cost, through the `login` op), and
 * the round trip of a JOIN (a seed client's keepalive) while `--rate` logins
 * a second arrive from `--connections` hello'd connections, in turn, each
 * as its own account (their presence pushes included), against no logins
 * at all. A connection answers one request at a time and a queued login
 * waits seconds for its hash, so the default is eight connections per login
 * a second: enough that a turn seldom finds its connection still waiting.
 *
 * The accounts are written into the people database before the registry
 * starts (one stored hash shared by all: the storm's cost is the logins, not
 * the setup), so the registry loads them from `--data-dir` as it would after
 * a restart.
 *
 *     deno task bench:logins [--rate 100] [--seconds 10] [--json]
 *
 * @module
 */

import { join } from "node:path";
import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { decodeFrame } from "../../lib/frames.ts";
import { DEFAULT_PASSWORD_ITERATIONS, PasswordHasher } from "../../registry/passwords.ts";
import { PEOPLE_DB_FILE } from "../../registry/people_ops.ts";
import { SqlitePeopleStore } from "../../registry/people_db.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { jsonOption } from "../tool_options.ts";
import { Wire } from "../wire.ts";
import { timedJoins } from "./join_probe.ts";
import { machine } from "./machine.ts";
import { type BenchResult, printResult } from "./report.ts";
import { summarize, type Summary } from "./stats.ts";

const encoder = new TextEncoder();
const PASSWORD = "correct horse";

function xFrame(op: string, body: Record<string, unknown>): string {
  const json = JSON.stringify({ op, ...body });
  return `X:${json.length}:${json}::\r\n`;
}

/** A hello'd connection logged in as nobody yet, answering by `ref` and draining pushes. */
class LoginClient {
  readonly #wire: Wire;
  readonly #waiting = new Map<string, (body: Record<string, unknown>) => void>();
  readonly #reading: Promise<void>;
  #next = 0;
  /** Pushes read (presence of the others). */
  pushes = 0;

  private constructor(wire: Wire) {
    this.#wire = wire;
    this.#reading = this.#read();
  }

  static async connect(port: number): Promise<LoginClient> {
    const wire = await Wire.connect("127.0.0.1", port, { timeoutMs: 30_000 });
    const hello = await wire.request(xFrame("hello", { version: "ringchat/2" }));
    if (!hello.startsWith("X:")) throw new Error(`No hello: ${hello}`);
    return new LoginClient(wire);
  }

  /** Sends `op` and resolves with its answer's body. */
  async request(op: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = String(++this.#next);
    const answer = new Promise<Record<string, unknown>>((resolve) =>
      this.#waiting.set(ref, resolve)
    );
    await this.#wire.write(xFrame(op, { ref, ...body }));
    return await answer;
  }

  async #read(): Promise<void> {
    for (;;) {
      const text = await this.#wire.next(600_000).catch(() => null);
      if (text === null) return;
      const frame = decodeFrame(encoder.encode(text));
      if (frame.type !== "X") continue;
      const ref = frame.body.ref;
      const waiting = typeof ref === "string" ? this.#waiting.get(ref) : undefined;
      if (waiting === undefined) {
        this.pushes++;
        continue;
      }
      this.#waiting.delete(ref as string);
      waiting({ op: frame.op, ...frame.body });
    }
  }

  async close(): Promise<void> {
    this.#wire.close();
    await this.#reading;
  }
}

/** One storm's figures. */
interface StormRow {
  scenario: string;
  joinMs: Summary;
  loginMs: Summary;
  logins: { ok: number; busy: number; other: number; skipped: number };
  pushes: number;
}

async function storm(
  registry: RegistryProcess,
  clients: readonly LoginClient[],
  rate: number,
  seconds: number,
  scenario: string,
): Promise<StormRow> {
  await using probe = await Wire.connect("127.0.0.1", registry.port, { timeoutMs: 30_000 });
  const join = "J:bench:probe:127.0.0.1:50001::\r\n";
  await probe.request(join);
  const logins = { ok: 0, busy: 0, other: 0, skipped: 0 };
  const loginMs: number[] = [];
  const inFlight = new Set<number>();
  const pending: Promise<void>[] = [];
  const pushesBefore = clients.reduce((n, c) => n + c.pushes, 0);
  let turn = 0;
  const timer = rate === 0 ? undefined : setInterval(() => {
    const i = turn++ % clients.length;
    // A connection answers one request at a time: one still waiting skips its turn.
    if (inFlight.has(i)) {
      logins.skipped++;
      return;
    }
    inFlight.add(i);
    const began = performance.now();
    pending.push(
      clients[i]!.request("login", { name: `user${i}`, password: PASSWORD }).then((answer) => {
        inFlight.delete(i);
        if (answer.op === "logged-in") {
          logins.ok++;
          loginMs.push(performance.now() - began);
        } else if (answer.code === "busy") logins.busy++;
        else logins.other++;
      }),
    );
  }, 1000 / rate);
  let rtt: number[];
  try {
    rtt = await timedJoins(probe, join, seconds);
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
  }
  const pushes = clients.reduce((n, c) => n + c.pushes, 0) - pushesBefore;
  return { scenario, joinMs: summarize(rtt, 2), loginMs: summarize(loginMs, 1), logins, pushes };
}

const args = run(
  object({
    rate: integerOption(
      "--rate",
      { min: 1, metavar: "N" },
      message`Logins per second in the storm.`,
      100,
    ),
    connections: integerOption(
      "--connections",
      { min: 0, metavar: "N" },
      message`Logging-in connections (0: eight per login a second).`,
      0,
    ),
    presenceBatch: integerOption(
      "--max-presence-batch",
      { min: 0, metavar: "N" },
      message`The registry's --max-presence-batch (0: its default).`,
      0,
    ),
    seconds: integerOption(
      "--seconds",
      { min: 1, metavar: "S" },
      message`Length of each scenario, in seconds.`,
      10,
    ),
    json: jsonOption(),
  }),
  { programName: "logins" },
);

const began = performance.now();
const host = await machine();
const connections = args.connections === 0 ? args.rate * 8 : args.connections;
const dir = await Deno.makeTempDir({ prefix: "ringchat-bench-logins-" });
try {
  {
    using store = SqlitePeopleStore.open(join(dir, PEOPLE_DB_FILE));
    const password = await new PasswordHasher().hash(PASSWORD);
    for (let i = 0; i < connections; i++) {
      await store.createAccount({ name: `user${i}`, password, createdAt: 0 });
    }
  }
  await using registry = await RegistryProcess.start({
    logLevel: "warning",
    args: [
      "--data-dir",
      dir,
      ...(args.presenceBatch === 0 ? [] : ["--max-presence-batch", String(args.presenceBatch)]),
    ],
  });
  const clients: LoginClient[] = [];
  try {
    for (let i = 0; i < connections; i++) clients.push(await LoginClient.connect(registry.port));
    // ms per login, one at a time, nothing else running.
    const single: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const answer = await clients[i]!.request("login", { name: `user${i}`, password: PASSWORD });
      if (answer.op !== "logged-in") throw new Error(`Login failed: ${JSON.stringify(answer)}`);
      single.push(performance.now() - t0);
    }
    const rows = [
      await storm(registry, clients, 0, args.seconds, "no logins"),
      await storm(registry, clients, args.rate, args.seconds, `${args.rate} logins/s`),
    ];
    const oneLogin = summarize(single, 1);
    const result: BenchResult = {
      name: "logins",
      title: "Logins: cost of a login and JOINs during a login storm (registry process)",
      command:
        `deno task bench:logins --rate ${args.rate} --connections ${connections} --seconds ${args.seconds}`,
      machine: host,
      params: {
        rate: args.rate,
        connections,
        seconds: args.seconds,
        iterations: DEFAULT_PASSWORD_ITERATIONS,
      },
      tables: [{
        title: `One login at a time (PBKDF2-HMAC-SHA-256, ${
          DEFAULT_PASSWORD_ITERATIONS.toLocaleString("en-US")
        } iterations), round trip of the login op`,
        columns: ["logins", "p50 ms", "max ms"],
        rows: [[oneLogin.n, oneLogin.p50, oneLogin.max]],
      }, {
        title: `JOIN round trip (every 5 ms) during a storm, ${args.seconds} s each`,
        columns: [
          "scenario",
          "JOINs",
          "JOIN p50 ms",
          "JOIN p99 ms",
          "JOIN max ms",
          "logins ok",
          "busy",
          "other",
          "skipped (own login pending)",
          "ok login p50 ms",
          "ok login p99 ms",
          "presence pushes",
        ],
        rows: rows.map((r) => [
          r.scenario,
          r.joinMs.n,
          r.joinMs.p50,
          r.joinMs.p99,
          r.joinMs.max,
          r.logins.ok,
          r.logins.busy,
          r.logins.other,
          r.logins.skipped,
          r.loginMs.p50,
          r.loginMs.p99,
          r.pushes,
        ]),
      }],
      targets: [],
      notes: [
        "Each JOIN is timed from when it was due, so a stalled registry shows as latency.",
        "busy: the registry's hasher queue (--max-queued-hashes) was full; answered at once.",
        "The registry runs with its defaults: --hash-concurrency cores − 1, --max-queued-hashes 64.",
      ],
      data: { single, rows },
      durationMs: Math.round(performance.now() - began),
    };
    printResult(result, args.json);
  } finally {
    for (const c of clients) await c.close();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
