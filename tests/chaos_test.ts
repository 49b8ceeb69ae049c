import { deepEqual, equal, match, ok } from "node:assert/strict";
import config from "../deno.json" with { type: "json" };
import { unstableFlags } from "../lib/flags.ts";
import { startRegistry } from "../registry/registry.ts";
import { detectTarget } from "../tools/chaos/detect.ts";
import {
  type ChaosOptions,
  formatTable,
  PEER_PROBES,
  REGISTRY_PROBES,
  runChaos,
} from "../tools/chaos.ts";
import { testPeer } from "./support/peer_harness.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";

/** The permission flags of `deno task chaos` (deno.json). */
const CHAOS_PERMISSIONS = config.tasks.chaos.split(" ").filter((a) => a.startsWith("--allow-"));

/** Runs `deno task chaos` (tools/chaos.ts) with `args`; its exit code and stdout. */
async function chaosCli(args: string[]): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      ...unstableFlags(),
      ...CHAOS_PERMISSIONS,
      new URL("../tools/chaos.ts", import.meta.url).pathname,
      ...args,
    ],
    stdin: "null",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/** Small numbers, so the whole chaos run takes a few seconds. */
const QUICK: Partial<ChaosOptions> = {
  timeoutMs: 3000,
  floodConnections: 200,
  loadClients: 20,
  loadMs: 500,
  dripMs: 5,
  bigRoom: 100,
};

Deno.test("chaos: every registry probe passes against our registry, which then holds nothing", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const results = await runChaos({ hostname: "127.0.0.1", port: registry.port, ...QUICK });
  const table = formatTable(results);
  console.log(table);
  deepEqual(results.map((r) => r.name), REGISTRY_PROBES.map((p) => p.name));
  deepEqual(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.detail}`), []);
  match(table, new RegExp(`${REGISTRY_PROBES.length}/${REGISTRY_PROBES.length} probes passed`));
  // Every probe cleans up after itself: no member or room is left behind.
  const deadline = Date.now() + 5000;
  while (registry.stats().connections > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  deepEqual(registry.stats(), { connections: 0, rooms: 0, members: 0 });
});

Deno.test("chaos: every peer probe passes against our peer, which keeps chatting", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, {
    name: "alice",
    room: "chaos",
    handshakeTimeoutMs: 500,
  });
  const bob = await testPeer(registry.port, { name: "bob", room: "chaos" });
  try {
    for (const { peer, rec } of [alice, bob]) {
      await rec.until(() => peer.state === "CONNECTED", "CONNECTED");
    }
    const results = await runChaos({
      hostname: "127.0.0.1",
      port: alice.peer.port,
      as: "peer",
      ...QUICK,
      stallMs: 2000,
    });
    console.log(formatTable(results));
    deepEqual(results.map((r) => r.name), PEER_PROBES.map((p) => p.name));
    deepEqual(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.detail}`), []);
    // The abused peer still chats with the rest of its room.
    const from = bob.rec.events.length;
    await alice.peer.send("still here");
    await bob.rec.waitFor(
      (e) => e.type === "message" && e.text === "still here",
      "alice's message at bob",
      { from },
    );
  } finally {
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

Deno.test("chaos: a server that takes one read as one request fails the coalesced probe", async () => {
  // Like the reference server: every read is answered with exactly one reply.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    const tasks: Promise<void>[] = [];
    for await (const conn of listener) {
      conns.add(conn);
      tasks.push((async () => {
        const buf = new Uint8Array(1024);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            const text = new TextDecoder().decode(buf.subarray(0, n));
            const reply = text.startsWith("J:")
              ? `M:1:${text.split(":").slice(2, 5).join(":")}::\r\n`
              : "G::\r\n";
            await conn.write(new TextEncoder().encode(reply));
          }
        } catch {
          // The chaos tool closed it.
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
      })());
    }
    await Promise.all(tasks);
  })();
  try {
    const results = await runChaos({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
      timeoutMs: 300,
      only: ["baseline", "coalesced-frames"],
    });
    deepEqual(results.map((r) => [r.name, r.passed]), [["baseline", true], [
      "coalesced-frames",
      false,
    ]]);
    match(formatTable(results), /coalesced-frames\s+FAIL/);
    match(formatTable(results), /1\/2 probes passed/);
  } finally {
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await serving;
  }
});

Deno.test("chaos: the CLI prints the table and exits 0 when all pass, 1 when one fails", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const cli = chaosCli;
  const good = await cli([
    "--target",
    `127.0.0.1:${registry.port}`,
    "--only",
    "baseline,malformed-list,coalesced-frames",
  ]);
  equal(good.code, 0, good.stdout);
  match(good.stdout, /^chaos: probing the registry at 127\.0\.0\.1:\d+\n/);
  match(good.stdout, /malformed-list\s+pass/);
  match(good.stdout, /3\/3 probes passed/);
  // Nothing listens there: the baseline fails.
  const dead = await cli(["--target", "127.0.0.1:1", "--only", "baseline", "--timeout-ms", "500"]);
  equal(dead.code, 1, dead.stdout);
  match(dead.stdout, /baseline\s+FAIL/);
  const usage = await cli(["--target", "nowhere"]);
  equal(usage.code, 2);
  ok(!usage.stdout.includes("probes passed"));
});

Deno.test("chaos: tells a registry (answers L) from a peer (closes) from nothing listening", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "chaos" });
  try {
    const asRegistry = await detectTarget("127.0.0.1", registry.port, 3000);
    equal(asRegistry.kind, "registry", asRegistry.detail);
    const asPeer = await detectTarget("127.0.0.1", alice.peer.port, 3000);
    equal(asPeer.kind, "peer", asPeer.detail);
    const nothing = await detectTarget("127.0.0.1", 1, 500);
    equal(nothing.kind, null, nothing.detail);
  } finally {
    await alice.peer.quit();
  }
});

Deno.test("chaos: without --as, a peer target is probed as a peer (not 0/16 and every probe DEAD)", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "chaos" });
  try {
    const only = ["baseline", "link-garbage"];
    const results = await runChaos({
      hostname: "127.0.0.1",
      port: alice.peer.port,
      ...QUICK,
      only,
    });
    deepEqual(results.map((r) => [r.name, r.passed]), [
      ["baseline", true],
      ["link-garbage", true],
    ]);
    const detected = await chaosCli([
      "--target",
      `127.0.0.1:${alice.peer.port}`,
      "--only",
      "baseline",
    ]);
    equal(detected.code, 0, detected.stdout);
    match(detected.stdout, /^chaos: probing the peer at 127\.0\.0\.1:\d+\n/);
    match(detected.stdout, /detected a peer: it closed the connection after L/);
    match(detected.stdout, /1\/1 probes passed/);
    // Told it is a registry, the tool still runs the registry probes, and says to use --as peer.
    const told = await chaosCli([
      "--target",
      `127.0.0.1:${alice.peer.port}`,
      "--as",
      "registry",
      "--only",
      "baseline",
      "--timeout-ms",
      "500",
    ]);
    equal(told.code, 1, told.stdout);
    match(told.stdout, /looks like a peer, not a registry .*use --as peer/);
  } finally {
    await alice.peer.quit();
  }
});

Deno.test("chaos: --attacks prints PASS or FAIL with figures per attack and exits by them; refuses bad use", async () => {
  await using registry = await RegistryProcess.start({
    logLevel: "error",
    args: ["--max-rooms", "20"],
  });
  const target = `127.0.0.1:${registry.port}`;
  const run = await chaosCli([
    "--attacks",
    "--target",
    target,
    "--only",
    "doors-rooms",
    "--room-cap",
    "20",
  ]);
  const line = /^(PASS|FAIL) doors-rooms \(\d+ ms\): 127\.0\.0\.4 created (\d+) rooms.*$/m.exec(
    run.stdout,
  );
  ok(line !== null, run.stdout);
  ok(Number(line[2]) >= 1 && Number(line[2]) <= 20, run.stdout);
  equal(run.code, line[1] === "PASS" ? 0 : 1, run.stdout);
  match(run.stdout, /^chaos: attacking the registry at 127\.0\.0\.1:\d+\n/);
  match(run.stdout, /[01]\/1 attacks passed/);
  // The figures: no newcomers in this one, and the registry's VmRSS before/during/after.
  match(run.stdout, /^doors-rooms +0 +- +- +- +- +registry \d+\/\d+\/\d+$/m);
  for (
    const bad of [
      ["--attacks", "--target", target, "--only", "nonsense"],
      ["--attacks", "--target", "10.0.0.1:32340"],
      ["--target", target, "--as", "room"],
    ]
  ) {
    const refused = await chaosCli(bad);
    equal(refused.code, 2, `${bad.join(" ")}: ${refused.stdout}`);
    ok(!refused.stdout.includes("attacks passed"), refused.stdout);
  }
});

Deno.test("chaos: --attacks --as room reports the newcomers served and linked during the attack, and VmRSS", async () => {
  await using registry = await RegistryProcess.start({ logLevel: "error" });
  const run = await chaosCli([
    "--attacks",
    "--as",
    "room",
    "--target",
    `127.0.0.1:${registry.port}`,
    "--only",
    "forge",
  ]);
  const line = /^(PASS|FAIL) forge \(\d+ ms\): .*newcomers during the attack: \d+ newcomers/m
    .exec(run.stdout);
  ok(line !== null, run.stdout);
  equal(run.code, line[1] === "PASS" ? 0 : 1, run.stdout);
  const row = new RegExp(
    "^forge +(\\d+) +([\\d.]+) +([\\d.]+) +([\\d.]+) +([\\d.]+) +" +
      "alice \\d+/\\d+/\\d+, bob \\d+/\\d+/\\d+, carol \\d+/\\d+/\\d+, registry \\d+/\\d+/\\d+$",
    "m",
  ).exec(run.stdout);
  ok(row !== null, run.stdout);
  const [count, servedP50, servedMax, linkP50, linkMax] = row.slice(1).map(Number);
  ok(count! >= 3, run.stdout);
  ok(servedP50! <= servedMax! && linkP50! <= linkMax!, run.stdout);
  // A newcomer links after it was served: its first link up cannot come sooner.
  ok(linkP50! >= servedP50!, run.stdout);
});
