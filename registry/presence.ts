/**
 * Presence: who is online (logged in, or a member of a room), who is away,
 * which registered users are offline; search by name; and who is told of a
 * change. Pure: no sockets, no timers; the registry calls it when a session
 * logs in or out, a member joins or leaves a room, or a user sets away.
 *
 * Names here are user names. A name may be in several rooms at once (two
 * seed clients under one unregistered name): it counts as in a room until
 * it has left all of them, and its room is the one it entered last.
 *
 * With a shared store (`registry --store`, issue 15) the names live
 * through other registries are kept too ({@linkcode Presence.remote}): a
 * name is live when live here or through any other registry, and its state
 * is this registry's when live here, else the one another registry last
 * told.
 *
 * Blocks hide: a viewer blocked by bob does not see bob in the online list,
 * finds `not-found` when searching for him, and is not told of his changes
 * ({@linkcode permits} with `"see-presence"` and `"find"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Presence } from "./presence.ts";
 * const presence = new Presence();
 * assert.deepEqual(presence.enterRoom("bob", "room1"), { name: "bob", state: "online", room: "room1" });
 * assert.deepEqual(presence.setAway("bob", true), { name: "bob", state: "away", room: "room1" });
 * ```
 *
 * @module
 */

import { type BlockLookup, permits } from "./blocks.ts";
import { insertionPoint } from "./people_sorted.ts";

/** A user's state. */
export type PresenceState = "online" | "away" | "offline";

/** One user as `online` lists it and `presence` pushes it. */
export interface PresenceEntry {
  /** The user name. */
  name: string;
  /** Online (logged in or in a room), away (online, and said so), or offline. */
  state: PresenceState;
  /** The room the user is in, when in one. */
  room?: string;
}

/** The `search` event's payload. */
export interface SearchResult {
  /** The name searched for. */
  name: string;
  /** `self` when searching for yourself. */
  result: "found" | "not-found" | "self";
  /** The state, when found (or self). */
  state?: PresenceState;
  /** The room, when found (or self) in one. */
  room?: string;
}

/** Which names are registered accounts (the {@linkcode Accounts} answer this). */
export interface Registered {
  /** True when `name` is a registered account. */
  isRegistered(name: string): boolean;
  /** Every registered name, sorted (JavaScript's default order). */
  registeredNames(): readonly string[];
}

/** The `online` event's payload. */
export interface OnlineList {
  /** The users, sorted by name. */
  users: PresenceEntry[];
  /** True when `limit` cut the list (more users exist than are listed). */
  truncated: boolean;
}

interface Live {
  loggedIn: boolean;
  away: boolean;
  /** Rooms entered and not left, with how many members of that name; last entered last. */
  rooms: Map<string, number>;
}

function sameEntry(a: PresenceEntry, b: PresenceEntry): boolean {
  return a.state === b.state && a.room === b.room;
}

/** Who is online where; see the module doc. */
export class Presence {
  readonly #live = new Map<string, Live>();
  /** The live names, kept sorted (an `online` request then costs its page, not a sort). */
  readonly #sorted: string[] = [];
  /** The names live through other registries: registry id → name → its state there. */
  readonly #remote = new Map<string, Map<string, PresenceEntry>>();
  /** How many other registries list each name. */
  readonly #remoteCount = new Map<string, number>();
  /** The names live through other registries only by seed connections: registry id → names. */
  readonly #seedOnly = new Map<string, Set<string>>();

  /** How many names are online or away. */
  get liveCount(): number {
    return this.#live.size;
  }

  /** The names online or away, in no particular order. */
  liveNames(): IterableIterator<string> {
    return this.#live.keys();
  }

  /**
   * The state of `name`: live when logged in or in a room, else offline when
   * registered, else undefined (nobody by that name is known).
   */
  entry(name: string, registered?: Registered): PresenceEntry | undefined {
    const live = this.#live.get(name);
    if (live === undefined) {
      if (this.#remoteCount.has(name)) {
        for (const entries of this.#remote.values()) {
          const there = entries.get(name);
          if (there !== undefined) return { ...there };
        }
      }
      return registered?.isRegistered(name) ? { name, state: "offline" } : undefined;
    }
    const entry: PresenceEntry = { name, state: live.away ? "away" : "online" };
    const room = [...live.rooms.keys()].at(-1);
    if (room !== undefined) entry.room = room;
    return entry;
  }

  /** The state of `name` through this registry alone (offline when not live here). */
  localEntry(name: string): PresenceEntry {
    return this.#live.has(name) ? this.entry(name)! : { name, state: "offline" };
  }

  /** The names live through this registry, sorted. */
  localNames(): string[] {
    return this.#sorted.filter((name) => this.#live.has(name));
  }

  /** Another registry `name` is live through, when not live here. */
  holder(name: string): string | undefined {
    if (this.#live.has(name) || !this.#remoteCount.has(name)) return undefined;
    for (const [registry, entries] of this.#remote) if (entries.has(name)) return registry;
    return undefined;
  }

  /**
   * Another registry `name` is live through with a hello'd connection (so
   * able to take DM requests and invitations), when not live here.
   */
  reachableHolder(name: string): string | undefined {
    if (this.#live.has(name) || !this.#remoteCount.has(name)) return undefined;
    for (const [registry, entries] of this.#remote) {
      if (entries.has(name) && !this.#seedOnly.get(registry)?.has(name)) return registry;
    }
    return undefined;
  }

  /** The other registries that told of live names. */
  remoteRegistries(): string[] {
    return [...this.#remote.keys()];
  }

  /**
   * Registry `registry` (another one sharing the store) says `entry.name` is
   * in `entry`'s state there (`offline`: not live there); `reachable`:
   * false when only seed connections hold it there. Returns the change to
   * push, or null when nothing visible changed.
   */
  remote(registry: string, entry: PresenceEntry, reachable = true): PresenceEntry | null {
    const name = entry.name;
    this.#markSeedOnly(registry, name, entry.state !== "offline" && !reachable);
    const before = this.#visible(name);
    const listed = this.#listed(name);
    let entries = this.#remote.get(registry);
    const had = entries?.has(name) ?? false;
    if (entry.state === "offline") {
      if (!had) return null;
      entries!.delete(name);
      if (entries!.size === 0) this.#remote.delete(registry);
      const n = this.#remoteCount.get(name)! - 1;
      if (n > 0) this.#remoteCount.set(name, n);
      else this.#remoteCount.delete(name);
    } else {
      if (entries === undefined) this.#remote.set(registry, entries = new Map());
      const kept: PresenceEntry = { name, state: entry.state };
      if (entry.room !== undefined) kept.room = entry.room;
      entries.delete(name);
      entries.set(name, kept);
      if (!had) this.#remoteCount.set(name, (this.#remoteCount.get(name) ?? 0) + 1);
    }
    this.#resort(name, listed);
    const after = this.#visible(name);
    return sameEntry(before, after) ? null : after;
  }

  #markSeedOnly(registry: string, name: string, on: boolean): void {
    let names = this.#seedOnly.get(registry);
    if (on) {
      if (names === undefined) this.#seedOnly.set(registry, names = new Set());
      names.add(name);
    } else if (names?.delete(name) && names.size === 0) this.#seedOnly.delete(registry);
  }

  /** Forgets every name of `registry` (it ended, or tells them all again); returns the changes. */
  dropRegistry(registry: string): PresenceEntry[] {
    const entries = this.#remote.get(registry);
    if (entries === undefined) return [];
    const changes: PresenceEntry[] = [];
    for (const name of [...entries.keys()]) {
      const change = this.remote(registry, { name, state: "offline" });
      if (change !== null) changes.push(change);
    }
    return changes;
  }

  /** `name` logged in. Returns the change to push, or null when nothing visible changed. */
  login(name: string): PresenceEntry | null {
    return this.#change(name, (live) => live.loggedIn = true);
  }

  /** `name` logged out (or was kicked, or its connection closed). */
  logout(name: string): PresenceEntry | null {
    return this.#change(name, (live) => live.loggedIn = false);
  }

  /** A member named `name` joined `room`. */
  enterRoom(name: string, room: string): PresenceEntry | null {
    return this.#change(name, (live) => {
      const n = live.rooms.get(room) ?? 0;
      live.rooms.delete(room);
      live.rooms.set(room, n + 1);
    });
  }

  /** A member named `name` left `room` (departed, expired or disconnected). */
  leaveRoom(name: string, room: string): PresenceEntry | null {
    return this.#change(name, (live) => {
      const n = live.rooms.get(room) ?? 0;
      if (n <= 1) live.rooms.delete(room);
      else live.rooms.set(room, n - 1);
    });
  }

  /** `name` set or cleared away. Only a live name can be away; a name going offline forgets it. */
  setAway(name: string, on: boolean): PresenceEntry | null {
    if (!this.#live.has(name)) return null;
    return this.#change(name, (live) => live.away = on);
  }

  /**
   * The `online` list `viewer` sees: every live name and every registered
   * offline name, except `viewer` and those who block `viewer`; sorted by
   * name, at most `limit` entries.
   */
  online(viewer: string, registered: Registered, blocks: BlockLookup, limit = 1000): OnlineList {
    // Merge the live names (few, sorted here) with the registered ones
    // (many, kept sorted), stopping at `limit`: a request costs the live
    // names and the page, not a sort of every account.
    const live = this.#sorted;
    const all = registered.registeredNames();
    const users: PresenceEntry[] = [];
    let i = 0;
    let j = 0;
    while (i < live.length || j < all.length) {
      const a = live[i];
      const b = all[j];
      const name = b === undefined || (a !== undefined && a <= b) ? a! : b;
      if (name === a) i++;
      if (name === b) j++;
      if (name === viewer || !permits(blocks, "see-presence", viewer, name)) continue;
      if (users.length === limit) return { users, truncated: true };
      users.push(this.entry(name, registered)!);
    }
    return { users, truncated: false };
  }

  /** What `viewer` finds searching for `name`; a name that blocks `viewer` is `not-found`. */
  search(viewer: string, name: string, registered: Registered, blocks: BlockLookup): SearchResult {
    const entry = this.entry(name, registered);
    if (name === viewer) return { ...entry, name, result: "self" };
    if (entry === undefined || !permits(blocks, "find", viewer, name)) {
      return { name, result: "not-found" };
    }
    return { ...entry, result: "found" };
  }

  /**
   * Who among `viewers` (the names of hello'd connections) is told of
   * `change`: everyone but its subject and those it blocks.
   */
  audience(change: PresenceEntry, viewers: Iterable<string>, blocks: BlockLookup): string[] {
    const told = new Set<string>();
    for (const viewer of viewers) {
      if (viewer !== change.name && permits(blocks, "see-presence", viewer, change.name)) {
        told.add(viewer);
      }
    }
    return [...told];
  }

  #change(name: string, update: (live: Live) => void): PresenceEntry | null {
    const before = this.#visible(name);
    const listed = this.#listed(name);
    const live = this.#live.get(name) ?? { loggedIn: false, away: false, rooms: new Map() };
    update(live);
    if (live.loggedIn || live.rooms.size > 0) this.#live.set(name, live);
    else this.#live.delete(name);
    this.#resort(name, listed);
    const after = this.#visible(name);
    return sameEntry(before, after) ? null : after;
  }

  #visible(name: string): PresenceEntry {
    return this.entry(name) ?? { name, state: "offline" };
  }

  /** True when `name` is live here or through another registry (so in `#sorted`). */
  #listed(name: string): boolean {
    return this.#live.has(name) || this.#remoteCount.has(name);
  }

  /** Puts `name` in or out of `#sorted` after a change; `listed`: whether it was in. */
  #resort(name: string, listed: boolean): void {
    const now = this.#listed(name);
    if (now && !listed) this.#sorted.splice(insertionPoint(this.#sorted, name), 0, name);
    else if (!now && listed) this.#sorted.splice(insertionPoint(this.#sorted, name), 1);
  }
}
