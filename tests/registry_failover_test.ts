import assert from "node:assert/strict";
import {
  advertisable,
  formatAddress,
  parseRegistryList,
  RegistryAddresses,
} from "../peer/registry_addresses.ts";
import { RegistryClient } from "../peer/registry_client.ts";
import { startRegistry } from "../registry/registry.ts";
import { lastLinks, type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";

/** The failover promise of issue 15: re-registered through the next registry within this. */
const FAILOVER_MS = 2_000;

/** A port nothing listens on (just freed). */
function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("registry failover: addresses rotate in order and parse from HOST:PORT,…", () => {
  const list = parseRegistryList("127.0.0.1:1, localhost:2,[::1]:3,registry.example:4");
  assert.deepEqual(list, [
    { hostname: "127.0.0.1", port: 1 },
    { hostname: "localhost", port: 2 },
    { hostname: "::1", port: 3 },
    { hostname: "registry.example", port: 4 },
  ]);
  const addresses = new RegistryAddresses(list as { hostname: string; port: number }[]);
  assert.equal(addresses.size, 4);
  assert.equal(addresses.toString(), "127.0.0.1:1,localhost:2,[::1]:3,registry.example:4");
  addresses.advance();
  addresses.advance();
  assert.equal(formatAddress(addresses.current), "[::1]:3");
  assert.equal(addresses.toString(), "[::1]:3,registry.example:4,127.0.0.1:1,localhost:2");
  addresses.advance();
  addresses.advance();
  assert.equal(addresses.current.port, 1);
  assert.match(parseRegistryList("127.0.0.1:1,nope") as string, /"nope" is not HOST:PORT/);
  assert.match(parseRegistryList("::1:5") as string, /is not HOST:PORT/);
  assert.throws(() => new RegistryAddresses([]), RangeError);
});

Deno.test("registry failover: a peer advertises IPv4 for a mapped or loopback IPv6 local address", () => {
  assert.equal(advertisable("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(advertisable("::FFFF:10.1.2.3"), "10.1.2.3");
  assert.equal(advertisable("::1"), "127.0.0.1");
  assert.equal(advertisable("10.0.0.7"), "10.0.0.7");
  assert.equal(advertisable("fd00::2"), "fd00::2");
});

function client(ports: number[], statuses: string[]): RegistryClient {
  const [first, ...rest] = ports.map((port) => ({ hostname: "127.0.0.1", port }));
  return new RegistryClient({
    ...first!,
    fallbacks: rest,
    keepaliveMs: 60_000,
    reconnectMs: 5_000, // far above FAILOVER_MS: failover must not wait for it
    requestTimeoutMs: 2_000,
    onMembers: () => {},
    onFailure: () => {},
    onStatus: (status, detail) => statuses.push(`${status}: ${detail}`),
  });
}

Deno.test("registry failover: a registry that cannot be reached is passed over for the next", async () => {
  await using b = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const registry = client([deadPort(), b.port], []);
  try {
    const reply = await registry.join({
      type: "J",
      room: "r",
      name: "alice",
      ip: "127.0.0.1",
      port: 50001,
    });
    assert.equal(reply.members.length, 1);
    assert.equal(registry.address, `127.0.0.1:${b.port}`);
    assert.equal(b.stats().members, 1);
  } finally {
    await registry.close();
  }
});

Deno.test("registry failover: none reachable is one error naming every registry", async () => {
  const [p1, p2] = [deadPort(), deadPort()];
  const registry = client([p1, p2], []);
  try {
    await assert.rejects(
      registry.list(),
      (e: Error) =>
        e.name === "RegistryUnreachable" && e.message.includes(`127.0.0.1:${p1}`) &&
        e.message.includes(`127.0.0.1:${p2}`),
    );
  } finally {
    await registry.close();
  }
});

Deno.test("registry failover: the client re-registers through the next registry when its own closes", async () => {
  await using b = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const a = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const statuses: string[] = [];
  const registry = client([a.port, b.port], statuses);
  try {
    await registry.join({ type: "J", room: "r", name: "alice", ip: "127.0.0.1", port: 50001 });
    assert.equal(a.stats().members, 1);
    const killed = performance.now();
    const restored = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (statuses.some((s) => s.startsWith("restored"))) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    await a.close();
    await restored;
    const ms = performance.now() - killed;
    assert.ok(ms < FAILOVER_MS, `took ${ms.toFixed(0)} ms`);
    assert.equal(b.stats().members, 1);
    assert.equal(statuses.length, 2);
    assert.match(
      statuses[1]!,
      new RegExp(`Re-registered with the registry at 127.0.0.1:${b.port}`),
    );
  } finally {
    await registry.close();
    await a.close();
  }
});

Deno.test("registry failover: peers move to the next registry keeping their links and room, and chat on", async () => {
  await using b = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const a = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const list = [a.port, b.port].map((port) => ({ hostname: "127.0.0.1", port }));
  // retryMs far above FAILOVER_MS: only the failover can move them in time.
  const peers: TestPeer[] = [];
  try {
    for (const name of ["alice", "bob", "carol"]) {
      peers.push(await testPeer(a.port, { registry: list, retryMs: 5_000, name, room: "r" }));
    }
    await untilAll(
      peers,
      () => peers.every((p) => lastLinks(p.rec).forward !== null),
      "a forward link each",
    );
    const linksBefore = peers.map((p) => lastLinks(p.rec));
    const killed = performance.now();
    await a.close();
    await untilAll(peers, () => b.stats().members === 3, "all three on b", FAILOVER_MS);
    console.log(
      `failover: three peers re-registered on the next registry ${
        (performance.now() - killed).toFixed(0)
      } ms after the first closed`,
    );
    assert.deepEqual(peers.map((p) => lastLinks(p.rec)), linksBefore);
    assert.ok(peers.every((p) => p.peer.state === "CONNECTED"));
    const from = peers.map((p) => p.rec.events.length);
    await peers[0]!.peer.send("still here");
    for (const [i, p] of peers.slice(1).entries()) {
      await p.rec.waitFor(
        (e) => e.type === "message" && e.text === "still here",
        "the text after failover",
        { from: from[i + 1] },
      );
    }
    assert.deepEqual(peers.map((p) => lastLinks(p.rec)), linksBefore);
  } finally {
    for (const p of peers) await p.peer.quit();
    await a.close();
  }
});

Deno.test("registry failover: peer processes re-register within 2 s after their registry is SIGKILLed", async () => {
  await using a = await RegistryProcess.start({ logLevel: "warning" });
  await using b = await RegistryProcess.start({ logLevel: "warning" });
  const registries = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;
  const peers: PeerProcess[] = [];
  try {
    for (const name of ["p1", "p2", "p3"]) {
      peers.push(
        await PeerProcess.start({
          name,
          room: "fail",
          registryPort: a.port,
          retryMs: 5_000,
          args: ["--registry", registries],
        }),
      );
    }
    await Promise.all(peers.map((p) => p.waitFor((e) => e.type === "link", 10_000, true)));
    let killed = 0;
    const moving = Promise.all(peers.map(async (p) => {
      await p.waitFor(
        (e) =>
          e.type === "info" &&
          e.message === `Re-registered with the registry at 127.0.0.1:${b.port}`,
        FAILOVER_MS + 5_000,
      );
      return performance.now() - killed;
    }));
    killed = performance.now();
    await a.process.kill("SIGKILL");
    const moved = await moving;
    console.log(`failover after SIGKILL: ${moved.map((ms) => ms.toFixed(0)).join(", ")} ms`);
    for (const ms of moved) assert.ok(ms < FAILOVER_MS, `took ${ms.toFixed(0)} ms`);
    await peers[0]!.command("/send after the kill");
    for (const p of peers.slice(1)) {
      await p.waitFor((e) => e.type === "message" && e.text === "after the kill", 5_000, true);
    }
  } finally {
    for (const p of peers) await p.quit();
  }
});
