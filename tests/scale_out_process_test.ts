/**
 * A registry process killed with SIGKILL while peers chat through three
 * registries on one Redis (issue 15): the chat goes on, the state is in
 * Redis, a member re-registered elsewhere stays, the others expire normally.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { ALIVE_TTL_MS } from "../registry/store_shared.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { meshConnected, type TestPeer, testPeer } from "./support/peer_harness.ts";
import { memberList } from "./support/hello_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

const EXPIRY_MS = 3000;
/** The failover promise of issue 15: re-registered through the next registry within this. */
const FAILOVER_MS = 2000;
const HELD = "F:JOIN message - Member held by another connection!!::\r\n";

function startRegistries(url: string, n: number): Promise<RegistryProcess[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      RegistryProcess.start({
        logLevel: "warning",
        args: ["--store", url, "--expiry-ms", String(EXPIRY_MS), "--sweep-ms", "200"],
      })),
  );
}

/** Each peer sends one text; resolves when every peer has delivered all of them. */
async function chat(peers: readonly TestPeer[], round: string): Promise<void> {
  const texts = peers.map((p) => `${round}:${p.peer.port}`);
  for (const [i, p] of peers.entries()) await p.peer.send(texts[i]!);
  for (const p of peers) {
    await p.rec.until(
      () => texts.every((t) => p.rec.texts().includes(t)),
      `${p.peer.port} to deliver ${round}`,
    );
  }
}

redisTest(
  "scale-out: SIGKILL of a registry while peers chat loses nothing; its members expire unless re-registered elsewhere",
  async () => {
    await using redis = await startRedisServer({ appendOnly: true });
    const [a, b, c] = await startRegistries(redis.url, 3) as [
      RegistryProcess,
      RegistryProcess,
      RegistryProcess,
    ];
    const peers: TestPeer[] = [];
    try {
      const homes = [a, a, b, c];
      for (const [i, name] of ["alice", "bob", "carol", "dave"].entries()) {
        const p = await testPeer(homes[i]!.port, { name, room: "chat", keepaliveMs: 500 });
        peers.push(p);
        await p.rec.until(
          () => i === 0 || p.peer.state === "CONNECTED",
          `${name} linked`,
        );
      }
      await meshConnected(peers);
      await chat(peers, "before");
      await using probe = await RawClient.connect(b.port);
      const before = await probe.request("L::\r\n");
      equal(before, "G:chat::\r\n");
      const m = await probe.request("J:chat:probe:127.0.0.1:1::\r\n");
      equal(memberList(m).length, 5);

      await a.kill("SIGKILL");
      // The chat goes on over the peers' links; nothing in Redis was lost.
      await chat(peers, "after");
      deepEqual(memberList(await probe.request("J:chat:probe:127.0.0.1:1::\r\n")), memberList(m));

      // Alice re-registers through C as a seed client (no key to prove): refused while A's
      // connection could still be live, hers once A's heartbeat lapses; renewed, not moved.
      const alice = peers[0]!.peer;
      await using moved = await RawClient.connect(c.port);
      const aliceJoin = `J:chat:alice:127.0.0.1:${alice.port}::\r\n`;
      const killed = performance.now();
      let answer = await moved.request(aliceJoin);
      while (answer === HELD && performance.now() - killed < ALIVE_TTL_MS + 2000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await moved.request(aliceJoin);
      }
      deepEqual(memberList(answer), memberList(m));
      // Bob, whose registry died and who re-registered nowhere, expires normally; alice stays.
      const bob = `bob:127.0.0.1:${peers[1]!.peer.port}`;
      const deadline = Date.now() + EXPIRY_MS + 5000;
      let now = m;
      while (memberList(now).includes(bob) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        await moved.request(aliceJoin);
        now = await probe.request("J:chat:probe:127.0.0.1:1::\r\n");
      }
      deepEqual(memberList(now), memberList(m).filter((entry) => entry !== bob));
      ok(memberList(now).includes(`alice:127.0.0.1:${alice.port}`));
      equal(await probe.request("L::\r\n"), before);
    } finally {
      await Promise.all(peers.map((p) => p.peer.quit()));
      await Promise.all([a, b, c].map((r) => r.stop()));
    }
  },
);

redisTest(
  "scale-out fault: a registry and the most-linked peer SIGKILLed at once; the rest move within 2 s and chat on",
  async () => {
    await using redis = await startRedisServer({ appendOnly: true });
    const regs = await startRegistries(redis.url, 3);
    const peers: PeerProcess[] = [];
    try {
      const homes = [0, 0, 1, 2];
      for (const [i, home] of homes.entries()) {
        // Each peer's own registry first, then the others in turn.
        const order = [0, 1, 2].map((k) => regs[(home + k) % 3]!.port);
        peers.push(
          await PeerProcess.start({
            name: `p${i}`,
            room: "fault",
            registryPort: order[0]!,
            keepaliveMs: 1000,
            retryMs: 5_000,
            args: ["--registry", order.map((port) => `127.0.0.1:${port}`).join(",")],
          }),
        );
      }
      await Promise.all(peers.map((p) => p.waitFor((e) => e.type === "link", 10_000, true)));
      const linked = await Promise.all(
        peers.map(async (p) => {
          const links = await p.links();
          return (links.forward === null ? 0 : 1) + links.backward.length;
        }),
      );
      const victim = linked.indexOf(Math.max(...linked));
      const movers = peers.filter((_, i) => homes[i] === 0 && i !== victim);
      const next = regs[1]!.port;
      let killed = 0;
      const moving = Promise.all(movers.map(async (p) => {
        await p.waitFor(
          (e) =>
            e.type === "info" &&
            e.message === `Re-registered with the registry at 127.0.0.1:${next}`,
          FAILOVER_MS + 5_000,
        );
        return performance.now() - killed;
      }));
      killed = performance.now();
      await Promise.all([regs[0]!.kill("SIGKILL"), peers[victim]!.kill("SIGKILL")]);
      const moved = await moving;
      console.log(
        `scale-out fault: re-registered through B after ${moved.map((ms) => ms.toFixed(0))} ms`,
      );
      for (const ms of moved) ok(ms < FAILOVER_MS, `re-registered after ${ms.toFixed(0)} ms`);
      // Everyone left is listed (through any live registry), and their chat goes on.
      const survivors = peers.filter((_, i) => i !== victim);
      await using probe = await RawClient.connect(regs[2]!.port);
      const listed = memberList(await probe.request("J:fault:probe:127.0.0.1:1::\r\n"));
      for (const p of survivors) {
        ok(listed.some((m) => m.startsWith(`${p.name}:`)), `${p.name} listed in ${listed}`);
      }
      await survivors[0]!.send("after the kills");
      for (const p of survivors.slice(1)) {
        await p.waitFor((e) => e.type === "message" && e.text === "after the kills", 15_000, true);
      }
    } finally {
      await Promise.all(peers.map((p) => p.quit().catch(() => {})));
      await Promise.all(regs.map((r) => r.stop()));
    }
  },
);
