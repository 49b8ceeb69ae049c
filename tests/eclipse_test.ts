/**
 * The eclipse watch (peer/eclipse.ts): the pure watch, and a peer whose ring
 * neighbours are two fakes that answer `S` and swallow everything (issue 16,
 * "Eclipse"), in process.
 */

import { equal, ok } from "node:assert/strict";
import { hashId } from "../lib/sdbm.ts";
import { EclipseWatch } from "../peer/eclipse.ts";
import { startRegistry } from "../registry/registry.ts";
import { FakePeer, grindName, RawMember } from "../tools/chaos/attack_kit.ts";
import { meshConnected, testPeer } from "./support/peer_harness.ts";

const U64 = 1n << 64n;

Deno.test("eclipse watch: fires after the grace time cut off, then not again within the cooldown", () => {
  const watch = new EclipseWatch(200, 500);
  equal(watch.update(0, true), false);
  equal(watch.update(150, false), false);
  equal(watch.update(160, true), false, "the grace time starts over");
  equal(watch.update(359, true), false);
  equal(watch.update(360, true), true);
  equal(watch.update(700, true), false, "cooling down");
  equal(watch.update(860, true), true);
});

Deno.test("eclipse: a peer between two swallowing fakes relinks to a ringchat member and is heard", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using fake = new FakePeer();
  const alice = await testPeer(registry.port, { name: "alice", room: "r" });
  const carol = await testPeer(registry.port, { name: "carol", room: "r" });
  try {
    await meshConnected([alice, carol]);
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const bobHid = hashId("bob", "127.0.0.1", port);
    const delta = 1n << 50n;
    const lo = grindName("eb", "127.0.0.1", fake.port, (bobHid - delta + U64) % U64, bobHid);
    const hi = grindName("ea", "127.0.0.1", fake.port, bobHid, (bobHid + delta) % U64);
    await using _lo = await RawMember.join("127.0.0.1", registry.port, "r", lo, fake.port);
    await using _hi = await RawMember.join("127.0.0.1", registry.port, "r", hi, fake.port);
    const bob = await testPeer(registry.port, { name: "bob", room: "r", port });
    try {
      await bob.rec.until(
        () => bob.rec.of("error").some((e) => /No link reaches a ringchat member/.test(e.message)),
        "bob noticing",
      );
      await bob.rec.until(
        () => bob.rec.of("link").some((e) => e.state === "up" && !e.peer.name.startsWith("e")),
        "a link to alice or carol",
      );
      await bob.peer.send("bob here");
      await alice.rec.until(() => alice.rec.texts().includes("bob here"), "alice hears bob");
      await carol.rec.until(() => carol.rec.texts().includes("bob here"), "carol hears bob");
      await alice.peer.send("alice here");
      await bob.rec.until(() => bob.rec.texts().includes("alice here"), "bob hears alice");
      ok(fake.handshakes >= 1, "a fake took a link");
    } finally {
      await bob.peer.quit();
    }
  } finally {
    await alice.peer.quit();
    await carol.peer.quit();
  }
});
