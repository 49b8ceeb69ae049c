/**
 * Pushed membership (issue 11 item 1): a hello'd member connection gets the
 * room's fresh `M` and its member-info within 50 ms of a join, depart, close
 * or expiry, without asking (the raw clients here send no keepalive at all);
 * pushes are coalesced and a slow reader holds at most one.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { PUSH_INTERVAL_MS } from "../registry/member_push.ts";
import { Outbox } from "../registry/outbox.ts";
import { startRegistry } from "../registry/registry.ts";
import { type PeerEvent, startPeer } from "../peer/peer.ts";
import { extension, helloClient, memberList } from "./support/hello_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { RawPeer } from "./support/raw_peer.ts";

const ALICE = "alice:127.0.0.1:50001";
const BOB = "bob:127.0.0.1:50002";
const PUSH_MS = 50;

/** Lets the room's coalescing window pass, so the next change is pushed at once (not a sync). */
function quiet(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, PUSH_INTERVAL_MS + 10));
}

function join(member: string, room = "room1"): string {
  return `J:${room}:${member}::\r\n`;
}

/**
 * The next frame of `client` but `presence` pushes (a hello'd connection with
 * a member is told who comes online too: people_ops_test.ts).
 */
async function nextFrame(client: RawClient): Promise<string> {
  for (;;) {
    const text = await client.frame();
    if (!text.startsWith("X:") || extension(text).op !== "presence") return text;
  }
}

/** The next pushed M (and the member-info after it) of `client`, with how long it took from `since`. */
async function nextPush(
  client: RawClient,
  since: number,
): Promise<{ members: string[]; ms: number }> {
  const m = await nextFrame(client);
  const ms = performance.now() - since;
  equal(extension(await nextFrame(client)).op, "member-info", "member-info follows the M");
  return { members: memberList(m), ms };
}

Deno.test("member push: join, depart, close and expiry reach a hello'd member within 50 ms", async () => {
  const expiryMs = 300;
  const sweepMs = 20;
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0, expiryMs, sweepMs });
  await using alice = await helloClient(registry.port);
  await alice.client.request(join(ALICE));
  await alice.client.frame();
  const delays: Record<string, number> = {};

  // Join: bob (a seed client) joins.
  await using bob = await RawClient.connect(registry.port);
  await quiet();
  let at = performance.now();
  await bob.request(join(BOB));
  let push = await nextPush(alice.client, at);
  deepEqual(push.members, [BOB, ALICE]);
  delays.join = push.ms;

  // Depart.
  await quiet();
  at = performance.now();
  equal(await bob.request(`D:room1:${BOB}::\r\n`), "S::\r\n");
  push = await nextPush(alice.client, at);
  deepEqual(push.members, [ALICE]);
  delays.depart = push.ms;

  // Close.
  await bob.request(join(BOB));
  await nextPush(alice.client, performance.now());
  await quiet();
  at = performance.now();
  bob.close();
  push = await nextPush(alice.client, at);
  deepEqual(push.members, [ALICE]);
  delays.close = push.ms;

  // Expiry: carol joins and stays silent. Alice renews (a keepalive) meanwhile.
  await using carol = await RawClient.connect(registry.port);
  const joined = performance.now();
  await carol.request(join("carol:127.0.0.1:50003"));
  await nextPush(alice.client, joined);
  const renew = setInterval(() => alice.client.write(join(ALICE)).catch(() => {}), 100);
  try {
    for (;;) {
      push = await nextPush(alice.client, joined);
      if (!push.members.includes("carol:127.0.0.1:50003")) break;
    }
  } finally {
    clearInterval(renew);
  }
  deepEqual(push.members, [ALICE]);
  // Carol is removed at the first sweep more than expiryMs after her JOIN; the push follows.
  console.log(
    `push delays (ms): ${
      Object.entries(delays).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")
    }; expiry pushed ${
      push.ms.toFixed(1)
    } ms after carol's JOIN (expiry ${expiryMs}, sweep ${sweepMs})`,
  );
  ok(push.ms >= expiryMs, "not before carol expired");
  ok(push.ms < expiryMs + sweepMs + PUSH_MS, `expiry pushed ${push.ms} ms after her JOIN`);
  for (const [what, ms] of Object.entries(delays)) ok(ms < PUSH_MS, `${what}: ${ms} ms`);
});

Deno.test("member push: a burst of joins is coalesced; the last push lists everyone", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using alice = await helloClient(registry.port);
  await alice.client.request(join(ALICE));
  await alice.client.frame();
  const seeds: RawClient[] = [];
  try {
    for (let i = 0; i < 20; i++) seeds.push(await RawClient.connect(registry.port));
    await Promise.all(seeds.map((s, i) => s.request(join(`s${i}:127.0.0.1:${42000 + i}`))));
    let pushes = 0;
    let members: string[] = [];
    while (members.length < 21) {
      members = (await nextPush(alice.client, 0)).members;
      pushes++;
    }
    ok(pushes < 20, `${pushes} pushes for 20 joins`);
    equal(members.length, 21);
  } finally {
    for (const s of seeds) s.close();
  }
});

Deno.test("member push: a hello'd connection that does not read holds one push at most", async () => {
  // A connection whose writes never finish: the outbox queues the marks, not frames.
  let writes = 0;
  const stalled = Promise.withResolvers<number>();
  const conn = {
    write: () => {
      writes++;
      return stalled.promise;
    },
  } as unknown as Deno.Conn;
  let made = 0;
  const frame = new Uint8Array([0x4d, 0x3a]);
  const outbox = new Outbox(conn, () => {
    made++;
    return [frame];
  });
  for (let i = 0; i < 10_000; i++) outbox.push();
  await Promise.resolve();
  equal(made, 1, "the first push is made and stalls");
  for (let i = 0; i < 10_000; i++) outbox.push();
  equal(writes, 1);
  stalled.resolve(frame.length);
  await new Promise((resolve) => setTimeout(resolve, 0));
  equal(made, 2, "the 10,000 later pushes are one, made when its turn came");
});

Deno.test("member push: peers with a 20 s keepalive see each other join and leave within 1 s", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const events: PeerEvent[] = [];
  let wake = () => {};
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const options = {
    registry: { hostname: "127.0.0.1", port: registry.port },
    hostname: "127.0.0.1",
    advertise: "127.0.0.1",
    keepaliveMs: 20_000,
  };
  await using alice = await startPeer({
    ...options,
    name: "alice",
    room: "room1",
    onEvent: (e) => {
      events.push(e);
      wake();
    },
  });
  const lastMembers = () =>
    events.findLast((e): e is Extract<PeerEvent, { type: "members" }> => e.type === "members");
  const at = performance.now();
  const bob = await startPeer({ ...options, name: "bob", room: "room1" });
  await until("bob in alice's members", () => lastMembers()?.members.length === 2);
  const joinMs = performance.now() - at;
  // Both speak ringchat/2, as the registry's member-info says.
  await until("ringchat flags", () => lastMembers()!.members.every((m) => m.ringchat === true));
  const left = performance.now();
  await bob.quit();
  await until("bob gone", () => lastMembers()?.members.length === 1);
  const leaveMs = performance.now() - left;
  console.log(
    `alice saw bob join ${joinMs.toFixed(1)} ms after his start, leave ${
      leaveMs.toFixed(1)
    } ms after his quit`,
  );
  ok(joinMs < 1000 && leaveMs < 1000);
  equal(alice.state, "JOINED");
  deepEqual(lastMembers()!.members.map((m) => [m.name, m.ringchat]), [["alice", true]]);
  ok(!events.some((e) => e.type === "info" && /ringchat\/2/.test(e.message)), "no degrade notice");
});

Deno.test("member push: the member told of a newcomer by a push lets it link first (no 2-cycle)", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const handshakeTimeoutMs = 500;
  const events: PeerEvent[] = [];
  const joined = Promise.withResolvers<void>();
  const pushed = Promise.withResolvers<void>();
  const linked = Promise.withResolvers<void>();
  await using alice = await startPeer({
    registry: { hostname: "127.0.0.1", port: registry.port },
    hostname: "127.0.0.1",
    advertise: "127.0.0.1",
    handshakeTimeoutMs,
    name: "alice",
    room: "room1",
    onEvent: (e) => {
      events.push(e);
      if (e.type === "joined") joined.resolve();
      if (e.type === "members" && e.members.length === 2) pushed.resolve();
      if (e.type === "link") linked.resolve();
    },
  });
  await joined.promise;
  // Bob, a seed client, joins; alice hears of it by a push before his handshake.
  const bob = new RawPeer("bob", "room1", "127.0.0.1");
  try {
    await bob.join(registry.port);
    await pushed.promise;
    await bob.dial(alice.port);
    await linked.promise;
    // Past the time alice gives him she looks again, and bob links to her.
    await new Promise((resolve) => setTimeout(resolve, handshakeTimeoutMs + 100));
    equal(bob.links.length, 1, "alice never dialled bob");
    deepEqual(
      events.filter((e) => e.type === "link").map((e) => `${e.direction} ${e.state}`),
      ["backward up"],
    );
  } finally {
    await bob.close();
  }
});
