/**
 * A registry process killed with SIGKILL while peers chat through three
 * registries on one Redis (issue 15): the chat goes on, the state is in
 * Redis, a member re-registered elsewhere stays, the others expire normally.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { ALIVE_TTL_MS } from "../registry/store_shared.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { meshConnected, type TestPeer, testPeer } from "./support/peer_harness.ts";
import { memberList } from "./support/hello_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

const EXPIRY_MS = 3000;
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
