/**
 * The chaos tester the seed systems describe: malformed frames, illegal
 * actions and load against any P2PChat registry or peer, ours or not. Each
 * probe abuses the target one way, then a liveness check asks whether the
 * target still answers a well-behaved client correctly; a probe passes when
 * its own expectation held and the target is alive afterwards. Prints a
 * pass/fail table and exits 1 if any probe failed.
 *
 *     deno task chaos --target 127.0.0.1:32340                # a registry
 *     deno task chaos --target 127.0.0.1:50001 --as peer      # a peer (TCP and UDP)
 *     deno task chaos --attacks --target 127.0.0.1:32340      # issue 16's attacks on a registry
 *     deno task chaos --attacks --as room --target 127.0.0.1:32340   # ... on rooms of peers there
 *
 * With `--attacks` the tool runs the hostile-member attacks of
 * ./chaos/attacks.ts instead of the probes: `--as registry` (the default)
 * those aimed at the registry alone, `--as room` those that start a room of
 * peer processes (`--peers`, ringchat peers unless `--peer-binary` names
 * another build with the same flags) on the target registry and measure
 * the victims' side; `--as peer` the few that need only a peer (any P2PChat
 * peer: `--room` its room, `--member` a member to impersonate), judged by
 * what it answers. Each prints PASS or FAIL with its figures; a last table
 * gives what was measured during each attack (./chaos/attack_figures.ts):
 * legitimate newcomers' waits to be served (connect, `L`, JOIN → `M`) and,
 * in room attacks, to their first link up, and the VmRSS of the target and
 * of the room's peers before, during and after.
 *
 * Without `--as` the tool first tells what the target is (./chaos/detect.ts:
 * a registry answers `L::\r\n`, a peer closes the connection) and runs that
 * probe set (a registry's when it cannot tell); with `--as` it says so when
 * the target seems to be the other kind.
 *
 * Liveness of a registry: a new connection is answered `L` with a `G` frame
 * and `J` with an `M` frame that lists the joiner. Liveness of a peer: a TCP
 * connection to its port is accepted, and a `K` poke datagram to the same
 * port is answered `A` (a peer answers any well-formed `K`; a handshake
 * cannot be the check, since a peer refuses `P` from non-members).
 *
 * What each probe expects is in {@linkcode REGISTRY_PROBES} and
 * {@linkcode PEER_PROBES} (`expect`), and printed in the table.
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../lib/cli_options.ts";
import {
  optionalChoice,
  optionalText,
  requiredText,
  switchOption,
  textOption,
} from "./tool_options.ts";
import { decodeFrame, type MembersFrame, msidOf, type RoomsFrame } from "../lib/frames.ts";
import { type Detection, detectTarget, type TargetKind } from "./chaos/detect.ts";
import { Wire, WireError } from "./wire.ts";
import {
  ATTACK_DEFAULTS,
  type AttackOptions,
  ATTACKS,
  type AttackTarget,
  runAttack,
} from "./chaos/attacks.ts";
import { assertLoopback } from "./chaos/attack_kit.ts";
import { formatFigures } from "./chaos/attack_figures.ts";
import { prng } from "./prng.ts";

export type { TargetKind };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@linkcode runChaos}; all but the target have defaults. */
export interface ChaosOptions {
  /** The target's address (only loopback makes sense: the probes abuse it). */
  hostname: string;
  /** The target's TCP port (and, for a peer, its UDP port). */
  port: number;
  /** A registry or a peer. Default: what {@linkcode detectTarget} finds. */
  as?: TargetKind;
  /** How long any one answer may take, in ms. Default 3000. */
  timeoutMs?: number;
  /** Connections the connection-flood probe holds at once. Default 500. */
  floodConnections?: number;
  /** Clients of the load probe. Default 50. */
  loadClients?: number;
  /** How long the load probe runs, in ms. Default 2000. */
  loadMs?: number;
  /** Pause between the bytes of the slow-drip probe, in ms. Default 20. */
  dripMs?: number;
  /** Members of the big-room probe (the reference overflows past ~65). Default 100. */
  bigRoom?: number;
  /** How long a peer may keep a link that stalls mid-frame, in ms. Default 5000. */
  stallMs?: number;
  /** The room the probes use (and rooms named after it). Default "chaos". */
  room?: string;
  /** Seed of the random bytes. Default 1. */
  seed?: number;
  /** Only the probes with these names. Default: all. */
  only?: readonly string[];
}

/** The outcome of one probe. */
export interface ProbeResult {
  /** The probe's name. */
  name: string;
  /** What the probe expects of a robust target. */
  expect: string;
  /** True when the expectation held and the target was alive afterwards. */
  passed: boolean;
  /** What was seen, or why it failed. */
  detail: string;
  /** How long the probe and its liveness check took, in ms. */
  ms: number;
}

/** One probe: abuse, check the expectation (throw if it failed), return what was seen. */
export interface Probe {
  /** A short name (`--only` takes it). */
  name: string;
  /** What a robust target does. */
  expect: string;
  /** Runs the probe; throws an Error saying what went wrong. */
  run(ctx: ProbeContext): Promise<string>;
}

/** What a probe works with. */
export interface ProbeContext {
  /** The resolved options. */
  readonly options: Readonly<Required<Omit<ChaosOptions, "only">>>;
  /** A new connection to the target. */
  connect(): Promise<Wire>;
  /** Throws unless the target answers a well-behaved client; returns what it saw. */
  alive(): Promise<string>;
  /** Deterministic random bytes. */
  random(length: number): Uint8Array;
}

class ProbeFailure extends Error {
  override name = "ProbeFailure";
}

function fail(why: string): never {
  throw new ProbeFailure(why);
}

function isFailure(frame: string): boolean {
  return /^F:[^\r\n]*::\r\n$/.test(frame);
}

function show(text: string, max = 60): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max - 3)}...` : json;
}

function decodeReply<F>(text: string, type: string): F {
  let frame;
  try {
    frame = decodeFrame(encoder.encode(text));
  } catch (error) {
    fail(`undecodable reply ${show(text)}: ${(error as Error).message}`);
  }
  if (frame.type !== type) fail(`expected ${type}, got ${show(text)}`);
  return frame as F;
}

function names(reply: string): string[] {
  return decodeReply<MembersFrame>(reply, "M").members.map((m) => m.name);
}

/** Closes every wire and waits for nothing: closing a TCP connection is synchronous. */
function closeAll(wires: Iterable<Wire>): void {
  for (const w of wires) w.close();
}

/** Opens `n` connections, `batch` at a time; on failure closes those opened. */
async function openMany(ctx: ProbeContext, n: number, batch = 100): Promise<Wire[]> {
  const wires: Wire[] = [];
  for (let i = 0; i < n; i += batch) {
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(batch, n - i) }, () => ctx.connect()),
    );
    for (const s of settled) if (s.status === "fulfilled") wires.push(s.value);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed !== undefined) {
      closeAll(wires);
      fail(
        `connection ${wires.length + 1} of ${n} failed: ${
          (failed as PromiseRejectedResult).reason
        }`,
      );
    }
  }
  return wires;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function join(room: string, name: string, port: number): string {
  return `J:${room}:${name}:127.0.0.1:${port}::\r\n`;
}

/** Asks every request on one connection and expects an `F` to each. */
async function expectFailures(ctx: ProbeContext, requests: string[]): Promise<string> {
  await using wire = await ctx.connect();
  const seen: string[] = [];
  for (const request of requests) {
    const reply = await wire.request(request);
    if (!isFailure(reply)) fail(`${show(request)} was answered ${show(reply)}, not F`);
    seen.push(reply.slice(2, -4));
  }
  return `${requests.length} × F (${[...new Set(seen)].join("; ")})`;
}

/** The probes of a registry. */
export const REGISTRY_PROBES: readonly Probe[] = [
  {
    name: "baseline",
    expect: "L → G; J → M listing the joiner",
    run: (ctx) => ctx.alive(),
  },
  {
    name: "malformed-join",
    expect: "each malformed JOIN → F; the connection is kept",
    run: (ctx) =>
      expectFailures(ctx, [
        `J:${ctx.options.room}:alice::\r\n`,
        `J:${ctx.options.room}:alice:127.0.0.1:notaport::\r\n`,
        `J:${ctx.options.room}:alice:127.0.0.1:99999::\r\n`,
        "J::alice:127.0.0.1:5000::\r\n",
        `J:${ctx.options.room}:alice:127.0.0.1:5000:extra::\r\n`,
        "J::\r\n",
      ]),
  },
  {
    name: "malformed-list",
    expect: "L:x and L with a bare \\n → F",
    run: (ctx) => expectFailures(ctx, ["L:x::\r\n", "L::\n"]),
  },
  {
    name: "unknown-types",
    expect: "P, T, K, A, S, G, M, F, X and a bare newline → F each",
    run: (ctx) =>
      expectFailures(ctx, [
        `P:${ctx.options.room}:alice:127.0.0.1:5000:0::\r\n`,
        `T:${ctx.options.room}:123:alice:1:2:hi::\r\n`,
        `K:${ctx.options.room}:alice::\r\n`,
        "A::\r\n",
        "S::\r\n",
        "G::\r\n",
        "M:1:alice:127.0.0.1:5000::\r\n",
        "F:oops::\r\n",
        "X::\r\n",
        "\r\n",
      ]),
  },
  {
    name: "invalid-names",
    expect: "a room or name over 32 bytes, or with a control character → F",
    run: (ctx) =>
      expectFailures(ctx, [
        join("r".repeat(33), "alice", 5000),
        join(ctx.options.room, "n".repeat(33), 5000),
        join(ctx.options.room, "al\tice", 5000),
        join(`${ctx.options.room}\x7f`, "alice", 5000),
      ]),
  },
  {
    name: "join-twice",
    expect: "JOIN into room A, then into room B on one connection → F; still in A, no B",
    async run(ctx) {
      const a = `${ctx.options.room}-a`;
      const b = `${ctx.options.room}-b`;
      await using wire = await ctx.connect();
      if (!names(await wire.request(join(a, "twice", 47001))).includes("twice")) {
        fail("the first JOIN did not list the joiner");
      }
      const second = await wire.request(join(b, "twice", 47001));
      if (!isFailure(second)) fail(`the second JOIN was answered ${show(second)}`);
      await using other = await ctx.connect();
      const rooms = decodeReply<RoomsFrame>(await other.request("L::\r\n"), "G").rooms;
      if (rooms.includes(b)) fail(`room ${b} was created: ${rooms.join(", ")}`);
      if (!rooms.includes(a)) fail(`room ${a} is gone: ${rooms.join(", ")}`);
      return `second JOIN → ${show(second)}`;
    },
  },
  {
    name: "oversize",
    expect: "64 KiB without a newline → F and/or a close, without waiting for more",
    async run(ctx) {
      await using wire = await ctx.connect();
      await wire.write("J".repeat(64 * 1024));
      const first = await wire.next();
      if (first === null) return "closed without an answer";
      if (!isFailure(first)) fail(`answered ${show(first)}`);
      return `answered ${show(first)}`;
    },
  },
  {
    name: "split-frames",
    expect: "a JOIN in 3-byte writes 5 ms apart → M",
    async run(ctx) {
      await using wire = await ctx.connect();
      const bytes = encoder.encode(join(ctx.options.room, "split", 47002));
      for (let i = 0; i < bytes.length; i += 3) {
        await wire.write(bytes.subarray(i, i + 3));
        await sleep(5);
      }
      const listed = names(await wire.frame());
      if (!listed.includes("split")) fail(`the M does not list the joiner: ${listed}`);
      return `M lists ${listed.length}`;
    },
  },
  {
    name: "coalesced-frames",
    expect: "L, L and a JOIN in one write → G, G, M in order",
    async run(ctx) {
      await using wire = await ctx.connect();
      await wire.write(`L::\r\nL::\r\n${join(ctx.options.room, "coalesced", 47003)}`);
      const replies = [await wire.frame(), await wire.frame(), await wire.frame()];
      decodeReply(replies[0]!, "G");
      decodeReply(replies[1]!, "G");
      if (!names(replies[2]!).includes("coalesced")) fail("the M does not list the joiner");
      return "G, G, M";
    },
  },
  {
    name: "garbage",
    expect: "8 KiB of random bytes → only F answers, or a close",
    async run(ctx) {
      await using wire = await ctx.connect();
      const ok = await wire.write(ctx.random(8 * 1024));
      const { frames, closed } = await wire.drain(Math.min(500, ctx.options.timeoutMs));
      const bad = frames.find((f) => !isFailure(f));
      if (bad !== undefined) fail(`answered ${show(bad)}`);
      return `${frames.length} × F${closed || !ok ? ", then closed" : ""}`;
    },
  },
  {
    name: "slow-drip",
    expect: "a JOIN one byte at a time (dripMs apart) → M",
    async run(ctx) {
      await using wire = await ctx.connect();
      const bytes = encoder.encode(join(ctx.options.room, "drip", 47004));
      for (const byte of bytes) {
        if (!(await wire.write(Uint8Array.of(byte)))) fail("closed during the drip");
        await sleep(ctx.options.dripMs);
      }
      if (!names(await wire.frame()).includes("drip")) fail("the M does not list the joiner");
      return `${bytes.length} bytes over ${bytes.length * ctx.options.dripMs} ms`;
    },
  },
  {
    name: "duplicate-join-close",
    expect:
      "the same JOIN from a second connection (answered M, or F when the holder keeps it), then a close (crashes the reference) → alive",
    async run(ctx) {
      const dup = join(ctx.options.room, "dup", 47005);
      for (const closeSecond of [true, false]) {
        const first = await ctx.connect();
        const second = await ctx.connect();
        try {
          names(await first.request(dup));
          // The newest connection takes the member, or (ringchat, issue 16) the holder keeps it.
          const refused = (await second.request(dup)).startsWith("F:");
          (closeSecond ? second : first).close();
          const survivor = closeSecond ? first : second;
          let reply = await survivor.request(dup);
          // A refused twin gets the member once the holder's close is handled.
          for (let i = 0; refused && reply.startsWith("F:") && i < 100; i++) {
            await sleep(10);
            reply = await survivor.request(dup);
          }
          if (!names(reply).includes("dup")) {
            fail("the surviving connection's JOIN does not list it");
          }
        } finally {
          first.close();
          second.close();
        }
      }
      return "both orders";
    },
  },
  {
    name: "big-room",
    expect:
      "bigRoom members in one room (the reference overflows past ~65) → M lists all, right MSID",
    async run(ctx) {
      const wires: Wire[] = [];
      try {
        let reply = "";
        for (let i = 0; i < ctx.options.bigRoom; i++) {
          const wire = await ctx.connect();
          wires.push(wire);
          reply = await wire.request(join(`${ctx.options.room}-big`, `m${i}`, 48000 + i));
        }
        const frame = decodeReply<MembersFrame>(reply, "M");
        if (frame.members.length !== ctx.options.bigRoom) {
          fail(`M lists ${frame.members.length} of ${ctx.options.bigRoom}`);
        }
        if (frame.msid !== msidOf(frame.members)) fail(`wrong MSID ${frame.msid}`);
        return `M lists ${frame.members.length}, ${reply.length} bytes`;
      } finally {
        closeAll(wires);
      }
    },
  },
  {
    name: "connection-flood",
    expect: "floodConnections held at once → a newcomer is still served; all released",
    async run(ctx) {
      const wires = await openMany(ctx, ctx.options.floodConnections);
      try {
        return `during: ${await ctx.alive()}`;
      } finally {
        closeAll(wires);
      }
    },
  },
  {
    name: "list-flood",
    expect: "2,000 LISTs pipelined in one write → 2,000 G (maybe slowed); others served meanwhile",
    async run(ctx) {
      await using wire = await ctx.connect();
      const count = 2000;
      const started = performance.now();
      await wire.write("L::\r\n".repeat(count));
      const during = await ctx.alive();
      for (let i = 0; i < count; i++) decodeReply(await wire.frame(), "G");
      return `${count} × G in ${(performance.now() - started).toFixed(0)} ms; meanwhile ${during}`;
    },
  },
  {
    name: "load",
    expect: "loadClients closed-loop JOIN keepalives for loadMs → every reply M",
    async run(ctx) {
      const wires = await openMany(ctx, ctx.options.loadClients);
      try {
        const room = `${ctx.options.room}-load`;
        const joins = wires.map((_, i) => join(room, `load${i}`, 49000 + i));
        await Promise.all(wires.map(async (w, i) => names(await w.request(joins[i]!))));
        const latencies: number[] = [];
        const end = performance.now() + ctx.options.loadMs;
        await Promise.all(wires.map(async (w, i) => {
          while (performance.now() < end) {
            const sent = performance.now();
            const reply = await w.request(joins[i]!);
            if (!reply.startsWith("M:")) fail(`a keepalive was answered ${show(reply)}`);
            latencies.push(performance.now() - sent);
          }
        }));
        latencies.sort((a, b) => a - b);
        const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
        const rate = latencies.length / (ctx.options.loadMs / 1000);
        return `${latencies.length} requests, ${rate.toFixed(0)}/s, p99 ${p99.toFixed(1)} ms`;
      } finally {
        closeAll(wires);
      }
    },
  },
];

/**
 * Sends a poke datagram to the peer until an `A` comes back, resending every
 * 250 ms (a datagram may be dropped, by the kernel too, when the peer's
 * socket is flooded); fails after `timeoutMs`. Returns the wait in ms and the
 * datagrams sent.
 */
async function poke(ctx: ProbeContext, datagram: Uint8Array): Promise<[number, number]> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = { transport: "udp" as const, hostname: ctx.options.hostname, port: ctx.options.port };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sent = 0;
  const started = performance.now();
  const deadline = started + ctx.options.timeoutMs;
  let received = socket.receive();
  try {
    for (;;) {
      await socket.send(datagram, to);
      sent++;
      const resendAt = Math.min(deadline, performance.now() + 250);
      for (;;) {
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), Math.max(0, resendAt - performance.now()));
        });
        const got = await Promise.race([received, timeout]);
        clearTimeout(timer);
        if (got === "timeout") break;
        received = socket.receive();
        if (decoder.decode(got[0]) === "A::\r\n") return [performance.now() - started, sent];
      }
      if (performance.now() >= deadline) {
        fail(`no A within ${ctx.options.timeoutMs} ms (${sent} sent)`);
      }
    }
  } finally {
    clearTimeout(timer);
    socket.close();
    await received.catch(() => null);
  }
}

/** Sends `bytes` on a new link and expects the peer to close it without a reply. */
async function expectDropped(ctx: ProbeContext, bytes: string | Uint8Array): Promise<string> {
  await using wire = await ctx.connect();
  const started = performance.now();
  await wire.write(bytes);
  const frames = await wire.closedByPeer();
  if (frames.length > 0) fail(`answered ${show(frames[0]!)} before closing`);
  return `closed after ${(performance.now() - started).toFixed(0)} ms`;
}

/** The probes of a peer. */
export const PEER_PROBES: readonly Probe[] = [
  {
    name: "baseline",
    expect: "a TCP connection is accepted; K → A over UDP",
    run: (ctx) => ctx.alive(),
  },
  {
    name: "link-garbage",
    expect: "random bytes on a new link → the link is closed, no reply",
    run: (ctx) => {
      const bytes = ctx.random(4096);
      bytes[0] = 0x58; // not a T: the header parse is not what closes it
      return expectDropped(ctx, bytes);
    },
  },
  {
    name: "handshake-non-member",
    expect: "P from a name not in the room → closed without S",
    run: (ctx) => expectDropped(ctx, `P:${ctx.options.room}:nobody-chaos:127.0.0.1:1:0::\r\n`),
  },
  {
    name: "text-before-handshake",
    expect: "T on a link that did not handshake → closed, no reply",
    run: (ctx) => expectDropped(ctx, `T:${ctx.options.room}:1:mallory:1:2:hi::\r\n`),
  },
  {
    name: "malformed-text",
    expect: "T whose msgLength is negative, not a number, or too short → closed",
    async run(ctx) {
      const seen: string[] = [];
      for (
        const t of [
          `T:${ctx.options.room}:1:m:1:-5:hello::\r\n`,
          `T:${ctx.options.room}:1:m:1:five:hello::\r\n`,
          `T:${ctx.options.room}:1:m:1:2:hello::\r\n`,
        ]
      ) {
        seen.push(await expectDropped(ctx, t));
      }
      return seen.join("; ");
    },
  },
  {
    name: "huge-text",
    expect: "T declaring 9,999,999,999 bytes → closed without reading them",
    run: (ctx) => expectDropped(ctx, `T:${ctx.options.room}:1:m:1:9999999999:x`),
  },
  {
    name: "registry-frames-on-link",
    expect: "L and J sent to a peer → closed, no reply",
    async run(ctx) {
      const a = await expectDropped(ctx, "L::\r\n");
      const b = await expectDropped(ctx, join(ctx.options.room, "mallory", 1));
      return `${a}; ${b}`;
    },
  },
  {
    name: "oversize",
    expect: "1 MiB without a newline → closed",
    async run(ctx) {
      await using wire = await ctx.connect();
      await wire.write("X".repeat(1024 * 1024));
      const frames = await wire.closedByPeer();
      if (frames.length > 0) fail(`answered ${show(frames[0]!)}`);
      return "closed";
    },
  },
  {
    name: "stall-mid-frame",
    expect: "half a P, then silence → closed within stallMs",
    async run(ctx) {
      await using wire = await ctx.connect();
      const started = performance.now();
      await wire.write(`P:${ctx.options.room}:stall:127.0.0.1:1`);
      await wire.closedByPeer(ctx.options.stallMs);
      return `closed after ${(performance.now() - started).toFixed(0)} ms`;
    },
  },
  {
    name: "junk-datagrams",
    expect: "200 junk datagrams (up to 60 KB) → ignored; K still answered A",
    async run(ctx) {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const to = {
          transport: "udp" as const,
          hostname: ctx.options.hostname,
          port: ctx.options.port,
        };
        for (let i = 0; i < 200; i++) {
          const size = i === 0 ? 60_000 : 1 + ctx.random(1)[0]! * 2;
          await socket.send(ctx.random(size), to);
        }
        await socket.send(encoder.encode("K:::\r\n"), to);
        await socket.send(encoder.encode("K:a:b:c::\r\n"), to);
      } finally {
        socket.close();
      }
      return `sent 202`;
    },
  },
  {
    name: "poke-flood",
    expect:
      "2,000 datagrams at once (half K, half junk) → a K right after (resent every 250 ms) answered",
    async run(ctx) {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const to = {
          transport: "udp" as const,
          hostname: ctx.options.hostname,
          port: ctx.options.port,
        };
        for (let i = 0; i < 1000; i++) {
          await socket.send(encoder.encode(`K:${ctx.options.room}:flood${i}::\r\n`), to);
          await socket.send(ctx.random(64), to);
        }
        const [ms, sent] = await poke(ctx, encoder.encode(`K:${ctx.options.room}:chaos::\r\n`));
        return `a K after the flood answered in ${ms.toFixed(1)} ms (${sent} sent)`;
      } finally {
        socket.close();
      }
    },
  },
  {
    name: "connection-flood",
    expect: "floodConnections links held without a handshake → K still answered; all released",
    async run(ctx) {
      const wires = await openMany(ctx, ctx.options.floodConnections);
      try {
        return `during: ${await ctx.alive()}`;
      } finally {
        closeAll(wires);
      }
    },
  },
];

const DEFAULTS = {
  timeoutMs: 3000,
  floodConnections: 500,
  loadClients: 50,
  loadMs: 2000,
  dripMs: 20,
  bigRoom: 100,
  stallMs: 5000,
  room: "chaos",
  seed: 1,
} as const;

/**
 * Runs the probes of `options.as` against the target, one after another, and
 * returns a result per probe. Never throws for what the target does.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../registry/registry.ts";
 * import { runChaos } from "./chaos.ts";
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * const results = await runChaos({ hostname: "127.0.0.1", port: registry.port, only: ["garbage"] });
 * console.log(results.every((r) => r.passed));
 * ```
 */
export async function runChaos(options: ChaosOptions): Promise<ProbeResult[]> {
  // A target that cannot be told apart (nothing listens, no answer) is probed as a registry.
  const as = options.as ??
    (await detectTarget(options.hostname, options.port, options.timeoutMs ?? DEFAULTS.timeoutMs))
      .kind ??
    "registry";
  const resolved = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    as,
  } as Required<ChaosOptions>;
  const { only: _, ...rest } = resolved;
  const opts = Object.freeze(rest);
  const random = prng(opts.seed);
  let liveness = 0;
  // Lenient: a target's own garbage is ignored, not thrown.
  const connect = () =>
    Wire.connect(opts.hostname, opts.port, { timeoutMs: opts.timeoutMs, lenient: true });
  const ctx: ProbeContext = {
    options: opts,
    connect,
    alive: opts.as === "registry"
      ? async () => {
        const started = performance.now();
        await using wire = await connect();
        decodeReply<RoomsFrame>(await wire.request("L::\r\n"), "G");
        const me = `live${liveness++}`;
        const listed = names(await wire.request(join(opts.room, me, 46000 + (liveness % 1000))));
        if (!listed.includes(me)) fail(`liveness: the M does not list ${me}`);
        return `L and J answered in ${(performance.now() - started).toFixed(1)} ms`;
      }
      : async () => {
        const started = performance.now();
        (await connect()).close();
        const [, sent] = await poke(ctx, encoder.encode(`K:${opts.room}:chaos::\r\n`));
        const resent = sent > 1 ? ` (${sent} K sent)` : "";
        return `connect and K → A in ${(performance.now() - started).toFixed(1)} ms${resent}`;
      },
    random(length) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
      return bytes;
    },
  };
  const probes = (opts.as === "registry" ? REGISTRY_PROBES : PEER_PROBES).filter((p) =>
    options.only === undefined || options.only.includes(p.name)
  );
  const results: ProbeResult[] = [];
  for (const probe of probes) {
    const started = performance.now();
    let passed = true;
    let detail: string;
    try {
      detail = await probe.run(ctx);
    } catch (error) {
      passed = false;
      detail = error instanceof ProbeFailure || error instanceof WireError
        ? error.message
        : `error: ${String(error)}`;
    }
    try {
      const live = await ctx.alive();
      if (probe.name !== "baseline") detail += `; after: ${live}`;
    } catch (error) {
      passed = false;
      detail += `; DEAD after: ${error instanceof Error ? error.message : String(error)}`;
    }
    results.push({
      name: probe.name,
      expect: probe.expect,
      passed,
      detail,
      ms: Math.round(performance.now() - started),
    });
  }
  return results;
}

/** The results as a plain-text table, one row per probe. */
export function formatTable(results: readonly ProbeResult[]): string {
  const rows = [
    ["probe", "result", "ms", "expects", "seen"],
    ...results.map((r) => [r.name, r.passed ? "pass" : "FAIL", String(r.ms), r.expect, r.detail]),
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell)).join("  ").trimEnd();
  const passed = results.filter((r) => r.passed).length;
  return [
    line(rows[0]!),
    widths.map((w) => "-".repeat(w)).join("  ") + "  ----",
    ...rows.slice(1).map(line),
    "",
    `${passed}/${results.length} probes passed`,
  ].join("\n");
}

/**
 * What to tell the user about the detection: which kind was found when
 * `--as` was left out, that it could not tell, or that the target seems to
 * be the other kind than `--as` says.
 */
export function detectionNote(as: TargetKind | undefined, seen: Detection): string {
  if (seen.kind === null) {
    return `cannot tell a registry from a peer there (${seen.detail}); ` +
      (as === undefined ? "probing it as a registry: use --as peer for a peer" : `--as ${as}`);
  }
  if (as === undefined) return `detected a ${seen.kind}: it ${seen.detail}`;
  if (as === seen.kind) return `--as ${as}, and it ${seen.detail} as a ${as} does`;
  return `the target looks like a ${seen.kind}, not a ${as} (it ${seen.detail}); ` +
    `the ${as} probes will fail against it: use --as ${seen.kind}`;
}

function parseTarget(text: string): { hostname: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new RangeError(`--target must be HOST:PORT, got ${JSON.stringify(text)}`);
  }
  return { hostname: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
}

/** The options of {@linkcode attackCli} from the command line. */
interface AttackArgs {
  as?: string;
  only?: string;
  room: string;
  peerArgs?: string;
  peerBinary?: string;
  member: string;
  peers: number;
  stormFrames: number;
  memoryOrigins: number;
  memoryMsgIds: number;
  memoryBoundMiB: number;
  idleConnections: number;
  roomCap: number;
  bigRoom: number;
  churnRate: number;
  churnFrom: string;
}

/** `--attacks`: runs the attacks on the target registry; returns the exit code. */
async function attackCli(target: { hostname: string; port: number }, args: AttackArgs) {
  try {
    assertLoopback(target.hostname);
  } catch (error) {
    console.error(`chaos: ${(error as Error).message}`);
    return 2;
  }
  const kind: AttackTarget = args.as === "room" || args.as === "peer" ? args.as : "registry";
  const attacks = ATTACKS.filter((a) => a.target === kind);
  const only = args.only?.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = only?.filter((name) => !attacks.some((a) => a.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(
      `chaos: unknown attack ${unknown.join(", ")}; ${kind} attacks: ${
        attacks.map((a) => a.name).join(", ")
      }`,
    );
    return 2;
  }
  const options: AttackOptions = {
    ...ATTACK_DEFAULTS,
    peers: args.peers,
    stormFrames: args.stormFrames,
    memoryOrigins: args.memoryOrigins,
    memoryMsgIds: args.memoryMsgIds,
    memoryBoundMiB: args.memoryBoundMiB,
    idleConnections: args.idleConnections,
    roomCap: args.roomCap,
    bigRoom: args.bigRoom,
    churnRate: args.churnRate,
    churnFrom: args.churnFrom,
    peerArgs: args.peerArgs?.split(",").filter((s) => s.length > 0) ?? [],
    peerBinary: args.peerBinary ?? null,
    member: args.member,
  };
  console.log(`chaos: attacking the ${kind} at ${target.hostname}:${target.port}`);
  const results = [];
  for (const attack of attacks.filter((a) => only === undefined || only.includes(a.name))) {
    const result = await runAttack(attack, {
      host: target.hostname,
      port: target.port,
      // A peer's room is its own; the registry attacks each take a room of their own.
      room: kind === "peer" ? args.room : `${args.room}-${attack.name}`,
      options,
    });
    console.log(
      `${result.passed ? "PASS" : "FAIL"} ${result.name} (${result.ms} ms): ${result.detail}`,
    );
    results.push(result);
  }
  console.log(formatTable(results).replace(/probes passed$/, "attacks passed"));
  console.log(`\nmeasured during the attacks (ms; VmRSS in MiB before/during/after):`);
  console.log(formatFigures(results));
  return results.every((r) => r.passed) ? 0 : 1;
}

if (import.meta.main) {
  const args = run(
    object({
      target: requiredText(
        "--target",
        "HOST:PORT",
        message`The registry or peer to probe (a loopback address).`,
      ),
      as: optionalChoice(
        "--as",
        ["registry", "peer", "room"],
        "KIND",
        message`What the target is (default: detected from its answer to L); room: with --attacks, rooms of peers on the target registry.`,
      ),
      attacks: switchOption(
        "--attacks",
        message`Run the hostile-member attacks (issue 16) instead of the probes.`,
      ),
      peers: integerOption(
        "--peers",
        { min: 3, max: 8, metavar: "N" },
        message`Peers of each attacked room (--as room).`,
        ATTACK_DEFAULTS.peers,
      ),
      stormFrames: integerOption(
        "--storm-frames",
        { min: 1, max: 100_000, metavar: "N" },
        message`Frames of the storm attack.`,
        ATTACK_DEFAULTS.stormFrames,
      ),
      memoryOrigins: integerOption(
        "--memory-origins",
        { min: 1, max: 10_000, metavar: "N" },
        message`Forged origins of the memory attack.`,
        ATTACK_DEFAULTS.memoryOrigins,
      ),
      memoryMsgIds: integerOption(
        "--memory-msgids",
        { min: 1, max: 4096, metavar: "N" },
        message`msgIDs per forged origin of the memory attack.`,
        ATTACK_DEFAULTS.memoryMsgIds,
      ),
      memoryBoundMiB: integerOption(
        "--memory-bound-mib",
        { min: 1, metavar: "MIB" },
        message`Most a victim's VmRSS may grow in the memory attack.`,
        ATTACK_DEFAULTS.memoryBoundMiB,
      ),
      idleConnections: integerOption(
        "--idle-connections",
        { min: 1, max: 15_000, metavar: "N" },
        message`Idle connections of the doors-idle attack.`,
        ATTACK_DEFAULTS.idleConnections,
      ),
      roomCap: integerOption(
        "--room-cap",
        { min: 1, max: 10_000, metavar: "N" },
        message`Rooms one source tries to create (doors-rooms).`,
        ATTACK_DEFAULTS.roomCap,
      ),
      bigRoom: integerOption(
        "--big-room",
        { min: 2, max: 15_000, metavar: "N" },
        message`Members of the churned room (doors-churn).`,
        ATTACK_DEFAULTS.bigRoom,
      ),
      churnRate: integerOption(
        "--churn-rate",
        { min: 0, max: 20_000, metavar: "N" },
        message`JOIN-and-close a second of the doors-churn attack; 0: unpaced.`,
        ATTACK_DEFAULTS.churnRate,
      ),
      churnFrom: textOption(
        "--churn-from",
        "ADDRESS",
        message`The loopback source address of doors-churn's churners (default: the system's).`,
        ATTACK_DEFAULTS.churnFrom,
      ),
      member: textOption(
        "--member",
        "NAME:IP:PORT",
        message`With --attacks --as peer: a member of the peer's room (--room), to impersonate.`,
        ATTACK_DEFAULTS.member,
      ),
      peerBinary: optionalText(
        "--peer-binary",
        "PATH",
        message`A compiled peer to attack in rooms (it must take ringchat's flags and --json).`,
      ),
      peerArgs: optionalText(
        "--peer-args",
        "ARG,...",
        message`Extra arguments for every attacked peer (a defence's options).`,
      ),
      timeoutMs: integerOption(
        "--timeout-ms",
        { min: 1, metavar: "MS" },
        message`How long any one answer may take.`,
        DEFAULTS.timeoutMs,
      ),
      floodConnections: integerOption(
        "--flood",
        { min: 1, max: 10_000, metavar: "N" },
        message`Connections the flood probe holds at once.`,
        DEFAULTS.floodConnections,
      ),
      loadClients: integerOption(
        "--load-clients",
        { min: 1, max: 2000, metavar: "N" },
        message`Clients of the load probe.`,
        DEFAULTS.loadClients,
      ),
      loadMs: integerOption(
        "--load-ms",
        { min: 1, max: 600_000, metavar: "MS" },
        message`How long the load probe runs.`,
        DEFAULTS.loadMs,
      ),
      stallMs: integerOption(
        "--stall-ms",
        { min: 1, metavar: "MS" },
        message`How long a peer may keep a stalled link.`,
        DEFAULTS.stallMs,
      ),
      room: textOption("--room", "ROOM", message`The room the probes use.`, DEFAULTS.room),
      seed: integerOption(
        "--seed",
        { min: 0, metavar: "N" },
        message`Seed of the random bytes.`,
        DEFAULTS.seed,
      ),
      only: optionalText("--only", "PROBE,...", message`Run only these probes.`),
    }),
    {
      programName: "chaos",
      args: Deno.args,
      help: "option",
      colors: false,
      maxWidth: 100,
      showDefault: true,
    },
  );
  let target: { hostname: string; port: number };
  try {
    target = parseTarget(args.target);
  } catch (error) {
    console.error(`chaos: ${(error as Error).message}`);
    Deno.exit(2);
  }
  if (args.attacks) Deno.exit(await attackCli(target, args));
  if (args.as === "room") {
    console.error("chaos: --as room needs --attacks");
    Deno.exit(2);
  }
  const seen = await detectTarget(target.hostname, target.port, args.timeoutMs);
  const kind = (args.as as TargetKind | undefined) ?? seen.kind ?? "registry";
  const known = (kind === "registry" ? REGISTRY_PROBES : PEER_PROBES).map((p) => p.name);
  const only = args.only?.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = only?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length > 0) {
    console.error(
      `chaos: unknown probe ${unknown.join(", ")}; ${kind} probes: ${known.join(", ")}`,
    );
    Deno.exit(2);
  }
  console.log(`chaos: probing the ${kind} at ${target.hostname}:${target.port}`);
  console.log(`chaos: ${detectionNote(args.as as TargetKind | undefined, seen)}`);
  const results = await runChaos({
    ...target,
    as: kind,
    timeoutMs: args.timeoutMs,
    floodConnections: args.floodConnections,
    loadClients: args.loadClients,
    loadMs: args.loadMs,
    stallMs: args.stallMs,
    room: args.room,
    seed: args.seed,
    only,
  });
  console.log(formatTable(results));
  Deno.exit(results.every((r) => r.passed) ? 0 : 1);
}
