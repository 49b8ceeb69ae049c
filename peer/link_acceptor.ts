/**
 * The backward side of the handshake (PROTOCOL.md §6, Backward links):
 * accepts connections, reads each one's `P` within `handshakeTimeoutMs`,
 * and checks it against my place and the member list (looking members up
 * once when the list is behind) before the overlay adopts it as a backward
 * link. When the member-info gives the member a key, it must prove it
 * (link_auth.ts) before the `S`; an unproved handshake never replaces a
 * link whose key was proved. A connection opening with an `X` frame is a
 * probe, handed to the host (a finger hello among them, whose key proof
 * counts as its handshake). Refusals close the connection without a reply.
 * At most `maxHandshakes` connections handshake at once; more are closed at once.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { HandshakeFrame, Member } from "../lib/frames.ts";
import type { RingMember } from "../lib/ring.ts";
import { describe } from "./errors.ts";
import type { LinkAuth } from "./link_auth.ts";
import { authenticate, greet, type Greeted, PeerClosed, type Probed } from "./links.ts";
import { type Membership, sameMember } from "./membership.ts";
import type { Place } from "./state.ts";

const logger = getLogger(["ringchat", "peer", "link_acceptor"]);

/** What the acceptor needs from the overlay and the peer. */
export interface AcceptorHost {
  /** My place for a handshake (after a JOIN under way), or why there is none. */
  placeForHandshake(): Promise<Place | string>;
  /** True once quitting. */
  quitting(): boolean;
  readonly members: Membership;
  /** Looks up members I do not know (throttled re-JOIN). */
  lookUp(): Promise<unknown>;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** Aborts handshakes under way (quitting). */
  signal: AbortSignal;
  /** A checked connection from `member`: make it a backward link. */
  adopt(greeted: Greeted, member: RingMember): void;
  /** A handshake was refused. */
  refused(): void;
  /**
   * The authentication a handshake from `member` needs (its key is in the
   * member-info), or undefined when none.
   */
  authFor?(hello: HandshakeFrame, member: RingMember): LinkAuth | undefined;
  /** The handshake of an `auth` from `authFor` ended. */
  handshaken?(auth: LinkAuth | undefined): void;
  /** True when I have a link from `member` whose key it proved. */
  verifiedLinkFrom?(member: RingMember): boolean;
  /**
   * A connection that opened with an `X` frame (a probe, PROTOCOL.md §9); the
   * host closes it. A promise returned holds the connection's handshake slot
   * until it settles (a finger link proving its key, fingers_links.ts).
   */
  probe?(probed: Probed): void | Promise<void>;
}

/** The acceptor's limits. */
export interface AcceptorOptions {
  handshakeTimeoutMs: number;
  maxHandshakes: number;
  /** Largest frame read during the handshake. */
  maxFrameBytes: number;
}

/** Accepts and checks backward links; see the module doc. */
export class LinkAcceptor {
  readonly #host: AcceptorHost;
  readonly #opts: AcceptorOptions;
  /** Handshakes being checked, as the members they name. */
  readonly #greeting = new Set<Member>();
  /** Accepted connections not yet links or refused. */
  #handshakes = 0;

  /** An acceptor that hands checked connections to `host.adopt`. */
  constructor(host: AcceptorHost, options: AcceptorOptions) {
    this.#host = host;
    this.#opts = options;
  }

  /** True while a handshake from `member` is being checked. */
  greeting(member: Member): boolean {
    for (const hello of this.#greeting) if (sameMember(hello, member)) return true;
    return false;
  }

  /** Accepts connections from `listener` until it closes. */
  async serve(listener: Deno.TcpListener): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#host.quitting() || error instanceof Deno.errors.BadResource) return;
        if (error instanceof Deno.errors.Interrupted) return;
        logger.warn("Accept failed: {error}", { error });
        continue;
      }
      if (this.#host.quitting()) {
        conn.close();
        return;
      }
      if (this.#handshakes >= this.#opts.maxHandshakes) {
        const { hostname, port } = conn.remoteAddr;
        conn.close();
        this.#host.report(
          "handshakes full",
          "info",
          `Refused a connection from ${hostname}:${port}: ` +
            `${this.#opts.maxHandshakes} handshakes are already pending`,
        );
        continue;
      }
      this.#handshakes++;
      this.#host.track(this.#accept(conn).finally(() => this.#handshakes--));
    }
  }

  /** The member a handshake comes from, or why it is refused. */
  async #check(hello: HandshakeFrame): Promise<RingMember | string> {
    const place = await this.#host.placeForHandshake();
    if (typeof place === "string") return place;
    if (hello.room !== place.room) return `wrong room ${hello.room}`;
    let member = this.#host.members.find(hello);
    if (member === undefined) {
      // Maybe it joined after my last member list: ask the registry again.
      await this.#host.lookUp();
      if (this.#host.quitting()) return "quitting";
      member = this.#host.members.find(hello);
    }
    if (member === undefined) return `not a member of room ${place.room}`;
    if (sameMember(member, place.me)) return "it claims to be me";
    return member;
  }

  /**
   * The member, once it proved its key when it has one; or why not. Without a
   * key to prove, it may not replace a link of that member's whose key was proved.
   */
  async #authenticate(greeted: Greeted, member: RingMember): Promise<RingMember | string> {
    const auth = this.#host.authFor?.(greeted.hello, member);
    greeted.auth = auth;
    if (auth === undefined || !auth.required) {
      this.#host.handshaken?.(auth);
      return this.#host.verifiedLinkFrom?.(member)
        ? "it did not prove the key of the member it claims, who is linked with its key proved"
        : member;
    }
    try {
      await authenticate(greeted, auth, this.#opts.handshakeTimeoutMs, this.#host.signal);
    } catch (error) {
      return describe(error);
    } finally {
      this.#host.handshaken?.(auth);
    }
    return member;
  }

  async #accept(conn: Deno.TcpConn): Promise<void> {
    const { hostname, port } = conn.remoteAddr;
    let greeted;
    try {
      greeted = await greet(
        conn,
        this.#opts.handshakeTimeoutMs,
        this.#host.signal,
        this.#opts.maxFrameBytes,
        true,
      );
    } catch (error) {
      // One that connects and closes having sent nothing does no harm (a port check).
      if (error instanceof PeerClosed) logger.debug("Refused a connection: {error}", { error });
      else {
        this.#host.report(
          "handshake",
          "info",
          `Refused a connection from ${hostname}:${port}: ${describe(error)}`,
        );
      }
      return;
    }
    if ("probe" in greeted) {
      if (this.#host.probe !== undefined) return await this.#host.probe(greeted);
      conn.close();
      return;
    }
    const { hello } = greeted;
    const greeting: Member = { name: hello.name, ip: hello.ip, port: hello.port };
    this.#greeting.add(greeting);
    let member: RingMember | string;
    try {
      member = await this.#check(hello);
      if (typeof member !== "string") member = await this.#authenticate(greeted, member);
    } finally {
      this.#greeting.delete(greeting);
    }
    if (typeof member !== "string") return this.#host.adopt(greeted, member);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    this.#host.report(
      "refused",
      "info",
      `Refused a link from ${hello.name} (${hello.ip}:${hello.port}): ${member}`,
    );
    this.#host.refused();
  }
}
