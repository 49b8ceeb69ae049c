/**
 * The room history wired into the peer (issue 11, item 5): what a peer keeps,
 * `/history`, and catching up over a link after joining or coming back, with
 * each message shown once and in each origin's order.
 */

import assert from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import type { PeerOptions } from "../peer/options.ts";
import { startRegistry } from "../registry/registry.ts";
import { meshConnected, type TestPeer, testPeer } from "./support/peer_harness.ts";

type Message = Extract<PeerEvent, { type: "message" }>;

/** Peers started for one test, quit at its end (the last first). */
class Peers implements AsyncDisposable {
  readonly #started: TestPeer[] = [];
  constructor(readonly registryPort: number) {}
  async start(name: string, options: PeerOptions = {}): Promise<TestPeer> {
    const peer = await testPeer(this.registryPort, { name, room: "room1", ...options });
    this.#started.push(peer);
    return peer;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    for (const { peer } of this.#started.reverse()) await peer.quit();
  }
}

/**
 * A keepalive of 200 ms makes a new link's replay of recent texts (the seed's
 * rule, flood.ts RecentFrames) cover 100 ms only: what is older reaches a
 * newcomer as history alone.
 */
const SHORT_REPLAY = { keepaliveMs: 200 };

/** Lets the replay window pass: the one wait on time, because the replay is defined by time. */
function pastReplay(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 150));
}

function messages(peer: TestPeer, history?: boolean): Message[] {
  return peer.rec.of("message").filter((m) =>
    history === undefined || (m.history === true) === history
  );
}

/** Sends `count` numbered texts from `peer` and waits until each of `receivers` shows them all. */
async function sendAll(from: TestPeer, tag: string, count: number, receivers: TestPeer[]) {
  for (let i = 0; i < count; i++) await from.peer.send(`${tag} #${i}`);
  for (const r of receivers) {
    await r.rec.until(
      () => messages(r).filter((m) => m.text.startsWith(`${tag} #`)).length >= count,
      `${count} texts ${tag}`,
    );
  }
}

Deno.test("history: a newcomer is shown the room's last 50 messages once, in order, as history", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peers = new Peers(registry.port);
  const alice = await peers.start("alice", SHORT_REPLAY);
  const bob = await peers.start("bob", SHORT_REPLAY);
  await meshConnected([alice, bob]);
  await sendAll(alice, "early", 60, [bob]);
  await pastReplay();
  const carol = await peers.start("carol");
  await carol.rec.until(() => messages(carol, true).length >= 50, "50 history messages");
  await meshConnected([alice, bob, carol]);
  await sendAll(bob, "late", 3, [alice, carol]);
  const history = messages(carol, true);
  // The last 50 came as history; the link's replay of the last 2 s (the seed's rule) may add
  // earlier ones live: each once, and all in order.
  const early = messages(carol).filter((m) => m.text.startsWith("early")).map((m) => m.text);
  const first = 60 - early.length;
  assert.ok(early.length >= 50, `${early.length} early messages`);
  assert.deepEqual(early, Array.from({ length: early.length }, (_, i) => `early #${i + first}`));
  assert.deepEqual(history.slice(-50).map((m) => m.text), early.slice(-50));
  for (const m of history) {
    assert.equal(m.from, "alice");
    // Signed by alice, and the answer carried her signatures: verified as live texts are.
    assert.equal(m.verified, true);
    assert.match(m.at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  assert.deepEqual(
    messages(carol, false).filter((m) => m.text.startsWith("late")).map((m) => m.text),
    ["late #0", "late #1", "late #2"],
  );
});

Deno.test("history: a peer restarted with its data dir is shown what it missed since, once, in order", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const dataDir = await Deno.makeTempDir({ prefix: "ringchat-history-" });
  try {
    await using peers = new Peers(registry.port);
    const alice = await peers.start("alice", SHORT_REPLAY);
    let bob = await peers.start("bob", { ...SHORT_REPLAY, dataDir });
    await meshConnected([alice, bob]);
    await sendAll(alice, "before", 5, [bob]);
    const port = bob.peer.port;
    await bob.peer.quit();
    await alice.rec.until(
      () => alice.rec.of("members").at(-1)?.members.every((m) => m.name !== "bob") === true,
      "bob gone from alice's list",
    );
    await sendAll(alice, "away", 20, []);
    await pastReplay();
    bob = await peers.start("bob", { ...SHORT_REPLAY, dataDir, port });
    await bob.rec.until(() => messages(bob, true).length >= 20, "20 missed messages");
    await meshConnected([alice, bob]);
    await sendAll(alice, "after", 2, [bob]);
    assert.deepEqual(
      messages(bob).map((m) => [m.text, m.history ?? false]),
      [
        ...Array.from({ length: 20 }, (_, i) => [`away #${i}`, true]),
        ["after #0", false],
        ["after #1", false],
      ],
    );
    // What it kept before and after the restart, oldest first.
    const shown = bob.rec.of("history");
    bob.peer.history(24);
    const [history] = bob.rec.of("history").slice(shown.length);
    assert.deepEqual(
      history!.messages.map((m) => m.text),
      [
        ...Array.from({ length: 2 }, (_, i) => `before #${i + 3}`),
        ...Array.from({ length: 20 }, (_, i) => `away #${i}`),
        "after #0",
        "after #1",
      ],
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("history: a newcomer that joins while texts flow shows each once, in each origin's order", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peers = new Peers(registry.port);
  const alice = await peers.start("alice");
  const bob = await peers.start("bob");
  await meshConnected([alice, bob]);
  await sendAll(alice, "old", 30, [bob]);
  const flowing = (async () => {
    for (let i = 0; i < 40; i++) {
      await alice.peer.send(`flow a #${i}`);
      await bob.peer.send(`flow b #${i}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  const carol = await peers.start("carol");
  await flowing;
  await carol.rec.until(
    () => messages(carol).filter((m) => m.text.startsWith("flow")).length >= 80,
    "every flowing text",
  );
  const shown = messages(carol);
  const texts = shown.map((m) => m.text);
  assert.equal(new Set(texts).size, texts.length, "each shown once");
  // What the catch-up controls: its messages come in each origin's order, and before every live
  // message of that origin with a later msgID. (Live texts may cross each other while the ring
  // relinks around a newcomer: a new link's replay of the last 2 s, the seed's rule, can bring a
  // text after a later one came over another link.)
  for (const tag of ["old", "flow a", "flow b"]) {
    const numbered = shown.filter((m) => m.text.startsWith(`${tag} #`)).map((m) => ({
      n: Number(m.text.split("#")[1]),
      history: m.history === true,
    }));
    const history = numbered.filter((m) => m.history).map((m) => m.n);
    assert.deepEqual(history, [...history].sort((x, y) => x - y), `${tag}: history in order`);
    numbered.forEach((m, i) => {
      if (!m.history) return;
      const earlierLive = numbered.slice(0, i).filter((l) => !l.history && l.n > m.n);
      assert.deepEqual(earlierLive, [], `${tag} #${m.n} shown after a later live one`);
    });
  }
  assert.equal(texts.filter((t) => t.startsWith("flow")).length, 80);
});

Deno.test("history: /history shows my room's last messages, mine too, with ISO times", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peers = new Peers(registry.port);
  const alice = await peers.start("alice");
  const bob = await peers.start("bob");
  await meshConnected([alice, bob]);
  await sendAll(alice, "a", 3, [bob]);
  await bob.peer.send("mine");
  bob.peer.history(2);
  const [event] = bob.rec.of("history");
  assert.equal(event!.room, "room1");
  assert.deepEqual(event!.messages.map((m) => [m.from, m.text, m.self]), [
    ["alice", "a #2", false],
    ["bob", "mine", true],
  ]);
  for (const m of event!.messages) assert.ok(!Number.isNaN(Date.parse(m.at)));
  assert.throws(() => bob.peer.history(0), /positive integer/);
});

Deno.test("history: a text shown before a restart is not shown again by a new link's replay", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const dataDir = await Deno.makeTempDir({ prefix: "ringchat-history-" });
  try {
    await using peers = new Peers(registry.port);
    const alice = await peers.start("alice");
    let bob = await peers.start("bob", { dataDir });
    await meshConnected([alice, bob]);
    await sendAll(alice, "just now", 3, [bob]);
    const port = bob.peer.port;
    await bob.peer.quit();
    // Back at once: alice's link replays the last 2 s (the seed's rule), all of it seen before.
    bob = await peers.start("bob", { dataDir, port });
    await meshConnected([alice, bob]);
    await sendAll(alice, "after", 1, [bob]);
    assert.deepEqual(messages(bob).map((m) => m.text), ["after #0"]);
    assert.ok(bob.peer.stats().duplicates >= 3, "the replayed texts count as copies");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("history: a newcomer to a private room is caught up with the plaintext; another password gets none of it", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peers = new Peers(registry.port);
  const secret = { room: "plans", password: "correct horse battery staple" };
  const alice = await peers.start("alice", { ...SHORT_REPLAY, ...secret });
  const bob = await peers.start("bob", { ...SHORT_REPLAY, ...secret });
  await meshConnected([alice, bob]);
  await sendAll(alice, "plan", 5, [bob]);
  await pastReplay();
  const carol = await peers.start("carol", secret);
  await carol.rec.until(() => messages(carol, true).length >= 5, "5 history messages");
  assert.deepEqual(
    messages(carol, true).map((m) => [m.room, m.text]),
    Array.from({ length: 5 }, (_, i) => ["plans", `plan #${i}`]),
  );
  // dave joins the same name with another password: another room, no history of plans.
  const dave = await peers.start("dave", { room: "plans", password: "another password" });
  await meshConnected([dave]);
  assert.deepEqual(messages(dave).length, 0);
});
