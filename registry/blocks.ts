/**
 * Blocking (issue 12): a user blocked by bob cannot see bob online, find
 * him, get his address, DM, poke or invite him, nor reach him by broadcast or
 * by mail; bob does not see the blocked user's room messages (the peer hides
 * them; the overlay still forwards them to everyone else).
 *
 * Blocks are kept in memory (loaded from the {@linkcode PeopleStore} by
 * {@linkcode Blocks.open}) and written through to it, so every rule is a
 * synchronous, pure predicate: {@linkcode permits}. A shared store with
 * several registries (issue 15) will need to tell each registry of changes.
 *
 * Rules the issue leaves open, decided here (and in `docs/people.md`):
 * - Blocking is one way, as in seed 003: bob blocking mallory stops
 *   mallory reaching bob, not bob reaching mallory.
 * - What is about *seeing* bob ({@linkcode HIDING_ACTIONS}: the online list,
 *   search, presence pushes) hides him as if he were not there; what is about
 *   *reaching* him ({@linkcode REFUSED_ACTIONS}) is refused with the code
 *   `blocked`, as seed 003's server tells the sender. So mallory learns she
 *   is blocked when she tries to reach bob, but never where he is.
 * - Only a registered name can be blocked (`unknown-user` otherwise): blocks
 *   belong to accounts and survive restarts, and an unregistered name is
 *   anyone's to take. A blocked user who logs out and joins under a fresh
 *   unregistered name is not blocked under it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Blocks, permits } from "./blocks.ts";
 * import { SqlitePeopleStore } from "./people_db.ts";
 * using store = SqlitePeopleStore.open(":memory:");
 * const blocks = await Blocks.open(store);
 * await blocks.block("bob", "mallory", { isRegistered: () => true }, Date.now());
 * assert.equal(permits(blocks, "dm", "mallory", "bob"), false);
 * assert.equal(permits(blocks, "dm", "bob", "mallory"), true); // one way
 * ```
 *
 * @module
 */

import type { PeopleStore } from "./people_store.ts";

/** What one user may try to do to another. */
export type Action =
  | "see-presence"
  | "find"
  | "get-address"
  | "dm"
  | "mail"
  | "poke"
  | "invite"
  | "broadcast";

/** Actions about seeing someone: a block hides the target (absent, `not-found`). */
export const HIDING_ACTIONS: readonly Action[] = Object.freeze([
  "see-presence",
  "find",
  "broadcast",
]);

/** Actions about reaching someone: a block refuses them with the code `blocked`. */
export const REFUSED_ACTIONS: readonly Action[] = Object.freeze([
  "get-address",
  "dm",
  "mail",
  "poke",
  "invite",
]);

/** Answers whether one name blocks another. */
export interface BlockLookup {
  /** True when `by` blocks `name`. */
  has(by: string, name: string): boolean;
}

/** What {@linkcode Blocks.block} and {@linkcode Blocks.unblock} did. */
export type BlockResult =
  | { ok: true; name: string; changed: boolean }
  | { ok: false; code: "unknown-user" | "self" | "too-many-blocks" };

/** Options of {@linkcode Blocks}. */
export interface BlocksOptions {
  /**
   * Names one account may block.
   * @default {1000}
   */
  maxPerUser?: number;
}

/**
 * Whether `actor` may do `action` to `target`: false when `target` blocks
 * `actor`. Yourself you may always reach.
 */
export function permits(
  blocks: BlockLookup,
  _action: Action,
  actor: string,
  target: string,
): boolean {
  return actor === target || !blocks.has(target, actor);
}

/**
 * How a refused `action` is answered: `"hide"` (as if the target were not
 * there: left out of lists, `not-found`) or `"refuse"` (error code `blocked`).
 */
export function refusalOf(action: Action): "hide" | "refuse" {
  return HIDING_ACTIONS.includes(action) ? "hide" : "refuse";
}

/** Whether `reader`'s peer shows a room message from `author` (false when `reader` blocks `author`). */
export function showsRoomMessage(blocks: BlockLookup, reader: string, author: string): boolean {
  return !blocks.has(reader, author);
}

/**
 * Who a broadcast from `sender` reaches among `online`: everyone except the
 * sender and those who block the sender, each once.
 */
export function broadcastAudience(
  blocks: BlockLookup,
  sender: string,
  online: Iterable<string>,
): string[] {
  const audience = new Set<string>();
  for (const name of online) {
    if (name !== sender && permits(blocks, "broadcast", sender, name)) audience.add(name);
  }
  return [...audience];
}

/** Who blocks whom, in memory, written through to the store; see the module doc. */
export class Blocks implements BlockLookup {
  readonly #store: PeopleStore;
  readonly #maxPerUser: number;
  /** by → the names it blocks. */
  readonly #byBlocker = new Map<string, Set<string>>();

  private constructor(store: PeopleStore, maxPerUser: number) {
    this.#store = store;
    this.#maxPerUser = maxPerUser;
  }

  /**
   * Loads every block from `store`.
   *
   * @throws {RangeError} when `maxPerUser` is below 1
   */
  static async open(store: PeopleStore, options: BlocksOptions = {}): Promise<Blocks> {
    const maxPerUser = options.maxPerUser ?? 1000;
    if (!(maxPerUser >= 1)) {
      throw new RangeError(`maxPerUser must be at least 1, got ${maxPerUser}`);
    }
    const blocks = new Blocks(store, maxPerUser);
    for (const b of await store.blocks()) blocks.#add(b.by, b.name);
    return blocks;
  }

  has(by: string, name: string): boolean {
    return this.#byBlocker.get(by)?.has(name) ?? false;
  }

  /** The names `by` blocks, in the order blocked. */
  listOf(by: string): string[] {
    return [...this.#byBlocker.get(by) ?? []];
  }

  /**
   * Makes `by` (a logged-in account) block `name`, which must be a
   * registered account other than `by`.
   */
  async block(
    by: string,
    name: string,
    accounts: { isRegistered(name: string): boolean },
    now: number,
  ): Promise<BlockResult> {
    if (name === by) return { ok: false, code: "self" };
    if (!accounts.isRegistered(name)) return { ok: false, code: "unknown-user" };
    if (this.has(by, name)) return { ok: true, name, changed: false };
    if ((this.#byBlocker.get(by)?.size ?? 0) >= this.#maxPerUser) {
      return { ok: false, code: "too-many-blocks" };
    }
    this.#add(by, name);
    try {
      await this.#store.addBlock({ by, name, at: now });
    } catch (error) {
      this.#remove(by, name);
      throw error;
    }
    return { ok: true, name, changed: true };
  }

  /** Makes `by` stop blocking `name`; `changed` is false when it did not block it. */
  async unblock(by: string, name: string): Promise<BlockResult> {
    if (!this.has(by, name)) return { ok: true, name, changed: false };
    this.#remove(by, name);
    try {
      await this.#store.removeBlock(by, name);
    } catch (error) {
      this.#add(by, name);
      throw error;
    }
    return { ok: true, name, changed: true };
  }

  /** Another registry sharing the store made (`blocked`) or lifted a block: hold it here too. */
  learn(by: string, name: string, blocked: boolean): void {
    if (blocked) this.#add(by, name);
    else this.#remove(by, name);
  }

  /**
   * Reads every block from the store again (this registry may have missed
   * other registries' events): holds what the store holds. A block made
   * here while the read is under way is kept.
   */
  async reload(): Promise<void> {
    const before = [...this.#byBlocker].flatMap(([by, names]) =>
      [...names].map((name) => [by, name] as const)
    );
    const records = await this.#store.blocks();
    const held = new Set(records.map((b) => `${b.by}\u0000${b.name}`));
    for (const [by, name] of before) if (!held.has(`${by}\u0000${name}`)) this.#remove(by, name);
    for (const b of records) this.#add(b.by, b.name);
  }

  #add(by: string, name: string): void {
    let names = this.#byBlocker.get(by);
    if (names === undefined) this.#byBlocker.set(by, names = new Set());
    names.add(name);
  }

  #remove(by: string, name: string): void {
    const names = this.#byBlocker.get(by);
    names?.delete(name);
    if (names?.size === 0) this.#byBlocker.delete(by);
  }
}
