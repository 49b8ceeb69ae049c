/**
 * The peer's side of the registry's people ops (issue 12, `docs/people.md`):
 * accounts, presence, search, blocking, broadcast, invitations, and the
 * direct messages (`./dm.ts`). Each command is one `X` request with a `ref`
 * on the peer's registry connection (`RegistryClient.op`); each answer and
 * push becomes an event of the JSON contract. A refusal is a
 * {@linkcode PeerError} with the registry's code and its fields
 * (`remaining`, `retryAfterMs`). On a registry that does not speak
 * ringchat/2 (the reference) every command fails with `not-supported`.
 *
 * It also keeps what the peer must know between commands: the account to
 * log in again with after a reconnect, the names I block (their room
 * messages are not shown, {@linkcode People.shows}; they are still
 * forwarded), and the invitations waiting for my answer.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ExtensionFrame, Frame } from "../lib/frames.ts";
import { nameProblem } from "../lib/names.ts";
import { DirectMessages, type DmOptions, isoTime } from "./dm.ts";
import { PeerError, registryError } from "./errors.ts";
import type { OnlineUser, PeerEvent } from "./events.ts";
import type { Probed } from "./links.ts";
import { NotRingchat, RegistryFailure, type RegistryOpsHost } from "./registry_client.ts";

const logger = getLogger(["ringchat", "peer", "people"]);

/** The error codes of the people ops (`docs/people.md`), as the `error` event's `code`. */
export type PeopleErrorCode =
  | "bad-request"
  | "weak-password"
  | "name-taken"
  | "too-many-accounts"
  | "rate-limited"
  | "unknown-user"
  | "bad-password"
  | "locked"
  | "busy"
  | "login-required"
  | "self"
  | "too-many-blocks"
  | "blocked"
  | "not-offline"
  | "mailbox-full"
  | "too-long"
  | "empty"
  | "no-request"
  | "not-online"
  | "consent-required"
  | "not-supported"
  | "no-answer"
  | "no-address"
  | "dm-failed";

const KNOWN_CODES = new Set<string>([
  "bad-request",
  "bad-name",
  "weak-password",
  "name-taken",
  "too-many-accounts",
  "rate-limited",
  "unknown-user",
  "bad-password",
  "locked",
  "busy",
  "login-required",
  "self",
  "too-many-blocks",
  "blocked",
  "not-offline",
  "mailbox-full",
  "too-long",
  "empty",
  "no-request",
  "not-online",
  "consent-required",
  "not-supported",
]);

/** The fields an `error` op may add to its code, passed on in the `error` event. */
const ERROR_FIELDS = ["remaining", "retryAfterMs"] as const;

/** Said when the registry does not speak ringchat/2. */
export const NOT_SUPPORTED =
  "The registry does not speak ringchat/2: no accounts, presence, search, blocking, " +
  "broadcast, invitations, mail or direct messages";

/** What the people ops need of the peer. */
export interface PeopleHost {
  /** The registry connection's op request (`RegistryClient.op`). */
  op(frame: ExtensionFrame): Promise<ExtensionFrame>;
  emit(event: PeerEvent): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
  /** The name my room membership uses, when joined (or joining). */
  joinedName(): string | null;
  /** The room I am in, if any. */
  room(): string | undefined;
  /** My TCP port (where direct-message connections come). */
  port(): number;
  /**
   * A request that keeps the registry connection of a session in no room
   * alive (and opens it again, logging in, when it dropped): an `L`.
   */
  ping(): Promise<unknown>;
  /** How often to ping while logged in and in no room, in ms. */
  keepaliveMs: number;
  /** A login as `name` succeeded: use it as my user name (before joining). */
  loggedIn(name: string): void;
  /** The registry ended my session (a login elsewhere): the peer stops. */
  kicked(): void;
  /** Joins `room`, leaving the one I am in (an accepted invitation). */
  switchRoom(room: string): Promise<void>;
}

/** The people ops of one peer; see the module doc. */
export class People {
  readonly #host: PeopleHost;
  readonly #dms: DirectMessages;
  #ref = 0;
  /** The account logged in, for a re-login on a new connection. */
  #account: { name: string; password: string } | null = null;
  readonly #blocks = new Set<string>();
  /** Invitations waiting for my answer, as `from\nroom`. */
  readonly #invites = new Set<string>();
  /** Pushes that came while a login's answer was on its way: shown after `logged-in`. */
  #held: PeerEvent[] | null = null;
  /** The ping of a logged-in session in no room (the registry closes a silent one). */
  #pinger: ReturnType<typeof setInterval> | undefined;

  constructor(host: PeopleHost, dm: DmOptions) {
    this.#host = host;
    this.#dms = new DirectMessages({
      request: (op, body) => this.#request(op, body),
      emit: (event) => this.#emit(event),
      track: host.track,
      me: () => this.me(),
      port: host.port,
      signal: host.signal,
    }, dm);
  }

  /** The hooks of the registry connection: pushes, and the re-login on every new connection. */
  get registryHooks(): RegistryOpsHost {
    return {
      onPush: (frame) => this.#push(frame),
      onConnection: () => this.#relogin(),
    };
  }

  /** My name as the registry knows me: the account, else my room membership's; null when none. */
  me(): string | null {
    return this.#account?.name ?? this.#host.joinedName();
  }

  /** Open direct-message connections. */
  get dmLinks(): number {
    return this.#dms.links;
  }

  /**
   * False for a room message of a user I block (it is still forwarded), and
   * for a poke from one (answered as any poke: the poker learns nothing).
   */
  shows(event: PeerEvent): boolean {
    if (event.type === "poke") return !this.#blocks.has(event.claimed ?? event.from);
    return event.type !== "message" || event.self || !this.#blocks.has(event.from);
  }

  /** Takes a connection that opened with a `dm-hello`; false when it is not one. */
  accept(probed: Probed): boolean {
    return this.#dms.accept(probed);
  }

  /** Registers `name` (does not log in); emits `registered`. @throws {PeerError} */
  async register(name: string, password: string): Promise<void> {
    checkName(name, "User name");
    await this.#request("register", { name, password });
    this.#host.emit({ type: "registered", name });
  }

  /**
   * Logs in as `name`, which becomes my user name; emits `logged-in`, then
   * the mail that waited for me as `dm` events with `offline`, and reads
   * the names I block. @throws {PeerError}
   */
  async login(name: string, password: string): Promise<void> {
    checkName(name, "User name");
    const joined = this.#host.joinedName();
    if (joined !== null && joined !== name) {
      throw new PeerError(
        "already-joined",
        `In the room as ${joined}: log in as ${name} before joining, or as ${joined}`,
      );
    }
    this.#held = [];
    let reply;
    try {
      reply = await this.#request("login", { name, password });
    } catch (error) {
      this.#release();
      throw error;
    }
    if (this.#account !== null && this.#account.name !== name) this.#dms.reset();
    this.#account = { name, password };
    this.#host.loggedIn(name);
    const mail = Number.isSafeInteger(reply.body.mail) ? reply.body.mail as number : 0;
    this.#host.emit({ type: "logged-in", name, mail });
    this.#release();
    this.#keepAlive();
    await this.#loadBlocks();
  }

  /** Emits `online`: who is online, away and (registered) offline. @throws {PeerError} */
  async online(): Promise<void> {
    const reply = await this.#request("online", { limit: 1000 });
    const users = Array.isArray(reply.body.users) ? reply.body.users.filter(isUser) : [];
    this.#host.emit({ type: "online", users, truncated: reply.body.truncated === true });
  }

  /** Emits `search` for `name`: found (with state and room), not found, or self. @throws {PeerError} */
  async search(name: string): Promise<void> {
    checkName(name, "User name");
    const { result, state, room } = (await this.#request("search", { name })).body;
    if (result !== "found" && result !== "not-found" && result !== "self") {
      throw new PeerError("bad-request", `The registry answered a search with ${String(result)}`);
    }
    this.#host.emit({
      type: "search",
      name,
      result,
      ...(isState(state) ? { state } : {}),
      ...(typeof room === "string" ? { room } : {}),
    });
  }

  /** Says I am away (or back); emits my `presence`. @throws {PeerError} */
  async away(on: boolean): Promise<void> {
    await this.#request("away", { on });
    const room = this.#host.room();
    this.#host.emit({
      type: "presence",
      name: this.me() ?? "",
      state: on ? "away" : "online",
      ...(room === undefined ? {} : { room }),
    });
  }

  /** Blocks `name`: its room messages are hidden from now on; emits `blocked`. @throws {PeerError} */
  async block(name: string): Promise<void> {
    checkName(name, "User name");
    await this.#request("block", { name });
    this.#blocks.add(name);
    this.#host.emit({ type: "blocked", name });
  }

  /** Unblocks `name`; emits `unblocked`. @throws {PeerError} */
  async unblock(name: string): Promise<void> {
    checkName(name, "User name");
    await this.#request("unblock", { name });
    this.#blocks.delete(name);
    this.#host.emit({ type: "unblocked", name });
  }

  /** Sends `text` to every online user; emits my own `broadcast` with `count`. @throws {PeerError} */
  async broadcast(text: string): Promise<void> {
    const reply = await this.#request("broadcast", { text });
    const count = Number.isSafeInteger(reply.body.count) ? reply.body.count as number : 0;
    this.#host.emit({
      type: "broadcast",
      from: this.me() ?? "",
      text,
      at: new Date().toISOString(),
      self: true,
      count,
    });
  }

  /** Sends a direct message (`./dm.ts`); returns its id. @throws {PeerError} */
  dm(to: string, text: string): Promise<string> {
    checkName(to, "User name");
    return this.#dms.send(to, text);
  }

  /** Answers a request to talk. @throws {PeerError} */
  dmAnswer(to: string, accept: boolean): Promise<void> {
    checkName(to, "User name");
    return this.#dms.answer(to, accept);
  }

  /** Invites `to` into `room` (by default mine). @throws {PeerError} */
  async invite(to: string, room?: string): Promise<void> {
    checkName(to, "User name");
    const where = room === undefined || room === "" ? this.#host.room() : room;
    if (where === undefined) {
      throw new PeerError("not-joined", "Name a room to invite to, or join one first");
    }
    checkName(where, "Room name");
    await this.#request("invite", { to, room: where });
    this.#host.emit({ type: "info", message: `Invited ${to} to ${where}` });
  }

  /**
   * Answers `to`'s invitation into `room`; accepting joins it (leaving the
   * room I am in). @throws {PeerError}
   */
  async inviteAnswer(to: string, room: string, accept: boolean): Promise<void> {
    checkName(to, "User name");
    checkName(room, "Room name");
    await this.#request("invite-answer", { to, room, accept });
    this.#invites.delete(`${to}\n${room}`);
    if (accept) await this.#host.switchRoom(room);
  }

  /**
   * Answers `from`: its invitation into `room` when `room` is given, or when
   * no request to talk but an invitation from `from` waits; else its
   * request to talk. @throws {PeerError}
   */
  answer(from: string, accept: boolean, room?: string): Promise<void> {
    if (room !== undefined) return this.inviteAnswer(from, room, accept);
    const invited = this.invitations.filter((invite) => invite.from === from);
    if (!this.#dms.asked(from) && invited.length > 0) {
      return this.inviteAnswer(from, invited[invited.length - 1]!.room, accept);
    }
    return this.dmAnswer(from, accept);
  }

  /** The invitations waiting for my answer, oldest first. */
  get invitations(): { from: string; room: string }[] {
    return [...this.#invites].map((key) => {
      const [from, room] = key.split("\n") as [string, string];
      return { from, room };
    });
  }

  /** Closes the direct connections and stops the ping. */
  close(): Promise<void> {
    clearInterval(this.#pinger);
    return this.#dms.close();
  }

  /** Pings while logged in and in no room (a member's keepalive JOIN does it otherwise). */
  #keepAlive(): void {
    if (this.#pinger !== undefined) return;
    this.#pinger = setInterval(() => {
      if (this.#account === null || this.#host.signal.aborted) return;
      if (this.#host.joinedName() !== null) return;
      this.#host.track(
        this.#host.ping().catch((error) => logger.debug("Ping failed: {error}", { error })),
      );
    }, this.#host.keepaliveMs);
  }

  async #request(op: string, body: Record<string, unknown>): Promise<ExtensionFrame> {
    const ref = (++this.#ref).toString(36);
    let reply: ExtensionFrame;
    try {
      reply = await this.#host.op({ type: "X", op, body: { ref, ...body } });
    } catch (error) {
      if (error instanceof NotRingchat || error instanceof RegistryFailure) {
        throw new PeerError("not-supported", NOT_SUPPORTED, { cause: error });
      }
      throw registryError(op, error);
    }
    if (reply.op === "error" && reply.body.code === "unknown-op") {
      throw new PeerError("not-supported", NOT_SUPPORTED);
    }
    if (reply.op === "error") throw refusal(op, reply.body);
    return reply;
  }

  async #loadBlocks(): Promise<void> {
    try {
      const { names } = (await this.#request("blocks", {})).body;
      this.#blocks.clear();
      if (Array.isArray(names)) {
        for (const name of names) if (typeof name === "string") this.#blocks.add(name);
      }
    } catch (error) {
      logger.info("Could not read my blocks: {error}", { error });
    }
  }

  /** The login to say first on a new connection, if I am logged in. */
  #relogin(): { frame: ExtensionFrame; onReply(reply: Frame): void }[] {
    const account = this.#account;
    if (account === null) return [];
    const ref = (++this.#ref).toString(36);
    return [{
      frame: { type: "X", op: "login", body: { ref, ...account } },
      onReply: (reply) => {
        if (reply.type === "X" && reply.op === "logged-in") return;
        this.#account = null;
        const why = reply.type === "X" ? String(reply.body.code ?? reply.op) : reply.type;
        this.#host.emit({
          type: "error",
          code: "login-required",
          message: `Logging in again as ${account.name} after a reconnect failed (${why})`,
        });
      },
    }];
  }

  #push(frame: ExtensionFrame): void {
    if (this.#dms.onPush(frame)) return;
    const b = frame.body;
    switch (frame.op) {
      case "presence":
        if (typeof b.name === "string" && isState(b.state)) {
          this.#emit({
            type: "presence",
            name: b.name,
            state: b.state,
            ...(typeof b.room === "string" ? { room: b.room } : {}),
          });
        }
        return;
      case "broadcast":
        if (typeof b.from === "string" && typeof b.text === "string") {
          this.#emit({ type: "broadcast", from: b.from, text: b.text, at: isoTime(b.at) });
        }
        return;
      case "invite":
        if (typeof b.from === "string" && typeof b.room === "string") {
          this.#invites.add(`${b.from}\n${b.room}`);
          if (this.#invites.size > 64) this.#invites.delete(this.#invites.values().next().value!);
          this.#emit({ type: "invite", from: b.from, room: b.room });
        }
        return;
      case "invite-accepted":
      case "invite-declined":
        if (typeof b.by === "string" && typeof b.room === "string") {
          this.#emit({ type: frame.op, by: b.by, room: b.room });
        }
        return;
      case "kicked":
        this.#account = null;
        clearInterval(this.#pinger);
        this.#pinger = undefined;
        this.#dms.reset();
        this.#host.emit({
          type: "kicked",
          reason: typeof b.reason === "string" ? b.reason : "ended by the registry",
        });
        this.#host.kicked();
        return;
      default:
        logger.debug("Ignored a {op} push from the registry", { op: frame.op });
    }
  }

  /** Emits `event`, or holds it while a login's answer is on its way. */
  #emit(event: PeerEvent): void {
    if (this.#held !== null) this.#held.push(event);
    else this.#host.emit(event);
  }

  #release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const event of held) this.#host.emit(event);
  }
}

function checkName(name: string, what: string): void {
  const problem = nameProblem(name, what);
  if (problem !== null) throw new PeerError("bad-name", problem);
}

function isState(state: unknown): state is OnlineUser["state"] {
  return state === "online" || state === "away" || state === "offline";
}

function isUser(user: unknown): user is OnlineUser {
  if (typeof user !== "object" || user === null) return false;
  const { name, state, room } = user as Record<string, unknown>;
  return typeof name === "string" && isState(state) &&
    (room === undefined || typeof room === "string");
}

/** The PeerError of a registry's `error` op answering `op`. */
function refusal(op: string, body: Record<string, unknown>): PeerError {
  const code = typeof body.code === "string" && KNOWN_CODES.has(body.code)
    ? body.code as PeopleErrorCode | "bad-name"
    : "bad-request";
  const fields: Record<string, unknown> = {};
  for (const field of ERROR_FIELDS) {
    if (typeof body[field] === "number") fields[field] = body[field];
  }
  const said = typeof body.message === "string" ? body.message : MESSAGES[code] ?? code;
  return new PeerError(code, `The registry refused ${op}: ${said}`, { fields });
}

const MESSAGES: Partial<Record<string, string>> = {
  "bad-password": "wrong password",
  "locked": "the account is locked after too many wrong passwords",
  "unknown-user": "no such user",
  "name-taken": "that name is registered already",
  "blocked": "that user blocks you",
  "login-required": "log in first",
  "weak-password": "the password is too short or too long",
  "rate-limited": "too many at once, try again later",
  "busy": "the registry is busy, try again",
  "no-request": "nothing from that user waits for your answer",
  "not-online": "that user is offline",
  "consent-required": "that user has not accepted to talk with you",
  "self": "not yourself",
};
