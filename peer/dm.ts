/**
 * Direct messages with consent (issue 12; `docs/people.md` for the registry
 * ops, `docs/extensions.md` for the connection between the peers).
 *
 * The first `dm` to a user asks for consent through the registry
 * (`dm-request`); the messages wait here until the other side answers. On
 * `dm-accepted` (which brings its address and a token) they go over a direct
 * TCP connection to its peer ({@linkcode DmLink}), never through the room
 * and never through the registry; on `dm-rejected` they are dropped. A user
 * who is registered and offline gets them as mail (`route: "mailbox"`).
 *
 * Receipts per message: `sent` when it left (written on the connection, or
 * handed to the registry as mail), then `delivered` when the other peer
 * acknowledged it, or `stored` when the registry stored it.
 *
 * The accepting side takes a connection only with a token its own
 * `dm-answer` got, from the name that token is for, at most
 * `maxLinksPerToken` at once and `maxLinks` in all.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ExtensionFrame } from "../lib/frames.ts";
import {
  DM_ACK_OP,
  DM_HELLO_OP,
  DM_OP,
  DM_WELCOME_OP,
  DmLink,
  type DmLinkLimits,
} from "./dm_link.ts";
import { describe, PeerError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import type { Probed } from "./links.ts";

const logger = getLogger(["ringchat", "peer", "dm"]);

const encoder = new TextEncoder();

/** Ids of messages received kept per sender, to show each once. */
const SEEN_PER_SENDER = 1024;
/** A message id: what a sender may use. */
const ID = /^[0-9A-Za-z_.-]{1,64}$/;

/** What the direct messages need of the peer. */
export interface DmHost {
  /** Sends a registry op with a `ref`; the reply, or a PeerError with the registry's code. */
  request(op: string, body: Record<string, unknown>): Promise<ExtensionFrame>;
  emit(event: PeerEvent): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** My name, as the registry knows this connection (logged in, or joined), or null. */
  me(): string | null;
  /** My TCP port: where the other side connects after my consent. */
  port(): number;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
}

/** The bounds and timings of direct messages. */
export interface DmOptions {
  /** Longest text, UTF-8 bytes. */
  maxTextBytes: number;
  /** How long a connection and its `dm-welcome` may take, in ms. */
  connectTimeoutMs: number;
  /** How long a request for consent waits for its answer, in ms (the registry forgets it after 60 s). */
  consentTimeoutMs: number;
  /** Messages waiting for consent (or a receipt) per user, at most. */
  maxQueued: number;
  /** Each connection's bounds. */
  link: DmLinkLimits;
  /** Connections at once, in all. */
  maxLinks: number;
  /** Connections at once per consent. */
  maxLinksPerToken: number;
}

interface Outgoing {
  id: string;
  text: string;
  at: number;
}

/** Where the other side is, once it consented (only the asking side knows). */
interface Address {
  ip: string;
  port: number;
  token: string;
}

interface Conversation {
  name: string;
  /** "asking": my request waits for consent; "open": messages may flow. */
  state: "asking" | "open";
  queue: Outgoing[];
  /** Written, not yet acknowledged. */
  unacked: Map<string, Outgoing>;
  address: Address | null;
  link: DmLink | null;
  dialing: Promise<DmLink | null> | null;
  timer?: ReturnType<typeof setTimeout>;
}

/** Direct messages; see the module doc. */
export class DirectMessages {
  readonly #host: DmHost;
  readonly #opts: DmOptions;
  readonly #conversations = new Map<string, Conversation>();
  /** Requests from others that I have not answered, by name. */
  readonly #requests = new Set<string>();
  /** Tokens my consents got, and who they are for. */
  readonly #tokens = new Map<string, string>();
  readonly #links = new Set<DmLink>();
  /** Links I dialled that have not been welcomed yet. */
  readonly #unwelcomed = new WeakSet<DmLink>();
  /** Ids shown per sender (direct and mail), in arrival order. */
  readonly #seen = new Map<string, Set<string>>();
  #next = 0;
  readonly #prefix = Date.now().toString(36);

  constructor(host: DmHost, options: DmOptions) {
    this.#host = host;
    this.#opts = options;
  }

  /** True while `from`'s request to talk waits for my answer. */
  asked(from: string): boolean {
    return this.#requests.has(from);
  }

  /** Open direct connections. */
  get links(): number {
    return this.#links.size;
  }

  /**
   * Sends `text` to `to`: at once over our connection, after consent on the
   * first message, or as mail when `to` is offline. Returns the message id
   * its `dm-receipt` events carry.
   *
   * @throws {PeerError} when the text is empty or too long, or the registry refuses
   * (`unknown-user`, `blocked`, `not-supported` for a seed client, …)
   */
  async send(to: string, text: string): Promise<string> {
    if (text.trim().length === 0) throw new PeerError("empty-text", "Message must not be empty");
    const bytes = encoder.encode(text).length;
    if (bytes > this.#opts.maxTextBytes) {
      throw new PeerError(
        "text-too-long",
        `A direct message may have at most ${this.#opts.maxTextBytes} bytes, this one has ${bytes}`,
      );
    }
    if (to === this.#host.me()) {
      throw new PeerError("self", "Cannot send a direct message to yourself");
    }
    const message: Outgoing = { id: `${this.#prefix}-${++this.#next}`, text, at: Date.now() };
    let talk = this.#conversations.get(to);
    if (talk !== undefined) {
      const max = this.#opts.maxQueued;
      if (talk.queue.length + talk.unacked.size >= max) {
        throw new PeerError("busy", `${max} messages to ${to} are already waiting`);
      }
      talk.queue.push(message);
      if (talk.state === "asking") return message.id;
      const reachable = (talk.link !== null && !talk.link.closed) || talk.address !== null ||
        talk.dialing !== null;
      if (reachable) {
        this.#flush(talk);
        return message.id;
      }
      // Its connection to me is gone and I have no address: ask again (it accepts at once).
      talk.state = "asking";
    } else {
      talk = {
        name: to,
        state: "asking",
        queue: [message],
        unacked: new Map(),
        address: null,
        link: null,
        dialing: null,
      };
      this.#conversations.set(to, talk);
    }
    await this.#ask(talk);
    return message.id;
  }

  /** Asks `talk`'s user for consent; its messages go as mail when it is offline. */
  async #ask(talk: Conversation): Promise<void> {
    const to = talk.name;
    let route;
    try {
      const reply = await this.#host.request("dm-request", { to });
      route = reply.body.route;
    } catch (error) {
      this.#forget(talk);
      throw seedClient(error, to);
    }
    if (route === "mailbox") {
      this.#forget(talk);
      for (const queued of talk.queue.splice(0)) await this.#mail(to, queued);
      return;
    }
    if (this.#conversations.get(to) !== talk || talk.state !== "asking") return;
    clearTimeout(talk.timer);
    talk.timer = setTimeout(() => {
      if (this.#conversations.get(to) !== talk || talk.state !== "asking") return;
      this.#forget(talk);
      this.#host.emit({
        type: "error",
        code: "no-answer",
        message: `${to} did not answer your request to talk within ${
          Math.round(this.#opts.consentTimeoutMs / 1000)
        } s`,
      });
    }, this.#opts.consentTimeoutMs);
  }

  /**
   * Answers `from`'s request to talk. Accepting gives the registry leave to
   * hand `from` my address, with a token I keep for its connection.
   *
   * @throws {PeerError} the registry's refusal
   */
  async answer(from: string, accept: boolean): Promise<void> {
    const reply = await this.#host.request("dm-answer", {
      to: from,
      accept,
      port: this.#host.port(),
    });
    this.#requests.delete(from);
    const token = reply.body.token;
    if (accept && typeof token === "string") this.#tokens.set(token, from);
    this.#host.emit({
      type: "info",
      message: accept
        ? `You accepted ${from}'s request to talk`
        : `You declined ${from}'s request to talk`,
    });
  }

  /** A registry push of the direct messages: `dm-request`, `dm-accepted`, `dm-rejected`; false for others. */
  onPush(frame: ExtensionFrame): boolean {
    const { from, by } = frame.body;
    switch (frame.op) {
      case "dm-request":
        if (typeof from !== "string") return true;
        if (this.#conversations.has(from)) {
          // I asked them (or we talk): their request is answered yes without asking me again.
          this.#host.track(this.answer(from, true).catch((error) => this.#fail(error)));
          return true;
        }
        this.#requests.add(from);
        this.#host.emit({ type: "dm-request", from });
        return true;
      case "dm-accepted":
        if (typeof by === "string") this.#accepted(by, frame.body);
        return true;
      case "dm-rejected": {
        if (typeof by !== "string") return true;
        const talk = this.#conversations.get(by);
        if (talk?.state === "asking") this.#forget(talk);
        this.#host.emit({ type: "dm-rejected", by });
        return true;
      }
      case "mail":
        this.#mailed(frame.body);
        return true;
      default:
        return false;
    }
  }

  /**
   * A connection that opened with an `X` op (PROTOCOL.md §9): a `dm-hello`
   * with a token I gave is taken; false when the op is not a `dm-hello`.
   */
  accept(probed: Probed): boolean {
    if (probed.probe.op !== DM_HELLO_OP) return false;
    const { conn } = probed;
    const { token, from } = probed.probe.body;
    const name = typeof token === "string" ? this.#tokens.get(token) : undefined;
    const open = [...this.#links].filter((l) => l.token === token).length;
    if (
      name === undefined || from !== name || open >= this.#opts.maxLinksPerToken ||
      this.#links.size >= this.#opts.maxLinks
    ) {
      logger.info("Closed a direct connection: {why}", {
        why: name === undefined
          ? "unknown token"
          : from !== name
          ? "not the token's user"
          : "too many",
      });
      conn.close();
      return true;
    }
    const link = this.#link(conn, name, token as string, probed);
    this.#host.track(
      link.send({ type: "X", op: DM_WELCOME_OP, body: { name: this.#host.me() } }).then(
        () => this.#attach(name, link),
        () => {},
      ),
    );
    return true;
  }

  /** Forgets every consent and request (a logout, a kick): the connections close. */
  reset(): void {
    for (const talk of [...this.#conversations.values()]) this.#forget(talk);
    this.#requests.clear();
    this.#tokens.clear();
    for (const link of [...this.#links]) link.close("Logged out");
  }

  /** Closes every connection and timer; resolves when they are done. */
  async close(): Promise<void> {
    const links = [...this.#links];
    this.reset();
    await Promise.allSettled(links.map((link) => link.done));
  }

  #accepted(by: string, body: Record<string, unknown>): void {
    const talk = this.#conversations.get(by);
    const { ip, port, token } = body;
    if (talk === undefined || typeof token !== "string") return;
    clearTimeout(talk.timer);
    if (typeof ip === "string" && Number.isInteger(port)) {
      talk.address = { ip, port: port as number, token };
    }
    talk.state = "open";
    this.#host.emit({ type: "dm-accepted", by });
    if (talk.address === null) {
      this.#host.emit({
        type: "error",
        code: "no-address",
        message: `${by} accepted, but the registry gave no address to reach ${by}'s peer`,
      });
    }
    this.#flush(talk);
  }

  /** Writes what waits, dialling first when there is no connection and I know the address. */
  #flush(talk: Conversation): void {
    const link = talk.link;
    if (link !== null && !link.closed) {
      for (const message of talk.queue.splice(0)) this.#write(talk, link, message);
      return;
    }
    if (talk.address === null || talk.dialing !== null || talk.queue.length === 0) return;
    talk.dialing = this.#host.track(this.#dial(talk.name, talk.address)).then((dialed) => {
      talk.dialing = null;
      if (dialed === null || this.#conversations.get(talk.name) !== talk) return dialed;
      this.#attach(talk.name, dialed);
      return dialed;
    });
  }

  #write(talk: Conversation, link: DmLink, message: Outgoing): void {
    talk.unacked.set(message.id, message);
    const frame: ExtensionFrame = {
      type: "X",
      op: DM_OP,
      body: { id: message.id, text: message.text, at: message.at },
    };
    this.#host.track(
      link.send(frame).then(
        () => this.#host.emit({ type: "dm-receipt", id: message.id, to: talk.name, state: "sent" }),
        () => {
          // Not written: it goes again on the next connection.
          talk.unacked.delete(message.id);
          talk.queue.unshift(message);
        },
      ),
    );
  }

  async #dial(name: string, address: Address): Promise<DmLink | null> {
    const me = this.#host.me();
    let conn: Deno.TcpConn | undefined;
    const timeout = AbortSignal.timeout(this.#opts.connectTimeoutMs);
    try {
      conn = await Deno.connect({
        hostname: address.ip,
        port: address.port,
        signal: AbortSignal.any([timeout, this.#host.signal]),
      });
      const hello: ExtensionFrame = {
        type: "X",
        op: DM_HELLO_OP,
        body: { from: me, token: address.token },
      };
      const link = this.#link(conn, name, address.token);
      await link.send(hello);
      return link;
    } catch (error) {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
      this.#fail(
        new PeerError(
          "dm-failed",
          `Cannot reach ${name}'s peer for direct messages: ${describe(error)}`,
        ),
      );
      return null;
    }
  }

  /** A link for `name`; on the dialling side it waits for `dm-welcome` before it counts. */
  #link(conn: Deno.TcpConn, name: string, token: string, probed?: Probed): DmLink {
    const welcome = probed === undefined;
    let welcomed = !welcome;
    const link: DmLink = new DmLink(
      conn,
      name,
      token,
      {
        onOp: (from, frame) => {
          if (!welcomed) {
            if (frame.op !== DM_WELCOME_OP) return from.close("Answered without dm-welcome");
            welcomed = true;
            this.#unwelcomed.delete(from);
            return;
          }
          this.#op(from, frame);
        },
        onClose: (closed, why) => this.#closed(closed, why),
      },
      this.#opts.link,
      probed?.reader,
      probed?.frames,
    );
    this.#links.add(link);
    if (welcome) this.#unwelcomed.add(link);
    return link;
  }

  /** Makes `link` the conversation's connection and writes what waits. */
  #attach(name: string, link: DmLink): void {
    if (link.closed) return;
    let talk = this.#conversations.get(name);
    if (talk === undefined) {
      talk = {
        name,
        state: "open",
        queue: [],
        unacked: new Map(),
        address: null,
        link: null,
        dialing: null,
      };
      this.#conversations.set(name, talk);
    }
    if (talk.link !== null && talk.link !== link && !talk.link.closed) return;
    talk.link = link;
    talk.state = "open";
    this.#flush(talk);
  }

  #op(link: DmLink, frame: ExtensionFrame): void {
    const { id, text, at } = frame.body;
    if (frame.op === DM_OP) {
      if (typeof id !== "string" || !ID.test(id) || typeof text !== "string") return;
      if (encoder.encode(text).length > this.#opts.maxTextBytes) {
        return link.close("A direct message over the size bound");
      }
      if (this.#firstSight(link.name, id)) {
        this.#host.emit({ type: "dm", id, from: link.name, text, at: isoTime(at) });
      }
      this.#host.track(
        link.send({ type: "X", op: DM_ACK_OP, body: { id } }).catch(() => {}),
      );
    } else if (frame.op === DM_ACK_OP && typeof id === "string") {
      const talk = this.#conversations.get(link.name);
      if (talk?.unacked.delete(id)) {
        this.#host.emit({ type: "dm-receipt", id, to: link.name, state: "delivered" });
      }
    }
  }

  #closed(link: DmLink, why: string): void {
    this.#links.delete(link);
    logger.debug("Direct connection with {name} closed: {why}", { name: link.name, why });
    const talk = this.#conversations.get(link.name);
    if (talk?.link !== link) return;
    talk.link = null;
    if (this.#host.signal.aborted) return;
    if (this.#unwelcomed.has(link)) {
      // Refused (a token it does not know any more): ask again with the next message.
      const lost = talk.queue.length + talk.unacked.size;
      this.#forget(talk);
      this.#fail(
        new PeerError(
          "dm-failed",
          `${link.name}'s peer refused the direct connection (${why}); ${lost} message(s) not sent`,
        ),
      );
      return;
    }
    if (talk.unacked.size === 0) return;
    // What was not acknowledged goes again on the next connection (the receiver shows each id once).
    talk.queue.unshift(...talk.unacked.values());
    talk.unacked.clear();
    this.#flush(talk);
  }

  async #mail(to: string, message: Outgoing): Promise<void> {
    const reply = await this.#host.request("mail", { to, text: message.text });
    this.#host.emit({ type: "dm-receipt", id: message.id, to, state: "sent" });
    this.#host.emit({
      type: "dm-receipt",
      id: message.id,
      to,
      state: "stored",
      ...(typeof reply.body.id === "number" ? { mailId: reply.body.id } : {}),
    });
  }

  #mailed(body: Record<string, unknown>): void {
    const { id, from, text, at } = body;
    if (!Number.isSafeInteger(id) || typeof from !== "string" || typeof text !== "string") return;
    if (this.#firstSight(from, `mail-${id}`)) {
      this.#host.emit({ type: "dm", id: String(id), from, text, at: isoTime(at), offline: true });
    }
    this.#host.track(
      this.#host.request("mail-ack", { ids: [id] }).catch((error) =>
        logger.debug("mail-ack failed: {error}", { error })
      ),
    );
  }

  /** True the first time `id` comes from `from`. */
  #firstSight(from: string, id: string): boolean {
    let ids = this.#seen.get(from);
    if (ids === undefined) {
      ids = new Set();
      this.#seen.set(from, ids);
      if (this.#seen.size > SEEN_PER_SENDER) this.#seen.delete(this.#seen.keys().next().value!);
    }
    if (ids.has(id)) return false;
    ids.add(id);
    if (ids.size > SEEN_PER_SENDER) ids.delete(ids.values().next().value!);
    return true;
  }

  #forget(talk: Conversation): void {
    clearTimeout(talk.timer);
    if (this.#conversations.get(talk.name) === talk) this.#conversations.delete(talk.name);
    talk.link?.close("Forgotten");
  }

  #fail(error: unknown): void {
    if (this.#host.signal.aborted) return;
    const code = error instanceof PeerError ? error.code : undefined;
    this.#host.emit({ type: "error", message: describe(error), ...(code ? { code } : {}) });
  }
}

/** A refusal of a DM, said for people: a seed client cannot take direct messages. */
function seedClient(error: unknown, to: string): unknown {
  if (!(error instanceof PeerError) || error.code !== "not-supported") return error;
  if (error.message.includes("ringchat/2")) return error;
  return new PeerError(
    "not-supported",
    `${to}'s client cannot take direct messages (it does not speak ringchat/2)`,
    { cause: error },
  );
}

/** A time from the wire (ms since the epoch) as ISO 8601 UTC; now when it is not one. */
export function isoTime(at: unknown): string {
  const ms = typeof at === "number" && Number.isFinite(at) && Math.abs(at) < 8.64e15
    ? at
    : Date.now();
  return new Date(ms).toISOString();
}
