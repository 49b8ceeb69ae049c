/**
 * What a running peer offers its embedder: {@linkcode PeerHandle}, returned
 * by `startPeer`. Commands reject (or throw, for the synchronous ones) with a
 * `PeerError` whose `code` says why; events say everything else.
 *
 * @module
 */

import type { PeerEvent } from "./events.ts";
import type { PeerState } from "./state.ts";
import type { PeerStats } from "./stats.ts";

/** How to join a room. */
export interface JoinOptions {
  /** The private room's password; absent: an open room. */
  password?: string;
}

/** A running peer; see `startPeer`. */
export interface PeerHandle extends AsyncDisposable {
  /** The TCP and UDP listening port. */
  readonly port: number;
  /** The web page's URL, token included, while serving it (the `web` option); else null. */
  readonly webUrl: string | null;
  /** The current state: START, NAMED, JOINING, JOINED, CONNECTED (joined, a link up) or QUIT. */
  readonly state: PeerState;
  /** A new subscription: every event from now on; ends after "quit". */
  events(): AsyncIterableIterator<PeerEvent>;
  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  on(listener: (event: PeerEvent) => void): () => void;
  /** Sets the user name (only before joining). @throws {PeerError} */
  user(name: string): void;
  /** Asks the registry for the rooms; emits "rooms". @throws {PeerError} */
  list(): Promise<void>;
  /**
   * Joins a room; emits "joined", then links into the ring. With a
   * `password`, a private room: its name on the wire is derived from both and
   * its texts are encrypted (docs/extensions.md, Private rooms).
   * @throws {PeerError}
   */
  join(room: string, options?: JoinOptions): Promise<void>;
  /**
   * Leaves the room: DEPART, every link closed, back to NAMED (the name may
   * change, another room may be joined); emits "left". @throws {PeerError}
   */
  leave(): Promise<void>;
  /**
   * Takes the name `name` in the room I am in: rejoins under it; members of a
   * ringchat registry see one "nick" event. Emits "nick" (self), then
   * "joined". @throws {PeerError}
   */
  nick(name: string): Promise<void>;
  /** Floods a chat message to the room. @throws {PeerError} */
  send(text: string): Promise<void>;
  /**
   * Pokes a member by name; with no name emits "members". Resolves after the
   * outcome is emitted ("poke-ack"; on "poke-timeout" it rejects too).
   * @throws {PeerError}
   */
  poke(name?: string): Promise<void>;
  /** Emits "members" with my forward and backward links marked. @throws {PeerError} */
  who(): void;
  /** Emits "links". @throws {PeerError} */
  links(): void;
  /** Registers an account (issue 12); emits "registered". @throws {PeerError} */
  register(name: string, password: string): Promise<void>;
  /**
   * Logs in (before joining, or as the joined name); the name becomes my user
   * name. Emits "logged-in", then mail as "dm" events with `offline`. @throws {PeerError}
   */
  login(name: string, password: string): Promise<void>;
  /** Emits "online": who is online, away and offline. @throws {PeerError} */
  online(): Promise<void>;
  /** Emits "search" for `name`. @throws {PeerError} */
  search(name: string): Promise<void>;
  /**
   * Sends a direct message; the first to a user asks for consent. Resolves
   * with the id its "dm-receipt" events carry. @throws {PeerError}
   */
  dm(to: string, text: string): Promise<string>;
  /** Accepts or declines `to`'s request to talk ("dm-request"). @throws {PeerError} */
  dmAnswer(to: string, accept: boolean): Promise<void>;
  /** Blocks `name` (its room messages are hidden); emits "blocked". @throws {PeerError} */
  block(name: string): Promise<void>;
  /** Unblocks `name`; emits "unblocked". @throws {PeerError} */
  unblock(name: string): Promise<void>;
  /** Sends `text` to every online user; emits my own "broadcast". @throws {PeerError} */
  broadcast(text: string): Promise<void>;
  /** Invites `to` into `room` (default: mine). @throws {PeerError} */
  invite(to: string, room?: string): Promise<void>;
  /** Answers an invitation; accepting joins `room`, leaving mine. @throws {PeerError} */
  inviteAnswer(to: string, room: string, accept: boolean): Promise<void>;
  /**
   * `/accept` and `/reject`: answers `from`'s request to talk, or (with
   * `room`, or when only an invitation from `from` waits) its invitation.
   * @throws {PeerError}
   */
  answer(from: string, accept: boolean, room?: string): Promise<void>;
  /** Says I am away (`on`) or back; emits my "presence". @throws {PeerError} */
  away(on: boolean): Promise<void>;
  /** Emits "history": my room's last `count` (default 50) messages. @throws {PeerError} */
  history(count?: number): void;
  /** What the peer has sent, shown, forwarded and dropped, and its links now. */
  stats(): PeerStats;
  /** Emits "stats" with {@linkcode PeerHandle.stats} (the `/stats` command). */
  showStats(): void;
  /**
   * Emits the "error" event that shows a failed command (what the CLIs do
   * with a {@linkcode PeerError}); a poke timeout, already shown as
   * "poke-timeout", is not shown again.
   */
  showError(error: unknown): void;
  /** Releases everything; emits "quit" last. Idempotent. */
  quit(): Promise<void>;
  /** Resolves once the peer has quit. */
  readonly closed: Promise<void>;
}
