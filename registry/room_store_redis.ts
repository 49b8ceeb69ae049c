/**
 * {@linkcode RoomStore} on Redis, which N registries share (issue 15). Each
 * request is one Lua script (`registry/room_store_lua.ts`, where the keyspace
 * is laid out), so the rules of `registry/rooms.ts` hold across registries:
 * two JOINs into a new room create it once, a JOIN racing an expiry either
 * renews the member or re-adds it, and a member expires exactly once however
 * many registries sweep.
 *
 * Each store caches the encoded `M` reply of every room it answered for, and
 * the `G` reply, with the version Redis gave them. A request sends the
 * version it holds and gets the member list back only when it changed, so a
 * keepalive is one round trip (`EVALSHA`) whatever the room's size, and the
 * bytes are those one in-memory registry would send: `M` lists members by
 * join number, `G` rooms by creation number, both taken from one counter.
 * Every change is published on `P changes`; each store drops its cached
 * replies on hearing one and tells its {@linkcode RoomStore.onChange}
 * listeners (pushed membership).
 *
 * Time is the caller's (`now`): registries sharing a Redis need clocks within
 * a fraction of the expiry (NTP does it).
 *
 * @module
 */

import type { LeftReason } from "./member_push.ts";
import { getLogger } from "@logtape/logtape";
import type { Member } from "../lib/frames.ts";
import { hashId, sdbmHash } from "../lib/sdbm.ts";
import { type LoadedScript, RedisConnection, type RedisReply } from "./redis_connection.ts";
import * as lua from "./room_store_lua.ts";
import type {
  JoinAnswer,
  JoinDenial,
  MemberRecord,
  Removal,
  RenewAnswer,
  RoomChange,
  RoomCounts,
  RoomStore,
} from "./room_store.ts";

const logger = getLogger(["ringchat", "registry", "room_store"]);
const encoder = new TextEncoder();

/** Options of {@linkcode RedisRoomStore.open}. */
export interface RedisRoomStoreOptions {
  /** `redis://HOST:PORT[/DB]`. */
  url: string;
  /** Prefix of every key and of the channel, so stores can share one database. Default `"ringchat:"`. */
  prefix?: string;
  /** Most rooms at once. Default `Infinity`. */
  maxRooms?: number;
  /** Most members in one room. Default `Infinity`. */
  maxMembersPerRoom?: number;
  /** Most members of one room owned from one source address (shared by every registry). Default `Infinity`. */
  maxMembersPerSource?: number;
  /** Most rooms a source address may have members in and still create one. Default `Infinity`. */
  maxRoomsPerSource?: number;
  /** List two members of one name at other ips or ports (the reference's way). Default false. */
  allowDuplicateNames?: boolean;
  /** Most members one sweep script examines (a sweep runs as many as it needs). Default 1000. */
  sweepBatch?: number;
}

interface Cached {
  readonly version: string;
  readonly reply: Uint8Array;
}

/** A room's cached `M` reply and the HashIDs it lists, in its order (member-info follows it). */
interface CachedMembers extends Cached {
  readonly order: readonly string[];
}

type Scripts = { [K in keyof typeof lua]: LoadedScript };

interface Renewal {
  readonly owner: string;
  readonly now: number;
  readonly resolve: (answer: RenewAnswer | null) => void;
  readonly reject: (error: unknown) => void;
}

/** The Redis room store; see the module doc. Owners are connection ids unique across registries. */
export class RedisRoomStore implements RoomStore<string> {
  readonly #redis: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #scripts: Scripts;
  readonly #prefix: string;
  readonly #limits: readonly [string, string, string];
  /** The per-source limits: members of one room, rooms. */
  readonly #sourceLimits: readonly [string, string];
  readonly #sweepBatch: number;
  /** Encoded `M` replies by room. */
  readonly #replies = new Map<string, CachedMembers>();
  #roomsReply: Cached | null = null;
  /** The room each of this registry's owners joined, to send that room's cached version. */
  readonly #ownerRooms = new Map<string, string>();
  readonly #listeners = new Set<(change: RoomChange) => void>();
  readonly #takeovers = new Set<(owner: string) => void>();
  readonly #lefts = new Set<(left: SharedLeft) => void>();
  /** Keepalives waiting for the script call under way to end ({@linkcode renew}). */
  #renewals: Renewal[] = [];
  #renewing = false;
  #closed = false;

  private constructor(
    redis: RedisConnection,
    subscriber: RedisConnection,
    scripts: Scripts,
    options: RedisRoomStoreOptions,
  ) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#scripts = scripts;
    this.#prefix = options.prefix ?? "ringchat:";
    this.#limits = [
      limit(options.maxRooms, "maxRooms"),
      limit(options.maxMembersPerRoom, "maxMembersPerRoom"),
      options.allowDuplicateNames ? "1" : "0",
    ];
    this.#sourceLimits = [
      limit(options.maxMembersPerSource, "maxMembersPerSource"),
      limit(options.maxRoomsPerSource, "maxRoomsPerSource"),
    ];
    this.#sweepBatch = options.sweepBatch ?? 1000;
  }

  /**
   * Connects (a command connection and a subscriber), loads the scripts and
   * subscribes to changes.
   *
   * @throws {RangeError} when a limit is below 1
   * @throws {Error} when Redis does not answer
   */
  static async open(options: RedisRoomStoreOptions): Promise<RedisRoomStore> {
    limit(options.maxRooms, "maxRooms");
    limit(options.maxMembersPerRoom, "maxMembersPerRoom");
    limit(options.maxMembersPerSource, "maxMembersPerSource");
    limit(options.maxRoomsPerSource, "maxRoomsPerSource");
    const redis = await RedisConnection.open(options.url);
    try {
      const subscriber = await redis.duplicate();
      const entries = await Promise.all(
        Object.entries(lua).map(async ([name, source]) => [name, await redis.load(source)]),
      );
      const store = new RedisRoomStore(
        redis,
        subscriber,
        Object.fromEntries(entries) as Scripts,
        options,
      );
      await subscriber.client.subscribe(
        `${store.#prefix}changes`,
        (message: string) => store.#heard(message),
      );
      return store;
    } catch (error) {
      await redis.close();
      throw error;
    }
  }

  /**
   * As {@linkcode RoomStore.join}; `info` is the owner's member-info entry
   * (JSON, for a connection that said hello; `""` for none), kept with the
   * member in the same step ({@linkcode memberInfo}). With `claim` (the
   * joining connection's proved key, `""` for none) a member another live
   * owner holds is taken over only by the same proved key, else `"held"`
   * (`registry/ownership.ts`); owners are live while their registry's
   * {@linkcode alive} holds. Without it, the JOIN takes the member over.
   * `source` is the owner's normalised source address, counted against the
   * per-source limits across registries (`""`: a trusted source, not limited).
   */
  async join(
    room: string,
    member: Member,
    owner: string,
    now: number,
    info = "",
    claim?: string,
    source = "",
  ): Promise<JoinAnswer<string>> {
    const id = hashId(member.name, member.ip, member.port);
    const cached = this.#replies.get(room);
    const r = await this.#run("JOIN", [
      room,
      String(id),
      member.name,
      `${member.name}:${member.ip}:${member.port}:`,
      owner,
      String(now),
      ...this.#limits,
      cached?.version ?? "",
      info,
      claim === undefined ? "" : `k:${claim}`,
      source,
      ...this.#sourceLimits,
    ]) as RedisReply[];
    if (r[0] !== "ok") return { denied: r[0] as JoinDenial };
    const [, added, created, takenFrom, segment, version, list] = r;
    this.#ownerRooms.set(owner, room);
    return {
      outcome: {
        member: record(room, id, segment as string, now),
        added: added === 1,
        roomCreated: created === 1,
        takenFrom: takenFrom === "" ? null : takenFrom as string,
      },
      reply: this.#membersCached(room, cached, version as string, list).reply,
    };
  }

  /**
   * As {@linkcode RoomStore.renew}. Keepalives asked for while one script
   * call is under way go together in the next (one `EVALSHA` for all of
   * them): still one round trip each at most, and far fewer under load.
   */
  renew(owner: string, now: number): Promise<RenewAnswer | null> {
    const { promise, resolve, reject } = Promise.withResolvers<RenewAnswer | null>();
    this.#renewals.push({ owner, now, resolve, reject });
    if (!this.#renewing) this.#renewBatches();
    return promise;
  }

  async #renewBatches(): Promise<void> {
    this.#renewing = true;
    while (this.#renewals.length > 0) {
      const batch = this.#renewals;
      this.#renewals = [];
      const args = [String(batch.at(-1)!.now)];
      const cached = batch.map(({ owner }) => {
        const believed = this.#ownerRooms.get(owner) ?? "";
        const held = this.#replies.get(believed);
        args.push(owner, believed, held?.version ?? "");
        return { believed, held };
      });
      let r: RedisReply[][];
      try {
        r = await this.#run("RENEW", args) as RedisReply[][];
      } catch (error) {
        for (const { reject } of batch) reject(error);
        continue;
      }
      for (const [i, { owner, now, resolve }] of batch.entries()) {
        const entry = r[i]!;
        if (entry.length === 0) {
          this.#ownerRooms.delete(owner);
          resolve(null);
          continue;
        }
        const [room, hid, segment, version, list] = entry as [
          string,
          string,
          string,
          string,
          RedisReply,
        ];
        const { believed, held } = cached[i]!;
        this.#ownerRooms.set(owner, room);
        resolve({
          member: record(room, BigInt(hid), segment, now),
          reply: this.#membersCached(room, room === believed ? held : undefined, version, list)
            .reply,
        });
      }
    }
    this.#renewing = false;
  }

  async depart(
    room: string,
    member: Member,
    owner: string,
  ): Promise<Removal<string> | null | "not-owner"> {
    const id = hashId(member.name, member.ip, member.port);
    const r = await this.#run("DEPART", [room, String(id), owner]) as RedisReply[];
    if (r.length === 0) return null;
    if (r[0] === "not-owner") return "not-owner";
    return this.#removals(r, 0)[0]!;
  }

  async release(owner: string): Promise<Removal<string> | null> {
    const r = await this.#run("RELEASE", [owner]) as RedisReply[];
    this.#ownerRooms.delete(owner);
    return r.length === 0 ? null : this.#removals(r, 0)[0]!;
  }

  async sweep(now: number, expiryMs: number): Promise<Removal<string>[]> {
    const removed: Removal<string>[] = [];
    const cutoff = String(now - expiryMs);
    for (;;) {
      const r = await this.#run("SWEEP", [cutoff, String(this.#sweepBatch)]) as RedisReply[];
      removed.push(...this.#removals(r, 1));
      if ((r[0] as number) < this.#sweepBatch) return removed;
    }
  }

  async memberOf(owner: string): Promise<MemberRecord | undefined> {
    const r = await this.#run("MEMBER_OF", [owner]) as string[];
    if (r.length === 0) return undefined;
    const [room, hid, segment, seen] = r as [string, string, string, string];
    return record(room, BigInt(hid), segment, Number(seen));
  }

  async members(room: string): Promise<MemberRecord[]> {
    const r = await this.#run("MEMBERS", [room]) as string[];
    const out: MemberRecord[] = [];
    for (let i = 0; i < r.length; i += 2) {
      const entry = r[i]!;
      const colon = entry.indexOf(":");
      out.push(
        record(room, BigInt(entry.slice(0, colon)), entry.slice(colon + 1), Number(r[i + 1])),
      );
    }
    return out;
  }

  async membersReply(room: string): Promise<Uint8Array | null> {
    const cached = this.#replies.get(room);
    const r = await this.#run("MEMBERS_REPLY", [room, cached?.version ?? ""]) as RedisReply[];
    if (r.length === 0) {
      this.#replies.delete(room);
      return null;
    }
    return this.#membersCached(room, cached, r[0] as string, r[1]).reply;
  }

  async roomsReply(): Promise<Uint8Array> {
    const cached = this.#roomsReply;
    const [version, list] = await this.#run("ROOMS_REPLY", [cached?.version ?? ""]) as [
      string,
      string[] | undefined,
    ];
    if (list === undefined && cached !== null && cached.version === version) return cached.reply;
    const names = list ?? [];
    const reply = encoder.encode(names.length === 0 ? "G::\r\n" : `G:${names.join(":")}::\r\n`);
    this.#roomsReply = { version, reply };
    return reply;
  }

  /**
   * Sets the member-info entry (JSON; `""`: none) of the member `owner` owns
   * (its connection said hello or proved a key); every store hears it as a
   * change of the room. False when `owner` owns none.
   */
  async setInfo(owner: string, info: string): Promise<boolean> {
    return await this.#run("SET_INFO", [owner, info]) === 1;
  }

  /**
   * The `M` reply of `room` and the member-info entries (JSON) of its members
   * whose connection said hello, in `M` order (newest join first); null when
   * there is no such room. One round trip.
   */
  async memberInfo(room: string): Promise<{ reply: Uint8Array; entries: string[] } | null> {
    const cached = this.#replies.get(room);
    const r = await this.#run("MEMBER_INFO", [room, cached?.version ?? ""]) as RedisReply[];
    if (r.length === 0) {
      this.#replies.delete(room);
      return null;
    }
    // The order comes with the reply it lists: a change heard meanwhile drops
    // the cache, not what this answer lists.
    const { reply, order } = this.#membersCached(room, cached, r[0] as string, r[1] ?? undefined);
    const info = new Map<string, string>();
    for (let i = 2; i + 1 < r.length; i += 2) info.set(r[i] as string, r[i + 1] as string);
    const entries: string[] = [];
    if (info.size > 0) {
      for (const hid of order) {
        const entry = info.get(hid);
        if (entry !== undefined) entries.push(entry);
      }
    }
    return { reply, entries };
  }

  /**
   * Marks the owners `"<registry>/…"` live for `ttlMs` (call again well
   * before it runs out); `ttlMs` 0 marks them dead at once (a clean close).
   */
  async alive(registry: string, ttlMs: number): Promise<void> {
    const key = `${this.#prefix}alive:${registry}`;
    if (this.#closed) throw new TypeError("The room store is closed");
    await this.#redis.client.sendCommand(
      ttlMs > 0 ? ["SET", key, "1", "PX", String(ttlMs)] : ["DEL", key],
    );
  }

  /**
   * Tells every registry why a member left `room` (member-info's `left`,
   * registry/member_push.ts), on `P changes` after the change itself, so a
   * registry that pushes the new `M` has the reason by then.
   */
  async publishLeft(left: SharedLeft): Promise<void> {
    if (this.#closed) throw new TypeError("The room store is closed");
    await this.#redis.client.sendCommand([
      "PUBLISH",
      `${this.#prefix}changes`,
      `L${JSON.stringify(left)}`,
    ]);
  }

  /** Calls `listener` with every removal's reason published by any registry; returns its unsubscribe. */
  onLeft(listener: (left: SharedLeft) => void): () => void {
    this.#lefts.add(listener);
    return () => this.#lefts.delete(listener);
  }

  /** True when Redis answers a PING within `timeoutMs` (`/healthz`). */
  healthy(timeoutMs = 1000): Promise<boolean> {
    return this.#closed ? Promise.resolve(false) : this.#redis.ping(timeoutMs);
  }

  async counts(): Promise<RoomCounts> {
    const [rooms, members] = await this.#run("COUNTS", []) as [number, number];
    return { rooms, members };
  }

  onChange(listener: (change: RoomChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `listener` with the owner whose member a JOIN on any registry took
   * over (the connection that held it should be told and closed); returns its unsubscribe.
   */
  onTakeover(listener: (owner: string) => void): () => void {
    this.#takeovers.add(listener);
    return () => this.#takeovers.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#takeovers.clear();
    this.#lefts.clear();
    await Promise.all([this.#subscriber.close(), this.#redis.close()]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #run(script: keyof Scripts, args: string[]): Promise<RedisReply> {
    if (this.#closed) return Promise.reject(new TypeError("The room store is closed"));
    return this.#redis.run(this.#scripts[script], [this.#prefix, ...args]);
  }

  /**
   * The `M` reply of `room` at `version` and its order: the cached ones when
   * `list` is absent (Redis saw the version we sent), else built from `list`.
   */
  #membersCached(
    room: string,
    cached: CachedMembers | undefined,
    version: string,
    list: RedisReply | undefined,
  ): CachedMembers {
    if (list === undefined && cached !== undefined && cached.version === version) return cached;
    // Another answer in the same batch built it already: the same version is the same bytes.
    const current = this.#replies.get(room);
    if (current !== undefined && current.version === version) return current;
    let payload = "";
    const order: string[] = [];
    for (const entry of list as string[]) {
      const colon = entry.indexOf(":");
      order.push(entry.slice(0, colon));
      payload += entry.slice(colon + 1);
    }
    const msid = sdbmHash(payload);
    const reply = encoder.encode(
      payload.length === 0 ? `M:${msid}::\r\n` : `M:${msid}:${payload}:\r\n`,
    );
    const built = { version, reply, order };
    this.#replies.set(room, built);
    return built;
  }

  /** Removals from a script's reply, six fields each from `start`. */
  #removals(r: RedisReply[], start: number): Removal<string>[] {
    const out: Removal<string>[] = [];
    for (let i = start; i + 5 < r.length; i += 6) {
      const [room, hid, segment, owner, seen, destroyed] = r.slice(i, i + 6) as [
        string,
        string,
        string,
        string,
        string,
        number,
      ];
      if (owner !== "") this.#ownerRooms.delete(owner);
      out.push({
        member: record(room, BigInt(hid), segment, Number(seen)),
        owner: owner === "" ? null : owner,
        roomDestroyed: destroyed === 1,
      });
    }
    return out;
  }

  /** A message on `P changes`: drop what it makes stale, tell the listeners. */
  #heard(message: string): void {
    if (message[0] === "L") {
      const left = parseSharedLeft(message.slice(1));
      if (left === null) return logger.debug("Dropped a malformed removal reason");
      for (const listener of this.#lefts) {
        try {
          listener(left);
        } catch (error) {
          logger.error("A removal listener failed: {error}", { error });
        }
      }
      return;
    }
    if (message[0] === "T") {
      const owner = message.slice(1);
      this.#ownerRooms.delete(owner);
      for (const listener of this.#takeovers) {
        try {
          listener(owner);
        } catch (error) {
          logger.error("A takeover listener failed: {error}", { error });
        }
      }
      return;
    }
    const change = { room: message.slice(1), roomsChanged: message[0] === "G" };
    // A member-info change ("I") leaves the `M` as it was.
    if (message[0] !== "I") this.#replies.delete(change.room);
    if (change.roomsChanged) this.#roomsReply = null;
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        logger.error("A room change listener failed: {error}", { error });
      }
    }
  }
}

function limit(value: number | undefined, name: string): string {
  if (value === undefined || value === Infinity) return "0";
  if (!(value >= 1)) throw new RangeError(`${name} must be at least 1, got ${value}`);
  return String(Math.floor(value));
}

/** A member from its room, HashID, `name:ip:port:` segment and last-seen time. */
function record(room: string, id: bigint, segment: string, lastSeen: number): MemberRecord {
  const [name, ip, port] = segment.split(":") as [string, string, string];
  return { room, name, ip, port: Number(port), hashId: id, lastSeen };
}

/** Why a member left a room, as one registry publishes it for the others. */
export interface SharedLeft {
  /** The publishing registry's id (it has the reason already). */
  from: string;
  room: string;
  name: string;
  ip: string;
  port: number;
  reason: LeftReason;
  /** For `renamed`: the new name. */
  to?: string;
}

const LEFT_REASONS: readonly string[] = ["left", "lost", "expired", "renamed"];

/** A published removal reason, checked field by field; null when malformed. */
export function parseSharedLeft(json: string): SharedLeft | null {
  if (json.length > 512) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  const short = (x: unknown, max: number) =>
    typeof x === "string" && x.length > 0 && x.length <= max;
  if (
    !short(v.from, 64) || !short(v.room, 32) || !short(v.name, 32) || !short(v.ip, 64) ||
    !Number.isInteger(v.port) || (v.port as number) < 0 || (v.port as number) > 65535 ||
    typeof v.reason !== "string" || !LEFT_REASONS.includes(v.reason) ||
    (v.to !== undefined && !short(v.to, 32))
  ) {
    return null;
  }
  const left: SharedLeft = {
    from: v.from as string,
    room: v.room as string,
    name: v.name as string,
    ip: v.ip as string,
    port: v.port as number,
    reason: v.reason as LeftReason,
  };
  if (v.to !== undefined) left.to = v.to as string;
  return left;
}
