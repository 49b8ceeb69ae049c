/**
 * The tools the attacks of ./attacks.ts are made of: forged frames, a raw
 * room member (a registry connection that JOINed), a raw link to a peer, a
 * fake peer that answers `S` and swallows what it gets, connections from
 * other loopback source addresses (through `node:net`, whose `localAddress`
 * Deno's own `Deno.connect` does not have), connections reset before they
 * are accepted, and the latency of a legitimate newcomer. Everything refuses
 * a target outside 127.0.0.0/8.
 *
 * @module
 */

import net from "node:net";
import { hashId } from "../../lib/sdbm.ts";
import { Wire } from "../wire.ts";
import { startThread } from "./thread.ts";

const encoder = new TextEncoder();

/** An attack's expectation did not hold: the message says what was seen. */
export class AttackFailure extends Error {
  override name = "AttackFailure";
}

/** Throws an {@linkcode AttackFailure}. */
export function fail(why: string): never {
  throw new AttackFailure(why);
}

/** Throws a RangeError unless `hostname` is an IPv4 loopback address (or `localhost`). */
export function assertLoopback(hostname: string): void {
  if (hostname === "localhost" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)) return;
  throw new RangeError(`Attacks target 127.0.0.0/8 only, not ${JSON.stringify(hostname)}`);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A `T` frame, with msgLength counted in UTF-8 bytes. */
export function textFrame(
  room: string,
  originHid: string | bigint,
  originName: string,
  msgId: string | bigint | number,
  content: string,
): string {
  const length = encoder.encode(content).length;
  return `T:${room}:${originHid}:${originName}:${msgId}:${length}:${content}::\r\n`;
}

/** `J:room:name:ip:port::\r\n`. */
export function joinFrame(room: string, name: string, port: number, ip = "127.0.0.1"): string {
  return `J:${room}:${name}:${ip}:${port}::\r\n`;
}

/** Percentile `p` (0–100) of `values`, NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `12.3` for a number of ms, `-` when NaN. */
export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : "-";
}

/**
 * A name whose HashID (with `ip` and `port`) lies strictly inside the ring
 * interval (`from`, `to`) (wrapping past 2^64), found by trying
 * `prefix0`, `prefix1`, … up to `tries` names.
 */
export function grindName(
  prefix: string,
  ip: string,
  port: number,
  from: bigint,
  to: bigint,
  tries = 50_000_000,
): string {
  const span = (to - from + (1n << 64n)) % (1n << 64n);
  for (let i = 0; i < tries; i++) {
    const name = `${prefix}${i.toString(36)}`;
    const offset = (hashId(name, ip, port) - from + (1n << 64n)) % (1n << 64n);
    if (offset > 0n && offset < span) return name;
  }
  throw new RangeError(`No name within ${tries} tries lands in (${from}, ${to})`);
}

/** A member of a room held by one registry connection (a raw client: any registry). */
export class RawMember implements AsyncDisposable {
  readonly wire: Wire;
  readonly room: string;
  readonly name: string;
  readonly port: number;
  /** The names of the last `M` reply, newest first. */
  lastMembers: string[] = [];

  private constructor(wire: Wire, room: string, name: string, port: number) {
    this.wire = wire;
    this.room = room;
    this.name = name;
    this.port = port;
  }

  /** Connects and JOINs; rejects with the reply unless it is an `M` listing this member. */
  static async join(
    host: string,
    registryPort: number,
    room: string,
    name: string,
    port: number,
    timeoutMs = 3000,
  ): Promise<RawMember> {
    const wire = await Wire.connect(host, registryPort, { timeoutMs, lenient: true });
    const member = new RawMember(wire, room, name, port);
    try {
      await member.renew();
    } catch (error) {
      wire.close();
      throw error;
    }
    return member;
  }

  /** Sends the JOIN again (a keepalive) and returns the `M` reply's member triples. */
  async renew(): Promise<{ name: string; ip: string; port: number }[]> {
    const reply = await this.wire.request(joinFrame(this.room, this.name, this.port));
    const members = membersOf(reply);
    if (members === null) fail(`JOIN ${this.name} was answered ${JSON.stringify(reply)}`);
    this.lastMembers = members.map((m) => m.name);
    return members;
  }

  /** Closes the registry connection (the registry removes the member). */
  close(): void {
    this.wire.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** The members of an `M` frame's text, or null when it is not one. */
export function membersOf(reply: string): { name: string; ip: string; port: number }[] | null {
  const m = /^M:\d+:(.*)::\r\n$/s.exec(reply);
  if (m === null) return null;
  if (m[1] === "") return [];
  const fields = m[1]!.split(":");
  const members = [];
  for (let i = 0; i + 2 < fields.length; i += 3) {
    members.push({ name: fields[i]!, ip: fields[i + 1]!, port: Number(fields[i + 2]) });
  }
  return members;
}

/**
 * A fake peer: a TCP listener on 127.0.0.1 that answers every `P` with
 * `S:0::\r\n` and swallows (counts) everything else. What an eclipse points
 * at, and what a raw attacker member listens on.
 */
export class FakePeer implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #done: Promise<void>;
  readonly #tasks = new Set<Promise<void>>();
  /** Handshakes answered. */
  handshakes = 0;
  /** Bytes swallowed after the handshakes. */
  bytes = 0;

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#done = this.#accept();
  }

  /** The port it listens on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        const task = this.#serve(conn).finally(() => {
          this.#conns.delete(conn);
          this.#tasks.delete(task);
        });
        this.#tasks.add(task);
      }
    } catch {
      // The listener was closed.
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    let head = "";
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        this.bytes += n;
        if (head.length < 4096) {
          const before = head;
          head += new TextDecoder().decode(buf.subarray(0, n));
          // Answer each P that starts a frame (a handshake), once per P seen in the first bytes.
          const count = (s: string) => (s.match(/(^|\r\n)P:/g) ?? []).length;
          for (let i = count(before); i < count(head); i++) {
            this.handshakes++;
            await conn.write(encoder.encode("S:0::\r\n"));
          }
        }
      }
    } catch {
      // Reset, or closed by dispose.
    } finally {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  /** Closes the listener and every connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await this.#done;
    await Promise.all(this.#tasks);
  }
}

/**
 * A link to a peer after a `P` handshake as `name` (a member of the room):
 * resolves once the peer answered `S`; rejects when it closed or stayed
 * silent for `timeoutMs`.
 */
export async function linkAs(
  host: string,
  peerPort: number,
  room: string,
  name: string,
  myPort: number,
  timeoutMs = 3000,
): Promise<Wire> {
  const wire = await Wire.connect(host, peerPort, { timeoutMs, lenient: true });
  try {
    const reply = await wire.request(`P:${room}:${name}:127.0.0.1:${myPort}:0::\r\n`);
    if (!reply.startsWith("S:")) fail(`the handshake as ${name} was answered ${reply}`);
  } catch (error) {
    wire.close();
    throw error;
  }
  return wire;
}

/**
 * Writes `count` frames made by `frame(i)` on `wire`, `batch` frames per
 * write, spread evenly over `spreadMs`. Returns how many were written (fewer
 * when the peer closed the link).
 */
export async function pace(
  wire: Wire,
  count: number,
  spreadMs: number,
  frame: (i: number) => string,
  batch = 100,
): Promise<number> {
  const started = performance.now();
  let written = 0;
  for (let i = 0; i < count; i += batch) {
    let chunk = "";
    for (let j = i; j < Math.min(count, i + batch); j++) chunk += frame(j);
    if (!(await wire.write(chunk))) return written;
    written = Math.min(count, i + batch);
    const due = started + (spreadMs * written) / count - performance.now();
    if (due > 0) await sleep(due);
  }
  return written;
}

/** A TCP connection from the loopback source address `localAddress`. */
export function connectFrom(
  host: string,
  port: number,
  localAddress: string,
  timeoutMs = 3000,
): Promise<net.Socket> {
  assertLoopback(localAddress);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AttackFailure(`connect from ${localAddress} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Writes `text` and resolves with the first frame the socket gets back (or null on close/timeout). */
export function requestOn(
  socket: net.Socket,
  text: string,
  timeoutMs = 3000,
): Promise<string | null> {
  return new Promise((resolve) => {
    let got = "";
    const done = (value: string | null) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(value);
    };
    const onData = (chunk: Uint8Array) => {
      got += new TextDecoder().decode(chunk);
      const end = got.indexOf("::\r\n");
      if (end >= 0) done(got.slice(0, end + 4));
    };
    const onClose = () => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", () => {});
    socket.write(text);
  });
}

/** Destroys sockets and waits until each has closed. */
export async function destroyAll(sockets: Iterable<net.Socket>): Promise<void> {
  const closed: Promise<void>[] = [];
  for (const s of sockets) {
    if (s.destroyed && s.closed) continue;
    closed.push(new Promise((resolve) => s.once("close", () => resolve())));
    s.on("error", () => {});
    s.destroy();
  }
  await Promise.all(closed);
}

/**
 * Connects and resets at once (RST, `resetAndDestroy`), before the target
 * can accept: a failed `accept()` on the target's side. Resolves when done.
 */
export function connectAndReset(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.on("error", () => {});
    socket.once("close", () => resolve());
    socket.once("connect", () => socket.resetAndDestroy());
  });
}

/**
 * Connects (from the loopback source `localAddress`, or the system's choice
 * when null), writes `text` and closes, as a JOIN-and-close churner does:
 * with a reset once `text` is handed to the kernel, so that no TIME_WAIT
 * holds the churner's port (a churner bound to its own source address
 * would run out of ports within seconds at thousands a second, since a
 * bound port is not reused while in TIME_WAIT). The target still reads the
 * text that came before the reset. Resolves true when it connected and
 * wrote, false when the connect failed, was reset first or took over
 * `timeoutMs`.
 */
export function writeAndClose(
  host: string,
  port: number,
  localAddress: string | null,
  text: string,
  timeoutMs = 3000,
): Promise<boolean> {
  if (localAddress !== null) assertLoopback(localAddress);
  return new Promise((resolve) => {
    let wrote = false;
    const socket = localAddress === null
      ? net.connect({ host, port })
      : net.connect({ host, port, localAddress });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(wrote);
    });
    socket.once("connect", () => {
      socket.write(text, (error) => {
        wrote = error === undefined || error === null;
        socket.resetAndDestroy();
      });
    });
  });
}

/** Where a newcomer links once it is listed: a peer of the room, and the port it says it listens on. */
export interface NewcomerLink {
  /** The peer's port (on the registry's host). */
  peerPort: number;
  /** The port the newcomer JOINs with (and says in its `P`). */
  listenPort: number;
}

/** What a newcomer waited, in ms: Infinity when refused or not answered; NaN when not tried. */
export interface NewcomerTimes {
  /**
   * Its TCP connect (part of `served`): ~1,000 ms or more when its SYN was
   * dropped (the registry's listen queue was full) and retransmitted.
   */
  connected: number;
  /** A new connection, `L` answered with `G`, then a JOIN answered with an `M` listing it. */
  served: number;
  /** From the same start to its first link up: a `P` to the peer answered `S`. */
  linked: number;
}

/**
 * A legitimate newcomer: a new connection, `L` answered with `G`, then a
 * JOIN answered with an `M` that lists it; with `link`, then a `P` handshake
 * to that peer of the room answered `S` (it is still listed then); then it
 * leaves. Each step waits at most `timeoutMs`.
 */
export async function newcomer(
  host: string,
  port: number,
  room: string,
  name: string,
  link: NewcomerLink | null = null,
  timeoutMs = 2000,
): Promise<NewcomerTimes> {
  const times = { connected: Infinity, served: Infinity, linked: link === null ? NaN : Infinity };
  const started = performance.now();
  let wire: Wire | undefined;
  try {
    wire = await Wire.connect(host, port, { timeoutMs, lenient: true });
    times.connected = performance.now() - started;
    if (!(await wire.request("L::\r\n")).startsWith("G:")) return times;
    const members = membersOf(await wire.request(joinFrame(room, name, link?.listenPort ?? 1)));
    if (members === null || !members.some((m) => m.name === name)) return times;
    times.served = performance.now() - started;
    if (link === null) return times;
    const linked = await linkAs(host, link.peerPort, room, name, link.listenPort, timeoutMs);
    times.linked = performance.now() - started;
    linked.close();
  } catch {
    // Refused or not answered: what was not reached stays Infinity.
  } finally {
    wire?.close();
  }
  return times;
}

/** {@linkcode newcomer}'s time to be served (no link), ms. */
export async function newcomerMs(
  host: string,
  port: number,
  room: string,
  name: string,
  timeoutMs = 2000,
): Promise<number> {
  return (await newcomer(host, port, room, name, null, timeoutMs)).served;
}

/** A newcomer's wait: when it started (`performance.now()`) and how long it took. */
export interface NewcomerSample {
  at: number;
  ms: number;
  /** Its first link up ({@linkcode NewcomerTimes.linked}); NaN when it made none. */
  linkMs: number;
  /** Its TCP connect, part of `ms` ({@linkcode NewcomerTimes.connected}). */
  connectMs: number;
}

/** What the newcomer thread (./newcomer_worker.ts) is told. */
export type NewcomerOrder =
  | { type: "start"; host: string; port: number; room: string; everyMs: number }
  | { type: "link"; link: NewcomerLink | null }
  | { type: "stop"; least: number };

/** What the newcomer thread tells: it runs, or its samples (`at` in ms since the epoch). */
export type NewcomerReport = { type: "ready" } | { type: "samples"; samples: NewcomerSample[] };

/** Newcomers being sampled; see {@linkcode watchNewcomers}. */
export interface NewcomerWatch extends AsyncDisposable {
  /** Stops sampling once there are at least `least` samples (0 unless told); returns them all. */
  stop(least?: number): Promise<NewcomerSample[]>;
}

/**
 * Samples {@linkcode newcomer} every `everyMs` until stopped, linking as
 * `link()` says (read every `everyMs / 2`). The newcomers run in a thread
 * of their own (./newcomer_worker.ts), so what the attacker does on this
 * thread does not delay them: they are another host's clients. Resolves
 * once the first newcomer can start.
 */
export async function watchNewcomers(
  host: string,
  port: number,
  room: string,
  everyMs = 100,
  link: () => NewcomerLink | null = () => null,
): Promise<NewcomerWatch> {
  let told = JSON.stringify(link());
  const thread = await startThread<NewcomerOrder, NewcomerReport>(
    new URL("./newcomer_worker.ts", import.meta.url),
    "newcomer",
    { type: "link", link: link() },
    { type: "start", host, port, room, everyMs },
  );
  const timer = setInterval(() => {
    const now = JSON.stringify(link());
    if (now !== told) thread.tell({ type: "link", link: link() });
    told = now;
  }, everyMs / 2);
  const stop = async (least = 0) => {
    clearInterval(timer);
    const report = await thread.finish({ type: "stop", least });
    if (report.type !== "samples") throw new Error("The newcomer thread sent no samples");
    return report.samples.map((s) => ({ ...s, at: s.at - performance.timeOrigin }));
  };
  return {
    stop,
    async [Symbol.asyncDispose]() {
      await stop().catch(() => []);
    },
  };
}

/** "n newcomers: p50 x ms, p95 y ms, max z ms, k unserved" for a set of samples. */
export function describeNewcomers(samples: readonly number[]): string {
  const unserved = samples.filter((s) => !Number.isFinite(s)).length;
  const served = samples.filter(Number.isFinite);
  return `${samples.length} newcomers: p50 ${ms(percentile(served, 50))} ms, p95 ${
    ms(percentile(samples, 95))
  } ms, max ${ms(Math.max(...samples))} ms, ${unserved} unserved`;
}

/** "the slowest newcomer: x ms, its TCP connect y ms" ("" for no samples): was its SYN dropped? */
export function slowestNewcomer(samples: readonly NewcomerSample[]): string {
  if (samples.length === 0) return "";
  const slowest = samples.reduce((a, b) => (b.ms > a.ms ? b : a));
  const waited = Number.isFinite(slowest.ms) ? `${ms(slowest.ms)} ms` : "not served";
  return `the slowest newcomer: ${waited}, its TCP connect ${ms(slowest.connectMs)} ms`;
}

/** True when every newcomer was served and 95% of them in under `boundMs`. */
export function newcomersServed(samples: readonly number[], boundMs = 100): boolean {
  return samples.length > 0 && samples.every(Number.isFinite) &&
    percentile(samples, 95) < boundMs;
}
