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
  /** Joins a room; emits "joined", then links into the ring. @throws {PeerError} */
  join(room: string): Promise<void>;
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
