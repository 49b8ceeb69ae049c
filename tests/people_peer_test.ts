import { deepEqual, equal, match, ok } from "node:assert/strict";
import { PeerError } from "../peer/errors.ts";
import type { PeerEvent } from "../peer/events.ts";
import type { PeerHandle } from "../peer/peer_handle.ts";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { Recorder, type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { FakeRegistry, RawLink, RawPeer } from "./support/raw_peer.ts";
import { tempDbPath } from "./support/temp_db.ts";

/** Cheap hashes: the peer's side is under test, not PBKDF2. */
const REGISTRY: RegistryOptions = {
  hostname: "127.0.0.1",
  port: 0,
  passwordIterations: 1000,
  maxRegistrationsPerSource: 1000,
};

const PASSWORD = "correct horse";

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PeerError) return error.code;
    throw error;
  }
  throw new Error("Expected a PeerError");
}

/** A peer that registered and logged in as `name` (and joined `room`, if given). */
async function account(registryPort: number, name: string, room?: string): Promise<TestPeer> {
  const p = await testPeer(registryPort);
  await p.peer.register(name, PASSWORD);
  await p.peer.login(name, PASSWORD);
  if (room !== undefined) await p.peer.join(room);
  return p;
}

/** Peers logged in as `names`, in `room`, every one CONNECTED. */
async function connectedAccounts(
  registryPort: number,
  room: string,
  ...names: string[]
): Promise<TestPeer[]> {
  const all: TestPeer[] = [];
  for (const name of names) all.push(await account(registryPort, name, room));
  await untilAll(all, () => all.every((p) => p.peer.state === "CONNECTED"), "connected");
  return all;
}

function on<K extends PeerEvent["type"]>(
  type: K,
  test: (e: Extract<PeerEvent, { type: K }>) => boolean = () => true,
) {
  return (e: PeerEvent) => e.type === type && test(e as Extract<PeerEvent, { type: K }>);
}

Deno.test("people peer: every people command answers not-supported on the reference registry", async () => {
  const fake = new FakeRegistry();
  const rec = new Recorder();
  const { startPeer } = await import("../peer/peer.ts");
  const peer = await startPeer({
    registry: { hostname: "127.0.0.1", port: fake.port },
    hostname: "127.0.0.1",
    port: 0,
    name: "alice",
    room: "room1",
    requestTimeoutMs: 2000,
    onEvent: rec.listener,
  });
  try {
    await rec.waitFor(on("joined"), "joined");
    const commands: [string, (p: PeerHandle) => Promise<unknown>][] = [
      ["register", (p) => p.register("alice", PASSWORD)],
      ["login", (p) => p.login("alice", PASSWORD)],
      ["online", (p) => p.online()],
      ["search", (p) => p.search("bob")],
      ["dm", (p) => p.dm("bob", "hi")],
      ["dm-answer", (p) => p.dmAnswer("bob", true)],
      ["block", (p) => p.block("bob")],
      ["unblock", (p) => p.unblock("bob")],
      ["broadcast", (p) => p.broadcast("hi all")],
      ["invite", (p) => p.invite("bob", "room1")],
      ["invite-answer", (p) => p.inviteAnswer("bob", "room1", true)],
      ["away", (p) => p.away(true)],
    ];
    for (const [name, run] of commands) {
      let error: unknown;
      await run(peer).catch((e) => error = e);
      ok(error instanceof PeerError, name);
      equal(error.code, "not-supported", name);
      match(error.message, /does not speak ringchat\/2/, name);
    }
    // Nothing but JOINs and the one hello reached the reference registry: plain P2PChat goes on.
    equal(peer.state, "JOINED");
  } finally {
    await peer.quit();
    await fake.close();
  }
});

Deno.test("people peer: register, login with wrong passwords, lockout, and the older session kicked", async () => {
  await using registry = await startRegistry({ ...REGISTRY, lockoutMs: 60_000 });
  const alice = await testPeer(registry.port);
  const second = await testPeer(registry.port);
  try {
    await alice.peer.register("alice", PASSWORD);
    await alice.rec.waitFor(on("registered", (e) => e.name === "alice"), "registered");
    equal(await code(alice.peer.register("alice", PASSWORD)), "name-taken");
    let wrong: unknown;
    await alice.peer.login("alice", "wrong password").catch((e) => wrong = e);
    ok(wrong instanceof PeerError);
    equal(wrong.code, "bad-password");
    deepEqual(wrong.fields, { remaining: 2 });
    const error = alice.rec.of("error").at(-1);
    equal(error, undefined, "a command's refusal is thrown, the CLI shows it");
    alice.peer.showError(wrong);
    deepEqual(
      {
        code: alice.rec.of("error").at(-1)?.code,
        remaining: alice.rec.of("error").at(-1)?.remaining,
      },
      { code: "bad-password", remaining: 2 },
    );
    await alice.peer.login("alice", PASSWORD);
    const logged = await alice.rec.waitFor(on("logged-in"), "logged-in");
    deepEqual(logged, { type: "logged-in", name: "alice", mail: 0 });
    // The account's name is my user name now.
    ok(alice.rec.of("named").some((e) => e.name === "alice"));
    await alice.peer.join("room1");
    // A login from a second connection ends the first session, which is told why.
    await second.peer.login("alice", PASSWORD);
    const kicked = await alice.rec.waitFor(on("kicked"), "kicked");
    equal(kicked.type === "kicked" && kicked.reason, "logged-in-elsewhere");
    await alice.peer.closed;
    equal(alice.peer.state, "QUIT");
    // Three wrong passwords lock the account, with the time to wait.
    const third = await testPeer(registry.port);
    try {
      equal(await code(third.peer.login("alice", "nope nope 1")), "bad-password");
      equal(await code(third.peer.login("alice", "nope nope 2")), "bad-password");
      let locked: unknown;
      await third.peer.login("alice", "nope nope 3").catch((e) => locked = e);
      ok(locked instanceof PeerError);
      equal(locked.code, "locked");
      ok((locked.fields.retryAfterMs as number) > 50_000);
    } finally {
      await third.peer.quit();
    }
  } finally {
    await alice.peer.quit();
    await second.peer.quit();
  }
});

Deno.test("people peer: online, search, away and presence pushes", async () => {
  await using registry = await startRegistry(REGISTRY);
  const alice = await account(registry.port, "alice", "room1");
  const bob = await account(registry.port, "bob");
  const dave = await testPeer(registry.port);
  try {
    await dave.peer.register("dave", PASSWORD);
    await bob.peer.online();
    const online = await bob.rec.waitFor(on("online"), "online");
    ok(online.type === "online");
    deepEqual(online.users, [
      { name: "alice", state: "online", room: "room1" },
      { name: "dave", state: "offline" },
    ]);
    await bob.peer.search("alice");
    await bob.peer.search("nobody");
    await bob.peer.search("bob");
    deepEqual(bob.rec.of("search"), [
      { type: "search", name: "alice", result: "found", state: "online", room: "room1" },
      { type: "search", name: "nobody", result: "not-found" },
      { type: "search", name: "bob", result: "self", state: "online" },
    ]);
    const from = bob.rec.events.length;
    await alice.peer.away(true);
    deepEqual(alice.rec.of("presence").at(-1), {
      type: "presence",
      name: "alice",
      state: "away",
      room: "room1",
    });
    const pushed = await bob.rec.waitFor(
      on("presence", (e) => e.name === "alice" && e.state === "away"),
      "presence",
      {
        from,
      },
    );
    deepEqual(pushed, { type: "presence", name: "alice", state: "away", room: "room1" });
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit(), dave.peer.quit()]);
  }
});

Deno.test("people peer: a peer in a room sees presence events without asking about people first", async () => {
  await using registry = await startRegistry({ ...REGISTRY, presenceFlushMs: 5 });
  const carol = await testPeer(registry.port, { name: "carol", room: "room1" });
  try {
    await carol.rec.waitFor(on("joined"), "joined");
    const bob = await account(registry.port, "bob", "room2");
    try {
      const pushed = await carol.rec.waitFor(
        on("presence", (e) => e.name === "bob" && e.room === "room2"),
        "presence",
      );
      deepEqual(pushed, { type: "presence", name: "bob", state: "online", room: "room2" });
    } finally {
      await bob.peer.quit();
    }
    await carol.rec.waitFor(
      on("presence", (e) => e.name === "bob" && e.state === "offline"),
      "offline",
    );
  } finally {
    await carol.peer.quit();
  }
});

Deno.test("people peer: the direct-message bounds and the wait for consent are peer options", async () => {
  await using registry = await startRegistry(REGISTRY);
  const bob = await account(registry.port, "bob");
  const alice = await testPeer(registry.port, { dmMaxQueued: 2, dmConsentTimeoutMs: 200 });
  try {
    await alice.peer.register("alice", PASSWORD);
    await alice.peer.login("alice", PASSWORD);
    const asked = performance.now();
    await alice.peer.dm("bob", "one");
    await bob.rec.waitFor(on("dm-request", (e) => e.from === "alice"), "dm-request");
    await alice.peer.dm("bob", "two");
    equal(await code(alice.peer.dm("bob", "three")), "busy");
    const given = await alice.rec.waitFor(on("error", (e) => e.code === "no-answer"), "no-answer");
    ok(given.type === "error");
    const ms = performance.now() - asked;
    ok(ms >= 190 && ms < 4000, `given up after ${ms.toFixed(0)} ms`);
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit()]);
  }
});

Deno.test("people peer: a refused request to talk drops the message; an accepted one delivers with receipts over a direct connection", async () => {
  await using registry = await startRegistry(REGISTRY);
  const seed = new RawPeer("seedy", "room1", "127.0.0.1");
  const alice = await account(registry.port, "alice", "room1");
  const bob = await account(registry.port, "bob", "room1");
  try {
    await seed.join(registry.port);
    // Refused.
    const first = await alice.peer.dm("bob", "are you there?");
    await bob.rec.waitFor(on("dm-request", (e) => e.from === "alice"), "dm-request");
    await bob.peer.dmAnswer("alice", false);
    await alice.rec.waitFor(on("dm-rejected", (e) => e.by === "bob"), "dm-rejected");
    ok(!alice.rec.of("dm-receipt").some((e) => e.id === first));
    equal(bob.rec.of("dm").length, 0);
    // Asked again, accepted: the waiting messages go, each sent then delivered.
    const from = bob.rec.events.length;
    const id1 = await alice.peer.dm("bob", "hello bob: a::\r\nb");
    const id2 = await alice.peer.dm("bob", "h\u00e9llo \u{1F600}");
    await bob.rec.waitFor(on("dm-request"), "a second dm-request", { from });
    equal(bob.rec.of("dm").length, 0, "nothing flows before consent");
    await bob.peer.dmAnswer("alice", true);
    await alice.rec.waitFor(on("dm-accepted", (e) => e.by === "bob"), "dm-accepted");
    await alice.rec.until(
      () => alice.rec.of("dm-receipt").filter((e) => e.state === "delivered").length === 2,
      "two delivered receipts",
    ).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(alice.rec.of("error"))}`);
    });
    // Each message: sent, then delivered (two messages may interleave).
    for (const id of [id1, id2]) {
      deepEqual(
        alice.rec.of("dm-receipt").filter((e) => e.id === id).map((e) => [e.to, e.state]),
        [["bob", "sent"], ["bob", "delivered"]],
      );
    }
    const dms = bob.rec.of("dm");
    deepEqual(dms.map((e) => [e.id, e.from, e.text]), [[id1, "alice", "hello bob: a::\r\nb"], [
      id2,
      "alice",
      "h\u00e9llo \u{1F600}",
    ]]);
    match(dms[0]!.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Bob answers over the same consent, without being asked again.
    await bob.peer.dm("alice", "hi alice");
    await alice.rec.waitFor(on("dm", (e) => e.text === "hi alice" && e.from === "bob"), "reply");
    equal(alice.rec.of("dm-request").length, 0);
    // The seed client in the room saw none of it (never through the room overlay).
    ok(!seed.links.some((l) => l.frames.some((f) => f.includes("hello bob") || f.startsWith("X"))));
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit()]);
    await seed.close();
  }
});

Deno.test("people peer: a message to an offline user is stored, and delivered once at its login", async () => {
  await using registry = await startRegistry(REGISTRY);
  const alice = await account(registry.port, "alice");
  const setup = await testPeer(registry.port);
  await setup.peer.register("bob", PASSWORD);
  await setup.peer.quit();
  try {
    const id = await alice.peer.dm("bob", "call me");
    await alice.rec.until(
      () => alice.rec.of("dm-receipt").some((e) => e.id === id && e.state === "stored"),
      "stored",
    );
    deepEqual(alice.rec.of("dm-receipt").map((e) => e.state), ["sent", "stored"]);
    const bob = await testPeer(registry.port);
    try {
      await bob.peer.login("bob", PASSWORD);
      const dm = await bob.rec.waitFor(on("dm"), "the mail");
      ok(dm.type === "dm");
      deepEqual([dm.from, dm.text, dm.offline], ["alice", "call me", true]);
      // logged-in comes first and says how many follow.
      const order = bob.rec.events.map((e) => e.type).filter((t) =>
        t === "logged-in" || t === "dm"
      );
      deepEqual(order, ["logged-in", "dm"]);
      equal(bob.rec.of("logged-in")[0]?.mail, 1);
    } finally {
      await bob.peer.quit();
    }
    // Acknowledged: the next login gets nothing.
    const again = await testPeer(registry.port);
    try {
      await again.peer.login("bob", PASSWORD);
      equal(again.rec.of("logged-in")[0]?.mail, 0);
    } finally {
      await again.peer.quit();
    }
  } finally {
    await alice.peer.quit();
  }
});

Deno.test("people peer: a DM to a seed client says its client cannot take direct messages", async () => {
  await using registry = await startRegistry(REGISTRY);
  const seed = new RawPeer("seedy", "room1", "127.0.0.1");
  const alice = await account(registry.port, "alice", "room1");
  try {
    await seed.join(registry.port);
    let error: unknown;
    await alice.peer.dm("seedy", "hi").catch((e) => error = e);
    ok(error instanceof PeerError);
    equal(error.code, "not-supported");
    match(error.message, /seedy's client cannot take direct messages/);
    equal(await code(alice.peer.dm("nobody", "hi")), "unknown-user");
  } finally {
    await alice.peer.quit();
    await seed.close();
  }
});

Deno.test("people peer: a connection with a token nobody gave is closed at once", async () => {
  await using registry = await startRegistry(REGISTRY);
  const bob = await account(registry.port, "bob", "room1");
  try {
    const link = await RawLink.connect(bob.peer.port);
    const body = JSON.stringify({ op: "dm-hello", from: "alice", token: "0".repeat(32) });
    await link.write(`X:${body.length}:${body}::\r\n`);
    await link.closed();
    equal(link.frames.length, 0);
    await link.close();
  } finally {
    await bob.peer.quit();
  }
});

Deno.test("people peer: in my room, the pokes of a user I block are not shown (answered, as any poke)", async () => {
  await using registry = await startRegistry(REGISTRY);
  const all = await connectedAccounts(registry.port, "room1", "bob", "mallory", "alice");
  const [bob, mallory, alice] = all as [TestPeer, TestPeer, TestPeer];
  try {
    await bob.peer.block("mallory");
    await mallory.peer.poke("bob");
    await alice.peer.poke("bob");
    await bob.rec.waitFor(on("poke", (e) => e.from === "alice"), "alice's poke");
    deepEqual(bob.rec.of("poke").map((e) => e.type === "poke" && e.from), ["alice"]);
    await bob.peer.unblock("mallory");
    await mallory.peer.poke("bob");
    await bob.rec.waitFor(on("poke", (e) => e.from === "mallory"), "mallory's poke, unblocked");
  } finally {
    await Promise.all(all.map((p) => p.peer.quit()));
  }
});

Deno.test("people peer: a blocked author's room messages are hidden, still forwarded to the others", async () => {
  await using registry = await startRegistry(REGISTRY);
  const seed = new RawPeer("seedy", "room1", "127.0.0.1");
  await seed.join(registry.port);
  const all = await connectedAccounts(registry.port, "room1", "alice", "bob", "carol");
  const [alice, bob, carol] = all as [TestPeer, TestPeer, TestPeer];
  try {
    await bob.peer.block("carol");
    await bob.rec.waitFor(on("blocked", (e) => e.name === "carol"), "blocked");
    const before = bob.peer.stats();
    await carol.peer.send("from carol");
    await alice.rec.waitFor(on("message", (e) => e.text === "from carol"), "alice sees it");
    await alice.peer.send("from alice");
    await bob.rec.waitFor(on("message", (e) => e.text === "from alice"), "bob sees alice");
    await Promise.any(seed.links.map((link) =>
      link.until(
        () => seed.texts().some((t) => t.includes("from carol")),
        "the seed client gets carol's text",
      )
    ));
    ok(!bob.rec.texts().includes("from carol"), "bob does not see carol");
    // Bob's peer still took carol's text (counted, and forwarded on), it only did not show it.
    const after = bob.peer.stats();
    // Live, or from a catch-up answer when a link was remade meanwhile.
    equal(after.delivered + after.caughtUp - before.delivered - before.caughtUp, 2);
    ok(after.forwarded > before.forwarded);
    await bob.peer.unblock("carol");
    deepEqual(bob.rec.of("unblocked"), [{ type: "unblocked", name: "carol" }]);
    await carol.peer.send("carol again");
    await bob.rec.waitFor(on("message", (e) => e.text === "carol again"), "unblocked");
  } finally {
    await Promise.all(all.map((p) => p.peer.quit()));
    await seed.close();
  }
});

Deno.test("people peer: invitations: declined, then accepted, which joins the room leaving the current one", async () => {
  await using registry = await startRegistry(REGISTRY);
  const alice = await account(registry.port, "alice", "room2");
  const bob = await account(registry.port, "bob", "room1");
  try {
    await alice.peer.invite("bob");
    const invite = await bob.rec.waitFor(on("invite"), "invite");
    deepEqual(invite, { type: "invite", from: "alice", room: "room2" });
    await bob.peer.answer("alice", false);
    await alice.rec.waitFor(on("invite-declined"), "declined");
    deepEqual(alice.rec.of("invite-declined"), [{
      type: "invite-declined",
      by: "bob",
      room: "room2",
    }]);
    await alice.peer.invite("bob", "room2");
    await bob.rec.waitFor(on("invite"), "invite again", {
      from: bob.rec.events.indexOf(invite) + 1,
    });
    await bob.peer.inviteAnswer("alice", "room2", true);
    await alice.rec.waitFor(on("invite-accepted"), "accepted");
    deepEqual(alice.rec.of("invite-accepted"), [{
      type: "invite-accepted",
      by: "bob",
      room: "room2",
    }]);
    const joined = await bob.rec.waitFor(on("joined", (e) => e.room === "room2"), "bob in room2");
    ok(joined.type === "joined" && joined.members.some((m) => m.name === "alice"));
    await bob.peer.search("bob");
    await alice.peer.search("bob");
    deepEqual(alice.rec.of("search").at(-1), {
      type: "search",
      name: "bob",
      result: "found",
      state: "online",
      room: "room2",
    });
    await untilAll([alice, bob], () => alice.peer.state === "CONNECTED", "linked");
    await alice.peer.send("welcome bob");
    await bob.rec.waitFor(on("message", (e) => e.text === "welcome bob"), "chat in room2");
    equal(await code(bob.peer.inviteAnswer("alice", "room2", true)), "no-request");
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit()]);
  }
});

Deno.test("people peer: broadcast reaches every online user once, and the blocked sender's does not reach who blocks", async () => {
  await using registry = await startRegistry(REGISTRY);
  const peers = await Promise.all(
    ["ann", "ben", "cat", "dan"].map((n) => account(registry.port, n)),
  );
  const [ann, ben, cat, dan] = peers as [TestPeer, TestPeer, TestPeer, TestPeer];
  try {
    await dan.peer.block("ann");
    await ann.peer.broadcast("hi all");
    deepEqual(
      ann.rec.of("broadcast").map((e) => [e.from, e.text, e.self, e.count]),
      [["ann", "hi all", true, 2]],
    );
    for (const p of [ben, cat]) {
      const b = await p.rec.waitFor(on("broadcast"), "broadcast");
      ok(b.type === "broadcast");
      deepEqual([b.from, b.text], ["ann", "hi all"]);
    }
    await ben.peer.broadcast("second");
    await dan.rec.waitFor(on("broadcast", (e) => e.text === "second"), "ben's broadcast");
    equal(dan.rec.of("broadcast").length, 1, "ann's did not reach dan");
    // Nor can ann reach dan otherwise, or find him.
    equal(await code(ann.peer.dm("dan", "hi")), "blocked");
    equal(await code(ann.peer.invite("dan", "room9")), "blocked");
    await ann.peer.search("dan");
    equal(ann.rec.of("search").at(-1)?.result, "not-found");
    for (const p of [ben, cat]) {
      equal(p.rec.of("broadcast").filter((e) => e.text === "hi all").length, 1);
    }
  } finally {
    await Promise.all(peers.map((p) => p.peer.quit()));
  }
});

Deno.test("people peer: after a registry restart the peer logs in again before its re-JOIN", async () => {
  await using db = await tempDbPath();
  const first = await startRegistry({ ...REGISTRY, dataDir: db.dir });
  const port = first.port;
  const alice = await account(port, "alice", "room1");
  try {
    await first.close();
    await alice.rec.waitFor(on("info", (e) => e.message.startsWith("Lost the registry")), "lost");
    await using second = await startRegistry({ ...REGISTRY, port, dataDir: db.dir });
    await alice.rec.waitFor(on("info", (e) => e.message.startsWith("Re-registered")), "restored");
    equal(alice.rec.of("error").length, 0, JSON.stringify(alice.rec.of("error")));
    const bob = await testPeer(second.port);
    try {
      await bob.peer.search("alice");
      deepEqual(bob.rec.of("search")[0], {
        type: "search",
        name: "alice",
        result: "found",
        state: "online",
        room: "room1",
      });
    } finally {
      await bob.peer.quit();
    }
  } finally {
    await alice.peer.quit();
  }
});

Deno.test("people peer: a logged-in peer in no room keeps its session alive with pings", async () => {
  // The registry closes a silent connection in no room after max(expiryMs, idleTimeoutMs).
  await using registry = await startRegistry({ ...REGISTRY, idleTimeoutMs: 200, expiryMs: 200 });
  const alice = await testPeer(registry.port, { keepaliveMs: 50 });
  const bob = await account(registry.port, "bob", "room1");
  try {
    await alice.peer.register("alice", PASSWORD);
    await alice.peer.login("alice", PASSWORD);
    // Several idle timeouts go by (time is what is under test here).
    await new Promise((resolve) => setTimeout(resolve, 800));
    await bob.peer.search("alice");
    deepEqual(bob.rec.of("search")[0], {
      type: "search",
      name: "alice",
      result: "found",
      state: "online",
    });
    await bob.peer.dm("alice", "still there?");
    await alice.rec.waitFor(on("dm-request", (e) => e.from === "bob"), "dm-request");
  } finally {
    await Promise.all([alice.peer.quit(), bob.peer.quit()]);
  }
});
