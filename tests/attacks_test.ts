/**
 * Issue 16's attacks (tools/chaos/attacks.ts), each against our registry
 * process and, for the room attacks, a room of our peer processes on it
 * (the harness of tools/process/), asserting the attack's PASS condition.
 * Sizes are the issue's where a test can afford them in ~15 s; where not,
 * the scaled size and why is next to it.
 *
 * Most defences are being built now: a test whose attack still works
 * against main is ignored until its defence lands (issue 16), and says
 * what it measured on main.
 */

import { equal, match, ok, throws } from "node:assert/strict";
import { hashId } from "../lib/sdbm.ts";
import {
  assertLoopback,
  FakePeer,
  grindName,
  linkAs,
  membersOf,
  newcomersServed,
  textFrame,
} from "../tools/chaos/attack_kit.ts";
import {
  ATTACK_DEFAULTS,
  type AttackOptions,
  type AttackResult,
  ATTACKS,
  runAttack,
} from "../tools/chaos/attacks.ts";
import { AttackRoom } from "../tools/chaos/attack_room.ts";
import {
  describeRss,
  emptyFigures,
  formatFigures,
  watchRss,
} from "../tools/chaos/attack_figures.ts";
import { RegistryProcess, type RegistryProcessOptions } from "../tools/process/registry_process.ts";

/**
 * Runs the attack `name` with `options` against a new registry process; prints what it saw.
 * `after` runs once the attack is done, while the registry still runs.
 */
async function tryAttack(
  name: string,
  options: Partial<AttackOptions> = {},
  registry: RegistryProcessOptions = {},
  after: (reg: RegistryProcess, result: AttackResult) => Promise<void> = async () => {},
): Promise<AttackResult> {
  const found = ATTACKS.find((a) => a.name === name);
  if (found === undefined) throw new RangeError(`No attack ${name}`);
  await using reg = await RegistryProcess.start({ logLevel: "error", ...registry });
  const result = await runAttack(found, {
    host: "127.0.0.1",
    port: reg.port,
    room: `attack-${name}`,
    options: { ...ATTACK_DEFAULTS, ...options },
  });
  console.log(`${result.passed ? "PASS" : "FAIL"} ${name} (${result.ms} ms): ${result.detail}`);
  console.log(formatFigures([result]));
  await after(reg, result);
  return result;
}

/** Runs the attack `name` (see tryAttack); asserts it passed, with its figures measured. */
async function attack(
  name: string,
  options: Partial<AttackOptions> = {},
  registry: RegistryProcessOptions = {},
  after?: (reg: RegistryProcess, result: AttackResult) => Promise<void>,
): Promise<void> {
  const result = await tryAttack(name, options, registry, after);
  ok(result.passed, `${name}: ${result.detail}`);
  const f = result.figures;
  // The registry process's VmRSS is read around every attack.
  ok(f.rss.some((r) => r.name === "registry" && Number.isFinite(r.after)), name);
  if (ATTACKS.find((a) => a.name === name)!.target === "room") {
    // Newcomers were measured while the attack ran, each linked to a peer of the room.
    ok(f.served.length >= 3 && f.linked.length === f.served.length, name);
    ok(f.linked.every(Number.isFinite), name);
    // And every peer of the room had its VmRSS read before, during and after.
    ok(f.rss.filter((r) => r.name !== "registry").length >= 3, name);
  }
}

Deno.test({
  name: "attacks: a storm of 20,000 new origins dies out once the attacker leaves",
  fn: () => attack("storm", { stormFrames: 20_000, settleMs: 5000 }),
});

Deno.test({
  name:
    "attacks: 1,025 forged frames from msgID 2^64-1 do not silence a member, nor after its restart",
  fn: () => attack("silence"),
});

Deno.test({
  name: "attacks: forged origins × msgIDs do not grow a peer's memory",
  // Scaled: 1,000 × 40 frames (the victim takes ~4,000 a second, so the 1,000 × 1,024
  // would take minutes: `deno task chaos --attacks --as room --only memory`). main: 66 → 134
  // MiB for these 40,000 (66 → 296 MiB for 310,250 frames in the full run, and it stays).
  fn: () =>
    attack("memory", {
      memoryOrigins: 1000,
      memoryMsgIds: 40,
      // RSS counts the garbage of the frames read too (10–19 MiB here; the window holds
      // nothing for them: tests/hostile_peer_test.ts asserts that through stats().remembered);
      // the old window grew 68 MiB at this size, so 40 MiB still tells them apart.
      memoryBoundMiB: 40,
      memoryMs: 10_000,
    }),
});

Deno.test({
  name:
    "attacks: a P as bob from another socket, or a T as carol from another link, is not believed",
  // main before the defence: the forged P is answered S, and the T is shown as carol's by alice
  // and bob. Now bob's key is asked for instead of an S, and carol never signed the T.
  fn: () => attack("forge"),
});

Deno.test({
  name: "attacks: a room attack fails when its newcomers wait longer than servedMs",
  // The newcomers' bound is part of every room attack's PASS condition: with a bound no
  // newcomer can meet, the forge attack (which the room defends) fails, and says why.
  async fn() {
    const result = await tryAttack("forge", { servedMs: 0.01 });
    ok(!result.passed, result.detail);
    match(result.detail, /^newcomers not served: .*newcomers during the attack: \d+ newcomers/);
    ok(result.figures.served.length >= 3 && result.figures.served.every(Number.isFinite));
  },
});

Deno.test("attacks: newcomers are served when all were and fewer than 5% took the bound or longer", () => {
  ok(newcomersServed([1, 2, 3, 99], 100));
  ok(!newcomersServed([1, 2, 3, 100], 100));
  ok(!newcomersServed([1, 2, 3, Infinity], 100));
  ok(!newcomersServed([], 100));
  // Fewer than 5% may be slow: one in 40, not two; and not one in 20.
  ok(newcomersServed([...Array(39).fill(5), 500], 100));
  ok(!newcomersServed([...Array(38).fill(5), 500, 500], 100));
  ok(!newcomersServed([...Array(19).fill(5), 500], 100));
});

Deno.test({
  name: "attacks: a twin's JOIN and close or DEPART every 0.3 s does not evict alice",
  // Before the defence (a live holder keeps its member): alice listed in 0 of 30 samples.
  fn: () => attack("eviction"),
});

Deno.test({
  name: "attacks: two fake members ground around bob's HashID do not eclipse him",
  // main before the defence: bob shows 0 of the others' messages and his reach nobody within
  // 5 s. Now bob, his links reaching no ringchat member, relinks to one (peer/eclipse.ts).
  fn: () => attack("eclipse"),
});

Deno.test({
  name: "attacks: connections reset before accept do not stop the registry serving newcomers",
  // main: 332 resets in 3 s; newcomers wait ~390 ms during, and none is served 2 s after.
  fn: () => attack("doors-reset", { resetMs: 2000 }),
});

Deno.test({
  name: "attacks: connections that send one L and idle do not lock out a legitimate JOIN",
  // Scaled: 2,000 idle connections against --max-connections 2000, the state the issue's
  // 10,000 reach against the default cap (10,000 in ~17 s here: too slow for a test).
  // main: every legitimate JOIN is refused while they idle. The attackers connect from
  // 127.0.0.4: a defended registry needs its per-source cap to apply to that address.
  fn: () => attack("doors-idle", { idleConnections: 2000 }, { maxConnections: 2000 }),
});

Deno.test({
  name: "attacks: one source creating rooms up to the cap leaves room creation to others",
  // Scaled: --max-rooms 200. main: 127.0.0.4 creates the 200 rooms, and a room from
  // 127.0.0.5 is refused "F:JOIN message - Too many chatrooms!!".
  fn: () => attack("doors-rooms", { roomCap: 200 }, { args: ["--max-rooms", "200"] }),
});

Deno.test({
  name: "attacks: JOIN-and-close churn in a big room keeps a member's keepalive under 100 ms",
  // Scaled: 2,000 members (5,000 take ~20 s to join here; `--only doors-churn` has them).
  // 1,000 JOIN-and-close a second: a registry from before the incremental M reply fails it
  // (keepalive p50 498 ms, newcomers unserved). Unpaced, the churners out-connected the
  // registry and a newcomer's SYN was dropped (a 1 s retransmit): docs/security.md.
  fn: () => attack("doors-churn", { bigRoom: 2000, churnMs: 2000, churnRate: 1000 }),
});

/**
 * The unpaced churn's registry: the other per-source limits out of the way
 * (a churner holds up to 200 connections and 4+ members at once), so the
 * connect rate is the only defence between 127.0.0.4 and the registry.
 */
const ONLY_THE_CONNECT_RATE = [
  "--max-connections-per-source",
  "100000",
  "--max-members-per-source",
  "100000",
];

/** A counter of the registry's `/metrics` (the `metrics on URL` line of its start). */
async function registryCounter(reg: RegistryProcess, series: string): Promise<number> {
  const line = reg.process.firstLines.find((l) => l.startsWith("metrics on "));
  if (line === undefined) throw new Error("The registry serves no metrics");
  const text = await (await fetch(line.slice("metrics on ".length))).text();
  const found = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (found === undefined) throw new Error(`No ${series} in the registry's metrics`);
  return Number(found.slice(series.length + 1));
}

Deno.test({
  name:
    "attacks: an unpaced JOIN-and-close churn from another source leaves newcomers served in 100 ms",
  // Scaled as the paced churn. 127.0.0.4 is not trusted: over --connect-rate (20 a second,
  // a burst of 128) its connections are closed at accept. The churner runs in a thread of its
  // own (tools/chaos/churn_worker.ts), as the newcomers do: the keeper's keepalive is timed on
  // a thread that does nothing else. 20 runs in a row (with the paced one), load 2.3-2.8 with
  // `yes` on one core: all passed; 8,600-16,800 churned in 2 s, keepalive p99 9-53 ms, newcomers
  // p95 6-17 ms (max 61 ms), the slowest TCP connect <= 5 ms. On 2 cores one churner thread no
  // longer out-connects the registry, so newcomers are served with --connect-rate 0 too
  // (p50 15-30 ms against 1-3 ms, no SYN dropped): what fails then is the JOINs served below.
  fn: () =>
    attack(
      "doors-churn",
      { bigRoom: 2000, churnMs: 2000, churnRate: 0, churnFrom: "127.0.0.4" },
      {
        args: [
          ...ONLY_THE_CONNECT_RATE,
          "--metrics",
          "127.0.0.1:0",
          ...(Deno.env.get("CONNRATE_OFF") ? ["--connect-rate", "0"] : []),
        ],
      },
      async (reg, result) => {
        // What the rate defends: of the churner's JOINs, the registry serves at most the burst
        // and the rate over the attack's time (it closes the rest at accept, unread). Its JOINs
        // served, less the room's 2,000, the newcomers' and the keeper's (at most 20 quiet, one
        // each 20 ms of churn and one each 200 ms of waiting for the room: 300), are the churn's.
        const joins = await registryCounter(reg, 'ringchat_registry_requests_total{type="J"}');
        const closed = await registryCounter(
          reg,
          'ringchat_registry_connections_refused_total{reason="connect-rate"}',
        );
        const churnServed = joins - 2000 - result.figures.served.length - 300;
        const allowed = 128 + (20 * result.ms) / 1000;
        console.log(
          `the registry served ${joins} JOINs and closed ${closed} of the ${result.figures.churned} churned at accept`,
        );
        ok(churnServed <= allowed, `the registry served ${joins} JOINs: ~${churnServed} churned`);
      },
    ),
});

Deno.test({
  name: "attacks: a K or an A from a socket that is not the member's is not believed",
  fn: () => attack("udp"),
});

Deno.test({
  name: "attacks: a lone peer (any implementation) answers no K for another room and no forged P",
  async fn() {
    await using reg = await RegistryProcess.start({ logLevel: "error" });
    await using room = await AttackRoom.start({
      registryPort: reg.port,
      room: "attack-peer",
      names: ["alice", "bob", "carol"],
    });
    const results = [];
    for (const name of ["udp-room", "forge-handshake"]) {
      const result = await runAttack(ATTACKS.find((a) => a.name === name)!, {
        host: "127.0.0.1",
        port: room.peer("alice").port,
        room: "attack-peer",
        options: { ...ATTACK_DEFAULTS, member: `bob:127.0.0.1:${room.peer("bob").port}` },
      });
      console.log(`${result.passed ? "PASS" : "FAIL"} ${name}: ${result.detail}`);
      results.push(result);
    }
    for (const r of results) ok(r.passed, `${r.name}: ${r.detail}`);
  },
});

Deno.test("attacks: the kit grinds a name into a ring interval, even one that wraps past 2^64", () => {
  const bob = hashId("bob", "127.0.0.1", 50002);
  const from = bob - (1n << 58n);
  const name = grindName("e", "127.0.0.1", 40000, from, bob);
  const h = hashId(name, "127.0.0.1", 40000);
  ok(h > from && h < bob, `${name} → ${h}`);
  const top = (1n << 64n) - 1000n;
  const wrapped = hashId(grindName("w", "127.0.0.1", 40000, top, 1n << 60n), "127.0.0.1", 40000);
  ok(wrapped > top || wrapped < 1n << 60n, String(wrapped));
});

Deno.test("attacks: forged frames count bytes; M replies parse; only loopback targets", () => {
  equal(textFrame("r", 1n, "carol", 7, "héllo:"), "T:r:1:carol:7:7:héllo:::\r\n");
  equal(
    membersOf("M:5:bob:127.0.0.1:2:alice:127.0.0.1:1::\r\n")?.map((m) => m.name).join(),
    "bob,alice",
  );
  equal(membersOf("F:JOIN message - Wrong format!!::\r\n"), null);
  assertLoopback("127.3.2.1");
  assertLoopback("localhost");
  throws(() => assertLoopback("10.0.0.1"), RangeError);
  throws(() => assertLoopback("127.0.0.1.example.com"), RangeError);
});

Deno.test("attacks: the fake peer answers each P with S and swallows the rest", async () => {
  await using fake = new FakePeer();
  await using wire = await linkAs("127.0.0.1", fake.port, "r", "mallory", 1);
  await wire.write(textFrame("r", 1n, "x", 1, "swallowed"));
  await using second = await linkAs("127.0.0.1", fake.port, "r", "eve", 2);
  equal(fake.handshakes, 2);
  second.close();
  wire.close();
});

Deno.test("attacks: VmRSS is read before, during (the most) and after; a process gone reads as -", async () => {
  const figures = emptyFigures();
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  // A fresh process that holds 64 MiB while told to (this process's own RSS holds what earlier
  // test files freed, so it cannot show a rise).
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
       await lines.read();
       const held = new Uint8Array(64 * 1024 * 1024).fill(1);
       console.log("held");
       await lines.read();
       held.fill(2);`,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const told = holder.stdin.getWriter();
  const said = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const rss = await watchRss(figures, () => [
      { name: "holder", pid: holder.pid },
      { name: "gone", pid: gone.pid },
    ], 10);
    await told.write(new TextEncoder().encode("hold\n"));
    ok((await said.read()).value?.includes("held"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await rss.stop();
    await rss.after();
    const [held, dead] = figures.rss;
    ok(held!.before > 0 && held!.after > 0, JSON.stringify(held));
    ok(held!.during >= held!.before + 60, JSON.stringify(held));
    equal(describeRss([dead!]), "gone -/-/-");
  } finally {
    await told.close();
    await said.cancel();
    await holder.status;
  }
});
