/**
 * The registry's people ops (`docs/extensions.md`, "People"): accounts,
 * login with lockout and one session per account, presence and search,
 * blocking, broadcast, DM consent, invitations and mail for the offline,
 * answered from the `X` frames of connections that said hello. The
 * registry (`registry/registry.ts`) calls five hooks: {@linkcode People.answer}
 * for an `X` op of a hello'd connection, {@linkcode People.joinRefusal}
 * before a JOIN, {@linkcode People.entered} and {@linkcode People.left} for
 * room membership, {@linkcode People.closed} when a connection goes, and
 * {@linkcode People.sweep} from its monitor. A connection that never said
 * hello never reaches this module, and is never sent a frame from it.
 *
 * Every cost is bounded by an option (`registry/options.ts`, the
 * "registry-people" table of `docs/limits.md`): ops per connection, hashes
 * at once and queued, registrations per source, pending requests per
 * sender, mail per sender and per recipient, broadcasts per sender and per
 * source, and the pushes queued for one connection (a connection that does
 * not read them is closed, not buffered for).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type ExtensionFrame } from "../lib/frames.ts";
import { nameProblem } from "../lib/names.ts";
import { TokenBucket } from "../lib/token_bucket.ts";
import { Accounts, NAME_USE_REFUSALS } from "./accounts.ts";
import { type Action, Blocks, permits } from "./blocks.ts";
import { Broadcasts } from "./broadcast.ts";
import { Mailbox, routeDm } from "./mailbox.ts";
import type { RegistryOptions } from "./options.ts";
import { PasswordHasher } from "./passwords.ts";
import { SqlitePeopleStore } from "./people_db.ts";
import { type Consent, PendingRequests } from "./people_requests.ts";

import type { MailRecord, PeopleStore } from "./people_store.ts";
import {
  isPresenceEvent,
  isRelayEvent,
  MAX_PRESENCE_USERS,
  type PeopleEvent,
  type PeopleEvents,
  peopleEvents,
  presenceEntry,
  presenceTuple,
  type RelayEvent,
} from "./store_people_events.ts";
import { Presence, type PresenceEntry } from "./presence.ts";

const logger = getLogger(["ringchat", "registry", "people"]);

/** The feature a registry's hello lists when it answers these ops. */
export const PEOPLE_FEATURE = "people";

/** The file of the people database inside `dataDir`. */
export const PEOPLE_DB_FILE = "people.db";

/** The ops this module answers (requests; pushes are not listed). */
export const PEOPLE_OPS: ReadonlySet<string> = new Set([
  "register",
  "login",
  "logout",
  "online",
  "search",
  "away",
  "block",
  "unblock",
  "blocks",
  "broadcast",
  "dm-request",
  "dm-answer",
  "mail",
  "mail-ack",
  "invite",
  "invite-answer",
  "address",
]);

/** The options this module reads. */
export type PeopleOptions = Pick<
  Required<RegistryOptions>,
  | "dataDir"
  | "requireLogin"
  | "maxLoginFailures"
  | "lockoutMs"
  | "lockoutScope"
  | "maxAccounts"
  | "maxRegistrationsPerSource"
  | "registrationWindowMs"
  | "passwordIterations"
  | "hashConcurrency"
  | "maxQueuedHashes"
  | "maxMailMessages"
  | "maxMailBytes"
  | "mailPerMinute"
  | "broadcastPerMinute"
  | "broadcastBurst"
  | "peopleRequestsPerSecond"
  | "peopleRequestBurst"
  | "maxPendingRequests"
  | "requestTtlMs"
  | "maxQueuedPushes"
  | "maxBlocksPerUser"
  | "presenceFlushMs"
  | "maxPresenceBatch"
  | "presenceWritesPerSecond"
>;

/** A room member as the registry holds it (what this module reads of it). */
export interface MemberView {
  readonly name: string;
  readonly room: string;
  readonly ip: string;
  readonly port: number;
}

/** What this module needs of the registry's connections. */
export interface PeopleHost<C> {
  /** Every client connection being served (seed and hello'd). */
  connections(): Iterable<C>;
  /** True when `c` said hello: only those get pushes. */
  saidHello(c: C): boolean;
  /** The room member `c` owns, if any. */
  memberOf(c: C): MemberView | undefined;
  /** `c`'s source address, in normal form. */
  source(c: C): string;
  /** Writes `frame` to hello'd `c` after what is queued; resolves once written. */
  write(c: C, frame: Uint8Array): Promise<void>;
  /** Closes `c` (its membership and login go with it). */
  close(c: C): void;
  /** Removes the room member `c` owns, if any, as a depart would. */
  release(c: C): void;
  /** True once `c` is closed. */
  isClosed(c: C): boolean;
  /**
   * With a shared store: the members of `room`, whichever registry serves
   * them (`address` of a user whose connection is on another registry).
   */
  membersOf?(room: string): Promise<readonly MemberView[]>;
}

type Body = Record<string, unknown>;

const NO_REPLY = new Uint8Array(0);
const REF = /^[\x20-\x7e]{1,16}$/;
const MAX_ACK_IDS = 100;
const MAX_ONLINE = 1000;
/** How long a kicked connection may take to be told why before it is closed anyway. */
const KICK_WRITE_MS = 1000;
/**
 * With a shared store, how often the heartbeat keys of the registries that
 * told of live names are read (two misses in a row drop their names).
 */
const ALIVE_CHECK_MS = 1000;

function frame(op: string, body: Body): Uint8Array {
  return encodeFrame({ type: "X", op, body });
}

/** The `error` op answering `ref` (none when the request had no valid ref). */
function error(ref: string | undefined, code: string, extra: Body = {}): Uint8Array {
  return frame("error", { ...(ref === undefined ? {} : { ref }), code, ...extra });
}

/** An error answer of a refusal `{ok: false, code, ...fields}`. */
function refusal(ref: string, refused: { ok: false; code: string }): Uint8Array {
  const { ok: _ok, code, ...extra } = refused;
  return error(ref, code, extra);
}

function text(body: Body, key: string): string | undefined {
  const value = body[key];
  return typeof value === "string" ? value : undefined;
}

function flag(body: Body, key: string): boolean | undefined {
  const value = body[key];
  return typeof value === "boolean" ? value : undefined;
}

function mailPush(mail: MailRecord): Uint8Array {
  return frame("mail", { id: mail.id, from: mail.from, text: mail.text, at: mail.at });
}

function concat(frames: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function randomToken(): string {
  let hex = "";
  for (const b of crypto.getRandomValues(new Uint8Array(16))) {
    hex += b.toString(16).padStart(2, "0");
  }
  return hex;
}

/** Opens the people database of `dataDir` (`:memory:` for none), creating the directory. */
export function openPeopleStore(dataDir: string): SqlitePeopleStore {
  if (dataDir === ":memory:") return SqlitePeopleStore.open(":memory:");
  Deno.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return SqlitePeopleStore.open(
    dataDir.endsWith(separator) ? dataDir + PEOPLE_DB_FILE : dataDir + separator + PEOPLE_DB_FILE,
  );
}

/** The registry's people directory; see the module doc. */
export class People<C> implements Disposable {
  readonly #options: PeopleOptions;
  readonly #host: PeopleHost<C>;
  readonly #store: PeopleStore;
  /** With a shared store (`registry --store`): what the other registries do. */
  readonly #events: PeopleEvents | null;
  readonly #unsubscribe: (() => void) | null;
  readonly #accounts: Accounts<C>;
  readonly #blocks: Blocks;
  readonly #mailbox: Mailbox;
  readonly #presence = new Presence();
  readonly #pending: PendingRequests<C>;
  /**
   * With a shared store: requests to names here relayed from other
   * registries, each with the registry that asked (the answer goes back to it).
   */
  readonly #relayed: PendingRequests<string>;
  /** Broadcasts per sender name. */
  readonly #broadcasts: Broadcasts;
  /** Broadcasts per source address (fresh names do not buy more). */
  readonly #sourceBroadcasts: Broadcasts;
  /** Mail per sending account: the same rate-and-text bounds as a broadcast, with no audience. */
  readonly #mailRate: Broadcasts;
  /** People ops per connection. */
  readonly #buckets = new Map<C, TokenBucket>();
  /**
   * The connections told of presence changes: hello'd ones that sent a
   * people op or own a room member (a hello'd connection with no name, and
   * every seed connection, is not sent them). Each gets at most
   * `maxPresenceBatch` names per `presenceFlushMs`, in one write.
   */
  readonly #listeners = new Set<C>();
  /** The name of each connection's room member, and back (so a name is found without a scan). */
  readonly #memberName = new Map<C, string>();
  readonly #membersNamed = new Map<string, Set<C>>();
  /** Presence changes not yet pushed, the latest per name, oldest first. */
  readonly #changes = new Map<string, PresenceEntry>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the next round may be written at the earliest (the last one's writes paid for). */
  #nextRoundAt = 0;
  /** Pushes queued and not yet written, per connection. */
  readonly #queued = new Map<C, number>();
  /** With a shared store: names whose state here changed and is not yet published. */
  readonly #outgoing = new Set<string>();
  /** Another registry asked for every live name: publish them at the next round. */
  #snapshotDue = false;
  #publishTimer: ReturnType<typeof setTimeout> | undefined;
  /** Other registries whose heartbeat key was missing at the last check. */
  readonly #missing = new Set<string>();
  /** With a shared store: when each session here began (a resync tells the others again). */
  readonly #loginAt = new Map<string, number>();
  #checkingAlive = false;
  #aliveTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    options: PeopleOptions,
    host: PeopleHost<C>,
    store: PeopleStore,
    accounts: Accounts<C>,
    blocks: Blocks,
    events: PeopleEvents | null,
  ) {
    this.#options = options;
    this.#events = events;
    this.#unsubscribe = events?.onPeopleEvent((event) => this.#heard(event)) ?? null;
    this.#askPresence();
    if (events !== null) this.#aliveTimer = setInterval(() => this.#checkAlive(), ALIVE_CHECK_MS);
    this.#host = host;
    this.#store = store;
    this.#accounts = accounts;
    this.#blocks = blocks;
    this.#mailbox = new Mailbox(store, {
      maxMessages: options.maxMailMessages,
      maxBytes: options.maxMailBytes,
    });
    const bounds = { ttlMs: options.requestTtlMs, maxPerSender: options.maxPendingRequests };
    this.#pending = new PendingRequests<C>(bounds);
    this.#relayed = new PendingRequests<string>(bounds);
    const rate = { perMinute: options.broadcastPerMinute, burst: options.broadcastBurst };
    this.#broadcasts = new Broadcasts(rate);
    this.#sourceBroadcasts = new Broadcasts(rate);
    this.#mailRate = new Broadcasts({
      perMinute: options.mailPerMinute,
      burst: options.mailPerMinute,
    });
  }

  /**
   * Opens the store of `options.dataDir` (or uses `shared`, a store other
   * registries share: `registry --store`) and loads accounts and blocks.
   *
   * @throws {RangeError} on an option out of range, or a database of a newer ringchat
   */
  static async open<C>(
    options: PeopleOptions,
    host: PeopleHost<C>,
    shared?: PeopleStore,
  ): Promise<People<C>> {
    const store = shared ?? openPeopleStore(options.dataDir);
    try {
      const hasher = new PasswordHasher({
        iterations: options.passwordIterations,
        maxQueued: options.maxQueuedHashes,
        ...(options.hashConcurrency === undefined ? {} : { concurrency: options.hashConcurrency }),
      });
      const accounts = await Accounts.open<C>(store, hasher, {
        maxFailures: options.maxLoginFailures,
        lockoutMs: options.lockoutMs,
        lockoutScope: options.lockoutScope,
        maxAccounts: options.maxAccounts,
        maxRegistrationsPerSource: options.maxRegistrationsPerSource,
        registrationWindowMs: options.registrationWindowMs,
        requireLogin: options.requireLogin,
      });
      const blocks = await Blocks.open(store, { maxPerUser: options.maxBlocksPerUser });
      logger.debug("People database {path}: {accounts} accounts", {
        path: options.dataDir,
        accounts: accounts.accountCount,
      });
      return new People(options, host, store, accounts, blocks, peopleEvents(store));
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /** True when `c` is logged in. */
  isLoggedIn(c: C): boolean {
    return this.#accounts.nameOf(c) !== undefined;
  }

  /** True when `op` is one of {@linkcode PEOPLE_OPS}. */
  handles(op: string): boolean {
    return PEOPLE_OPS.has(op);
  }

  /**
   * The `F:` text refusing a JOIN of `name` from `c` (a registered name it is
   * not logged in as; any name without a login under `requireLogin`), or null.
   */
  joinRefusal(name: string, c: C): string | null {
    const use = this.#accounts.canUseName(name, c);
    return use.ok ? null : NAME_USE_REFUSALS[use.reason];
  }

  /**
   * `c` now owns a member named `name` in `room`: a new member when `added`
   * (a presence change), else one taken over from another connection.
   */
  entered(c: C, name: string, room: string, added: boolean): void {
    this.#forgetMember(c);
    this.#memberName.set(c, name);
    let named = this.#membersNamed.get(name);
    if (named === undefined) this.#membersNamed.set(name, named = new Set());
    named.add(c);
    if (this.#host.saidHello(c) && !this.#host.isClosed(c)) this.#listeners.add(c);
    if (added) this.#local(name, this.#presence.enterRoom(name, room));
  }

  /** A member named `name` left `room` (departed, expired, or its connection closed); `c` owned it. */
  left(c: C | null, name: string, room: string): void {
    if (c !== null && this.#memberName.get(c) === name) this.#forgetMember(c);
    this.#local(name, this.#presence.leaveRoom(name, room));
  }

  /** `c` closed: its login ends, its pending requests are forgotten. */
  closed(c: C): void {
    this.#buckets.delete(c);
    this.#queued.delete(c);
    this.#listeners.delete(c);
    this.#forgetMember(c);
    this.#pending.forgetRequester(c);
    const name = this.#accounts.logout(c);
    if (name !== undefined) this.#loggedOut(name);
  }

  /** Forgets what has run out: lockouts, rate windows, unanswered requests. */
  sweep(now: number): void {
    this.#accounts.sweep(now);
    this.#broadcasts.sweep(now);
    this.#sourceBroadcasts.sweep(now);
    this.#mailRate.sweep(now);
    this.#pending.sweep(now);
    this.#relayed.sweep(now);
    const burst = this.#options.peopleRequestBurst;
    for (const [c, bucket] of this.#buckets) {
      if (bucket.tokens(now) >= burst) this.#buckets.delete(c);
    }
  }

  /** Closes the store. */
  close(): void {
    this.#unsubscribe?.();
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    clearTimeout(this.#publishTimer);
    this.#publishTimer = undefined;
    clearInterval(this.#aliveTimer);
    this.#store.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** What is held (for tests and stats). */
  stats(): { accounts: number; live: number; pending: number; tracked: number } {
    return {
      accounts: this.#accounts.accountCount,
      live: this.#presence.liveCount,
      pending: this.#pending.size,
      tracked: this.#accounts.trackedEntries + this.#buckets.size,
    };
  }

  /** The answer to people op `frame` from hello'd connection `c` (an empty array: none). */
  async answer(c: C, frame: ExtensionFrame): Promise<Uint8Array> {
    // The registry queues this answer when this call returns; pushes made
    // from here on go after it on `c`.
    await Promise.resolve();
    const body = frame.body;
    const ref = body.ref;
    const oneWay = ref === undefined && frame.op === "mail-ack";
    if (!oneWay && (typeof ref !== "string" || !REF.test(ref))) {
      return error(undefined, "bad-request", { message: "ref must be 1 to 16 ASCII characters" });
    }
    if (!this.#host.isClosed(c)) this.#listeners.add(c);
    const limited = this.#overRate(c, Date.now());
    // A one-way op over the rate is dropped: there is no answer to carry the refusal.
    if (limited > 0) {
      return oneWay ? NO_REPLY : error(ref as string, "rate-limited", { retryAfterMs: limited });
    }
    if (oneWay) return await this.#mailAck(c, undefined, body);
    try {
      return await this.#op(c, frame.op, ref as string, body);
    } catch (cause) {
      logger.error("People op {op} failed: {error}", { op: frame.op, error: cause });
      return error(ref, "busy");
    }
  }

  /** ms until `c` may make another people op (0: now, and it is counted). */
  #overRate(c: C, now: number): number {
    let bucket = this.#buckets.get(c);
    if (bucket === undefined) {
      bucket = new TokenBucket({
        ratePerSecond: this.#options.peopleRequestsPerSecond,
        burst: this.#options.peopleRequestBurst,
      });
      this.#buckets.set(c, bucket);
    }
    const tokens = bucket.tokens(now);
    if (tokens < 1) return Math.ceil((1 - tokens) * 1000 / this.#options.peopleRequestsPerSecond);
    bucket.take(1, now);
    return 0;
  }

  #op(c: C, op: string, ref: string, body: Body): Promise<Uint8Array> | Uint8Array {
    switch (op) {
      case "register":
        return this.#register(c, ref, body);
      case "login":
        return this.#login(c, ref, body);
      case "logout": {
        const name = this.#accounts.logout(c);
        if (name !== undefined) this.#loggedOutOf(c, name);
        return frame("logged-out", { ref });
      }
      case "online":
        return this.#online(c, ref, body);
      case "search": {
        const name = text(body, "name");
        if (name === undefined) return error(ref, "bad-request", { message: "name is missing" });
        const found = this.#presence.search(
          this.#nameOf(c) ?? "",
          name,
          this.#accounts,
          this.#blocks,
        );
        return frame("search", { ref, ...found });
      }
      case "away":
        return this.#away(c, ref, body);
      case "block":
      case "unblock":
        return this.#block(c, op, ref, body);
      case "blocks": {
        const me = this.#accounts.nameOf(c);
        if (me === undefined) return error(ref, "login-required");
        return frame("blocks", { ref, names: this.#blocks.listOf(me) });
      }
      case "broadcast":
        return this.#broadcast(c, ref, body);
      case "dm-request":
        return this.#dmRequest(c, ref, body);
      case "dm-answer":
        return this.#dmAnswer(c, ref, body);
      case "mail":
        return this.#mail(c, ref, body);
      case "mail-ack":
        return this.#mailAck(c, ref, body);
      case "invite":
        return this.#invite(c, ref, body);
      case "invite-answer":
        return this.#inviteAnswer(c, ref, body);
      case "address":
        return this.#address(c, ref, body);
      default:
        return error(ref, "bad-request", { message: "Unknown people op" });
    }
  }

  async #register(c: C, ref: string, body: Body): Promise<Uint8Array> {
    const name = text(body, "name");
    const password = text(body, "password");
    if (name === undefined || password === undefined) {
      return error(ref, "bad-request", { message: "name and password are strings" });
    }
    // A name someone is using in a room is taken too: registering it would lock them out of it.
    if (this.#isOnline(name) && this.#host.memberOf(c)?.name !== name) {
      return error(ref, "name-taken");
    }
    const result = await this.#accounts.register(name, password, this.#host.source(c), Date.now());
    if (!result.ok) return refusal(ref, result);
    logger.info("Registered {name}", { name });
    return frame("registered", { ref, name });
  }

  async #login(c: C, ref: string, body: Body): Promise<Uint8Array> {
    const name = text(body, "name");
    const password = text(body, "password");
    if (name === undefined || password === undefined) {
      return error(ref, "bad-request", { message: "name and password are strings" });
    }
    const result = await this.#accounts.login(name, password, c, this.#host.source(c), Date.now());
    if (!result.ok) {
      if (result.code === "locked") logger.info("Login of {name} refused: locked", { name });
      return refusal(ref, result);
    }
    if (this.#host.isClosed(c)) {
      // Gone while its password was checked: the login ends with it.
      this.closed(c);
      return NO_REPLY;
    }
    if (result.previousName !== null) this.#loggedOutOf(c, result.previousName);
    if (result.kicked !== null) this.#kick(result.kicked.session, name);
    if (this.#events !== null) {
      const at = Date.now();
      this.#loginAt.set(name, at);
      this.#tellLogin(name, at, false);
    }
    this.#local(name, this.#presence.login(name));
    const mail = await this.#mailbox.pending(name);
    logger.info("{name} logged in; {mail} mail waiting", { name, mail: mail.length });
    // After the reply (queued already): the mail, oldest first.
    for (const m of mail) this.#push(c, mailPush(m));
    return frame("logged-in", { ref, name, mail: mail.length });
  }

  #online(c: C, ref: string, body: Body): Uint8Array {
    const limit = body.limit ?? MAX_ONLINE;
    if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_ONLINE) {
      return error(ref, "bad-request", { message: `limit is an integer from 1 to ${MAX_ONLINE}` });
    }
    const list = this.#presence.online(
      this.#nameOf(c) ?? "",
      this.#accounts,
      this.#blocks,
      limit as number,
    );
    return frame("online", { ref, users: list.users, truncated: list.truncated });
  }

  #away(c: C, ref: string, body: Body): Uint8Array {
    const on = flag(body, "on");
    if (on === undefined) return error(ref, "bad-request", { message: "on is a boolean" });
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    this.#local(me, this.#presence.setAway(me, on));
    return frame("away", { ref, on });
  }

  async #block(c: C, op: "block" | "unblock", ref: string, body: Body): Promise<Uint8Array> {
    const name = text(body, "name");
    if (name === undefined) return error(ref, "bad-request", { message: "name is missing" });
    const me = this.#accounts.nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    const result = op === "block"
      ? await this.#blocks.block(me, name, this.#accounts, Date.now())
      : await this.#blocks.unblock(me, name);
    if (!result.ok) return refusal(ref, result);
    if (result.changed) this.#showTo(name, me, op === "block");
    return frame(op === "block" ? "blocked" : "unblocked", { ref, name });
  }

  #broadcast(c: C, ref: string, body: Body): Uint8Array {
    const message = text(body, "text");
    if (message === undefined) return error(ref, "bad-request", { message: "text is missing" });
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    const now = Date.now();
    const bySource = this.#sourceBroadcasts.send(
      this.#host.source(c),
      message,
      [],
      this.#blocks,
      now,
    );
    if (!bySource.ok) return refusal(ref, bySource);
    // One hello'd connection per name (a seed client cannot take the push).
    const reachable = new Map<string, C>();
    for (const to of this.#host.connections()) {
      const name = this.#host.saidHello(to) ? this.#nameOf(to) : undefined;
      if (name !== undefined && !reachable.has(name)) reachable.set(name, to);
    }
    const sent = this.#broadcasts.send(me, message, reachable.keys(), this.#blocks, now);
    if (!sent.ok) return refusal(ref, sent);
    const push = frame("broadcast", { from: me, text: message, at: sent.at });
    for (const name of sent.to) this.#push(reachable.get(name)!, push);
    logger.info("{name} broadcast to {count}", { name: me, count: sent.to.length });
    return frame("broadcast-sent", { ref, count: sent.to.length });
  }

  #dmRequest(c: C, ref: string, body: Body): Uint8Array {
    const to = text(body, "to");
    if (to === undefined) return error(ref, "bad-request", { message: "to is missing" });
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    if (to === me) return error(ref, "self");
    const route = routeDm(me, to, {
      isRegistered: (name) => this.#accounts.isRegistered(name),
      isOnline: (name) => this.#isOnline(name),
      blocks: this.#blocks,
    });
    if (route.route === "refused") return error(ref, route.code);
    if (route.route === "mailbox") return frame("dm-route", { ref, to, route: "mailbox" });
    const target = this.#reach(to);
    const holder = target === undefined ? this.#presence.reachableHolder(to) : undefined;
    if (target === undefined && holder === undefined) {
      return error(ref, "not-supported", { message: `${to}'s client cannot take direct messages` });
    }
    const reply = frame("dm-route", { ref, to, route: "direct" });
    const consent = this.#pending.consent(me, to);
    if (consent !== undefined) {
      this.#push(c, frame("dm-accepted", { by: to, ...consent }));
      return reply;
    }
    const now = Date.now();
    const offered = this.#pending.offer("dm", me, to, "", c, now);
    if (offered === "too-many") {
      return error(ref, "rate-limited", { retryAfterMs: this.#pending.retryAfterMs(me, now) });
    }
    if (offered === "new") {
      if (target !== undefined) this.#push(target, frame("dm-request", { from: me }));
      else this.#relay(holder!, { op: "dm-request", from: me, to });
    }
    return reply;
  }

  #dmAnswer(c: C, ref: string, body: Body): Uint8Array {
    const to = text(body, "to");
    const accept = flag(body, "accept");
    const port = body.port;
    if (to === undefined || accept === undefined) {
      return error(ref, "bad-request", { message: "to is a string, accept a boolean" });
    }
    if (
      port !== undefined &&
      !(Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535)
    ) {
      return error(ref, "bad-request", { message: "port is an integer from 1 to 65535" });
    }
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    const member = this.#host.memberOf(c);
    const address = {
      ip: member?.ip ?? this.#host.source(c),
      port: (port as number | undefined) ?? member?.port,
    };
    if (accept && address.port === undefined) {
      return error(ref, "bad-request", { message: "port is needed when in no room" });
    }
    const now = Date.now();
    const request = this.#pending.take("dm", to, me, "", now);
    // Asked through another registry: the answer goes back there.
    const relayed = request === undefined ? this.#relayed.take("dm", to, me, "", now) : undefined;
    if (request === undefined && relayed === undefined) return error(ref, "no-request");
    if (!accept) {
      if (request !== undefined) this.#push(request.requester, frame("dm-rejected", { by: me }));
      else this.#relay(relayed!.requester, { op: "dm-answer", from: me, to, accept });
      return frame("dm-answered", { ref, to, accept });
    }
    const consent = { ip: address.ip, port: address.port!, token: randomToken() };
    if (request !== undefined) this.#consented(request.requester, to, me, consent);
    else this.#relay(relayed!.requester, { op: "dm-answer", from: me, to, accept, ...consent });
    return frame("dm-answered", { ref, to, accept, token: consent.token });
  }

  async #mail(c: C, ref: string, body: Body): Promise<Uint8Array> {
    const to = text(body, "to");
    const message = text(body, "text");
    if (to === undefined || message === undefined) {
      return error(ref, "bad-request", { message: "to and text are strings" });
    }
    const me = this.#accounts.nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    if (!this.#accounts.isRegistered(to)) return error(ref, "unknown-user");
    if (!permits(this.#blocks, "mail", me, to)) return error(ref, "blocked");
    if (this.#isOnline(to)) return error(ref, "not-offline");
    const now = Date.now();
    const rate = this.#mailRate.send(me, message, [], this.#blocks, now);
    if (!rate.ok) return refusal(ref, rate);
    const stored = await this.#mailbox.deposit({ to, from: me, text: message }, now);
    if (!stored.ok) return refusal(ref, stored);
    // Logged in while it was stored: deliver it now (acknowledged like any other).
    const session = this.#accounts.sessionOf(to);
    if (session !== undefined) {
      this.#push(session, mailPush({ id: stored.id, to, from: me, text: message, at: stored.at }));
    }
    return frame("mail-stored", { ref, to, id: stored.id, at: stored.at });
  }

  async #mailAck(c: C, ref: string | undefined, body: Body): Promise<Uint8Array> {
    const ids = body.ids;
    if (!Array.isArray(ids) || ids.length > MAX_ACK_IDS) {
      return error(ref, "bad-request", { message: `ids is a list of at most ${MAX_ACK_IDS}` });
    }
    const me = this.#accounts.nameOf(c);
    if (me === undefined) return ref === undefined ? NO_REPLY : error(ref, "login-required");
    const count = await this.#mailbox.ack(me, ids);
    return ref === undefined ? NO_REPLY : frame("mail-acked", { ref, count });
  }

  #invite(c: C, ref: string, body: Body): Uint8Array {
    const to = text(body, "to");
    const room = text(body, "room");
    if (to === undefined || room === undefined) {
      return error(ref, "bad-request", { message: "to and room are strings" });
    }
    const badRoom = nameProblem(room, "Room name");
    if (badRoom !== null) return error(ref, "bad-name", { message: badRoom });
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    if (to === me) return error(ref, "self");
    const refused = this.#refusedTo(me, to, "invite");
    if (refused !== null) return error(ref, refused);
    const target = this.#reach(to);
    const holder = target === undefined ? this.#presence.reachableHolder(to) : undefined;
    if (target === undefined && holder === undefined) {
      return error(ref, "not-supported", { message: `${to}'s client cannot take invitations` });
    }
    const now = Date.now();
    const offered = this.#pending.offer("invite", me, to, room, c, now);
    if (offered === "too-many") {
      return error(ref, "rate-limited", { retryAfterMs: this.#pending.retryAfterMs(me, now) });
    }
    if (offered === "new") {
      if (target !== undefined) this.#push(target, frame("invite", { from: me, room }));
      else this.#relay(holder!, { op: "invite", from: me, to, room });
    }
    return frame("invite-sent", { ref, to, room });
  }

  #inviteAnswer(c: C, ref: string, body: Body): Uint8Array {
    const to = text(body, "to");
    const room = text(body, "room");
    const accept = flag(body, "accept");
    if (to === undefined || room === undefined || accept === undefined) {
      return error(ref, "bad-request", { message: "to and room are strings, accept a boolean" });
    }
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    const now = Date.now();
    const request = this.#pending.take("invite", to, me, room, now);
    const relayed = request === undefined
      ? this.#relayed.take("invite", to, me, room, now)
      : undefined;
    if (request === undefined && relayed === undefined) return error(ref, "no-request");
    if (request !== undefined) {
      this.#push(
        request.requester,
        frame(accept ? "invite-accepted" : "invite-declined", { by: me, room }),
      );
    } else this.#relay(relayed!.requester, { op: "invite-answer", from: me, to, room, accept });
    return frame("invite-answered", { ref, to, room, accept });
  }

  #address(c: C, ref: string, body: Body): Uint8Array | Promise<Uint8Array> {
    const name = text(body, "name");
    const purpose = body.for ?? "link";
    if (name === undefined || (purpose !== "poke" && purpose !== "link")) {
      return error(ref, "bad-request", { message: "name is a string, for is poke or link" });
    }
    const me = this.#nameOf(c);
    if (me === undefined) return error(ref, "login-required");
    if (!permits(this.#blocks, purpose === "poke" ? "poke" : "get-address", me, name)) {
      return error(ref, "blocked");
    }
    const member = this.#memberNamed(name);
    if (member !== undefined) return this.#addressOf(c, ref, me, member);
    // Live through another registry: its member is in the shared rooms, in the room presence says.
    const room = this.#presence.holder(name) === undefined
      ? undefined
      : this.#presence.entry(name)?.room;
    if (room === undefined || this.#host.membersOf === undefined) {
      return error(ref, "unknown-user");
    }
    return this.#host.membersOf(room).then((members) => {
      const there = members.find((m) => m.name === name);
      return there === undefined ? error(ref, "unknown-user") : this.#addressOf(c, ref, me, there);
    });
  }

  /** The `address` answer of `member` to `me` (on `c`): in the same room, or with consent. */
  #addressOf(c: C, ref: string, me: string, member: MemberView): Uint8Array {
    const name = member.name;
    const mine = this.#host.memberOf(c);
    if (mine?.room !== member.room && this.#pending.consent(me, name) === undefined) {
      return error(ref, "consent-required");
    }
    return frame("address", { ref, name, ip: member.ip, port: member.port, room: member.room });
  }

  /**
   * Tells `viewer` (if listening) at once what it may now see of `subject`:
   * offline when `subject` just blocked it, the real state when unblocked.
   */
  #showTo(viewer: string, subject: string, hidden: boolean): void {
    const c = this.#accounts.sessionOf(viewer);
    if (c === undefined || !this.#listeners.has(c)) return;
    const entry = hidden ? undefined : this.#presence.entry(subject, this.#accounts);
    this.#push(c, frame("presence", { ...(entry ?? { name: subject, state: "offline" }) }));
  }

  /** Why `me` may not reach `to` by `action`: blocked, nobody by that name, or offline. */
  #refusedTo(me: string, to: string, action: Action): string | null {
    if (!permits(this.#blocks, action, me, to)) return "blocked";
    const entry = this.#presence.entry(to, this.#accounts);
    if (entry === undefined) return "unknown-user";
    return entry.state === "offline" ? "not-online" : null;
  }

  /** The name of `c`: its login, else the name of its member. */
  #nameOf(c: C): string | undefined {
    return this.#accounts.nameOf(c) ?? this.#host.memberOf(c)?.name;
  }

  #isOnline(name: string): boolean {
    const state = this.#presence.entry(name)?.state;
    return state !== undefined && state !== "offline";
  }

  /** A hello'd connection of `name`: its login session, else one whose member has that name. */
  #reach(name: string): C | undefined {
    const session = this.#accounts.sessionOf(name);
    if (session !== undefined) return session;
    for (const c of this.#membersNamed.get(name) ?? []) {
      if (this.#host.saidHello(c) && this.#accounts.nameOf(c) === undefined) return c;
    }
    return undefined;
  }

  /** A room member named `name` (of any connection), if one is listed. */
  #memberNamed(name: string): MemberView | undefined {
    const session = this.#accounts.sessionOf(name);
    const own = session === undefined ? undefined : this.#host.memberOf(session);
    if (own !== undefined) return own;
    for (const c of this.#membersNamed.get(name) ?? []) {
      const member = this.#host.memberOf(c);
      if (member?.name === name) return member;
    }
    return undefined;
  }

  #forgetMember(c: C): void {
    const name = this.#memberName.get(c);
    if (name === undefined) return;
    this.#memberName.delete(c);
    const named = this.#membersNamed.get(name);
    named?.delete(c);
    if (named?.size === 0) this.#membersNamed.delete(name);
  }

  /**
   * `c` logged out of `name`: a member of that name it holds leaves its room
   * (a registered name is only for a connection logged in as it).
   */
  #loggedOutOf(c: C, name: string): void {
    if (this.#host.memberOf(c)?.name === name) this.#host.release(c);
    this.#loggedOut(name);
  }

  #loggedOut(name: string): void {
    this.#loginAt.delete(name);
    this.#local(name, this.#presence.logout(name));
    this.#pending.forgetName(name);
  }

  /** An event of a registry sharing the store: the same names, blocks and one session per account. */
  #heard(event: PeopleEvent): void {
    switch (event.kind) {
      case "account":
        return this.#accounts.learnName(event.name);
      case "block":
        return this.#blocks.learn(event.by, event.name, event.blocked);
      case "login": {
        const older = this.#accounts.sessionOf(event.name);
        if (event.origin === this.#events?.origin || older === undefined) return;
        if (event.again === true) {
          const mine = this.#loginAt.get(event.name) ?? 0;
          const theirs = typeof event.at === "number" ? event.at : 0;
          if (mine > theirs || (mine === theirs && this.#events!.origin > event.origin)) {
            // Ours began later: that registry ends its older session when told again.
            this.#tellLogin(event.name, mine, true);
            return;
          }
        }
        this.#accounts.logout(older);
        this.#loggedOut(event.name);
        this.#kick(older, event.name);
        return;
      }
      case "presence":
      case "presence-ask":
        return this.#heardPresence(event);
      case "relay":
        return this.#heardRelay(event);
      case "resync":
        return this.#resync();
    }
  }

  /** `requester` (a connection of `from`) gets `to`'s consent; `from` keeps it. */
  #consented(requester: C, from: string, to: string, consent: Consent): void {
    this.#pending.grant(from, to, consent);
    this.#push(requester, frame("dm-accepted", { by: to, ...consent }));
  }

  /** Sends `relay` to `registry` (the one holding its `to`, or the one that asked). */
  #relay(registry: string, relay: Omit<RelayEvent, "kind" | "origin">): void {
    const events = this.#events;
    if (events === null) return;
    events.send(registry, { kind: "relay", origin: events.origin, ...relay }).catch((error) =>
      logger.debug("A {op} not relayed: {error}", { op: relay.op, error })
    );
  }

  /**
   * A request to a name here from another registry (kept in `#relayed`,
   * pushed to the name's connection), or the answer to one of this
   * registry's requests (given to the requester as a local answer is).
   */
  #heardRelay(event: unknown): void {
    if (!isRelayEvent(event) || event.origin === this.#events?.origin) return;
    const { op, from, to } = event;
    const room = event.room ?? "";
    const now = Date.now();
    if (op === "dm-request" || op === "invite") {
      const target = this.#reach(to);
      if (target === undefined) return;
      const kind = op === "dm-request" ? "dm" : "invite";
      if (this.#relayed.offer(kind, from, to, room, event.origin, now) !== "new") return;
      this.#push(target, op === "invite" ? frame("invite", { from, room }) : frame(op, { from }));
      return;
    }
    const request = this.#pending.take(op === "dm-answer" ? "dm" : "invite", to, from, room, now);
    if (request === undefined) return;
    if (op === "invite-answer") {
      const answer = event.accept ? "invite-accepted" : "invite-declined";
      this.#push(request.requester, frame(answer, { by: from, room }));
    } else if (!event.accept) this.#push(request.requester, frame("dm-rejected", { by: from }));
    else {
      const consent = { ip: event.ip!, port: event.port!, token: event.token! };
      this.#consented(request.requester, to, from, consent);
    }
  }

  /** Another registry's presence (validated: a malformed event is dropped). */
  #heardPresence(event: unknown): void {
    if (!isPresenceEvent(event) || event.origin === this.#events?.origin) return;
    if (event.kind === "presence-ask") {
      this.#snapshotDue = true;
      this.#publishSoon();
      return;
    }
    this.#missing.delete(event.origin);
    if (event.first) {
      for (const change of this.#presence.dropRegistry(event.origin)) this.#announce(change);
    }
    for (const tuple of event.users) {
      const told = presenceEntry(tuple);
      if (told === null) continue;
      this.#announce(this.#presence.remote(event.origin, told.entry, told.reachable));
    }
  }

  /**
   * The subscription came back after a drop: what was published meanwhile
   * was missed. Reads the names and blocks from the store again, asks the
   * other registries for their live names and tells them all of this one's,
   * and tells its sessions again (the older of two sessions of one account
   * ends).
   */
  #resync(): void {
    logger.info("People events resubscribed: reloading names and blocks");
    this.#askPresence();
    for (const [name, at] of this.#loginAt) this.#tellLogin(name, at, true);
    this.#snapshotDue = true;
    this.#publishSoon();
    this.#store.accountNames().then((names) => {
      for (const name of names) this.#accounts.learnName(name);
    }).catch((error) => logger.debug("Names not reloaded: {error}", { error }));
    this.#blocks.reload().catch((error) => logger.debug("Blocks not reloaded: {error}", { error }));
  }

  /** Tells the other registries of the session of `name` here, begun at `at`. */
  #tellLogin(name: string, at: number, again: boolean): void {
    this.#events?.loggedIn(name, at, again).catch((error) =>
      logger.warn("Other registries not told of {name}'s login: {error}", { name, error })
    );
  }

  /** Asks the other registries for their live names (at start, and when the subscription came back). */
  #askPresence(): void {
    const events = this.#events;
    if (events === null) return;
    events.publish({ kind: "presence-ask", origin: events.origin }).catch((error) =>
      logger.debug("Presence not asked for: {error}", { error })
    );
  }

  /**
   * `name`'s state here changed (`change`: the visible change, if any):
   * announced here, and with a shared store published to the other
   * registries at the next round (the latest state per name).
   */
  #local(name: string, change: PresenceEntry | null): void {
    this.#announce(change);
    if (this.#events === null) return;
    this.#outgoing.add(name);
    this.#publishSoon();
  }

  #publishSoon(): void {
    this.#publishTimer ??= setTimeout(() => this.#publish(), this.#options.presenceFlushMs);
  }

  /**
   * Publishes the names whose state here changed (or, when asked, every
   * live name, the first message marked `first`), at most
   * {@linkcode MAX_PRESENCE_USERS} a message: a name that changes a
   * thousand times in a round is published once.
   */
  #publish(): void {
    this.#publishTimer = undefined;
    const events = this.#events;
    if (events === null) return;
    const full = this.#snapshotDue;
    const names = full ? [...this.#presence.liveNames()] : [...this.#outgoing];
    this.#snapshotDue = false;
    this.#outgoing.clear();
    const users = names.map((name) =>
      presenceTuple(this.#presence.localEntry(name), this.#reach(name) !== undefined)
    );
    for (let i = 0; i < users.length || (full && i === 0); i += MAX_PRESENCE_USERS) {
      events.publish({
        kind: "presence",
        origin: events.origin,
        first: full && i === 0,
        users: users.slice(i, i + MAX_PRESENCE_USERS),
      }).catch((error) => logger.debug("Presence not published: {error}", { error }));
    }
  }

  /**
   * Forgets the names of registries whose heartbeat key lapsed at two
   * checks in a row (a SIGKILLed or closed registry; one miss may be a
   * registry that just started).
   */
  #checkAlive(): void {
    const events = this.#events;
    const registries = this.#presence.remoteRegistries();
    if (events === null || registries.length === 0 || this.#checkingAlive) return;
    this.#checkingAlive = true;
    events.alive(registries).then((alive) => {
      for (const registry of registries) {
        if (alive.has(registry)) this.#missing.delete(registry);
        else if (!this.#missing.has(registry)) this.#missing.add(registry);
        else {
          this.#missing.delete(registry);
          this.#relayed.forgetRequester(registry);
          for (const change of this.#presence.dropRegistry(registry)) this.#announce(change);
        }
      }
    }, (error) => logger.debug("Registries' heartbeats not read: {error}", { error }))
      .finally(() => this.#checkingAlive = false);
  }

  /** Tells `older` it was logged in elsewhere, then closes it. */
  #kick(older: C, name: string): void {
    logger.info("{name} logged in elsewhere: closing its older session", { name });
    this.#pending.forgetRequester(older);
    const timer = setTimeout(() => this.#host.close(older), KICK_WRITE_MS);
    this.#host.write(older, frame("kicked", { reason: "logged-in-elsewhere" }))
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.#host.close(older);
      });
  }

  /**
   * Records a presence change; pushed within `presenceFlushMs`, coalesced
   * (the latest state per name), at most `maxPresenceBatch` names per flush.
   */
  #announce(change: PresenceEntry | null): void {
    if (change === null) return;
    if (change.state === "offline") {
      this.#pending.forgetName(change.name);
      this.#relayed.forgetName(change.name);
    }
    this.#changes.delete(change.name);
    this.#changes.set(change.name, change);
    this.#flushTimer ??= setTimeout(() => this.#flush(), this.#roundDelay());
  }

  /** How long until the next round: `presenceFlushMs`, or more while the last one's writes are paid for. */
  #roundDelay(): number {
    return Math.max(this.#options.presenceFlushMs, this.#nextRoundAt - performance.now());
  }

  /**
   * Pushes the oldest `maxPresenceBatch` changes to every listening
   * connection with a name that may see them (not the subject's own, not
   * those the subject blocks); the rest at the next flush. So a churn of
   * changes costs each listener at most `maxPresenceBatch` frames per
   * `presenceFlushMs`, however many connections churn, and the registry at
   * most `presenceWritesPerSecond` writes a second however many listen.
   */
  #flush(): void {
    this.#flushTimer = undefined;
    const batch: PresenceEntry[] = [];
    for (const [name, change] of this.#changes) {
      if (batch.length === this.#options.maxPresenceBatch) break;
      batch.push(change);
      this.#changes.delete(name);
    }
    const pushes = batch.map((change) => frame("presence", { ...change }));
    let writes = 0;
    for (const c of this.#listeners) {
      const viewer = this.#nameOf(c);
      if (viewer === undefined) continue;
      const told = pushes.filter((_, i) => {
        const name = batch[i]!.name;
        return viewer !== name && permits(this.#blocks, "see-presence", viewer, name);
      });
      // One write for the round: a hello'd peer frames what it reads (PROTOCOL.md §9),
      // and a write per frame per listener is what stalled JOINs in `bench:logins`.
      if (told.length > 0) {
        this.#push(c, told.length === 1 ? told[0]! : concat(told));
        writes++;
      }
    }
    this.#nextRoundAt = performance.now() + writes * 1000 / this.#options.presenceWritesPerSecond;
    if (this.#changes.size > 0) {
      this.#flushTimer = setTimeout(() => this.#flush(), this.#roundDelay());
    }
  }

  /** Queues `push` for hello'd `c`; a connection with `maxQueuedPushes` unwritten is closed. */
  #push(c: C, push: Uint8Array): void {
    if (!this.#host.saidHello(c) || this.#host.isClosed(c)) return;
    const queued = (this.#queued.get(c) ?? 0) + 1;
    if (queued > this.#options.maxQueuedPushes) {
      logger.info("Closing a connection that does not read its pushes ({n} queued)", {
        n: queued - 1,
      });
      this.#host.close(c);
      return;
    }
    this.#queued.set(c, queued);
    this.#host.write(c, push).catch(() => {}).finally(() => {
      const left = (this.#queued.get(c) ?? 1) - 1;
      if (left <= 0) this.#queued.delete(c);
      else this.#queued.set(c, left);
    });
  }
}
