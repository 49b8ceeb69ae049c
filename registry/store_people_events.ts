/**
 * What registries sharing one people store tell each other (issue 15): an
 * account was registered, a block made or lifted, a name logged in. Each
 * registry keeps the registered names and the blocks in memory (so a JOIN
 * is answered without waiting) and the sessions of its own connections;
 * these events keep those in step across registries, so that a name
 * registered through A is refused to a stranger on B at once, and a login
 * on B ends the older session of that account on A ("logged in
 * elsewhere").
 *
 * Presence is shared the same way: each registry publishes the state of
 * the names live through it (`presence`, coalesced per name, at most
 * {@linkcode MAX_PRESENCE_USERS} a message), asks the others for theirs
 * when it starts or its subscription comes back (`presence-ask`, answered
 * with every live name, the first message marked `first` so the receiver
 * forgets what it held of that registry), and forgets a registry's names
 * when its heartbeat key (`P alive:ID`, the rooms' owners' one) lapses.
 *
 * DM requests and invitations to a name live through another registry are
 * relayed to that registry alone (`relay`, on its own channel
 * `P people:ID`): the request, then the answer back to the requester's
 * registry, which keeps the consent as for a requester of its own.
 *
 * @module
 */

import { MAX_IP_BYTES, MAX_NAME_BYTES } from "../lib/limits.ts";
import type { PresenceEntry, PresenceState } from "./presence.ts";

/** Names one `presence` event carries at most (a longer list is split). */
export const MAX_PRESENCE_USERS = 256;

/**
 * One name's state in a `presence` event: `[name, state]` or `[name, state,
 * room]`, or `[name, state, room, 0]` when the name is live there only
 * through seed connections (none said hello: it cannot take DM requests or
 * invitations).
 */
export type PresenceTuple =
  | readonly [string, PresenceState]
  | readonly [string, PresenceState, string]
  | readonly [string, PresenceState, string, 0];

/** One change another registry made (or this one: see {@linkcode PeopleEvents.origin}). */
export type PeopleEvent =
  | { readonly kind: "account"; readonly name: string }
  | {
    readonly kind: "block";
    readonly by: string;
    readonly name: string;
    readonly blocked: boolean;
  }
  | {
    readonly kind: "login";
    readonly name: string;
    readonly origin: string;
    /** When the session began (ms, the origin's clock). */
    readonly at?: number;
    /**
     * Told again after a resync, not a new login: only a session that began
     * earlier ends; one that began later is told back (`again` too).
     */
    readonly again?: boolean;
  }
  | {
    readonly kind: "presence";
    readonly origin: string;
    /** The first message of a full list: forget what was held of `origin` first. */
    readonly first: boolean;
    readonly users: readonly PresenceTuple[];
  }
  | { readonly kind: "presence-ask"; readonly origin: string }
  | RelayEvent
  /** This registry's subscription came back: events may have been missed. */
  | { readonly kind: "resync" };

/** What a `relay` carries: a request to a name on the receiving registry, or the answer back. */
export type RelayOp = "dm-request" | "dm-answer" | "invite" | "invite-answer";

/**
 * A people request or answer between two registries: `from` asks (or
 * answers) `to`, whose connection the receiving registry holds.
 */
export interface RelayEvent {
  readonly kind: "relay";
  readonly origin: string;
  readonly op: RelayOp;
  readonly from: string;
  readonly to: string;
  /** The room of an invitation or its answer. */
  readonly room?: string;
  /** The answer of `dm-answer` and `invite-answer`. */
  readonly accept?: boolean;
  /** An accepted `dm-answer`'s consent: where `to` connects to `from`. */
  readonly ip?: string;
  readonly port?: number;
  readonly token?: string;
}

/** The events of a shared people store. */
export interface PeopleEvents {
  /** This registry's id in `login` events (its own logins come back with it). */
  readonly origin: string;
  /** Calls `listener` on every event, whichever registry caused it; returns its unsubscribe. */
  onPeopleEvent(listener: (event: PeopleEvent) => void): () => void;
  /**
   * Tells every registry that `name` logged in here at `at` (older sessions
   * elsewhere end); `again` after a resync (see the `login` event).
   */
  loggedIn(name: string, at: number, again?: boolean): Promise<void>;
  /** Publishes a `presence` or `presence-ask` event of this registry. */
  publish(event: PeopleEvent & { kind: "presence" | "presence-ask" }): Promise<void>;
  /** Sends `event` to registry `registry` alone. */
  send(registry: string, event: RelayEvent): Promise<void>;
  /** Which of `registries` are alive (their heartbeat key is set). */
  alive(registries: readonly string[]): Promise<Set<string>>;
}

const RELAY_OPS: ReadonlySet<string> = new Set([
  "dm-request",
  "dm-answer",
  "invite",
  "invite-answer",
]);
const STATES: ReadonlySet<string> = new Set(["online", "away", "offline"]);
const encoder = new TextEncoder();

function isName(value: unknown): value is string {
  return typeof value === "string" && value !== "" && value.length <= MAX_NAME_BYTES &&
    encoder.encode(value).length <= MAX_NAME_BYTES;
}

/** A name's state another registry told, and whether a hello'd connection holds it there. */
export interface ToldPresence {
  /** The name's state there. */
  entry: PresenceEntry;
  /** False when the name is live there only through seed connections. */
  reachable: boolean;
}

/** `tuple` as a told state, or null when it is not a well-formed {@linkcode PresenceTuple}. */
export function presenceEntry(tuple: unknown): ToldPresence | null {
  if (!Array.isArray(tuple) || tuple.length < 2 || tuple.length > 4) return null;
  const [name, state, room, seedOnly] = tuple as unknown[];
  if (!isName(name) || typeof state !== "string" || !STATES.has(state)) return null;
  if (tuple.length === 2) {
    return { entry: { name, state: state as PresenceState }, reachable: true };
  }
  if (!isName(room) || (tuple.length === 4 && seedOnly !== 0)) return null;
  return { entry: { name, state: state as PresenceState, room }, reachable: tuple.length === 3 };
}

/** `entry` as a {@linkcode PresenceTuple}; `reachable`: a hello'd connection holds it here. */
export function presenceTuple(entry: PresenceEntry, reachable = true): PresenceTuple {
  if (entry.room === undefined) return [entry.name, entry.state];
  return reachable
    ? [entry.name, entry.state, entry.room]
    : [entry.name, entry.state, entry.room, 0];
}

/**
 * True when `event` (parsed from the channel) is a well-formed `presence`
 * or `presence-ask` event: an origin of 1–64 characters, at most
 * {@linkcode MAX_PRESENCE_USERS} users.
 */
export function isPresenceEvent(
  event: unknown,
): event is PeopleEvent & { kind: "presence" | "presence-ask" } {
  if (typeof event !== "object" || event === null) return false;
  const { kind, origin, first, users } = event as Record<string, unknown>;
  if (typeof origin !== "string" || origin === "" || origin.length > 64) return false;
  if (kind === "presence-ask") return true;
  return kind === "presence" && typeof first === "boolean" && Array.isArray(users) &&
    users.length <= MAX_PRESENCE_USERS;
}

/** `store`'s events when it is shared (`registry --store`), else null. */
export function peopleEvents(store: object): PeopleEvents | null {
  return "onPeopleEvent" in store ? store as PeopleEvents : null;
}

/**
 * True when `event` (parsed from the channel) is a well-formed `relay`:
 * names and rooms as the wire allows them, an accepted `dm-answer` with an
 * ip, a port and a 128-bit hex token.
 */
export function isRelayEvent(event: unknown): event is RelayEvent {
  if (typeof event !== "object" || event === null) return false;
  const { kind, origin, op, from, to, room, accept, ip, port, token } = event as Record<
    string,
    unknown
  >;
  if (kind !== "relay" || typeof origin !== "string" || origin === "" || origin.length > 64) {
    return false;
  }
  if (typeof op !== "string" || !RELAY_OPS.has(op) || !isName(from) || !isName(to)) return false;
  if ((op === "invite" || op === "invite-answer") && !isName(room)) return false;
  if ((op === "dm-answer" || op === "invite-answer") && typeof accept !== "boolean") return false;
  if (op !== "dm-answer" || accept !== true) return true;
  return typeof ip === "string" && ip !== "" && ip.length <= MAX_IP_BYTES &&
    Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535 &&
    typeof token === "string" && /^[0-9a-f]{32}$/.test(token);
}
