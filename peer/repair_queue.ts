/**
 * The pulls of the repair path (docs/overlay.md), as pure state with the
 * clock passed in: which missing messages to ask which neighbour for, and
 * when.
 *
 * A digest (`./digest.ts`) says a neighbour holds a message I lack. That may
 * only mean the tree has not brought it yet, so the want waits `graceMs`
 * (longer than the tree's depth in hops) before it is pulled, and is dropped
 * the moment the message arrives. A want heard only from my ring successor
 * waits `graceMs + laterMs`: a subtree lost with a dead tree node is a ring
 * interval whose first member pulls from its predecessor and forwards down
 * the tree (so the rest get it once), and the last member would otherwise
 * pull a second copy from its successor. Each want is asked of one
 * neighbour at a time, again of the next after `retryMs`, and given up after
 * `maxAttempts`. At most `maxPending` wants are held: a hostile digest cannot
 * make me hold more.
 *
 * Wired in `peer/tree.ts` and `peer/fingers_links.ts` (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { RepairQueue } from "./repair_queue.ts";
 * let now = 0;
 * const queue = new RepairQueue({ graceMs: 300, now: () => now });
 * queue.heard([{ originHid: "7", msgId: 3n }], "bob", true);
 * deepEqual(queue.due(), new Map());
 * now = 300;
 * deepEqual(queue.due(), new Map([["bob", [{ originHid: "7", msgId: 3n }]]]));
 * ```
 *
 * @module
 */

import type { Want } from "./digest.ts";

/** Options of a {@linkcode RepairQueue}. */
export interface RepairQueueOptions {
  /** Wait before pulling a want heard from my predecessor (ms). */
  graceMs: number;
  /** Extra wait for a want heard only from other neighbours (ms, default `graceMs`). */
  laterMs?: number;
  /** Wait for an answer before asking the next neighbour (ms, default `graceMs`). */
  retryMs?: number;
  /** Neighbours asked before giving up (default 3). */
  maxAttempts?: number;
  /** Wants held at once (default 1024). */
  maxPending?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

interface Pending {
  want: Want;
  /** Neighbours that hold it, preferred first. */
  sources: string[];
  /** When to ask next. */
  dueAt: number;
  attempts: number;
}

function keyOf(originHid: string, msgId: bigint): string {
  return `${originHid}/${msgId}`;
}

/** Missing messages waiting to be pulled; see the module doc. */
export class RepairQueue {
  readonly #graceMs: number;
  readonly #laterMs: number;
  readonly #retryMs: number;
  readonly #maxAttempts: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();

  /** Creates an empty queue. */
  constructor(options: RepairQueueOptions) {
    this.#graceMs = options.graceMs;
    this.#laterMs = options.laterMs ?? options.graceMs;
    this.#retryMs = options.retryMs ?? options.graceMs;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#maxPending = options.maxPending ?? 1024;
    this.#now = options.now ?? Date.now;
    if (this.#graceMs < 0 || this.#laterMs < 0 || this.#retryMs <= 0) {
      throw new RangeError("RepairQueue waits must not be negative");
    }
    if (this.#maxAttempts < 1 || this.#maxPending < 1) {
      throw new RangeError("RepairQueue bounds must be positive");
    }
  }

  /** Wants held. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * A neighbour's digest shows these wants (from `diff`). `preferred` is true
   * when `from` is my ring predecessor.
   */
  heard(wants: readonly Want[], from: string, preferred: boolean): void {
    const now = this.#now();
    for (const want of wants) {
      const key = keyOf(want.originHid, want.msgId);
      const p = this.#pending.get(key);
      if (p === undefined) {
        if (this.#pending.size >= this.#maxPending) continue;
        const dueAt = now + this.#graceMs + (preferred ? 0 : this.#laterMs);
        this.#pending.set(key, { want, sources: [from], dueAt, attempts: 0 });
      } else if (!p.sources.includes(from) && p.sources.length < this.#maxAttempts) {
        if (preferred && p.attempts === 0) {
          p.sources.unshift(from);
          p.dueAt = Math.min(p.dueAt, now + this.#graceMs);
        } else {
          p.sources.push(from);
        }
      }
    }
  }

  /** The message arrived (by the tree or a pull): stop wanting it. */
  received(originHid: string, msgId: bigint): void {
    this.#pending.delete(keyOf(originHid, msgId));
  }

  /** Forgets every want from an origin (it left, or restarted). */
  forget(originHid: string): void {
    for (const [key, p] of this.#pending) {
      if (p.want.originHid === originHid) this.#pending.delete(key);
    }
  }

  /** The pulls to send now, per neighbour; each want goes to one neighbour. */
  due(): Map<string, Want[]> {
    const now = this.#now();
    const out = new Map<string, Want[]>();
    for (const [key, p] of this.#pending) {
      if (p.dueAt > now) continue;
      if (p.attempts >= p.sources.length || p.attempts >= this.#maxAttempts) {
        this.#pending.delete(key);
        continue;
      }
      const source = p.sources[p.attempts]!;
      p.attempts++;
      p.dueAt = now + this.#retryMs;
      const list = out.get(source);
      if (list === undefined) out.set(source, [p.want]);
      else list.push(p.want);
    }
    return out;
  }

  /** When the next want falls due, or null if none is held. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const p of this.#pending.values()) if (next === null || p.dueAt < next) next = p.dueAt;
    return next;
  }
}
