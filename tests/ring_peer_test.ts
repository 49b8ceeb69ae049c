import { deepEqual, equal, ok } from "node:assert/strict";
import { forwardCandidates } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { startRegistry } from "../registry/registry.ts";
import {
  connectedGraph,
  lastLinks,
  meshConnected,
  type TestPeer,
  testPeer,
  untilAll,
} from "./support/peer_harness.ts";

const NAMES = ["alice", "bob", "carol", "dave", "erin"];

type MessageEvent = Extract<PeerEvent, { type: "message" }>;

function registry() {
  return startRegistry({ hostname: "127.0.0.1", port: 0 });
}

async function joinAll(registryPort: number, names = NAMES, room = "room1"): Promise<TestPeer[]> {
  const peers: TestPeer[] = [];
  for (const name of names) {
    const p = await testPeer(registryPort, { name, room });
    peers.push(p);
    await p.rec.until(() => peers.length === 1 || p.peer.state === "CONNECTED", `${name} linked`);
  }
  return peers;
}

async function quitAll(peers: readonly TestPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.peer.quit()));
}

/**
 * Each peer sends `texts` (prefixed with its name); waits until every peer
 * delivered every message, then one more round as a barrier so late copies
 * would have arrived; then checks each was delivered exactly once.
 */
let exchanges = 0;

async function exchange(peers: readonly TestPeer[], texts: readonly string[]): Promise<void> {
  const round = ++exchanges;
  const expected: string[] = [];
  for (const { peer } of peers) {
    for (const text of texts) {
      const tagged = `${peer.port}|${round}|${text}`;
      expected.push(tagged);
      await peer.send(tagged);
    }
  }
  for (const stage of ["all", "barrier"]) {
    if (stage === "barrier") {
      for (const { peer } of peers) {
        const tagged = `${peer.port}|${round}|barrier`;
        expected.push(tagged);
        await peer.send(tagged);
      }
    }
    for (const p of peers) {
      await p.rec.until(
        () => expected.every((t) => p.rec.texts().includes(t)),
        `${p.peer.port} to deliver ${stage}: ${
          expected.filter((t) => !p.rec.texts().includes(t)).map((t) => JSON.stringify(t))
        }`,
      );
    }
  }
  for (const p of peers) {
    const got = p.rec.of("message").filter((e) => expected.includes(e.text));
    const counts = new Map<string, number>();
    for (const e of got) counts.set(e.text, (counts.get(e.text) ?? 0) + 1);
    for (const t of expected) {
      equal(counts.get(t), 1, `${p.peer.port} delivered ${JSON.stringify(t)} once`);
    }
    for (const e of got) {
      equal(e.self, e.text.startsWith(`${p.peer.port}|`), "self marks my own messages");
    }
  }
}

Deno.test("ring: a new member's first forward link is its successor on the hash ring", async () => {
  await using reg = await registry();
  const peers: TestPeer[] = [];
  try {
    for (const name of NAMES) {
      const p = await testPeer(reg.port, { name, room: "room1" });
      peers.push(p);
      const joined = p.rec.of("joined")[0]!;
      if (joined.members.length === 1) continue;
      const me = { name, ip: "127.0.0.1", port: p.peer.port };
      const successor = forwardCandidates(joined.members, me, () => false)[0]!;
      const up = await p.rec.waitFor<Extract<PeerEvent, { type: "link" }>>(
        (e) => e.type === "link" && e.direction === "forward" && e.state === "up",
        `${name}'s forward link`,
      );
      deepEqual(up.peer, { name: successor.name, ip: successor.ip, port: successor.port });
    }
  } finally {
    await quitAll(peers);
  }
});

Deno.test("ring: skips a member that already links back", async () => {
  await using reg = await registry();
  const [a, b] = await joinAll(reg.port, ["alice", "bob"]);
  try {
    // Bob linked to alice; alice's only candidate, bob, links back: no forward link.
    deepEqual(lastLinks(b!.rec).forward, a!.peer.port);
    await a!.rec.until(() => a!.peer.state === "CONNECTED", "alice connected");
    await a!.rec.waitFor(
      (e) => e.type === "members" && e.members.length === 2,
      "alice learns of bob",
    );
    await exchange([a!, b!], ["ping"]);
    equal(a!.rec.of("link").filter((e) => e.direction === "forward").length, 0);
    equal(a!.rec.of("info").filter((e) => /No forward link/.test(e.message)).length, 0);
  } finally {
    await quitAll([a!, b!]);
  }
});

Deno.test("ring: five peers joined one after another deliver every message exactly once, ':' and '::\\r\\n' intact", async () => {
  await using reg = await registry();
  const peers = await joinAll(reg.port);
  try {
    await meshConnected(peers);
    await exchange(peers, [
      "a:b:c",
      "::\r\n",
      "T:room1:1:x:1:5:fake::\r\n",
      ":",
      "émoji 🎉: ok::",
      " leading and trailing ",
    ]);
    for (const p of peers) {
      const m = p.rec.of("message").find((e) => e.text.endsWith("|::\r\n")) as MessageEvent;
      equal(m.room, "room1");
      match10(m.originHid);
    }
  } finally {
    await quitAll(peers);
  }
});

function match10(text: string): void {
  ok(/^\d+$/.test(text), `${text} is a decimal HashID`);
}

/** The peer with the most backward links now. */
function mostLinked(peers: readonly TestPeer[]): TestPeer {
  return [...peers].sort((x, y) =>
    lastLinks(y.rec).backward.length - lastLinks(x.rec).backward.length
  )[0]!;
}

Deno.test("ring: the overlay is repaired at once when the most-linked peer quits", async () => {
  await using reg = await registry();
  const peers = await joinAll(reg.port);
  try {
    await meshConnected(peers);
    const victim = mostLinked(peers);
    const rest = peers.filter((p) => p !== victim);
    const orphans = rest.filter((p) => lastLinks(p.rec).forward === victim.peer.port);
    const started = performance.now();
    await victim.peer.quit();
    await meshConnected(rest);
    const repaired = performance.now() - started;
    console.log(`overlay repaired ${repaired.toFixed(1)} ms after the quit`);
    ok(repaired < 1000, `repair took ${repaired.toFixed(0)} ms`);
    // Every peer that lost its forward link chooses again, not the dead one
    // (unless every other peer already links to it, so it has no candidate).
    for (const o of orphans) {
      await untilAll(
        rest,
        () => {
          const forward = lastLinks(o.rec).forward;
          if (forward !== null) return forward !== victim.peer.port;
          return rest.every((p) => p === o || lastLinks(p.rec).forward === o.peer.port);
        },
        `${o.peer.port} to choose a new forward link`,
      );
      const chosen = performance.now() - started;
      console.log(`orphan ${o.peer.port} re-linked ${chosen.toFixed(1)} ms after the quit`);
      ok(chosen < 1000, `re-linking took ${chosen.toFixed(0)} ms`);
    }
    await exchange(rest, ["after the kill: still here"]);
  } finally {
    await quitAll(peers);
  }
});

Deno.test("ring: the rest still exchange messages after the two most-linked peers quit", async () => {
  await using reg = await registry();
  const peers = await joinAll(reg.port);
  try {
    await meshConnected(peers);
    const first = mostLinked(peers);
    await first.peer.quit();
    let rest = peers.filter((p) => p !== first);
    await meshConnected(rest);
    const second = mostLinked(rest);
    await second.peer.quit();
    rest = rest.filter((p) => p !== second);
    await meshConnected(rest);
    ok(connectedGraph(rest));
    await exchange(rest, ["two down: a:b", "::\r\n"]);
  } finally {
    await quitAll(peers);
  }
});

Deno.test("ring: a peer restarted under the same name and port is delivered exactly once both ways", async () => {
  await using reg = await registry();
  const peers = await joinAll(reg.port);
  try {
    await meshConnected(peers);
    await exchange(peers, ["before"]);
    const victim = peers[2]!;
    const port = victim.peer.port;
    const lastId = BigInt(victim.rec.of("message").filter((e) => e.self).at(-1)!.msgId);
    await victim.peer.quit();
    const rest = peers.filter((p) => p !== victim);
    await meshConnected(rest);
    // Same name, same ip, same port: the same HashID.
    const again = await testPeer(reg.port, { name: NAMES[2], room: "room1", port });
    peers[2] = again;
    equal(again.peer.port, port);
    await meshConnected(peers);
    // The same texts as before the restart, so only the msgID tells them apart.
    await exchange(peers, ["before"]);
    const firstNew = BigInt(again.rec.of("message").find((e) => e.self && !e.history)!.msgId);
    ok(firstNew > lastId, "the msgID counter did not go back");
  } finally {
    await quitAll(peers);
  }
});

Deno.test("ring: chat goes on over the links without the registry, and peers re-register with a new one on its port", async () => {
  const first = await registry();
  const port = first.port;
  const peers = await joinAll(port, NAMES.slice(0, 4));
  try {
    await meshConnected(peers);
    await first.close();
    for (const p of peers) {
      await p.rec.waitFor(
        (e) => e.type === "info" && /Lost the registry/.test(e.message),
        "registry lost",
      );
    }
    await exchange(peers, ["no registry: fine"]);
    for (const p of peers) equal(p.peer.state, "CONNECTED");
    await using second = await startRegistry({ hostname: "127.0.0.1", port });
    for (const p of peers) {
      await p.rec.waitFor(
        (e) => e.type === "info" && /Re-registered/.test(e.message),
        "re-registered",
      );
    }
    equal(second.stats().members, 4);
    await exchange(peers, ["registry back"]);
  } finally {
    await quitAll(peers);
    await first.close();
  }
});

Deno.test("ring: with fresh member lists every member ends up linking to its successor", async () => {
  await using reg = await registry();
  const peers: TestPeer[] = [];
  try {
    for (const name of NAMES) {
      peers.push(await testPeer(reg.port, { name, room: "room1", keepaliveMs: 30 }));
    }
    const members = peers.map((p, i) => ({ name: NAMES[i]!, ip: "127.0.0.1", port: p.peer.port }));
    const successor = (i: number) => forwardCandidates(members, members[i]!, () => false)[0]!.port;
    await untilAll(
      peers,
      () => peers.every((p, i) => lastLinks(p.rec).forward === successor(i)),
      "the ring of successors",
    );
    // A ring: the replaced links go, every member keeps one backward link.
    await untilAll(
      peers,
      () => peers.every((p) => lastLinks(p.rec).backward.length === 1),
      "one backward link each",
    );
    await exchange(peers, ["on the ring"]);
  } finally {
    await quitAll(peers);
  }
});

Deno.test("ring: a registry restart does not cut live links", async () => {
  const first = await registry();
  const port = first.port;
  const peers: TestPeer[] = [];
  try {
    for (const name of NAMES.slice(0, 4)) {
      peers.push(await testPeer(port, { name, room: "room1", keepaliveMs: 200, retryMs: 20 }));
    }
    // Settled first: the ring of successors, one backward link each.
    const members = peers.map((p, i) => ({ name: NAMES[i]!, ip: "127.0.0.1", port: p.peer.port }));
    const successor = (i: number) => forwardCandidates(members, members[i]!, () => false)[0]!.port;
    await untilAll(
      peers,
      () =>
        peers.every((p, i) =>
          lastLinks(p.rec).forward === successor(i) && lastLinks(p.rec).backward.length === 1
        ),
      "the ring of successors",
    );
    const marks = peers.map((p) => p.rec.events.length);
    await first.close();
    await using second = await startRegistry({ hostname: "127.0.0.1", port });
    for (const p of peers) {
      await p.rec.waitFor((e) => e.type === "info" && /Re-registered/.test(e.message), "back");
    }
    // Two keepalive rounds with the new registry: lists are complete again. (A peer whose list
    // never changed, the last to join and to re-register, shows no members event: its list
    // is still the one it joined with.)
    await untilAll(
      peers,
      () =>
        peers.every((p) =>
          (p.rec.of("members").at(-1) ?? p.rec.of("joined").at(-1))?.members.length === 4
        ),
      "full lists",
    );
    await new Promise((resolve) => setTimeout(resolve, 2 * 200));
    peers.forEach((p, i) => {
      const changes = p.rec.events.slice(marks[i]).filter((e) =>
        e.type === "link" || (e.type === "info" && /no longer a member/.test(e.message))
      );
      deepEqual(changes, [], `${p.peer.port} kept its links: ${JSON.stringify(changes)}`);
    });
    equal(second.stats().members, 4);
  } finally {
    await quitAll(peers);
    await first.close();
  }
});

Deno.test("ring: a send while the forward link is being repaired waits for the new link", async () => {
  await using reg = await registry();
  const peers = await joinAll(reg.port, NAMES.slice(0, 4));
  try {
    await meshConnected(peers);
    // A peer with only a forward link: losing it leaves it with no link at all.
    const lonely = peers.find((p) => {
      const l = lastLinks(p.rec);
      return l.forward !== null && l.backward.length === 0;
    });
    ok(lonely, "a peer with only a forward link");
    const target = peers.find((p) => p.peer.port === lastLinks(lonely.rec).forward)!;
    const sent = Promise.withResolvers<void>();
    const off = lonely.peer.on((e) => {
      if (e.type === "link" && e.direction === "forward" && e.state === "down") {
        // Not connected to anyone at this instant.
        equal(lonely.peer.state, "JOINED");
        lonely.peer.send("sent mid-repair").then(sent.resolve, sent.reject);
      }
    });
    await target.peer.quit();
    await sent.promise;
    off();
    const rest = peers.filter((p) => p !== target);
    for (const p of rest) {
      await p.rec.until(() => p.rec.texts().includes("sent mid-repair"), "the message");
    }
    equal(lonely.rec.of("error").filter((e) => /Not connected/.test(e.message)).length, 0);
  } finally {
    await quitAll(peers);
  }
});
