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

/** A user as `online` lists it (docs/people.md). */
export interface OnlineUser {
  name: string;
  state: "online" | "away" | "offline";
  room?: string;
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
    /**
     * True for the answer to `/who` (or `/poke` with no name); absent for a
     * change, which the terminal shows as join and leave lines instead.
     */
    asked?: true;
  }
  /**
   * A member came into my room after me (`at`: when I learnt it, ISO 8601
   * UTC with ms). Not said of the members listed when I joined.
   */
  | { type: "member-joined"; name: string; at: string }
  /**
   * A member left my room: by DEPART or quit (`left`), its connection dropped
   * (`lost`), or the registry expired it (`expired`). On a registry that
   * does not speak ringchat/2 the reason is not known and said as `lost`.
   */
  | { type: "member-left"; name: string; reason: "left" | "lost" | "expired"; at: string }
  /** A member (or I, `self`) took a new name in my room: one event instead of a leave and a join. */
  | { type: "nick"; from: string; to: string; at: string; self?: boolean }
  /** I left `room` (`/leave`): in no room, named, free to rename and join another. */
  | { type: "left"; room: string }
  /** A link came up or went down. */
  | { type: "link"; direction: "forward" | "backward"; state: "up" | "down"; peer: LinkPeer }
  /**
   * A chat message, delivered once; `self` for my own sends. `verified`: its
   * origin's signature verified with the key our registry gave for it (my
   * own: signed); false for seed clients' texts and any whose signature could
   * not be had (docs/security.md). `at`: when this peer first received it
   * (for my own: when I sent it), ISO 8601 UTC with ms.
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
    at: string;
    /**
     * The member the first copy came from (me, for my own message): with
     * `hops`, what draws the dissemination tree (docs/overlay.md). On every
     * live message; absent on history messages (`history`).
     */
    via?: LinkPeer;
    /**
     * Hops from its origin where known: 0 for mine, the `tree` op's count for
     * a message that came down the broadcast tree; absent for a ring flood.
     */
    hops?: number;
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
  | {
    type: "error";
    message: string;
    code?: PeerErrorCode;
    /** `bad-password`: tries left before the lock. */
    remaining?: number;
    /** `locked`, `rate-limited`: when to try again. */
    retryAfterMs?: number;
  }
  | PeopleEvent
  /** Answer to `/stats`: the figures of `peer.stats()`. */
  | ({ type: "stats" } & PeerStats)
  /** The peer's web page is served at `url` (its token included): the `web` option. */
  | { type: "web"; url: string }
  /** The peer has released everything and stopped. */
  | { type: "quit" };

/**
 * The people events (issue 12's JSON contract; `peer/people.ts`, `peer/dm.ts`).
 * Times (`at`) are ISO 8601 UTC strings.
 */
export type PeopleEvent =
  /** An account was registered (not logged in). */
  | { type: "registered"; name: string }
  /** Logged in; `mail` messages that waited follow as `dm` events with `offline`. */
  | { type: "logged-in"; name: string; mail?: number }
  /** The registry ended this session (`logged-in-elsewhere`); the peer quits. */
  | { type: "kicked"; reason: string }
  /** Answer to `/online`. */
  | { type: "online"; users: OnlineUser[]; truncated?: boolean }
  /** Answer to `/search`. */
  | {
    type: "search";
    name: string;
    result: "found" | "not-found" | "self";
    room?: string;
    state?: OnlineUser["state"];
  }
  /** `from` asks to talk with me in direct messages (`/accept`, `/reject`). */
  | { type: "dm-request"; from: string }
  /** My request to talk was accepted; the messages waiting go. */
  | { type: "dm-accepted"; by: string }
  /** My request to talk was declined; the messages waiting are dropped. */
  | { type: "dm-rejected"; by: string }
  /** A direct message; `offline` when it waited in my mailbox. */
  | { type: "dm"; id: string; from: string; text: string; at: string; offline?: boolean }
  /** What became of my direct message `id`; `mailId` is the mailbox's id when `stored`. */
  | {
    type: "dm-receipt";
    id: string;
    to: string;
    state: "sent" | "delivered" | "stored";
    mailId?: number;
  }
  /** I block `name` now: its room messages are hidden. */
  | { type: "blocked"; name: string }
  /** I no longer block `name`. */
  | { type: "unblocked"; name: string }
  /** A broadcast; `self` and `count` (how many it reached) for my own. */
  | { type: "broadcast"; from: string; text: string; at: string; self?: boolean; count?: number }
  /** `from` invites me into `room` (`/invite-answer`, or `/accept`-like commands). */
  | { type: "invite"; from: string; room: string }
  /** My invitation was accepted. */
  | { type: "invite-accepted"; by: string; room: string }
  /** My invitation was declined. */
  | { type: "invite-declined"; by: string; room: string }
  /** A user's presence changed (mine after `/away`). */
  | { type: "presence"; name: string; state: OnlineUser["state"]; room?: string };

/** The `type` of every event. */
export type PeerEventType = PeerEvent["type"];
