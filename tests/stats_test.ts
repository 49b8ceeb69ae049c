/**
 * `peer.stats()` and the `stats` event: counted by the engine as messages
 * flow (sent, delivered, forwarded, duplicates) and read from the links when
 * asked (links, queuedBytes).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { encodeFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { executeCommand, parseCommand, parseJsonCommand } from "../peer/commands.ts";
import type { PeerEvent } from "../peer/events.ts";
import { newMessageCounts, peerStats } from "../peer/stats.ts";
import { startRegistry } from "../registry/registry.ts";
import { allConnected, testPeer } from "./support/peer_harness.ts";
import { RawPeer } from "./support/raw_peer.ts";

const encoder = new TextEncoder();

Deno.test("stats: a fresh peer has counted nothing", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { peer } = await testPeer(reg.port, { name: "alice", room: "room1" });
  try {
    deepEqual(peer.stats(), {
      sent: 0,
      delivered: 0,
      caughtUp: 0,
      forwarded: 0,
      duplicates: 0,
      refused: 0,
      remembered: 0,
      links: 0,
      queuedBytes: 0,
      fingers: 0,
      treeSent: 0,
      digests: 0,
      pulls: 0,
      repaired: 0,
      acks: 0,
      silent: 0,
      resent: 0,
      handedOver: 0,
      passedOn: 0,
    });
  } finally {
    await peer.quit();
  }
});

Deno.test("stats: counts sent, delivered, forwarded and duplicates, and the links up", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(reg.port, { name: "alice", room: "room1" });
  const bob = await testPeer(reg.port, { name: "bob", room: "room1" });
  const mallory = new RawPeer("mallory", "room1", "127.0.0.1");
  try {
    await allConnected([alice, bob]);
    await mallory.join(reg.port);
    const link = await mallory.dial(alice.peer.port);
    await alice.rec.waitFor(
      (e) => e.type === "link" && e.state === "up" && e.peer.name === "mallory",
      "mallory's link at alice",
    );
    alice.peer.links();
    const links = alice.rec.of("links").at(-1)!;
    const all = [...(links.forward === null ? [] : [links.forward]), ...links.backward];
    equal(alice.peer.stats().links, all.length);
    const toBob = all.filter((p) => p.name === "bob").length;
    ok(toBob >= 1, "alice links with bob");

    // One message from mallory, then the same frame again.
    const hid = hashId("mallory", "127.0.0.1", mallory.port).toString();
    const frame = encodeFrame({
      type: "T",
      room: "room1",
      originHid: hid,
      originName: "mallory",
      msgId: 1n,
      text: "from mallory",
    });
    await link.write(frame);
    await bob.rec.until(() => bob.rec.texts().includes("from mallory"), "bob hears mallory");
    // A copy that came back over a second link with bob may be counted already.
    const before = alice.peer.stats().duplicates;
    ok(before <= toBob - 1, `${before} duplicates before the resend`);
    await link.write(frame);
    // A dropped copy emits no event: look at the figures until it is counted.
    for (const deadline = Date.now() + 5000; alice.peer.stats().duplicates <= before;) {
      if (Date.now() > deadline) throw new Error("Timed out waiting for the copy dropped");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const a = alice.peer.stats();
    equal(a.sent, 0);
    equal(a.delivered, 1);
    // Written onward to each link with bob: not back to mallory, the origin.
    equal(a.forwarded, toBob);
    equal(bob.peer.stats().delivered, 1);

    await alice.peer.send("from alice");
    await bob.rec.until(() => bob.rec.texts().includes("from alice"), "bob hears alice");
    const after = alice.peer.stats();
    equal(after.sent, 1);
    equal(after.delivered, 2);
    equal(after.forwarded, toBob, "my own message is sent, not forwarded");
    equal(bob.peer.stats().sent, 0);
    equal(bob.peer.stats().delivered, 2);
    equal(after.remembered, 2, "alice remembers mallory's message and her own");
    equal(after.refused, 0);
  } finally {
    await mallory.close();
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

Deno.test("stats: queuedBytes counts what waits for a link that does not read", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  // Whole 60,000-byte texts, not parts for the seed member (room_texts.ts).
  const { peer, rec } = await testPeer(reg.port, {
    name: "alice",
    room: "room1",
    partBytes: 65_536,
  });
  const slow = new RawPeer("slow", "room1", "127.0.0.1");
  // A member whose link never reads: connect, say P, then read nothing.
  await slow.join(reg.port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: peer.port });
  try {
    await conn.write(encoder.encode(`P:room1:slow:127.0.0.1:${slow.port}:0::\r\n`));
    await rec.waitFor(
      (e) => e.type === "link" && e.state === "up" && e.direction === "backward",
      "slow's link",
    );
    const text = "x".repeat(60_000);
    let sent = 0;
    while (peer.stats().queuedBytes === 0 || sent < 200) {
      await peer.send(text);
      sent++;
      if (sent > 400) break;
    }
    const { queuedBytes } = peer.stats();
    ok(queuedBytes > 0, `bytes queued after ${sent} texts`);
    ok(queuedBytes <= sent * 60_100, `at most what was sent, got ${queuedBytes}`);
    conn.close();
    await rec.waitFor((e) => e.type === "link" && e.state === "down", "the slow link gone");
    equal(peer.stats().links, 0);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed above.
    }
    await slow.close();
    await peer.quit();
  }
  equal(peer.stats().queuedBytes, 0, "nothing queued once quit");
});

Deno.test('stats: /stats and {"command":"stats"} emit the stats event with peer.stats()', async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
  try {
    await peer.send("one");
    for (const command of [parseCommand("/stats"), parseJsonCommand('{"command":"stats"}')]) {
      ok(command !== null && command.type === "stats");
      await executeCommand(peer, command, () => {});
      const event = rec.events.at(-1) as Extract<PeerEvent, { type: "stats" }>;
      deepEqual(event, { type: "stats", ...peer.stats() });
      equal(event.sent, 1);
      equal(event.delivered, 1);
    }
  } finally {
    await peer.quit();
  }
});

Deno.test("stats: peerStats joins the message counts with what the parts hold now", () => {
  const counts = { ...newMessageCounts(), sent: 1, delivered: 2, forwarded: 3 };
  deepEqual(
    peerStats({
      relay: { counts },
      seen: { entries: 4 },
      overlay: { count: 5, queuedBytes: 6 },
      history: { counts: { shown: 7 } },
    }),
    {
      sent: 1,
      delivered: 2,
      caughtUp: 7,
      forwarded: 3,
      duplicates: 0,
      refused: 0,
      remembered: 4,
      links: 5,
      queuedBytes: 6,
    },
  );
});
