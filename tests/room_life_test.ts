/**
 * Life in a room (issue 11, items 2–4): who comes and goes (`member-joined`,
 * `member-left` with its reason, `nick`), pushed by our registry within 1 s
 * whatever the keepalive (here 20 s, so no line can come from a keepalive),
 * and made from member lists on a registry that answers as the reference;
 * `at` on every message; `/leave` and `/nick`.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import type { PeerHandle, PeerOptions } from "../peer/peer.ts";
import { PLAIN_REGISTRY_NOTICE } from "../peer/registry_hello.ts";
import { MEMBER_INFO_WAIT_MS } from "../peer/registry_client.ts";
import { type LeftNotice, readLeft, RENAME_EXPECTED_MS, RoomLife } from "../peer/room_life.ts";
import { LEFT_KEPT, memberInfoFrames } from "../registry/member_push.ts";
import { encodeFrame } from "../lib/frames.ts";
import { FrameReader } from "../lib/frame_reader.ts";
import { sdbmHash } from "../lib/sdbm.ts";
import { commandLine, eventTime } from "../peer/web/assets/lines.js";
import { startRegistry } from "../registry/registry.ts";
import { extension, helloClient, memberList, xFrame } from "./support/hello_client.ts";
import { type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { RawClient } from "./support/raw_client.ts";
import { FakeRegistry } from "./support/raw_peer.ts";

const SLOW_KEEPALIVE = { keepaliveMs: 20_000 };
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const ALICE = { name: "alice", ip: "127.0.0.1", port: 4001 };
const BOB = { name: "bob", ip: "127.0.0.1", port: 4002 };
const CAROL = { name: "carol", ip: "127.0.0.1", port: 4003 };

/** The room-life events of `rec` (joins, leaves, nicks), as short strings. */
function lifeLines(events: readonly PeerEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.type === "member-joined") out.push(`+${e.name}`);
    if (e.type === "member-left") out.push(`-${e.name} ${e.reason}`);
    if (e.type === "nick") out.push(`${e.from}>${e.to}`);
  }
  return out;
}

/** Resolves with the `performance.now()` at which `peer` emits an event matching `match`. */
function whenEvent(
  peer: PeerHandle,
  match: (e: PeerEvent) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`Timed out waiting for ${what}`));
    }, timeoutMs);
    const off = peer.on((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(performance.now());
    });
  });
}

function left(name: string, reason: LeftNotice["reason"], to?: string): (e: PeerEvent) => boolean {
  return (
    e,
  ) => (reason === "renamed"
    ? e.type === "nick" && e.from === name && e.to === to
    : e.type === "member-left" && e.name === name && e.reason === reason);
}

function joinedLine(name: string): (e: PeerEvent) => boolean {
  return (e) => e.type === "member-joined" && e.name === name;
}

/**
 * Runs `body` with a registry and one peer per `name@room` of `specs` (a 20 s
 * keepalive unless `options` say otherwise), by name, quitting them all afterwards.
 */
async function inRooms<N extends string>(
  specs: `${N}@${string}`[],
  body: (peers: Record<N, TestPeer>, registryPort: number) => Promise<void>,
  options: PeerOptions = SLOW_KEEPALIVE,
): Promise<void> {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const started: TestPeer[] = [];
  const peers = {} as Record<N, TestPeer>;
  try {
    for (const spec of specs) {
      const [name, room] = spec.split("@") as [N, string];
      const peer = await testPeer(registry.port, { ...options, name, room });
      started.push(peer);
      peers[name] = peer;
    }
    await body(peers, registry.port);
  } finally {
    for (const p of started.reverse()) await p.peer.quit();
  }
}

// ---- the pure parts --------------------------------------------------------

Deno.test("room life: the members I joined with are not announced, newcomers and leavers are", () => {
  const life = new RoomLife(1000);
  life.start([BOB, ALICE], ALICE);
  deepEqual(life.update([BOB, ALICE], [], 0), []);
  const events = life.update([CAROL, BOB, ALICE], [], 10);
  deepEqual(events, [{ type: "member-joined", name: "carol", at: new Date(10).toISOString() }]);
  deepEqual(lifeLines(life.update([CAROL, ALICE], [{ ...BOB, reason: "left" }], 20)), [
    "-bob left",
  ]);
  // A list that is merely repeated announces nothing again.
  deepEqual(life.update([CAROL, ALICE], [{ ...BOB, reason: "left" }], 30), []);
});

Deno.test("room life: each reason the registry gives is the leave's reason; a rename is one nick", () => {
  const life = new RoomLife(1000);
  const dave = { name: "dave", ip: "127.0.0.1", port: 4004 };
  life.start([dave, CAROL, BOB, ALICE], ALICE);
  const notices: LeftNotice[] = [
    { ...dave, reason: "expired" },
    { ...CAROL, reason: "lost" },
    { ...BOB, reason: "left" },
  ];
  deepEqual(lifeLines(life.update([ALICE], notices, 5)), [
    "-dave expired",
    "-carol lost",
    "-bob left",
  ]);
  const life2 = new RoomLife(1000);
  life2.start([BOB, ALICE], ALICE);
  // The rename's DEPART is pushed before the new name's JOIN: the nick now, the join silent.
  deepEqual(lifeLines(life2.update([ALICE], [{ ...BOB, reason: "renamed", to: "bobby" }], 1)), [
    "bob>bobby",
  ]);
  deepEqual(life2.update([{ ...BOB, name: "bobby" }, ALICE], [], 2), []);
  // A new name that never comes: after RENAME_EXPECTED_MS it is said to have left.
  const life4 = new RoomLife(1000);
  life4.start([BOB, ALICE], ALICE);
  life4.update([ALICE], [{ ...BOB, reason: "renamed", to: "bobby" }], 0);
  deepEqual(life4.update([ALICE], [], RENAME_EXPECTED_MS - 1), []);
  deepEqual(lifeLines(life4.update([ALICE], [], RENAME_EXPECTED_MS)), ["-bobby lost"]);
  // Both in one list (pushes merged): one nick, no join.
  const life3 = new RoomLife(1000);
  life3.start([BOB, ALICE], ALICE);
  deepEqual(
    lifeLines(
      life3.update(
        [{ ...BOB, name: "bobby" }, ALICE],
        [{ ...BOB, reason: "renamed", to: "bobby" }],
        1,
      ),
    ),
    ["bob>bobby"],
  );
});

Deno.test("room life: without member-info (a plain registry) a leave is lost, at once", () => {
  const life = new RoomLife(1000);
  life.start([BOB, ALICE], ALICE);
  deepEqual(lifeLines(life.update([CAROL, ALICE], null, 1)), ["-bob lost", "+carol"]);
});

Deno.test("room life: a member dropped with no reason (a registry restart) is held for the grace time", () => {
  const life = new RoomLife(1000);
  life.start([CAROL, BOB, ALICE], ALICE);
  // Only alice re-registered so far: nothing said.
  deepEqual(life.update([ALICE], [], 0), []);
  // bob comes back within the grace: nothing said of him, ever.
  deepEqual(life.update([BOB, ALICE], [], 500), []);
  // carol does not: lost, with the first list after the grace.
  deepEqual(lifeLines(life.update([BOB, ALICE], [], 1000)), ["-carol lost"]);
  deepEqual(life.update([BOB, ALICE], [], 2000), []);
});

Deno.test("room life: after stop nothing is announced; I am never announced", () => {
  const life = new RoomLife(1000);
  life.start([ALICE], ALICE);
  deepEqual(life.update([BOB, ALICE], null, 1).length, 1);
  life.stop();
  deepEqual(life.update([CAROL], null, 2), []);
});

Deno.test("room life: member-info's left is read leniently and bounded", () => {
  deepEqual(readLeft(undefined), []);
  deepEqual(
    readLeft([{ ...BOB, reason: "left" }, { ...CAROL, reason: "gone" }, 7, { reason: "lost" }]),
    [
      { ...BOB, reason: "left" },
    ],
  );
  deepEqual(readLeft([{ ...BOB, reason: "renamed" }]), [], "a rename without to");
  deepEqual(readLeft([{ ...BOB, reason: "renamed", to: "bobby", extra: 1 }]), [
    { ...BOB, reason: "renamed", to: "bobby" },
  ]);
  equal(readLeft(Array.from({ length: 1000 }, () => ({ ...BOB, reason: "lost" }))).length, 256);
});

Deno.test("room life: member-info names the removals in its first part only", () => {
  const entries = Array.from({ length: 40 }, (_, i) => ({
    name: `m${i}`,
    ip: "127.0.0.1",
    port: 5000 + i,
    ringchat: true as const,
  }));
  const notice = { ...BOB, reason: "lost" as const };
  const frames = memberInfoFrames("r", "1", entries, 1500, [notice]);
  ok(frames.length > 1);
  const bodies = frames.map((f) => extension(new TextDecoder().decode(f)).body);
  deepEqual(bodies[0]!.left, [notice]);
  ok(bodies.slice(1).every((b) => b.left === undefined));
  equal(memberInfoFrames("r", "1", entries.slice(0, 1)).length, 1);
  equal(
    extension(new TextDecoder().decode(memberInfoFrames("r", "1", [])[0]!)).body.left,
    undefined,
  );
});

// ---- pushed by our registry ---------------------------------------------------

Deno.test({
  name:
    "room life: joins and each leave's reason reach every member within 1 s with a 20 s keepalive",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await inRooms(["alice@r", "bob@r"], async ({ alice, bob }, registryPort) => {
      const delays: Record<string, number[]> = { joined: [], left: [], lost: [] };
      await alice.rec.waitFor(joinedLine("bob"), "bob joined, at alice");
      // No line for the members that were there before me.
      deepEqual(lifeLines(bob.rec.events), []);

      // A join, then a quit (DEPART: left).
      const watchers = [alice, bob];
      let t0 = performance.now();
      const carolJoined = watchers.map((w) =>
        whenEvent(w.peer, joinedLine("carol"), "carol joined")
      );
      const carol = await testPeer(registryPort, { ...SLOW_KEEPALIVE, name: "carol", room: "r" });
      for (const t of await Promise.all(carolJoined)) delays.joined!.push(t - t0);
      // The joiner's list comes with its member-info: one joined event, no members event after it.
      const carolJoinedEvent = carol.rec.of("joined")[0]!;
      ok(carolJoinedEvent.members.every((m) => m.ringchat === true));
      equal(carol.rec.of("members").length, 0);
      const carolLeft = watchers.map((w) => whenEvent(w.peer, left("carol", "left"), "carol left"));
      t0 = performance.now();
      await carol.peer.quit();
      for (const t of await Promise.all(carolLeft)) delays.left!.push(t - t0);

      // A member whose connection drops: lost.
      await using dave = await helloClient(registryPort);
      const daveJoined = watchers.map((w) => whenEvent(w.peer, joinedLine("dave"), "dave joined"));
      await dave.client.request("J:r:dave:127.0.0.1:1::\r\n");
      await Promise.all(daveJoined);
      const daveLost = watchers.map((w) => whenEvent(w.peer, left("dave", "lost"), "dave lost"));
      t0 = performance.now();
      dave.client.close();
      for (const t of await Promise.all(daveLost)) delays.lost!.push(t - t0);

      for (const w of watchers) {
        deepEqual(
          lifeLines(w.rec.events),
          [
            ...(w === alice ? ["+bob"] : []),
            "+carol",
            "-carol left",
            "+dave",
            "-dave lost",
          ],
        );
      }
      for (const [kind, ms] of Object.entries(delays)) {
        ok(ms.every((d) => d < 1000), `${kind}: ${ms.map((d) => d.toFixed(1)).join(", ")} ms`);
      }
      console.log(
        `pushed membership (event → member's line), ms: ${
          Object.entries(delays).map(([k, ms]) => `${k} ${ms.map((d) => d.toFixed(1)).join("/")}`)
            .join("; ")
        }`,
      );
    });
  },
});

Deno.test({
  name: "room life: a member that stops renewing is announced as expired by the registry's sweep",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    // Members expire after 1.5 s here, so the peers renew every 500 ms; the reason can only be
    // the registry's word (a peer that works it out from lists says lost).
    await using registry = await startRegistry({
      hostname: "127.0.0.1",
      port: 0,
      expiryMs: 1500,
      sweepMs: 100,
    });
    const alice = await testPeer(registry.port, { keepaliveMs: 500, name: "alice", room: "r" });
    try {
      await using erin = await helloClient(registry.port);
      await erin.client.request("J:r:erin:127.0.0.1:1::\r\n");
      const t0 = performance.now();
      const t = await whenEvent(alice.peer, left("erin", "expired"), "erin expired", 6000);
      ok(t - t0 >= 1400 && t - t0 < 1500 + 100 + 1000, `after ${t - t0} ms`);
      deepEqual(lifeLines(alice.rec.events), ["+erin", "-erin expired"]);
    } finally {
      await alice.peer.quit();
    }
  },
});

// ---- timestamps -------------------------------------------------------------

Deno.test("room life: every message carries at, ISO 8601 UTC with ms, when it was sent or received", async () => {
  await inRooms(["alice@r", "bob@r"], async ({ alice, bob }) => {
    await alice.rec.until(() => alice.peer.state === "CONNECTED", "alice linked");
    await bob.rec.until(() => bob.peer.state === "CONNECTED", "bob linked");
    const before = Date.now();
    await alice.peer.send("what time is it");
    const got = await bob.rec.waitFor<Extract<PeerEvent, { type: "message" }>>(
      (e) => e.type === "message" && e.text === "what time is it",
      "bob got it",
    );
    const after = Date.now();
    const mine = alice.rec.of("message")[0]!;
    for (const m of [mine, got]) {
      ok(ISO_MS.test(m.at), m.at);
      const at = Date.parse(m.at);
      ok(at >= before && at <= after, `${m.at} not within the send`);
    }
    ok(Date.parse(mine.at) <= Date.parse(got.at));
  }, {});
});

// ---- leave and nick ----------------------------------------------------------

Deno.test({
  name: "room life: /leave departs and closes every link; renamed, the peer joins another room",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await inRooms(["alice@r1", "bob@r1", "carol@r2"], async ({ alice, bob, carol }) => {
      await alice.rec.until(() => alice.peer.state === "CONNECTED", "alice linked");
      const bobSees = whenEvent(bob.peer, left("alice", "left"), "alice left, at bob");
      const leftAt = bob.rec.events.length;
      await alice.peer.leave();
      await bobSees;
      equal(alice.peer.state, "NAMED");
      deepEqual(alice.rec.events.findLast((e) => e.type === "left"), { type: "left", room: "r1" });
      // Every link of alice's is down, and bob's list has no alice.
      await alice.rec.until(() => alice.peer.stats().links === 0, "alice unlinked");
      equal(alice.peer.stats().links, 0);
      await bob.rec.until(() => bob.peer.state === "JOINED", "bob alone");
      await alice.peer.send("into the void").then(
        () => ok(false, "sent outside a room"),
        (error) => equal(error.code, "not-joined"),
      );

      alice.peer.user("alicia");
      await alice.peer.join("r2");
      await alice.rec.until(() => alice.peer.state === "CONNECTED", "alicia linked in r2");
      await carol.rec.waitFor(joinedLine("alicia"), "alicia joined, at carol");
      await alice.peer.send("hi r2");
      await carol.rec.waitFor((e) => e.type === "message" && e.text === "hi r2", "carol got it");
      const r2 = alice.rec.events.findLast((e) => e.type === "joined");
      ok(r2?.type === "joined" && r2.room === "r2");
      // bob heard nothing of r2; alice's list is r2's.
      equal(bob.rec.texts().includes("hi r2"), false);
      // bob relinked after alice's links closed, from the list without her: no failure reported.
      const failures = bob.rec.events.slice(leftAt).filter((e) =>
        e.type === "info" && e.message.startsWith("No forward link")
      );
      deepEqual(failures, []);
      deepEqual(lifeLines(bob.rec.events), ["-alice left"]);
      deepEqual(r2.members.map((m) => m.name).sort(), ["alicia", "carol"]);
    });
  },
});

Deno.test({
  name: "room life: /nick is one nick event for ringchat members, a list change for a seed client",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await inRooms(["alice@r", "bob@r", "carol@r"], async ({ alice, bob, carol }, registryPort) => {
      // A seed client: no hello, never pushed; it sees the list when it re-JOINs.
      await using seed = await RawClient.connect(registryPort);
      const seedJoin = "J:r:sam:127.0.0.1:1::\r\n";
      const names = (reply: string) => memberList(reply).map((m) => m.split(":")[0]);
      ok(names(await seed.request(seedJoin)).includes("alice"));
      for (const p of [alice, bob, carol]) {
        await p.rec.until(() => p.peer.state === "CONNECTED", "linked");
      }
      const seen = [bob, carol].map((w) =>
        whenEvent(w.peer, left("alice", "renamed", "alicia"), "the nick")
      );
      const t0 = performance.now();
      await alice.peer.nick("alicia");
      const delays = (await Promise.all(seen)).map((t) => t - t0);
      ok(delays.every((d) => d < 1000), delays.join(", "));
      await alice.rec.until(() => alice.peer.state === "CONNECTED", "alicia linked");
      // My own: one nick (self), then joined under the new name.
      const mine = alice.rec.events.filter((e) => e.type === "nick");
      deepEqual(mine.map((e) => e.type === "nick" && [e.from, e.to, e.self]), [[
        "alice",
        "alicia",
        true,
      ]]);
      // Each member's catch-up over its new link to alicia is over once a first text is shown
      // (held back while an answer is awaited): a text sent during it may come in the answer,
      // shown as missed and so unverified. The one after it is live.
      await alice.peer.send("first after the nick");
      for (const w of [bob, carol]) {
        await w.rec.waitFor((e) => e.type === "message" && e.text === "first after the nick", "it");
      }
      await alice.peer.send("same key, new name");
      for (const w of [bob, carol]) {
        const m = await w.rec.waitFor<Extract<PeerEvent, { type: "message" }>>(
          (e) => e.type === "message" && e.text === "same key, new name",
          "the text after the nick",
        );
        equal(m.from, "alicia");
        equal(m.verified, true, "the key is the same across the nick: still verified");
        // One nick event, no leave, no join of alicia.
        const lines = lifeLines(w.rec.events).filter((l) => l.includes("ali"));
        deepEqual(lines, ["alice>alicia"]);
      }
      // The seed client just sees another list.
      const list = names(await seed.request(seedJoin));
      ok(list.includes("alicia") && !list.includes("alice"), list.join(","));
      // A name in use is refused as a JOIN would be; the peer stays named, not lost.
      await bob.peer.nick("carol").then(
        () => ok(false, "took carol's name"),
        (error) =>
          deepEqual([error.code, error.message], [
            "bad-name",
            "carol is already a member of room r",
          ]),
      );
      equal(bob.peer.state, "CONNECTED", "still in the room under its name");
    });
  },
});

Deno.test({
  name:
    "room life: /nick ends at the registry's renamed, without waiting out the request timeout or losing the registry",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const options = { ...SLOW_KEEPALIVE, requestTimeoutMs: 5000 };
    await inRooms(["alice@r", "bob@r"], async ({ alice, bob }) => {
      await alice.rec.until(() => alice.peer.state === "CONNECTED", "alice linked");
      const from = alice.rec.events.length;
      const t0 = performance.now();
      await alice.peer.nick("alicia");
      const ms = performance.now() - t0;
      ok(ms < 2000, `the nick took ${ms.toFixed(0)} ms`);
      await alice.rec.until(() => alice.peer.state === "CONNECTED", "alicia linked");
      await alice.peer.send("right after the nick");
      const m = await bob.rec.waitFor<Extract<PeerEvent, { type: "message" }>>(
        (e) => e.type === "message" && e.text === "right after the nick",
        "the text after the nick",
      );
      equal(m.from, "alicia");
      const lost = alice.rec.events.slice(from).filter((e) =>
        e.type === "info" && e.message.startsWith("Lost the registry connection")
      );
      deepEqual(lost, []);
    }, options);
  },
});

// ---- the reference registry (no hello): degraded ---------------------------------

Deno.test({
  name:
    "room life: on a registry that answers as the reference, joins and leaves come from the lists, said once",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const registry = new FakeRegistry();
    const alice = await testPeer(registry.port, { keepaliveMs: 200, retryMs: 5000 });
    try {
      registry.members = `bob:127.0.0.1:1`;
      alice.peer.user("alice");
      await alice.peer.join("r");
      registry.members = `carol:127.0.0.1:2:bob:127.0.0.1:1`;
      await alice.rec.waitFor(joinedLine("carol"), "carol joined (at a keepalive)");
      registry.members = `carol:127.0.0.1:2`;
      await alice.rec.waitFor(left("bob", "lost"), "bob lost (reason unknown)");
      deepEqual(lifeLines(alice.rec.events), ["+carol", "-bob lost"]);
      const notices = alice.rec.of("info").filter((e) => e.message === PLAIN_REGISTRY_NOTICE);
      equal(notices.length, 1);
      ok(PLAIN_REGISTRY_NOTICE.includes("reason"));
    } finally {
      await alice.peer.quit();
      await registry.close();
    }
  },
});

// ---- the registry's side, seen raw --------------------------------------------------

/** The pushed member-info frames `client` reads until one's `left` satisfies `done`. */
async function leftUntil(
  client: RawClient,
  done: (left: LeftNotice[]) => boolean,
): Promise<LeftNotice[]> {
  for (;;) {
    const [frame] = await client.frames(1);
    if (!frame!.startsWith("X:")) continue;
    const x = extension(frame!);
    if (x.op !== "member-info") continue;
    const notices = readLeft(x.body.left);
    if (done(notices)) return notices;
  }
}

Deno.test({
  name:
    "room life: our registry's member-info names each removal's reason, newest first, at most LEFT_KEPT",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using registry = await startRegistry({
      hostname: "127.0.0.1",
      port: 0,
      expiryMs: 300,
      sweepMs: 50,
    });
    await using watcher = await helloClient(registry.port);
    const watch = "J:r:watcher:127.0.0.1:1::\r\n";
    memberList(await watcher.client.request(watch));
    await watcher.client.frames(1); // its member-info
    // Keep the watcher listed while others expire.
    const renew = setInterval(() => watcher.client.write(watch).catch(() => {}), 50);
    try {
      await using departs = await RawClient.connect(registry.port);
      await departs.request("J:r:dee:127.0.0.1:2::\r\n");
      equal(await departs.request("D:r:dee:127.0.0.1:2::\r\n"), "S::\r\n");
      await using closes = await RawClient.connect(registry.port);
      await closes.request("J:r:cee:127.0.0.1:3::\r\n");
      closes.close();
      await using renames = await helloClient(registry.port);
      await renames.client.request("J:r:ron:127.0.0.1:4::\r\n");
      await renames.client.frames(1);
      await renames.client.write(xFrame("rename", { to: "ronny" }));
      const renamed = await answer(renames.client);
      deepEqual([renamed.op, renamed.body], ["renamed", { to: "ronny" }]);
      // A rename with nothing to rename, or a bad name, is refused.
      await renames.client.write(xFrame("rename", { to: "ronny" }));
      equal((await answer(renames.client)).op, "error");
      await using bad = await helloClient(registry.port);
      await bad.client.request("J:r:bad:127.0.0.1:6::\r\n");
      await bad.client.write(xFrame("rename", { to: "no:colons" }));
      equal((await answer(bad.client)).body.code, "bad-request");
      bad.client.close();
      await using expires = await RawClient.connect(registry.port);
      await expires.request("J:r:eve:127.0.0.1:5::\r\n");
      const notices = await leftUntil(watcher.client, (l) => l.some((n) => n.name === "eve"));
      deepEqual(notices.map((n) => [n.name, n.reason, n.to ?? null]), [
        ["eve", "expired", null],
        ["bad", "lost", null],
        ["ron", "renamed", "ronny"],
        ["cee", "lost", null],
        ["dee", "left", null],
      ]);
      // Many removals: only the newest LEFT_KEPT are named.
      for (let i = 0; i < LEFT_KEPT + 8; i++) {
        await using c = await RawClient.connect(registry.port);
        await c.request(`J:r:m${i}:127.0.0.1:${100 + i}::\r\n`);
        await c.request(`D:r:m${i}:127.0.0.1:${100 + i}::\r\n`);
      }
      const last = `m${LEFT_KEPT + 7}`;
      const many = await leftUntil(watcher.client, (l) => l[0]?.name === last);
      equal(many.length, LEFT_KEPT);
      equal(many.at(-1)!.name, "m8");
    } finally {
      clearInterval(renew);
    }
  },
});

Deno.test("room life: the doc's examples are what the code writes and reads", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/extensions.md", import.meta.url));
  const rename = doc.split("\n").map((l) => l.trim()).find((l) => l.includes('{"op":"rename"'));
  equal(
    rename,
    new TextDecoder().decode(encodeFrame({ type: "X", op: "rename", body: { to: "alicia" } }))
      .replace("\r\n", "\\r\\n"),
  );
  const info = doc.split("\n").map((l) => l.trim()).find((l) => l.includes('"left":[{'))!;
  const leftJson = info.slice(info.indexOf('"left":') + 7, -1);
  const parsed = JSON.parse(leftJson);
  deepEqual(readLeft(parsed), parsed);
});

/** The next `X` of `client` that is not pushed member-info (pushed `M` skipped too). */
async function answer(client: RawClient): Promise<ReturnType<typeof extension>> {
  for (;;) {
    const [frame] = await client.frames(1);
    if (!frame!.startsWith("X:")) continue;
    const x = extension(frame!);
    if (x.op !== "member-info") return x;
  }
}

/**
 * A TCP relay to the registry that writes what the registry sends one frame
 * at a time, pausing `pauseMs` after each `M`: its member-info comes in a
 * read of its own, as it may over a real network.
 */
class SplittingRelay implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #tasks = new Set<Promise<void>>();
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #accepting: Promise<void>;

  constructor(
    readonly registryPort: number,
    readonly pauseMs: number,
    readonly drop: (frame: string) => boolean = () => false,
  ) {
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async #accept(): Promise<void> {
    for await (const peer of this.listener) {
      const registry = await Deno.connect({ hostname: "127.0.0.1", port: this.registryPort });
      this.#conns.add(peer).add(registry);
      for (const task of [this.#pipe(peer, registry, false), this.#pipe(registry, peer, true)]) {
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      }
    }
  }

  async #pipe(from: Deno.TcpConn, to: Deno.TcpConn, split: boolean): Promise<void> {
    const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        const chunks = split ? reader.push(buf.subarray(0, n)) : [buf.slice(0, n)];
        for (const chunk of chunks) {
          if (split && this.drop(new TextDecoder().decode(chunk))) continue;
          for (let off = 0; off < chunk.length;) off += await to.write(chunk.subarray(off));
          if (split && chunk[0] === 0x4d) await new Promise((r) => setTimeout(r, this.pauseMs));
        }
      }
    } catch {
      // Closed.
    }
    for (const conn of [from, to]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.allSettled([...this.#tasks]);
  }
}

Deno.test({
  name:
    "room life: a JOIN's list is taken with its member-info: one joined event, no members after",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    await using relay = new SplittingRelay(registry.port, 50);
    const alice = await testPeer(registry.port, { ...SLOW_KEEPALIVE, name: "alice", room: "r" });
    const bob = await testPeer(relay.port, { ...SLOW_KEEPALIVE, name: "bob", room: "r" });
    try {
      const joined = bob.rec.of("joined")[0]!;
      deepEqual(joined.members.map((m) => [m.name, m.ringchat]), [["bob", true], ["alice", true]]);
      await alice.rec.waitFor(joinedLine("bob"), "bob joined, at alice");
      await bob.rec.until(() => bob.peer.state === "CONNECTED", "bob linked");
      equal(bob.rec.of("members").length, 0, JSON.stringify(bob.rec.of("members")));
    } finally {
      await bob.peer.quit();
      await alice.peer.quit();
    }
  },
});

Deno.test("room life: the web page shows joins, leaves and nicks in words, messages at their at", () => {
  const at = "2026-12-01T23:15:02.123Z";
  deepEqual(commandLine({ type: "member-joined", name: "carol", at }).text, "carol joined");
  deepEqual(
    commandLine({ type: "member-left", name: "carol", reason: "lost", at }).text,
    "carol left (lost)",
  );
  deepEqual(commandLine({ type: "nick", from: "bob", to: "bobby", at }).text, "bob is now bobby");
  deepEqual(commandLine({ type: "left", room: "r" }).text, "Left r");
  equal(eventTime({ type: "message", at }).toISOString(), at);
});

/**
 * A registry double that answers as the reference: `J` with an `M` listing
 * `others` and the joiner, `D` with `S::`, anything else `F`; it keeps each
 * connection's frames, in order.
 */
class ReferenceDouble implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly connections: string[][] = [];
  /** Members listed before the joiner, as `name:ip:port`. */
  others: string[] = [];
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  constructor() {
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.listener) {
      const frames: string[] = [];
      this.connections.push(frames);
      const task = this.#serve(conn, frames);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(conn: Deno.TcpConn, frames: string[]): Promise<void> {
    const reader = new FrameReader({ maxFrameBytes: 1 << 16 });
    const buf = new Uint8Array(1 << 16);
    const write = (text: string) => conn.write(new TextEncoder().encode(text));
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const raw of reader.push(buf.subarray(0, n))) {
          const frame = new TextDecoder().decode(raw);
          frames.push(frame);
          if (frame.startsWith("J:")) {
            const [, , name, ip, port] = frame.split(":");
            const payload = [`${name}:${ip}:${port}`, ...this.others].join(":");
            await write(`M:${sdbmHash(`${payload}:`)}:${payload}::\r\n`);
          } else if (frame.startsWith("D:")) {
            await write("S::\r\n");
          } else {
            await write("F:Unknown message - Unknown request!!::\r\n");
          }
        }
      }
    } catch {
      // Closed.
    }
    conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    await this.#accepting;
    await Promise.allSettled([...this.#tasks]);
  }
}

Deno.test({
  name:
    "room life: on a plain registry /leave and /nick DEPART, then close the connection (the reference removes on close)",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using registry = new ReferenceDouble();
    const alice = await testPeer(registry.port, { ...SLOW_KEEPALIVE, name: "alice", room: "r" });
    try {
      await alice.peer.nick("alicia");
      equal(alice.peer.state, "JOINED");
      await alice.peer.leave();
      const kinds = registry.connections.map((frames) => frames.map((f) => f.split(":")[0]));
      // Each connection: the hello (answered F), then the JOIN, then its DEPART; then closed.
      deepEqual(kinds, [["X", "J", "D"], ["J", "D"]]);
      ok(registry.connections[1]![0]!.startsWith("J:r:alicia:"));
      ok(registry.connections[1]![1]!.startsWith("D:r:alicia:"));
      // No rename op to a registry that did not answer the hello.
      ok(registry.connections.flat().every((f) => !f.includes('"rename"')));
    } finally {
      await alice.peer.quit();
    }
  },
});

Deno.test({
  name:
    "room life: a registry restart, members re-registering one by one, says no one left or joined",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const first = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    const port = first.port;
    const peers: TestPeer[] = [];
    try {
      for (const name of ["alice", "bob", "carol"]) {
        peers.push(await testPeer(port, { ...SLOW_KEEPALIVE, name, room: "r" }));
      }
      await peers[0]!.rec.until(
        () => lifeLines(peers[0]!.rec.events).length === 2,
        "alice saw bob and carol join",
      );
      const before = peers.map((p) => p.rec.events.length);
      await first.close();
      await using second = await startRegistry({ hostname: "127.0.0.1", port });
      for (const p of peers) {
        await p.rec.waitFor(
          (e) => e.type === "info" && /Re-registered/.test(e.message),
          "re-registered",
        );
      }
      await untilAll(peers, () => second.stats().members === 3, "all three listed again");
      for (const [i, p] of peers.entries()) {
        await p.rec.until(() => p.peer.stats().links > 0, "linked");
        deepEqual(lifeLines(p.rec.events.slice(before[i])), [], p.peer.port.toString());
      }
    } finally {
      for (const p of peers.reverse()) await p.peer.quit();
      await first.close();
    }
  },
});

Deno.test({
  name: "room life: a JOIN's list is taken without member-info when none comes, after a moment",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    await using relay = new SplittingRelay(
      registry.port,
      0,
      (frame) => frame.includes('"op":"member-info"'),
    );
    const t0 = performance.now();
    // requestTimeoutMs 2000: waiting for the info that never comes would drop the connection.
    const bob = await testPeer(relay.port, { ...SLOW_KEEPALIVE, name: "bob", room: "r" });
    try {
      const joined = await bob.rec.waitFor((e) => e.type === "joined", "joined");
      const ms = performance.now() - t0;
      ok(ms >= MEMBER_INFO_WAIT_MS && ms < 1500, `${ms} ms`);
      ok(joined.type === "joined" && joined.members.every((m) => m.ringchat === undefined));
      equal(bob.peer.state, "JOINED");
    } finally {
      await bob.peer.quit();
    }
  },
});
