/**
 * The registry's rooms when they live in a store that several registries
 * share (`registry --store redis://…`, issue 15): the `L`, `J` (and its
 * keepalive), `D`, connection-close and expiry handling of
 * `registry/registry.ts`, over a {@linkcode RedisRoomStore}, so that any
 * registry answers any peer byte for byte as one registry would.
 *
 * The embedded registry never comes here: its handlers stay synchronous over
 * `registry/rooms.ts`. Here every answer is a promise (one store round trip;
 * a keepalive is one `EVALSHA`), and:
 *
 * - each connection is the owner `"<registry id>/<n>"` (a random registry id
 *   per process, so a restarted registry never reuses a dead one's owners);
 * - what each connection owns is remembered locally as the store last
 *   answered it (for presence, idle checks and pushes; the store decides);
 * - pushed membership: every change any registry makes is heard on the
 *   store's channel; the rooms with hello'd connections here are pushed their
 *   new `M` and member-info (kept in the store with each member, so it lists
 *   the hello'd members of every registry), coalesced as
 *   `registry/member_push.ts` does;
 * - a JOIN on any registry that takes over a member owned here tells and
 *   closes the connection that held it;
 * - when the store does not answer, requests are answered
 *   {@linkcode STORE_DOWN} (the connection logs the outage once).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DepartFrame, JoinFrame } from "../lib/frames.ts";
import { MAX_EXTENSION_JSON_BYTES } from "../lib/limits.ts";
import type { HelloSession } from "./hello.ts";
import {
  LEFT_KEPT,
  LEFT_KEPT_MS,
  type LeftEntry,
  type LeftReason,
  memberInfoFrames,
  PUSH_INTERVAL_MS,
} from "./member_push.ts";
import type { Outbox } from "./outbox.ts";
import type { JoinDenial, MemberRecord, Removal, RoomChange, RoomCounts } from "./room_store.ts";
import type { RedisRoomStore } from "./room_store_redis.ts";

const logger = getLogger(["ringchat", "registry", "store"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How often a registry tells the store it is alive, in ms. */
export const ALIVE_EVERY_MS = 500;
/**
 * How long after its last heartbeat a registry's connections stop holding
 * their members against other connections' JOINs (a killed registry), in ms.
 */
export const ALIVE_TTL_MS = 1500;

/** Least time between two counts of the rooms and members after changes, in ms. */
export const COUNTS_EVERY_MS = 250;

/** The answer to a request while the shared store does not answer. */
export const STORE_DOWN = encoder.encode(
  "F:Registry store unavailable - try again in a moment!!::\r\n",
);

/** What this module reads and writes of a registry connection. */
export interface SharedClient {
  /** `host:port` of its remote end, for the log. */
  readonly remote: string;
  /** The bytes of its last accepted JOIN (a repeat is a keepalive). */
  lastJoin: Uint8Array | null;
  /** Its hello, or null for a seed client. */
  readonly hello: HelloSession | null;
  /** Its ordered writes once it said hello. */
  readonly outbox: Outbox | null;
  readonly closed: boolean;
}

/** What the shared rooms need of the registry. */
export interface SharedHost<C> {
  /** `c` sent a valid frame (its first-frame timer stops). */
  valid(c: C): void;
  /** `c`'s member was taken over by a JOIN on some registry: tell it, close it. */
  takenOver(c: C): void;
  /** The `F` reply of a JOIN denial. */
  denied(denial: JoinDenial): Uint8Array;
  /** The reply to a DEPART of a member another connection owns. */
  readonly departNotOwner: Uint8Array;
  /** The reply to a DEPART done. */
  readonly departed: Uint8Array;
  /** `c` now owns a member named `name` in `room` (new when `added`): presence. */
  entered(c: C, name: string, room: string, added: boolean): void;
  /** A member named `name` that `c` (or a connection elsewhere: null) owned left `room`. */
  left(c: C | null, name: string, room: string): void;
  /** A request to the store failed (`ringchat_registry_store_errors_total`). */
  storeError?(): void;
}

interface Removed {
  entry: LeftEntry;
  at: number;
}

/** The registry's rooms over a shared store; see the module doc. */
export class SharedRooms<C extends SharedClient> {
  readonly #store: RedisRoomStore;
  readonly #host: SharedHost<C>;
  readonly #registryId: string;
  #next = 0;
  readonly #owners = new Map<C, string>();
  readonly #clients = new Map<string, C>();
  /** What each connection owns, as the store last answered. */
  readonly #members = new Map<C, MemberRecord>();
  /** This registry's connections owning a member of each room. */
  readonly #inRoom = new Map<string, Set<C>>();
  /** Each pushed room's `M` and member-info frames, as last read from the store. */
  readonly #frames = new Map<string, Uint8Array[]>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #pushable = new Map<string, number>();
  /** Rooms that changed again while their push was being read. */
  readonly #dirty = new Set<string>();
  /** Per room: the removals made here, newest first (member-info's `left`). */
  readonly #left = new Map<string, Removed[]>();
  readonly #unsubscribe: (() => void)[];
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #counts: RoomCounts = { rooms: 0, members: 0 };
  #counting: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * The rooms of `store` as a registry serves them to its connections
   * through `host`; `registryId` names this registry in owners and its
   * heartbeat key (the people store's origin, so presence lapses with it).
   */
  constructor(
    store: RedisRoomStore,
    host: SharedHost<C>,
    registryId: string = crypto.randomUUID().slice(0, 8),
  ) {
    this.#registryId = registryId;
    this.#store = store;
    this.#host = host;
    this.#unsubscribe = [
      store.onChange((change) => this.#changed(change)),
      store.onTakeover((owner) => this.#takenOver(owner)),
      store.onLeft((left) => {
        // Kept for rooms with members here only: their pushes are the ones that show it.
        if (left.from === this.#registryId || !this.#inRoom.has(left.room)) return;
        const entry: LeftEntry = {
          name: left.name,
          ip: left.ip,
          port: left.port,
          reason: left.reason,
        };
        if (left.to !== undefined) entry.to = left.to;
        this.#noteLeft(left.room, entry);
      }),
    ];
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), ALIVE_EVERY_MS);
  }

  /** Keeps this registry's owners live in the store (a SIGKILLed registry's lapse). */
  #beat(): void {
    this.#store.alive(this.#registryId, ALIVE_TTL_MS).catch((error) => {
      this.#host.storeError?.();
      logger.debug("Heartbeat not stored: {error}", { error });
    });
  }

  /** Rooms and members all registries hold, as last counted (after changes, and at each sweep). */
  get counts(): RoomCounts {
    return this.#counts;
  }

  /** The member `c` owns, as the store last answered. */
  memberOf(c: C): MemberRecord | undefined {
    return this.#members.get(c);
  }

  /** The `G` reply. */
  async roomsReply(): Promise<Uint8Array> {
    try {
      return await this.#store.roomsReply();
    } catch (error) {
      return this.#down("LIST", error);
    }
  }

  /**
   * The reply to `frame` (a view; not kept) when it repeats `c`'s last
   * accepted JOIN (a keepalive: one round trip), else null. It resolves to null when `c`
   * owns no member any more: then answer the frame as a full JOIN.
   */
  renewal(c: C, frame: Uint8Array): Promise<Uint8Array | Uint8Array[] | null> | null {
    const last = c.lastJoin;
    if (last === null || last.length !== frame.length) return null;
    for (let i = 0; i < frame.length; i++) if (frame[i] !== last[i]) return null;
    return this.#renew(c);
  }

  /**
   * The reply to a JOIN that passed the registry's own checks; `frame` is its
   * bytes (kept); `source`: `c`'s normalised source address, counted against
   * the per-source limits in the store (`""`: trusted, not limited).
   */
  async join(
    c: C,
    join: JoinFrame,
    frame: Uint8Array,
    source = "",
  ): Promise<Uint8Array | Uint8Array[]> {
    let answer;
    try {
      answer = await this.#store.join(
        join.room,
        join,
        this.#owner(c),
        Date.now(),
        infoOf(c, join),
        c.hello?.provedKey ?? "",
        source,
      );
    } catch (error) {
      return this.#down("JOIN", error);
    }
    if ("denied" in answer) {
      logger.debug("Refused a JOIN of {name} into {room} from {remote}: {why}", {
        name: join.name,
        room: join.room,
        remote: c.remote,
        why: answer.denied,
      });
      return this.#host.denied(answer.denied);
    }
    const { outcome, reply } = answer;
    this.#host.valid(c);
    c.lastJoin = frame;
    this.#own(c, outcome.member);
    if (outcome.takenFrom !== null) {
      logger.info("{name}@{ip}:{port} in {room} is now served by {remote}", {
        ...fields(outcome.member),
        remote: c.remote,
      });
      this.#host.entered(c, join.name, join.room, false);
    }
    if (outcome.added) {
      logger.info("{name}@{ip}:{port} joined {room}", fields(outcome.member));
      this.#host.entered(c, join.name, join.room, true);
    }
    return this.#withInfo(c, join.room, reply);
  }

  /** The members of `room`, newest join first, whichever registry serves them. */
  members(room: string): Promise<MemberRecord[]> {
    return this.#store.members(room);
  }

  /** The reply to a DEPART. */
  async depart(c: C, depart: DepartFrame): Promise<Uint8Array> {
    this.#host.valid(c);
    let removal;
    try {
      removal = await this.#store.depart(depart.room, depart, this.#owner(c));
    } catch (error) {
      return this.#down("DEPART", error);
    }
    if (removal === "not-owner") {
      logger.info("{remote} tried to depart {name}@{ip}:{port}, which another connection owns", {
        remote: c.remote,
        ...fields({ ...depart }),
      });
      return this.#host.departNotOwner;
    }
    if (removal !== null) this.#removed(removal, "departed", "left");
    return this.#host.departed;
  }

  /**
   * A `rename` op: `c`'s member departs, as renamed to `to`. False when `c`
   * owns none; the store's outage is thrown.
   */
  async rename(c: C, to: string): Promise<boolean> {
    const member = this.#members.get(c);
    if (member === undefined) return false;
    const removal = await this.#store.depart(member.room, member, this.#owner(c));
    if (removal === null || removal === "not-owner") return false;
    this.#removed(removal, `renamed to ${to}`, "renamed", to);
    return true;
  }

  /** `c` said hello or proved its key: its member's member-info entry changes for everyone. */
  async infoChanged(c: C): Promise<void> {
    const member = this.#members.get(c);
    if (member === undefined) return;
    try {
      await this.#store.setInfo(this.#owner(c), infoOf(c, member));
    } catch (error) {
      this.#host.storeError?.();
      logger.debug("Member-info of {remote} not stored: {error}", { remote: c.remote, error });
    }
  }

  /** `c` closed: its member leaves its room for everyone. */
  async release(c: C): Promise<void> {
    const owner = this.#owners.get(c);
    if (owner === undefined) return;
    this.#owners.delete(c);
    this.#clients.delete(owner);
    this.#disown(c);
    try {
      const removal = await this.#store.release(owner);
      if (removal !== null) this.#removed(removal, "left (connection closed)", "lost");
    } catch (error) {
      this.#host.storeError?.();
      logger.warn("{remote} closed while the store was down; its member expires", {
        remote: c.remote,
        error,
      });
    }
  }

  /** Removes the members not heard from for `expiryMs`, and counts what is left. */
  async sweep(expiryMs: number): Promise<void> {
    try {
      for (const removal of await this.#store.sweep(Date.now(), expiryMs)) {
        this.#removed(removal, "expired", "expired");
      }
      this.#counts = await this.#store.counts();
    } catch (error) {
      this.#host.storeError?.();
      logger.debug("Sweep skipped, the store is down: {error}", { error });
    }
  }

  /** The frames a push writes to `c`: its room's `M` and member-info, or null. */
  frames(c: C): Uint8Array[] | null {
    const room = this.#members.get(c)?.room;
    return room === undefined ? null : this.#frames.get(room) ?? null;
  }

  /** Stops pushing and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    clearInterval(this.#heartbeat);
    clearTimeout(this.#counting);
    await this.#store.alive(this.#registryId, 0).catch(() => {});
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#store.close();
  }

  async #renew(c: C): Promise<Uint8Array | Uint8Array[] | null> {
    const owner = this.#owner(c);
    let answer;
    try {
      answer = await this.#store.renew(owner, Date.now());
    } catch (error) {
      return this.#down("JOIN", error);
    }
    if (answer === null) {
      this.#disown(c);
      return null;
    }
    this.#own(c, answer.member);
    return c.outbox === null ? answer.reply : this.#withInfo(c, answer.member.room, answer.reply);
  }

  /**
   * `reply` for `c`; for a hello'd connection, followed by the room's
   * member-info (read from the store, one more round trip, unless the frames
   * held for this very `M` are at hand, as for a keepalive in a quiet room).
   */
  async #withInfo(c: C, room: string, reply: Uint8Array): Promise<Uint8Array | Uint8Array[]> {
    if (c.outbox === null) return reply;
    const held = this.#frames.get(room);
    if (held !== undefined && held[0] === reply) return held;
    try {
      return await this.#read(room) ?? reply;
    } catch {
      return reply;
    }
  }

  /** Reads `room`'s `M` and member-info from the store and holds them for pushes; null: no room. */
  async #read(room: string): Promise<Uint8Array[] | null> {
    const read = await this.#store.memberInfo(room);
    if (read === null) {
      this.#frames.delete(room);
      return null;
    }
    const m = read.reply;
    const msid = decoder.decode(m.subarray(2, m.indexOf(0x3a, 2)));
    const frames = [
      m,
      ...memberInfoFrames(
        room,
        msid,
        read.entries.map((entry) => JSON.parse(entry)),
        MAX_EXTENSION_JSON_BYTES,
        this.#recentLeft(room),
      ),
    ];
    // The same bytes as held (a push heard for the change a reply just read):
    // keep the held frames, so the outbox sees the push repeat what it wrote.
    const held = this.#frames.get(room);
    if (held !== undefined && sameFrames(held, frames)) return held;
    if (this.#inRoom.has(room)) this.#frames.set(room, frames);
    return frames;
  }

  #owner(c: C): string {
    let owner = this.#owners.get(c);
    if (owner === undefined) {
      owner = `${this.#registryId}/${++this.#next}`;
      this.#owners.set(c, owner);
      this.#clients.set(owner, c);
    }
    return owner;
  }

  #own(c: C, member: MemberRecord): void {
    const before = this.#members.get(c);
    if (before !== undefined && before.room !== member.room) this.#disown(c);
    this.#members.set(c, member);
    let local = this.#inRoom.get(member.room);
    if (local === undefined) this.#inRoom.set(member.room, local = new Set());
    local.add(c);
  }

  #disown(c: C): void {
    const member = this.#members.get(c);
    if (member === undefined) return;
    this.#members.delete(c);
    const local = this.#inRoom.get(member.room);
    local?.delete(c);
    if (local?.size === 0) {
      this.#inRoom.delete(member.room);
      this.#frames.delete(member.room);
    }
  }

  #removed(removal: Removal<string>, why: string, reason: LeftReason, to?: string): void {
    const owner = removal.owner === null ? undefined : this.#clients.get(removal.owner);
    const { member } = removal;
    if (owner !== undefined) {
      owner.lastJoin = null;
      this.#disown(owner);
    }
    logger.info(`{name}@{ip}:{port} ${why} from {room}`, fields(member));
    this.#host.left(owner ?? null, member.name, member.room);
    if (removal.roomDestroyed) {
      logger.info("Room {room} is empty and destroyed", { room: member.room });
      this.#left.delete(member.room);
      return;
    }
    const entry: LeftEntry = { name: member.name, ip: member.ip, port: member.port, reason };
    if (to !== undefined) entry.to = to;
    this.#noteLeft(member.room, entry);
    // The other registries' member-info names the reason too.
    this.#store.publishLeft({ from: this.#registryId, room: member.room, ...entry }).catch(
      (error) => {
        this.#host.storeError?.();
        logger.debug("Removal reason not published: {error}", { error });
      },
    );
  }

  /** Keeps `entry` as `room`'s newest removal (at most {@linkcode LEFT_KEPT}). */
  #noteLeft(room: string, entry: LeftEntry): void {
    const log = this.#left.get(room) ?? [];
    log.unshift({ entry, at: performance.now() });
    if (log.length > LEFT_KEPT) log.length = LEFT_KEPT;
    this.#left.set(room, log);
  }

  #takenOver(owner: string): void {
    const c = this.#clients.get(owner);
    if (c === undefined) return;
    c.lastJoin = null;
    this.#disown(c);
    this.#host.takenOver(c);
  }

  /** A change heard from the store (any registry's): push the room if members here said hello. */
  #changed(change: RoomChange): void {
    if (this.#inRoom.has(change.room)) this.#schedule(change.room);
    this.#recount();
  }

  /** Counts rooms and members again soon (at most once per {@linkcode COUNTS_EVERY_MS}). */
  #recount(): void {
    if (this.#closed || this.#counting !== undefined) return;
    this.#counting = setTimeout(async () => {
      try {
        this.#counts = await this.#store.counts();
      } catch {
        // The store is down: the outage is logged and counted where requests fail.
      } finally {
        this.#counting = undefined;
      }
    }, COUNTS_EVERY_MS);
  }

  #schedule(room: string): void {
    if (this.#closed) return;
    if (this.#timers.has(room)) return void this.#dirty.add(room);
    const wait = Math.max(0, (this.#pushable.get(room) ?? 0) - performance.now());
    this.#timers.set(room, setTimeout(() => this.#push(room), wait));
  }

  async #push(room: string): Promise<void> {
    try {
      const local = this.#inRoom.get(room);
      if (local === undefined || ![...local].some((c) => c.outbox !== null)) return;
      if ((await this.#read(room)) === null) return;
      for (const c of this.#inRoom.get(room) ?? []) c.outbox?.push();
    } catch (error) {
      this.#host.storeError?.();
      logger.debug("Push of {room} skipped: {error}", { room, error });
    } finally {
      this.#timers.delete(room);
      this.#pushable.set(room, performance.now() + PUSH_INTERVAL_MS);
      if (this.#dirty.delete(room)) this.#schedule(room);
    }
  }

  /** `room`'s removals made here in the last {@linkcode LEFT_KEPT_MS}, newest first. */
  #recentLeft(room: string): LeftEntry[] {
    const since = performance.now() - LEFT_KEPT_MS;
    const kept = (this.#left.get(room) ?? []).filter((removed) => removed.at >= since);
    if (kept.length === 0) this.#left.delete(room);
    else this.#left.set(room, kept);
    return kept.map((removed) => removed.entry);
  }

  /** True when the store answers now (`/healthz`). */
  healthy(): Promise<boolean> {
    return this.#store.healthy();
  }

  #down(request: string, error: unknown): Uint8Array {
    this.#host.storeError?.();
    logger.debug("{request} answered F: the store does not answer ({error})", { request, error });
    return STORE_DOWN;
  }
}

/** The member-info entry of `c`'s member (JSON), `""` for a seed connection. */
function infoOf(c: SharedClient, member: { name: string; ip: string; port: number }): string {
  if (c.hello === null) return "";
  const key = c.hello.provedKey;
  return JSON.stringify({
    name: member.name,
    ip: member.ip,
    port: member.port,
    ringchat: true,
    ...(key === null ? {} : { key }),
  });
}

/** True when `a` and `b` hold the same frames, byte for byte. */
function sameFrames(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((frame, i) => {
    const other = b[i]!;
    return frame.length === other.length && frame.every((byte, j) => byte === other[j]);
  });
}

function fields(m: { name: string; ip: string; port: number; room: string }) {
  return { name: m.name, ip: m.ip, port: m.port, room: m.room };
}
