/**
 * The attacks of issue 16 as bounded probes: what one hostile member, or a
 * few hostile registry connections, can do to a room. Each attack runs
 * against the registry at `host:port` (any P2PChat registry on
 * 127.0.0.0/8); the room attacks start their own room of peer processes on
 * it (./attack_room.ts) and measure the victims' side; the peer attacks
 * need only a peer at `host:port` (any P2PChat peer) and judge it by what
 * it answers: what they show, their
 * counters, their memory. An attack returns what it saw, or throws an
 * {@linkcode AttackFailure} saying why the defence did not hold. Every one is
 * bounded in count and time and closes everything it opened.
 *
 * @module
 */

import type net from "node:net";
import { hashId } from "../../lib/sdbm.ts";
import { Wire } from "../wire.ts";
import {
  connectAndReset,
  connectFrom,
  describeNewcomers,
  destroyAll,
  fail,
  FakePeer,
  grindName,
  joinFrame,
  linkAs,
  membersOf,
  ms,
  newcomerMs,
  newcomersServed,
  pace,
  percentile,
  RawMember,
  requestOn,
  sleep,
  slowestNewcomer,
  textFrame,
  watchNewcomers,
} from "./attack_kit.ts";
import { AttackRoom, type RoomPeer } from "./attack_room.ts";
import { startChurn } from "./churn.ts";
import {
  type AttackFigures,
  describeRss,
  emptyFigures,
  listenerPid,
  RoomWatch,
  watchRss,
} from "./attack_figures.ts";

/** What an attack is aimed at: a registry alone, a room of peers on it, or one peer. */
export type AttackTarget = "registry" | "room" | "peer";

/** The sizes and bounds of the attacks; every one has a default (issue 16's figures). */
export interface AttackOptions {
  /** Storm: `T` frames, each with a new originHID. @default 10000 */
  stormFrames: number;
  /** Storm: over how long they are sent, ms. @default 1000 */
  stormMs: number;
  /** Storm: how long after the disconnect the room may take to go quiet, ms. @default 5000 */
  settleMs: number;
  /** Silence: forged frames under the victim's originHID (the first at msgID 2^64−1). @default 1025 */
  silenceFrames: number;
  /** Silence: over how long, ms. @default 3400 */
  silenceMs: number;
  /** Memory: forged origins. @default 1000 */
  memoryOrigins: number;
  /** Memory: msgIDs per forged origin. @default 1024 */
  memoryMsgIds: number;
  /** Memory: most the victim's VmRSS may grow, MiB. @default 100 */
  memoryBoundMiB: number;
  /** Memory: longest the frames are sent for (a slow victim gets fewer), ms. @default 60000 */
  memoryMs: number;
  /** Eviction: samples of the member list, one per attack round. @default 30 */
  evictionSamples: number;
  /** Eviction: one round every this many ms. @default 300 */
  evictionEveryMs: number;
  /** Eclipse: how long the eclipsed peer may take to hear the room again, ms. @default 5000 */
  eclipseMs: number;
  /** Doors: connections reset before accept, per second. @default 110 */
  resetRate: number;
  /** Doors: how long the resets go on, ms. @default 3000 */
  resetMs: number;
  /** Doors: connections that send one `L` and then idle. @default 10000 */
  idleConnections: number;
  /** Doors: rooms one source tries to create (the registry's room cap). @default 1000 */
  roomCap: number;
  /** Doors: members of the churned room. @default 5000 */
  bigRoom: number;
  /** Doors: how long the JOIN-and-close churn goes on, ms. @default 3000 */
  churnMs: number;
  /**
   * Doors: JOIN-and-close churned a second (at least 80% must happen); 0:
   * unpaced, as fast as 200 at a time go (then at least `churnAtLeast` a
   * second must). @default 1000
   */
  churnRate: number;
  /**
   * Doors: the loopback source address the churners connect from ("": the
   * system's, 127.0.0.1, a trusted source by default). @default ""
   */
  churnFrom: string;
  /** Doors: an unpaced churn must reach this many a second to prove anything. @default 2500 */
  churnAtLeast: number;
  /** A legitimate newcomer (or keepalive) must be served within this, ms. @default 100 */
  servedMs: number;
  /** Room attacks: a newcomer joins the attacked room (and links) this often, ms. @default 100 */
  newcomerEveryMs: number;
  /** Peers of each attacked room. @default 3 */
  peers: number;
  /** Extra arguments for every peer of a room (a defence's options). @default [] */
  peerArgs: readonly string[];
  /** A compiled peer binary taking ringchat's flags, instead of `deno run` of ours. @default null */
  peerBinary: string | null;
  /**
   * Peer attacks: a member of the target peer's room as `name:ip:port`, whose
   * handshake is forged; "" when not known (then forge-handshake cannot run). @default ""
   */
  member: string;
}

/** Issue 16's figures. */
export const ATTACK_DEFAULTS: Readonly<AttackOptions> = Object.freeze({
  stormFrames: 10_000,
  stormMs: 1000,
  settleMs: 5000,
  silenceFrames: 1025,
  silenceMs: 3400,
  memoryOrigins: 1000,
  memoryMsgIds: 1024,
  memoryBoundMiB: 100,
  memoryMs: 60_000,
  evictionSamples: 30,
  evictionEveryMs: 300,
  eclipseMs: 5000,
  resetRate: 110,
  resetMs: 3000,
  idleConnections: 10_000,
  roomCap: 1000,
  bigRoom: 5000,
  churnMs: 3000,
  churnRate: 1000,
  churnFrom: "",
  churnAtLeast: 2500,
  servedMs: 100,
  newcomerEveryMs: 100,
  peers: 3,
  peerArgs: [],
  peerBinary: null,
  member: "",
});

/** What an attack works with. */
export interface AttackContext {
  /** The registry's address (127.0.0.0/8). */
  readonly host: string;
  /** The target's port: the registry's, or for the peer attacks the peer's (TCP and UDP). */
  readonly port: number;
  /** The room (and prefix of the rooms) the attack uses. */
  readonly room: string;
  readonly options: Readonly<AttackOptions>;
}

/** What an attack runs with: its context, and the figures it measures (attack_figures.ts). */
export interface AttackRun extends AttackContext {
  readonly figures: AttackFigures;
}

/** One attack. */
export interface Attack {
  /** A short name (`--only` takes it). */
  name: string;
  target: AttackTarget;
  /** What a defended target does (the PASS condition). */
  expect: string;
  /** Runs the attack; throws an AttackFailure when the defence did not hold. */
  run(ctx: AttackRun): Promise<string>;
}

/** What every room attack asks besides its own condition (RoomWatch, attack_figures.ts). */
const DURING =
  "; while it runs, a newcomer every newcomerEveryMs JOINs the room and links to a peer: all served (95% < servedMs) and linked";

const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
const U64 = 1n << 64n;

/** The room of `ctx.options.peers` peers (at least `least`), named alice, bob, carol, … */
function startRoom(ctx: AttackContext, least = 3, extra: Partial<{ skip: string }> = {}) {
  const count = Math.max(least, ctx.options.peers);
  const names = NAMES.slice(0, count).filter((n) => n !== extra.skip);
  return AttackRoom.start({
    registryPort: ctx.port,
    room: ctx.room,
    names,
    peerArgs: ctx.options.peerArgs,
    binary: ctx.options.peerBinary ?? undefined,
  });
}

/**
 * Watches a room attack while it runs (attack_figures.ts): newcomers join
 * the room and link to `linkTo()`, and the peers' VmRSS is sampled.
 */
function watchRoom(ctx: AttackRun, room: AttackRoom, linkTo: () => RoomPeer): Promise<RoomWatch> {
  return RoomWatch.start(ctx.figures, {
    host: ctx.host,
    port: ctx.port,
    room: ctx.room,
    linkTo: () => linkTo().port,
    peers: () => room.peers.map((p) => ({ name: p.name, pid: p.process.pid })),
    everyMs: ctx.options.newcomerEveryMs,
  });
}

/** A hostile member: registered in the room, listening on a fake peer, linked to `victim`. */
async function hostileLink(ctx: AttackContext, fake: FakePeer, victim: RoomPeer, name = "mallory") {
  const member = await RawMember.join(ctx.host, ctx.port, ctx.room, name, fake.port);
  try {
    const link = await linkAs(ctx.host, victim.port, ctx.room, name, fake.port);
    return { member, link };
  } catch (error) {
    member.close();
    throw error;
  }
}

/** What each peer showed since `base`, as "alice +12, bob +3". */
function growth(peers: readonly RoomPeer[], base: readonly number[]): string {
  return peers.map((p, i) => `${p.name} +${p.shown - base[i]!}`).join(", ");
}

async function forwardedOf(peers: readonly RoomPeer[]): Promise<number[] | null> {
  const stats = await Promise.all(peers.map((p) => p.stats()));
  return stats.some((s) => s === null) ? null : stats.map((s) => s!.forwarded);
}

const storm: Attack = {
  name: "storm",
  target: "room",
  expect:
    "stormFrames T with new originHIDs in stormMs, then a disconnect: shown/forwarded counts stop growing within settleMs; real messages shown once" +
    DURING,
  async run(ctx) {
    const o = ctx.options;
    await using room = await startRoom(ctx);
    await using fake = new FakePeer();
    const { member, link } = await hostileLink(ctx, fake, room.peers[0]!);
    const base = room.peers.map((p) => p.shown);
    // Newcomers while the storm is sent (not while it settles: their links would move counters).
    await using watch = await watchRoom(ctx, room, () => room.peers[0]!);
    const started = performance.now();
    let written: number;
    try {
      written = await pace(link, o.stormFrames, o.stormMs, (i) => {
        const origin = ((BigInt(i) + 1n) * 0x9e3779b97f4a7c15n) % U64;
        return textFrame(ctx.room, origin, `storm${i % 97}`, 1, `storm ${i}`);
      });
    } finally {
      link.close();
      member.close();
      await watch.stop();
    }
    const sendMs = performance.now() - started;
    const atDisconnect = room.peers.map((p) => p.shown);
    const hasStats = (await forwardedOf(room.peers)) !== null;
    // Quiet: one whole second in which no peer showed or forwarded anything more.
    let quietAfter = -1;
    const deadline = performance.now() + o.settleMs;
    let last = atDisconnect;
    let lastForwarded = await forwardedOf(room.peers);
    while (performance.now() < deadline) {
      await sleep(1000);
      const now = room.peers.map((p) => p.shown);
      const forwarded = await forwardedOf(room.peers);
      const still = now.some((n, i) => n !== last[i]) ||
        (forwarded !== null && lastForwarded !== null &&
          forwarded.some((n, i) => n !== lastForwarded![i]));
      last = now;
      lastForwarded = forwarded;
      if (!still) {
        quietAfter = o.settleMs - (deadline - performance.now());
        break;
      }
    }
    const rate = growth(room.peers, atDisconnect);
    const seen = `${written}/${o.stormFrames} frames in ${ms(sendMs)} ms; shown during: ${
      growth(room.peers, base)
    }; after the disconnect: ${rate}; ${
      hasStats
        ? "stats event: forwarded counted too"
        : "NO stats event (only shown messages watched)"
    }; ${await watch.finish()}`;
    if (quietAfter < 0) fail(`still growing ${o.settleMs} ms after the disconnect; ${seen}`);
    const delivery = await room.exchange(room.peers, 5000);
    if (delivery !== "") fail(`quiet after ${ms(quietAfter)} ms, but ${delivery}; ${seen}`);
    watch.judge(o.servedMs, seen);
    return `quiet ${ms(quietAfter)} ms after the disconnect; real messages shown once; ${seen}`;
  },
};

const silence: Attack = {
  name: "silence",
  target: "room",
  expect:
    "silenceFrames forged under a member's originHID from msgID 2^64-1 over silenceMs: its later messages reach every peer, also after it restarts on the same name and port" +
    DURING,
  async run(ctx) {
    const o = ctx.options;
    await using room = await startRoom(ctx);
    const victim = room.peers[room.peers.length - 1]!;
    const hid = hashId(victim.name, "127.0.0.1", victim.port);
    await using fake = new FakePeer();
    const { member, link } = await hostileLink(ctx, fake, room.peers[0]!);
    await using watch = await watchRoom(ctx, room, () => room.peers[0]!);
    let written: number;
    try {
      written = await pace(
        link,
        o.silenceFrames,
        o.silenceMs,
        (i) => textFrame(ctx.room, hid, victim.name, i === 0 ? U64 - 1n : i, `forged ${i}`),
        5,
      );
    } finally {
      link.close();
      member.close();
      await watch.stop();
    }
    const seen = `${written} forged frames under ${victim.name} (${hid}); ${await watch.finish()}`;
    const after = await room.exchange([victim], 3000);
    if (after !== "") fail(`${seen}; then ${after}`);
    await victim.restart();
    await victim.process.waitFor((e) => e.type === "link" && e.state === "up", 10_000, true)
      .catch(() => {});
    const restarted = await room.exchange([victim], 5000);
    if (restarted !== "") fail(`${seen}; heard afterwards, but after its restart ${restarted}`);
    watch.judge(o.servedMs, seen);
    return `${seen}; heard by all afterwards and after its restart`;
  },
};

const memoryAttack: Attack = {
  name: "memory",
  target: "room",
  expect:
    "memoryOrigins forged origins × memoryMsgIds msgIDs on one link: the victim's VmRSS grows less than memoryBoundMiB (before, during, after)" +
    DURING,
  async run(ctx) {
    const o = ctx.options;
    await using room = await startRoom(ctx);
    const victim = room.peers[0]!;
    await using fake = new FakePeer();
    const { member, link } = await hostileLink(ctx, fake, victim);
    await using watch = await watchRoom(ctx, room, () => victim);
    const before = await victim.rssMiB();
    let during = before;
    const total = o.memoryOrigins * o.memoryMsgIds;
    let written = 0;
    const shownBefore = victim.shown;
    const started = performance.now();
    let sendMs: number;
    try {
      // msgID-major, so each forged origin is seen at the rate of all of them together.
      for (
        let m = 1;
        m <= o.memoryMsgIds && written === (m - 1) * o.memoryOrigins &&
        performance.now() - started < o.memoryMs;
        m++
      ) {
        written += await pace(link, o.memoryOrigins, 0, (i) => {
          const origin = ((BigInt(i) + 7n) * 0x9e3779b97f4a7c15n) % U64;
          return textFrame(ctx.room, origin, `flood${i}`, m, `m`);
        }, 250);
        if (m % 128 === 0) during = Math.max(during, await victim.rssMiB());
      }
      sendMs = performance.now() - started;
      // The frames sit in socket buffers until the victim reads them (closing the link now
      // could reset it and discard them): the link stays until it has shown nothing more for
      // a whole second (or memoryMs more have passed).
      for (let last = -1, until = performance.now() + o.memoryMs; performance.now() < until;) {
        await sleep(1000);
        during = Math.max(during, await victim.rssMiB());
        if (victim.shown === last) break;
        last = victim.shown;
      }
    } finally {
      link.close();
      member.close();
      await watch.stop();
    }
    await sleep(2000);
    const after = await victim.rssMiB();
    const base = shownBefore;
    const seen = `${written}/${total} frames in ${ms(sendMs)} ms, ${
      victim.shown - base
    } shown by ${victim.name}; its VmRSS before ${before.toFixed(0)} MiB, during ${
      during.toFixed(0)
    } MiB, after ${after.toFixed(0)} MiB; ${await watch.finish()}`;
    if (Math.max(during, after) - before >= o.memoryBoundMiB) {
      fail(`grew ${(Math.max(during, after) - before).toFixed(0)} MiB: ${seen}`);
    }
    watch.judge(o.servedMs, seen);
    return seen;
  },
};

const forge: Attack = {
  name: "forge",
  target: "room",
  expect:
    "a P claiming to be bob from another socket gets no S; a T with carol's originHID and name from another link is shown as carol by nobody (a seed room cannot defend this)" +
    DURING,
  async run(ctx) {
    await using room = await startRoom(ctx);
    const [alice, bob, carol] = room.peers as [RoomPeer, RoomPeer, RoomPeer];
    await using watch = await watchRoom(ctx, room, () => alice);
    // A handshake as bob, from a socket that is not bob's.
    let handshake: string;
    {
      await using wire = await Wire.connect(ctx.host, alice.port, {
        timeoutMs: 1500,
        lenient: true,
      });
      await wire.write(`P:${ctx.room}:bob:127.0.0.1:${bob.port}:0::\r\n`);
      const reply = await wire.next(1500).catch(() => null);
      handshake = reply?.startsWith("S:") ? "accepted" : "refused";
    }
    // Text under carol's originHID and name, on the hostile member's link.
    await using fake = new FakePeer();
    const { member, link } = await hostileLink(ctx, fake, alice);
    const text = `chaos:forged-as-carol`;
    try {
      await link.write(
        textFrame(ctx.room, hashId(carol.name, "127.0.0.1", carol.port), carol.name, 1, text),
      );
      await sleep(1500);
    } finally {
      link.close();
      member.close();
      await watch.stop();
    }
    const shownAsCarol = room.peers.filter((p) =>
      p !== carol && p.showings(text).some((m) => m.from === carol.name)
    );
    const delivery = await room.exchange(room.peers, 5000);
    const seen = `a P as bob from another socket: ${handshake}; the T as carol shown as carol by ${
      shownAsCarol.length === 0 ? "nobody" : shownAsCarol.map((p) => p.name).join(", ")
    }; ${await watch.finish()}`;
    if (handshake === "accepted" || shownAsCarol.length > 0) fail(seen);
    if (delivery !== "") fail(`${seen}; but afterwards ${delivery}`);
    watch.judge(ctx.options.servedMs, seen);
    return `${seen}; the room still delivers once`;
  },
};

const eviction: Attack = {
  name: "eviction",
  target: "registry",
  expect:
    "a JOIN with alice's exact name/ip/port from another connection, then a close or DEPART, every evictionEveryMs: alice is listed in >= 95% of samples; newcomers served",
  async run(ctx) {
    const o = ctx.options;
    await using _alice = await RawMember.join(ctx.host, ctx.port, ctx.room, "alice", 47001);
    await using sampler = await RawMember.join(
      ctx.host,
      ctx.port,
      ctx.room,
      "sampler",
      47002,
    );
    await using newcomers = await watchNewcomers(ctx.host, ctx.port, `${ctx.room}-newcomers`);
    let present = 0;
    let answered = 0;
    let samples: number[] = [];
    try {
      for (let i = 0; i < o.evictionSamples; i++) {
        const round = performance.now();
        try {
          await using twin = await Wire.connect(ctx.host, ctx.port, {
            timeoutMs: 1000,
            lenient: true,
          });
          if (membersOf(await twin.request(joinFrame(ctx.room, "alice", 47001))) !== null) {
            answered++;
          }
          if (i % 2 === 1) {
            await twin.request(`D:${ctx.room}:alice:127.0.0.1:47001::\r\n`, 500).catch(() => "");
          }
        } catch {
          // Refused or not answered: the twin did nothing.
        }
        await sleep(o.evictionEveryMs / 2);
        if ((await sampler.renew()).some((m) => m.name === "alice")) present++;
        await sleep(Math.max(0, o.evictionEveryMs - (performance.now() - round)));
      }
    } finally {
      samples = (await newcomers.stop()).map((s) => s.ms);
      ctx.figures.served.push(...samples);
    }
    const share = present / o.evictionSamples;
    const seen = `alice listed in ${present}/${o.evictionSamples} samples (${
      (share * 100).toFixed(0)
    }%); the twin's JOIN answered M ${answered}×; ${describeNewcomers(samples)}`;
    if (share < 0.95) fail(seen);
    if (!newcomersServed(samples, o.servedMs)) fail(`newcomers not served: ${seen}`);
    return seen;
  },
};

const eclipse: Attack = {
  name: "eclipse",
  target: "room",
  expect:
    "two fake members ground just before and after bob's HashID, on a listener that answers S and swallows: bob still hears the room (and is heard) within eclipseMs" +
    DURING,
  async run(ctx) {
    const o = ctx.options;
    await using room = await startRoom(ctx, 3, { skip: "bob" });
    // bob's port is chosen before he joins, so the fakes can be ground around his HashID.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const bobPort = probe.addr.port;
    probe.close();
    const bobHid = hashId("bob", "127.0.0.1", bobPort);
    const distance = (a: bigint, b: bigint) => {
      const d = (a - b + U64) % U64;
      return d < U64 - d ? d : U64 - d;
    };
    const nearest = room.peers.reduce(
      (min, p) => {
        const d = distance(hashId(p.name, "127.0.0.1", p.port), bobHid);
        return d < min ? d : min;
      },
      U64,
    );
    const delta = nearest / 2n;
    await using fake = new FakePeer();
    const before = grindName("eb", "127.0.0.1", fake.port, (bobHid - delta + U64) % U64, bobHid);
    const after = grindName("ea", "127.0.0.1", fake.port, bobHid, (bobHid + delta) % U64);
    await using _a = await RawMember.join(ctx.host, ctx.port, ctx.room, before, fake.port);
    await using _b = await RawMember.join(ctx.host, ctx.port, ctx.room, after, fake.port);
    // Newcomers link to bob once he is up (to alice before).
    await using watch = await watchRoom(
      ctx,
      room,
      () => room.peers.find((p) => p.name === "bob") ?? room.peers[0]!,
    );
    await room.add("bob", bobPort);
    const delivery = await room.exchange(room.peers, o.eclipseMs);
    const seen =
      `fakes ${before} and ${after} around bob (${bobHid}); the fake peer answered ${fake.handshakes} handshakes and swallowed ${fake.bytes} bytes; ${await watch
        .finish()}`;
    if (delivery !== "") fail(`${delivery}; ${seen}`);
    watch.judge(o.servedMs, seen);
    return `bob hears and is heard; ${seen}`;
  },
};

const doorsReset: Attack = {
  name: "doors-reset",
  target: "registry",
  expect:
    "resetRate connections a second reset before accept, for resetMs: newcomers served (95% < servedMs, none refused) during and 2 s after",
  async run(ctx) {
    const o = ctx.options;
    await using newcomers = await watchNewcomers(ctx.host, ctx.port, `${ctx.room}-doors`);
    const resets: Promise<void>[] = [];
    const started = performance.now();
    while (performance.now() - started < o.resetMs) {
      const due = started + (resets.length * 1000) / o.resetRate;
      await sleep(Math.max(0, due - performance.now()));
      resets.push(connectAndReset(ctx.host, ctx.port));
    }
    await Promise.all(resets);
    const mark = performance.now();
    await sleep(2000);
    const samples = await newcomers.stop();
    const during = samples.filter((s) => s.at < mark).map((s) => s.ms);
    const after = samples.filter((s) => s.at >= mark).map((s) => s.ms);
    ctx.figures.served.push(...during);
    const seen = `${resets.length} resets in ${ms(mark - started)} ms; during: ${
      describeNewcomers(during)
    }; 2 s after: ${describeNewcomers(after)}`;
    if (!newcomersServed(during, o.servedMs) || !newcomersServed(after, o.servedMs)) fail(seen);
    return seen;
  },
};

/** The loopback source address of the `i`-th hostile host (127.0.0.2, …). */
function hostileSource(i: number): string {
  return `127.0.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 2}`;
}

const doorsIdle: Attack = {
  name: "doors-idle",
  target: "registry",
  expect:
    "idleConnections from one other source address each send one L, then idle: a legitimate JOIN from 127.0.0.1 is still served in < servedMs",
  async run(ctx) {
    const o = ctx.options;
    const sockets: net.Socket[] = [];
    let refused = 0;
    const started = performance.now();
    try {
      for (let i = 0; i < o.idleConnections; i += 200) {
        const batch = await Promise.allSettled(
          Array.from(
            { length: Math.min(200, o.idleConnections - i) },
            () => connectFrom(ctx.host, ctx.port, hostileSource(0)),
          ),
        );
        for (const s of batch) {
          if (s.status === "rejected") {
            refused++;
            continue;
          }
          s.value.on("error", () => {});
          s.value.write("L::\r\n");
          sockets.push(s.value);
        }
      }
      const openMs = performance.now() - started;
      await sleep(200);
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        samples.push(await newcomerMs(ctx.host, ctx.port, `${ctx.room}-idle`, `legit${i}`));
      }
      ctx.figures.served.push(...samples);
      const stillOpen = sockets.filter((s) => !s.destroyed && !s.closed).length;
      const seen = `${sockets.length} idle connections opened in ${
        ms(openMs)
      } ms (${refused} failed), ${stillOpen} still open; legitimate JOIN: ${
        describeNewcomers(samples)
      }`;
      if (!newcomersServed(samples, o.servedMs)) fail(seen);
      return seen;
    } finally {
      await destroyAll(sockets);
    }
  },
};

const doorsRooms: Attack = {
  name: "doors-rooms",
  target: "registry",
  expect:
    "one source address creates rooms up to roomCap: another source address can still create a room",
  async run(ctx) {
    const o = ctx.options;
    const sockets: net.Socket[] = [];
    let created = 0;
    let refusal = "";
    try {
      for (let i = 0; i < o.roomCap && refusal === ""; i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, o.roomCap - i) }, async (_, j) => {
            const s = await connectFrom(ctx.host, ctx.port, hostileSource(0));
            sockets.push(s);
            return await requestOn(s, joinFrame(`${ctx.room}-cap${i + j}`, "owner", 1));
          }),
        );
        for (const reply of batch) {
          if (reply !== null && reply.startsWith("M:")) created++;
          else if (refusal === "") refusal = JSON.stringify(reply);
        }
      }
      const other = await connectFrom(ctx.host, ctx.port, hostileSource(1));
      sockets.push(other);
      const reply = await requestOn(other, joinFrame(`${ctx.room}-other`, "newcomer", 1));
      const seen = `${hostileSource(0)} created ${created} rooms${
        refusal === "" ? "" : ` (then ${refusal})`
      }; a room from ${hostileSource(1)}: ${JSON.stringify(reply)}`;
      if (reply === null || !reply.startsWith("M:")) fail(seen);
      return seen;
    } finally {
      await destroyAll(sockets);
    }
  },
};

const doorsChurn: Attack = {
  name: "doors-churn",
  target: "registry",
  expect:
    "JOIN-and-close churn from churnFrom at churnRate a second (0: unpaced, at least churnAtLeast) in a room of bigRoom members for churnMs: a legitimate member's keepalive p99 < servedMs; newcomers to another room served",
  async run(ctx) {
    const o = ctx.options;
    const big = `${ctx.room}-big`;
    await using keeper = await RawMember.join(ctx.host, ctx.port, big, "keeper", 48000);
    const conns: Deno.TcpConn[] = [];
    const drains: Promise<void>[] = [];
    /** Keeps `conn` open, reading what it gets; resolves at its first answer (or its end). */
    const hold = (conn: Deno.TcpConn): Promise<void> => {
      conns.push(conn);
      const answered = Promise.withResolvers<void>();
      drains.push(
        conn.readable.pipeTo(new WritableStream({ write: () => answered.resolve() }))
          .catch(() => {}).finally(() => answered.resolve()),
      );
      return answered.promise;
    };
    const encoder = new TextEncoder();
    try {
      // 100 at a time, each batch answered before the next: unanswered, 2,000 connects overflow
      // the registry's listen queue (511) and wait 1 s for their SYN's retransmit.
      for (let i = 0; i < o.bigRoom - 1; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, o.bigRoom - 1 - i) }, async (_, j) => {
            const conn = await Deno.connect({ hostname: ctx.host, port: ctx.port });
            const answered = hold(conn);
            await conn.write(encoder.encode(joinFrame(big, `m${i + j}`, 10_000 + i + j)));
            await answered;
          }),
        );
      }
      // An answer may be a refusal: count who is in.
      let listed = (await keeper.renew()).length;
      for (const deadline = performance.now() + 30_000; listed < o.bigRoom;) {
        if (performance.now() > deadline) break;
        await sleep(200);
        listed = (await keeper.renew()).length;
      }
      const timed = async () => {
        const started = performance.now();
        await keeper.renew();
        return performance.now() - started;
      };
      const quiet: number[] = [];
      for (let i = 0; i < 20; i++) quiet.push(await timed());
      // A short suffix: room names are at most 32 bytes (attack-doors-churn-other is 24).
      // Watched first: the churn's count is of its own window only.
      await using newcomers = await watchNewcomers(ctx.host, ctx.port, `${ctx.room}-other`);
      // Paced (churnRate), the churn measures what a JOIN in a big room costs. Unpaced
      // (churnRate 0), a churner opens connections faster than any single-threaded registry
      // serves them (8,600–16,800 a second from its own thread here, against ~2,500 JOIN-and-close served in a room of
      // 2,000): without a connect rate per source the listen queue (511) fills and drops SYNs,
      // its own and a newcomer's (a 1 s retransmit); with it, the registry closes what is over
      // the rate at accept (docs/security.md, "Connection storm"). The rate spares trusted
      // sources, so an unpaced churn that means anything comes from another (churnFrom).
      const from = o.churnFrom === "" ? null : o.churnFrom;
      // In a thread of its own: the churner is another host, and must not delay the keepalive.
      await using churn = await startChurn({
        host: ctx.host,
        port: ctx.port,
        room: big,
        rate: o.churnRate,
        from,
      });
      const during: number[] = [];
      const started = performance.now();
      while (performance.now() - started < o.churnMs) {
        during.push(await timed());
        await sleep(20);
      }
      const { churned, ms: churnedMs } = await churn.stop();
      ctx.figures.churned = churned;
      const samples = await newcomers.stop();
      const arrivals = samples.map((s) => s.ms);
      ctx.figures.served.push(...arrivals);
      const meant = Math.round(((o.churnRate || o.churnAtLeast) * churnedMs) / 1000);
      const seen = `room of ${listed}; ${churned} JOIN-and-close${
        from === null ? "" : ` from ${from}`
      } in ${ms(churnedMs)} ms (${
        o.churnRate === 0 ? "unpaced, at least " : ""
      }${meant} meant); keepalive p50 ${ms(percentile(quiet, 50))} → ${
        ms(percentile(during, 50))
      } ms, p99 ${ms(percentile(quiet, 99))} → ${
        ms(percentile(during, 99))
      } ms (${during.length} samples); in another room: ${describeNewcomers(arrivals)}; ${
        slowestNewcomer(samples)
      }`;
      if (listed < o.bigRoom) fail(`the room holds only ${listed}: ${seen}`);
      if (churned < 0.8 * meant) fail(`the churn fell short: ${seen}`);
      if (!(percentile(during, 99) < o.servedMs)) fail(seen);
      if (!newcomersServed(arrivals, o.servedMs)) fail(`newcomers not served: ${seen}`);
      return seen;
    } finally {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.all(drains);
    }
  },
};

/** Waits up to `timeoutMs` for one datagram on `socket`; null when none came. */
async function receiveWithin(socket: Deno.DatagramConn, timeoutMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = socket.receive();
  const result = await Promise.race([
    got,
    new Promise<null>((resolve) => timer = setTimeout(resolve, timeoutMs, null)),
  ]);
  clearTimeout(timer);
  return { result, pending: result === null ? got : null };
}

const udp: Attack = {
  name: "udp",
  target: "room",
  expect:
    "a K naming bob from another socket is not shown as bob's poke; a K for another room is not answered; a forged A while a poke to a stopped bob is pending is not reported as an ACK" +
    DURING,
  async run(ctx) {
    await using room = await startRoom(ctx);
    const [alice, bob] = room.peers as [RoomPeer, RoomPeer];
    await using watch = await watchRoom(ctx, room, () => alice);
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to = { transport: "udp" as const, hostname: ctx.host, port: alice.port };
    const encoder = new TextEncoder();
    const pending: Promise<unknown>[] = [];
    const problems: string[] = [];
    const seen: string[] = [];
    try {
      // 1. A poke naming bob, from a socket that is not bob's.
      const poked = alice.process.waitFor((e) => e.type === "poke" && e.from === "bob", 1000)
        .then(() => true, () => false);
      await socket.send(encoder.encode(`K:${ctx.room}:bob::\r\n`), to);
      const first = await receiveWithin(socket, 1000);
      if (first.pending !== null) pending.push(first.pending.catch(() => null));
      const shown = await poked;
      seen.push(
        `K as bob from port ${(socket.addr as Deno.NetAddr).port}: ${
          shown ? "shown as bob's poke" : "not shown as bob's"
        }, ${first.result === null ? "no A" : "answered A"}`,
      );
      if (shown) problems.push("a K from another socket was shown as bob's poke");
      // 2. A poke for another room.
      await socket.send(encoder.encode(`K:${ctx.room}-elsewhere:bob::\r\n`), to);
      const other = await receiveWithin(socket, 1000);
      if (other.pending !== null) pending.push(other.pending.catch(() => null));
      seen.push(`K for another room: ${other.result === null ? "not answered" : "answered A"}`);
      if (other.result !== null) problems.push("a K for another room was answered");
      // 3. A forged A while alice's poke to a stopped bob is pending.
      bob.process.signal("SIGSTOP");
      try {
        const outcome = alice.process.waitFor(
          (e) => (e.type === "poke-ack" || e.type === "poke-timeout") && e.to === "bob",
          8000,
        );
        await alice.process.command("/poke bob");
        // Forged ACKs at about 100, 300 and 600 ms into the pending poke.
        for (const wait of [100, 200, 300]) {
          await sleep(wait);
          await socket.send(encoder.encode("A::\r\n"), to);
        }
        const event = await outcome.catch(() => null);
        seen.push(`forged A during a poke to a stopped bob: ${event?.type ?? "no outcome"}`);
        if (event?.type === "poke-ack") problems.push("a forged A was reported as bob's ACK");
      } finally {
        bob.process.signal("SIGCONT");
      }
    } finally {
      socket.close();
      await Promise.all(pending);
      await watch.stop();
    }
    seen.push(await watch.finish());
    if (problems.length > 0) fail(`${problems.join("; ")} (${seen.join("; ")})`);
    watch.judge(ctx.options.servedMs, seen.join("; "));
    return seen.join("; ");
  },
};

const peerUdp: Attack = {
  name: "udp-room",
  target: "peer",
  expect:
    "a K for another room than the peer's (the room option's name + '-elsewhere') is not answered A",
  async run(ctx) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to = { transport: "udp" as const, hostname: ctx.host, port: ctx.port };
    let pending: Promise<unknown> | null = null;
    try {
      await socket.send(
        new TextEncoder().encode(`K:${ctx.room}-elsewhere:chaos::\r\n`),
        to,
      );
      const got = await receiveWithin(socket, 1000);
      pending = got.pending?.catch(() => null) ?? null;
      if (got.result !== null) fail("a K for another room was answered A");
      return "a K for another room: not answered within 1 s";
    } finally {
      socket.close();
      await pending;
    }
  },
};

const peerHandshake: Attack = {
  name: "forge-handshake",
  target: "peer",
  expect:
    "a P claiming to be the member option (NAME:IP:PORT of a member of the peer's room), from a socket that is not its, gets no S",
  async run(ctx) {
    const member = ctx.options.member;
    if (!/^[^:]+:[^:]+:\d+$/.test(member)) fail("needs the member option: NAME:IP:PORT");
    await using wire = await Wire.connect(ctx.host, ctx.port, { timeoutMs: 1500, lenient: true });
    await wire.write(`P:${ctx.room}:${member}:0::\r\n`);
    const reply = await wire.next(1500).catch(() => "");
    if (reply?.startsWith("S:")) fail(`a P as ${member} was answered ${reply.trim()}`);
    return `a P as ${member} in ${ctx.room}: ${
      reply === null ? "closed" : reply === "" ? "no answer in 1.5 s" : JSON.stringify(reply)
    }`;
  },
};

/**
 * Every attack, registry attacks first; doors-reset last of them, since on a
 * registry without its defence it stops the accept loop for tens of seconds.
 */
export const ATTACKS: readonly Attack[] = [
  eviction,
  doorsRooms,
  doorsIdle,
  doorsChurn,
  doorsReset,
  storm,
  silence,
  memoryAttack,
  forge,
  eclipse,
  udp,
  peerUdp,
  peerHandshake,
];

/** The outcome of one attack. */
export interface AttackResult {
  name: string;
  expect: string;
  passed: boolean;
  detail: string;
  ms: number;
  /** What was measured beside the PASS condition (newcomers, VmRSS). */
  figures: AttackFigures;
}

/** Runs one attack; never throws for what the target does. */
export async function runAttack(attack: Attack, ctx: AttackContext): Promise<AttackResult> {
  const figures = emptyFigures();
  // The target's own VmRSS too, when this machine can tell its process (attack_figures.ts).
  const pid = await listenerPid(ctx.port);
  const target = attack.target === "peer" ? "peer" : "registry";
  const rss = pid === null ? null : await watchRss(figures, () => [{ name: target, pid }]);
  const started = performance.now();
  let passed = true;
  let detail: string;
  try {
    detail = await attack.run({ ...ctx, figures });
  } catch (error) {
    passed = false;
    detail = error instanceof Error && error.name === "AttackFailure"
      ? error.message
      : `error: ${error instanceof Error ? error.message : String(error)}`;
  }
  const took = Math.round(performance.now() - started);
  if (rss !== null) {
    await rss.stop();
    await rss.after();
    detail += `; VmRSS MiB before/during/after: ${describeRss(figures.rss.slice(-1))}`;
  }
  return { name: attack.name, expect: attack.expect, passed, detail, ms: took, figures };
}
