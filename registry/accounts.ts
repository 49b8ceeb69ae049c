/**
 * Accounts: registration, login with a lockout, one session per account, and
 * who may use which name in a JOIN. Time comes in as a number of ms (as in
 * `registry/rooms.ts`), so lockout and registration windows test in ms; the
 * only slow part is the password hash ({@linkcode PasswordHasher}).
 *
 * `Session` is whatever identifies a client connection (the registry passes
 * its connection objects). Registered names are kept in memory (loaded from
 * the {@linkcode PeopleStore} by {@linkcode Accounts.open}), so
 * {@linkcode Accounts.canUseName} answers a JOIN without waiting.
 *
 * Against an attacker (the trade-offs, also in `docs/people.md`):
 * - **Enumeration.** Which names are registered is public by the issue's own
 *   design (`register` answers `name-taken`, `online` lists registered users
 *   who are offline), so a login to an unknown name answers `unknown-user`
 *   without spending a hash; hiding it there would hide nothing.
 * - **Guessing.** After `maxFailures` wrong passwords in a row the account is
 *   locked for `lockoutMs` and no hash is spent on it meanwhile. Attempts in
 *   flight count against the remaining ones, so a hundred parallel guesses
 *   still get only `maxFailures` tries (the rest are answered `busy`).
 * - **Lockout as a weapon.** Anyone can keep an account locked by guessing
 *   wrong every `lockoutMs`. With `lockoutScope: "account"` (the default, the
 *   issue's rule) that locks the owner out too; `"account-and-source"`
 *   counts failures per account and source address, so the owner's address
 *   keeps its own tries, at the price of `maxFailures` guesses per address
 *   per `lockoutMs` for an attacker with many addresses.
 * - **A million registrations.** At most `maxAccounts` accounts, and at most
 *   `maxRegistrationsPerSource` per source address per
 *   `registrationWindowMs`; attempts in flight count, and each costs a hash
 *   from the bounded hasher queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accounts } from "./accounts.ts";
 * import { PasswordHasher } from "./passwords.ts";
 * import { SqlitePeopleStore } from "./people_db.ts";
 * using store = SqlitePeopleStore.open(":memory:");
 * const accounts = await Accounts.open<string>(store, new PasswordHasher({ iterations: 1000 }));
 * await accounts.register("bob", "correct horse", "10.0.0.1", 0);
 * assert.deepEqual(await accounts.login("bob", "wrong", "conn-1", "10.0.0.1", 1), {
 *   ok: false,
 *   code: "bad-password",
 *   remaining: 2,
 * });
 * assert.equal((await accounts.login("bob", "correct horse", "conn-1", "10.0.0.1", 2)).ok, true);
 * assert.deepEqual(accounts.canUseName("bob", "conn-2"), { ok: false, reason: "registered" });
 * ```
 *
 * @module
 */

import { nameProblem } from "../lib/names.ts";
import { HasherBusyError, type PasswordHasher } from "./passwords.ts";
import type { PeopleStore } from "./people_store.ts";
import { insertionPoint } from "./people_sorted.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode Accounts}; each has a default. */
export interface AccountsOptions {
  /**
   * Wrong passwords in a row that lock an account.
   * @default {3}
   */
  maxFailures?: number;
  /**
   * How long a lock lasts, in ms.
   * @default {60_000}
   */
  lockoutMs?: number;
  /**
   * What a lockout counts failures against; see the module doc.
   * @default {"account"}
   */
  lockoutScope?: "account" | "account-and-source";
  /**
   * Accounts at most; a registration past it answers `too-many-accounts`.
   * @default {100_000}
   */
  maxAccounts?: number;
  /**
   * Registrations one source address may make per `registrationWindowMs`.
   * @default {5}
   */
  maxRegistrationsPerSource?: number;
  /**
   * The window of `maxRegistrationsPerSource`, in ms.
   * @default {3_600_000}
   */
  registrationWindowMs?: number;
  /**
   * Shortest password, in characters (OWASP: at least 8).
   * @default {8}
   */
  minPasswordLength?: number;
  /**
   * Longest password, in UTF-8 bytes (OWASP: allow at least 64).
   * @default {256}
   */
  maxPasswordBytes?: number;
  /**
   * Every name needs an account to be used in a JOIN (`--require-login`).
   * @default {false}
   */
  requireLogin?: boolean;
}

/** The defaults of {@linkcode AccountsOptions}. */
export const ACCOUNTS_DEFAULTS: Readonly<Required<AccountsOptions>> = Object.freeze({
  maxFailures: 3,
  lockoutMs: 60_000,
  lockoutScope: "account",
  maxAccounts: 100_000,
  maxRegistrationsPerSource: 5,
  registrationWindowMs: 3_600_000,
  minPasswordLength: 8,
  maxPasswordBytes: 256,
  requireLogin: false,
});

/** A refused register or login: the `error` event's `code` and its extra fields (`docs/people.md`). */
export type AccountRefusal =
  | { ok: false; code: "bad-name"; message: string }
  | { ok: false; code: "weak-password"; message: string }
  | { ok: false; code: "name-taken" }
  | { ok: false; code: "too-many-accounts" }
  | { ok: false; code: "rate-limited"; retryAfterMs: number }
  | { ok: false; code: "unknown-user" }
  | { ok: false; code: "bad-password"; remaining: number }
  | { ok: false; code: "locked"; retryAfterMs: number }
  | { ok: false; code: "busy" };

/** What {@linkcode Accounts.register} did. */
export type RegisterResult = { ok: true; name: string } | AccountRefusal;

/** A session ended because its account logged in elsewhere: tell it `reason`, then forget it. */
export interface Kick<Session> {
  /** The session to end. */
  session: Session;
  /** Why, for the `kicked` event. */
  reason: "logged-in-elsewhere";
}

/** What {@linkcode Accounts.login} did. */
export type LoginResult<Session> =
  | {
    ok: true;
    name: string;
    /** The older session of this account, now ended, or null. */
    kicked: Kick<Session> | null;
    /** The name this session was logged in as before, now logged out, or null. */
    previousName: string | null;
  }
  | AccountRefusal;

/** Whether a JOIN may use a name ({@linkcode Accounts.canUseName}). */
export type NameUse =
  | { ok: true }
  | { ok: false; reason: "registered" | "login-required" };

/**
 * The `F:` texts, in the reference's style, for a JOIN refused by
 * {@linkcode Accounts.canUseName}.
 */
export const NAME_USE_REFUSALS: Readonly<Record<"registered" | "login-required", string>> = Object
  .freeze({
    registered: "JOIN message - Name registered, log in first!!",
    "login-required": "JOIN message - Log in first!!",
  });

interface Failures {
  count: number;
  /** Attempts being verified now. */
  pending: number;
  lockedUntil: number;
}

function checkOption(key: string, value: number, min: number): void {
  if (!(value >= min)) throw new RangeError(`${key} must be at least ${min}, got ${value}`);
}

/** Accounts and sessions; see the module doc. */
export class Accounts<Session> {
  readonly #store: PeopleStore;
  readonly #hasher: PasswordHasher;
  readonly #options: Readonly<Required<AccountsOptions>>;
  readonly #names: Set<string>;
  /** The same names, sorted (so the online list pages without sorting 100,000 names). */
  readonly #sorted: string[];
  /** Registrations per source address: when each started (successful or in flight). */
  readonly #registrations = new Map<string, number[]>();
  /** Names being registered now. */
  readonly #registering = new Set<string>();
  readonly #failures = new Map<string, Failures>();
  readonly #sessionOf = new Map<string, Session>();
  readonly #nameOf = new Map<Session, string>();

  private constructor(
    store: PeopleStore,
    hasher: PasswordHasher,
    names: Iterable<string>,
    options: AccountsOptions,
  ) {
    this.#store = store;
    this.#hasher = hasher;
    this.#options = Object.freeze({ ...ACCOUNTS_DEFAULTS, ...options });
    const o = this.#options;
    checkOption("maxFailures", o.maxFailures, 1);
    checkOption("lockoutMs", o.lockoutMs, 0);
    checkOption("maxAccounts", o.maxAccounts, 0);
    checkOption("maxRegistrationsPerSource", o.maxRegistrationsPerSource, 1);
    checkOption("registrationWindowMs", o.registrationWindowMs, 0);
    checkOption("minPasswordLength", o.minPasswordLength, 1);
    checkOption("maxPasswordBytes", o.maxPasswordBytes, o.minPasswordLength);
    this.#names = new Set(names);
    this.#sorted = [...this.#names].sort();
  }

  /**
   * Loads the registered names from `store`.
   *
   * @throws {RangeError} on an option out of range
   */
  static async open<Session>(
    store: PeopleStore,
    hasher: PasswordHasher,
    options: AccountsOptions = {},
  ): Promise<Accounts<Session>> {
    return new Accounts<Session>(store, hasher, await store.accountNames(), options);
  }

  /** The options in force, defaults filled in. */
  get options(): Readonly<Required<AccountsOptions>> {
    return this.#options;
  }

  /** How many accounts are registered. */
  get accountCount(): number {
    return this.#names.size;
  }

  /** True when `name` is a registered account. */
  isRegistered(name: string): boolean {
    return this.#names.has(name);
  }

  /** The registered names, sorted (JavaScript's default order); do not modify. */
  registeredNames(): readonly string[] {
    return this.#sorted;
  }

  /** `name` was registered through another registry sharing the store: it is taken here too. */
  learnName(name: string): void {
    if (this.#names.has(name)) return;
    this.#names.add(name);
    this.#sorted.splice(insertionPoint(this.#sorted, name), 0, name);
  }

  /** The name `session` is logged in as, if any. */
  nameOf(session: Session): string | undefined {
    return this.#nameOf.get(session);
  }

  /** The session logged in as `name`, if any. */
  sessionOf(name: string): Session | undefined {
    return this.#sessionOf.get(name);
  }

  /**
   * Registers `name` with `password`, from `source` (the connection's remote
   * address, without the port). Does not log in.
   */
  async register(
    name: string,
    password: string,
    source: string,
    now: number,
  ): Promise<RegisterResult> {
    const o = this.#options;
    const badName = nameProblem(name, "User name");
    if (badName !== null) return { ok: false, code: "bad-name", message: badName };
    const weak = this.#passwordProblem(password);
    if (weak !== null) return { ok: false, code: "weak-password", message: weak };
    if (this.#names.has(name) || this.#registering.has(name)) {
      return { ok: false, code: "name-taken" };
    }
    if (this.#names.size + this.#registering.size >= o.maxAccounts) {
      return { ok: false, code: "too-many-accounts" };
    }
    const recent = (this.#registrations.get(source) ?? []).filter((at) =>
      now - at < o.registrationWindowMs
    );
    if (recent.length >= o.maxRegistrationsPerSource) {
      this.#registrations.set(source, recent);
      return {
        ok: false,
        code: "rate-limited",
        retryAfterMs: recent[0]! + o.registrationWindowMs - now,
      };
    }
    recent.push(now);
    this.#registrations.set(source, recent);
    this.#registering.add(name);
    let created = false;
    try {
      const stored = await this.#hasher.hash(password);
      created = await this.#store.createAccount({ name, password: stored, createdAt: now });
    } catch (error) {
      if (error instanceof HasherBusyError) return { ok: false, code: "busy" };
      throw error;
    } finally {
      this.#registering.delete(name);
      // Only a registration that made an account counts against its source.
      if (!created) recent.splice(recent.indexOf(now), 1);
      if (recent.length === 0) this.#registrations.delete(source);
    }
    if (!created) return { ok: false, code: "name-taken" };
    this.#names.add(name);
    this.#sorted.splice(insertionPoint(this.#sorted, name), 0, name);
    return { ok: true, name };
  }

  /**
   * Logs `session` in as `name`. On success the session owns the name; an
   * older session of the same account is ended (returned in `kicked`), and
   * a name this session held before is logged out (`previousName`).
   * `source` is the connection's remote address (used by
   * `lockoutScope: "account-and-source"`).
   */
  async login(
    name: string,
    password: string,
    session: Session,
    source: string,
    now: number,
  ): Promise<LoginResult<Session>> {
    const o = this.#options;
    if (!this.#names.has(name)) return { ok: false, code: "unknown-user" };
    const key = o.lockoutScope === "account" ? name : `${name}\u0000${source}`;
    const lockedFor = (this.#failures.get(key)?.lockedUntil ?? 0) - now;
    if (lockedFor > 0) return { ok: false, code: "locked", retryAfterMs: lockedFor };
    const account = await this.#store.account(name);
    if (account === undefined) return { ok: false, code: "unknown-user" };
    let f = this.#failures.get(key);
    if (f === undefined) {
      f = { count: 0, pending: 0, lockedUntil: 0 };
      this.#failures.set(key, f);
    } else if (f.lockedUntil > now) {
      return { ok: false, code: "locked", retryAfterMs: f.lockedUntil - now };
    } else if (f.lockedUntil !== 0) {
      f.count = f.lockedUntil = 0; // the lock has run out: a fresh set of tries
    }
    if (f.count + f.pending >= o.maxFailures) return { ok: false, code: "busy" };
    f.pending++;
    let verified;
    try {
      verified = await this.#hasher.verify(password, account.password);
    } catch (error) {
      if (error instanceof HasherBusyError) return { ok: false, code: "busy" };
      throw error;
    } finally {
      f.pending--;
      if (f.count === 0 && f.pending === 0 && f.lockedUntil === 0) this.#failures.delete(key);
    }
    if (!verified.ok) {
      f.count++;
      this.#failures.set(key, f);
      if (f.count >= o.maxFailures) {
        f.lockedUntil = now + o.lockoutMs;
        return { ok: false, code: "locked", retryAfterMs: o.lockoutMs };
      }
      return { ok: false, code: "bad-password", remaining: o.maxFailures - f.count };
    }
    this.#failures.delete(key);
    if (verified.needsRehash) {
      await this.#store.setPassword(name, await this.#hasher.hash(password));
    }
    return { ok: true, name, ...this.#bind(name, session) };
  }

  /** Ends `session`'s login (its connection closed); returns the name it was logged in as. */
  logout(session: Session): string | undefined {
    const name = this.#nameOf.get(session);
    if (name === undefined) return undefined;
    this.#nameOf.delete(session);
    if (this.#sessionOf.get(name) === session) this.#sessionOf.delete(name);
    return name;
  }

  /**
   * Whether `session` may use `name` in a JOIN: a registered name only when
   * logged in as it; with `requireLogin`, every name needs an account.
   */
  canUseName(name: string, session: Session): NameUse {
    if (this.#nameOf.get(session) === name) return { ok: true };
    if (this.#names.has(name)) return { ok: false, reason: "registered" };
    if (this.#options.requireLogin) return { ok: false, reason: "login-required" };
    return { ok: true };
  }

  /** Forgets lockouts and registration counts that have run out by `now` (call now and then). */
  sweep(now: number): void {
    for (const [key, f] of this.#failures) {
      if (f.pending === 0 && f.lockedUntil !== 0 && f.lockedUntil <= now) {
        this.#failures.delete(key);
      }
    }
    for (const [source, times] of this.#registrations) {
      const recent = times.filter((at) => now - at < this.#options.registrationWindowMs);
      if (recent.length === 0) this.#registrations.delete(source);
      else this.#registrations.set(source, recent);
    }
  }

  /** Entries kept for lockouts and registration windows (for tests and stats). */
  get trackedEntries(): number {
    return this.#failures.size + this.#registrations.size;
  }

  #passwordProblem(password: string): string | null {
    const o = this.#options;
    if ([...password].length < o.minPasswordLength) {
      return `Password must be at least ${o.minPasswordLength} characters`;
    }
    if (encoder.encode(password).length > o.maxPasswordBytes) {
      return `Password must be at most ${o.maxPasswordBytes} bytes`;
    }
    return null;
  }

  #bind(
    name: string,
    session: Session,
  ): { kicked: Kick<Session> | null; previousName: string | null } {
    let previousName: string | null = null;
    const held = this.#nameOf.get(session);
    if (held !== undefined && held !== name) previousName = this.logout(session) ?? null;
    let kicked: Kick<Session> | null = null;
    const older = this.#sessionOf.get(name);
    if (older !== undefined && older !== session) {
      this.#nameOf.delete(older);
      kicked = { session: older, reason: "logged-in-elsewhere" };
    }
    this.#sessionOf.set(name, session);
    this.#nameOf.set(session, name);
    return { kicked, previousName };
  }
}
