/**
 * What a peer reports: one typed event per thing that happened. The terminal
 * UI renders them as lines, `--json` prints each as one JSON object per line,
 * and in-process users read them from {@linkcode PeerEvents}. Hash IDs, MSIDs
 * and msgIDs are decimal strings here, so every event is JSON as it is.
 *
 * @module
 */

import type { PeerErrorCode } from "./errors.ts";
import type { PeerStats } from "./stats.ts";

/** A member as events show it. */
export interface MemberInfo {
  name: string;
  ip: string;
  port: number;
  /** The member's HashID, decimal. */
  hashId: string;
  /**
   * Whether it speaks ringchat/2, as our registry's member information says;
   * absent when the registry gives none (a plain P2PChat registry).
   */
  ringchat?: boolean;
}

/** A message as `/history` shows it. */
export interface HistoryMessage {
  from: string;
  originHid: string;
  msgId: string;
  text: string;
  /** When it was said or first received, ISO 8601 UTC with ms. */
  at: string;
  self: boolean;
}

/** The other end of a link. */
export interface LinkPeer {
  name: string;
  ip: string;
  port: number;
}

/** Every event a peer emits. */
export type PeerEvent =
  /** Listening on TCP and UDP `port`. */
  | { type: "ready"; port: number }
  /** The user name is set. */
  | { type: "named"; name: string }
  /** Answer to a list: room names, newest first. */
  | { type: "rooms"; rooms: string[] }
  /** Joined `room`; `members` as the registry listed them (newest first). */
  | { type: "joined"; room: string; members: MemberInfo[] }
  /**
   * The member list changed, or was asked for (`/who`, `/poke` with no name);
   * `forward` and `backward` name the members I link to, when known.
   */
  | {
    type: "members";
    msid: string;
    members: MemberInfo[];
    forward?: string | null;
    backward?: string[];
  }
  /** A link came up or went down. */
  | { type: "link"; direction: "forward" | "backward"; state: "up" | "down"; peer: LinkPeer }
  /**
   * A chat message, delivered once; `self` for my own sends. `verified`: its
   * origin's signature verified with the key our registry gave for it (my
   * own: signed); false for seed clients' texts and any whose signature could
   * not be had (docs/security.md).
   */
  | {
    type: "message";
    room: string;
    from: string;
    originHid: string;
    msgId: string;
    text: string;
    self: boolean;
    verified: boolean;
    /** When it was said or first received, ISO 8601 UTC with ms (always on history messages). */
    at?: string;
    /**
     * True on a message that came in a catch-up answer (`docs/extensions.md`,
     * `history`): missed while away, shown once, never forwarded; absent otherwise.
     */
    history?: true;
  }
  /** Answer to `/history`: my room's last messages, oldest first. */
  | { type: "history"; room: string; messages: HistoryMessage[] }
  /**
   * Somebody poked me: `from` is the member's name. A poke that did not come
   * from the address of a member with the name it carries has `from` set to
   * its source `ip:port` (never a name: names have no `:`) and `claimed` to
   * that name.
   */
  | { type: "poke"; from: string; claimed?: string }
  /** My poke was acknowledged. */
  | { type: "poke-ack"; to: string }
  /** My poke got no ACK in time. */
  | { type: "poke-timeout"; to: string }
  /** Answer to `/links`. */
  | { type: "links"; forward: LinkPeer | null; backward: LinkPeer[] }
  /** A system notice that is not an error (retrying, registry reconnected, dropped duplicate…). */
  | { type: "info"; message: string }
  /**
   * Something the user asked for failed (with the {@linkcode PeerErrorCode}
   * of the command's `PeerError`), or a peer misbehaved (no code).
   */
  | { type: "error"; message: string; code?: PeerErrorCode }
  /** Answer to `/stats`: the figures of `peer.stats()`. */
  | ({ type: "stats" } & PeerStats)
  /** The peer's web page is served at `url` (its token included): the `web` option. */
  | { type: "web"; url: string }
  /** The peer has released everything and stopped. */
  | { type: "quit" };

/** The `type` of every event. */
export type PeerEventType = PeerEvent["type"];
