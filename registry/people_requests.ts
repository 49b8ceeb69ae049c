/**
 * What the registry remembers between a request and its answer: DM requests
 * and invitations waiting for the other side (each with the connection that
 * asked, which the answer goes back to), and the consents given (the
 * address and token the requester connects with). Pure: the clock comes in
 * as ms, nothing is sent from here.
 *
 * Bounded against an attacker: at most `maxPerSender` requests pending per
 * sender (one more is refused, not queued), each forgotten after `ttlMs`,
 * when its requester's connection closes, or when either side logs out.
 * Consents exist only after the other side said yes, and go with the
 * sessions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PendingRequests } from "./people_requests.ts";
 * const pending = new PendingRequests<string>({ ttlMs: 60_000, maxPerSender: 16 });
 * assert.equal(pending.offer("dm", "alice", "bob", "", "conn-a", 0), "new");
 * assert.equal(pending.offer("dm", "alice", "bob", "", "conn-a", 1), "again");
 * assert.equal(pending.take("dm", "alice", "bob", "", 2)?.requester, "conn-a");
 * assert.equal(pending.take("dm", "alice", "bob", "", 3), undefined);
 * ```
 *
 * @module
 */

/** What is asked: a DM consent or a room invitation. */
export type RequestKind = "dm" | "invite";

/** One request waiting for its answer. */
export interface PendingRequest<C> {
  readonly kind: RequestKind;
  readonly from: string;
  readonly to: string;
  /** The room of an invitation; `""` for a DM. */
  readonly room: string;
  /** The connection that asked: the answer is pushed to it. */
  readonly requester: C;
  expiresAt: number;
}

/** What a consent gives the requester. */
export interface Consent {
  readonly ip: string;
  readonly port: number;
  /** 128 random bits, hex: presented as the first frame of the direct connection. */
  readonly token: string;
}

/** Bounds of {@linkcode PendingRequests}. */
export interface PendingRequestsOptions {
  /** A request is forgotten this long after it was made, in ms. */
  ttlMs: number;
  /** Requests one sender may have waiting. */
  maxPerSender: number;
}

function keyOf(kind: RequestKind, from: string, to: string, room: string): string {
  return `${kind}\u0000${from}\u0000${to}\u0000${room}`;
}

function pairOf(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

function addTo<K>(index: Map<K, Set<string>>, name: K, key: string): void {
  let keys = index.get(name);
  if (keys === undefined) index.set(name, keys = new Set());
  keys.add(key);
}

function removeFrom<K>(index: Map<K, Set<string>>, name: K, key: string): void {
  const keys = index.get(name);
  keys?.delete(key);
  if (keys?.size === 0) index.delete(name);
}

/** Requests waiting for an answer and consents given; see the module doc. */
export class PendingRequests<C> {
  readonly #options: PendingRequestsOptions;
  readonly #pending = new Map<string, PendingRequest<C>>();
  /** sender → the keys of its waiting requests. */
  readonly #bySender = new Map<string, Set<string>>();
  /** recipient → the keys of the requests waiting for it. */
  readonly #byTarget = new Map<string, Set<string>>();
  /** requester connection → the keys of the requests it made. */
  readonly #byRequester = new Map<C, Set<string>>();
  /** `from\0to` → what `to` consented to give `from`. */
  readonly #consents = new Map<string, Consent>();
  /** name → the consent keys it is a side of. */
  readonly #consentsOf = new Map<string, Set<string>>();

  /**
   * Creates the tables.
   *
   * @throws {RangeError} when a bound is below 1
   */
  constructor(options: PendingRequestsOptions) {
    if (!(options.ttlMs >= 1)) {
      throw new RangeError(`ttlMs must be at least 1, got ${options.ttlMs}`);
    }
    if (!(options.maxPerSender >= 1)) {
      throw new RangeError(`maxPerSender must be at least 1, got ${options.maxPerSender}`);
    }
    this.#options = options;
  }

  /** Requests waiting (for tests and stats). */
  get size(): number {
    return this.#pending.size;
  }

  /** Consents kept (for tests and stats). */
  get consentCount(): number {
    return this.#consents.size;
  }

  /**
   * Records a request from `from` to `to`: `"new"` (tell `to`), `"again"`
   * (one is already waiting: renewed, do not tell `to` twice), or
   * `"too-many"` (the sender has `maxPerSender` waiting).
   */
  offer(
    kind: RequestKind,
    from: string,
    to: string,
    room: string,
    requester: C,
    now: number,
  ): "new" | "again" | "too-many" {
    const key = keyOf(kind, from, to, room);
    const held = this.#pending.get(key);
    if (held !== undefined) {
      removeFrom(this.#byRequester, held.requester, key);
      addTo(this.#byRequester, requester, key);
      this.#pending.set(key, { ...held, requester, expiresAt: now + this.#options.ttlMs });
      return "again";
    }
    let keys = this.#bySender.get(from);
    if (keys !== undefined && keys.size >= this.#options.maxPerSender) {
      for (const k of [...keys]) {
        const p = this.#pending.get(k)!;
        if (p.expiresAt <= now) this.#delete(k, p);
      }
      keys = this.#bySender.get(from);
      if (keys !== undefined && keys.size >= this.#options.maxPerSender) return "too-many";
    }
    addTo(this.#bySender, from, key);
    addTo(this.#byTarget, to, key);
    addTo(this.#byRequester, requester, key);
    this.#pending.set(key, {
      kind,
      from,
      to,
      room,
      requester,
      expiresAt: now + this.#options.ttlMs,
    });
    return "new";
  }

  /** How long until `from`'s oldest request runs out (when refused for `too-many`). */
  retryAfterMs(from: string, now: number): number {
    let soonest = Infinity;
    for (const key of this.#bySender.get(from) ?? []) {
      soonest = Math.min(soonest, this.#pending.get(key)!.expiresAt - now);
    }
    return Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest)) : 1;
  }

  /** Takes (removes and returns) the request, if it is waiting and not run out. */
  take(
    kind: RequestKind,
    from: string,
    to: string,
    room: string,
    now: number,
  ): PendingRequest<C> | undefined {
    const key = keyOf(kind, from, to, room);
    const held = this.#pending.get(key);
    if (held === undefined) return undefined;
    this.#delete(key, held);
    return held.expiresAt > now ? held : undefined;
  }

  /** True when such a request is waiting (not run out). */
  has(kind: RequestKind, from: string, to: string, room: string, now: number): boolean {
    const held = this.#pending.get(keyOf(kind, from, to, room));
    return held !== undefined && held.expiresAt > now;
  }

  /** Records that `to` consented to `from`'s DMs. */
  grant(from: string, to: string, consent: Consent): void {
    const key = pairOf(from, to);
    this.#consents.set(key, consent);
    addTo(this.#consentsOf, from, key);
    addTo(this.#consentsOf, to, key);
  }

  /** What `to` consented to give `from`, if it did. */
  consent(from: string, to: string): Consent | undefined {
    return this.#consents.get(pairOf(from, to));
  }

  /** Forgets every request made on `requester` (its connection closed). */
  forgetRequester(requester: C): void {
    for (const key of [...this.#byRequester.get(requester) ?? []]) {
      this.#delete(key, this.#pending.get(key)!);
    }
  }

  /** Forgets every request and consent `name` is a side of (it logged out or went away). */
  forgetName(name: string): void {
    for (const index of [this.#bySender, this.#byTarget]) {
      for (const key of [...index.get(name) ?? []]) this.#delete(key, this.#pending.get(key)!);
    }
    for (const key of this.#consentsOf.get(name) ?? []) {
      this.#consents.delete(key);
      for (const side of key.split("\u0000")) {
        if (side !== name) removeFrom(this.#consentsOf, side, key);
      }
    }
    this.#consentsOf.delete(name);
  }

  /** Forgets the requests run out by `now`. */
  sweep(now: number): void {
    for (const [key, p] of this.#pending) if (p.expiresAt <= now) this.#delete(key, p);
  }

  #delete(key: string, p: PendingRequest<C>): void {
    if (!this.#pending.delete(key)) return;
    removeFrom(this.#bySender, p.from, key);
    removeFrom(this.#byTarget, p.to, key);
    removeFrom(this.#byRequester, p.requester, key);
  }
}
