/**
 * Issue 11, item 1: on a registry that speaks only P2PChat (the reference
 * server; here our registry behind a front that refuses every `X`), every
 * feature that needs our registry degrades, and the peer says so once, naming
 * each; what needs only the peers (private rooms, the texts of long messages)
 * still works.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import { PLAIN_REGISTRY_NOTICE } from "../peer/registry_hello.ts";
import { testPeer } from "./support/peer_harness.ts";
import { startPlainRegistry } from "./support/plain_registry.ts";

type Message = Extract<PeerEvent, { type: "message" }>;

Deno.test("plain registry: the peer says once what degrades; long texts come in parts, nicks as a leave and a join, private rooms work", async () => {
  await using registry = await startPlainRegistry();
  const options = { keepaliveMs: 200 };
  const alice = await testPeer(registry.port, { ...options, name: "alice", room: "r" });
  const bob = await testPeer(registry.port, { ...options, name: "bob", room: "r" });
  try {
    for (const p of [alice, bob]) {
      await p.rec.until(() => p.peer.state === "CONNECTED", "linked");
    }
    // A long text: its parts, in order, one message each (a seed client's view).
    const long = "é".repeat(600);
    await alice.peer.send(long);
    await alice.peer.send("after the long one");
    await bob.rec.waitFor((e) => e.type === "message" && e.text === "after the long one", "it");
    const parts = bob.rec.of("message").filter((e) => e.text !== "after the long one") as Message[];
    ok(parts.length >= 3, `${parts.length} parts`);
    equal(parts.map((e) => e.text).join(""), long);
    // A nick: a leave and a join for the others, as the notice says.
    await bob.peer.nick("robert");
    await alice.rec.waitFor((e) => e.type === "member-joined" && e.name === "robert", "robert");
    ok(alice.rec.events.some((e) => e.type === "member-left" && e.name === "bob"));
    equal(alice.rec.of("nick").length, 0);
    // A people command: not-supported.
    const refused = await alice.peer.online().then(() => null, (error) => error.code);
    equal(refused, "not-supported");
    // A private room needs only its members: they read each other.
    await alice.peer.leave();
    await bob.peer.leave();
    await alice.peer.join("plans", { password: "open sesame" });
    await bob.peer.join("plans", { password: "open sesame" });
    for (const p of [alice, bob]) {
      await p.rec.until(() => p.peer.state === "CONNECTED", "linked in plans");
    }
    await bob.peer.send("secret plans");
    const got = await alice.rec.waitFor<Message>(
      (e) => e.type === "message" && e.text === "secret plans",
      "the private text",
    );
    equal(got.room, "plans");
    // Said once each, through the reconnect after /leave and the joins: naming what degrades.
    for (const p of [alice, bob]) {
      deepEqual(p.rec.of("info").filter((e) => e.message === PLAIN_REGISTRY_NOTICE).length, 1);
    }
    for (const what of ["pushed membership", "nick", "parts", "caught up", "people"]) {
      ok(PLAIN_REGISTRY_NOTICE.includes(what), what);
    }
    ok(registry.refused >= 2, "each peer's hello was refused");
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit()]);
  }
});
