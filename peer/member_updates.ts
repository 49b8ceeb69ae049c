/**
 * What a peer does with the registry's word about its room's members: a new
 * `M` list (kept in the membership view, the dedup window told which origins
 * count and which to forget, links to members gone closed, the ring relinked
 * when the list changed) and a ringchat registry's `member-info` (who speaks
 * ringchat/2 with which key; links to members with a new key prove it).
 * Each list also tells who came and went (`room_life.ts`): `member-joined`,
 * `member-left` and `nick` events, with the reasons the list's member-info
 * gives. A `members-delta` (lib/members_delta.ts) is taken as the list it
 * makes, when it applies to mine.
 *
 * @module
 */

import type { MembersFrame } from "../lib/frames.ts";
import type { MembersDelta } from "../lib/members_delta.ts";
import type { PeerEvent } from "./events.ts";
import type { SeenWindow } from "./flood.ts";
import type { Membership } from "./membership.ts";
import type { Overlay, Place } from "./overlay.ts";
import type { RegistryMemberInfo } from "./registry_hello.ts";
import type { RoomLife } from "./room_life.ts";
import type { RingMember } from "../lib/ring.ts";

/** What {@linkcode MemberUpdates} works on. */
export interface MemberUpdatesHost {
  members: Membership;
  /** Who came and went. */
  life: RoomLife;
  seen: Pick<SeenWindow, "setMembers" | "changeMembers" | "forget">;
  overlay: Pick<Overlay, "dropAbsent" | "reauthenticate" | "relink" | "membersEvent">;
  /** My place in the ring while joined. */
  place(): Place | null;
  emit(event: PeerEvent): void;
  /** The time now (ms). */
  now?: () => number;
  /** Asks the registry for the full list (a held delta did not apply to the list I joined with). */
  refresh?: () => void;
}

/**
 * Deltas held at most while I am joining: they came after the list I join
 * with, before I took it.
 */
export const MAX_HELD_DELTAS = 16;

/** Takes member lists and member info; see the module doc. */
export class MemberUpdates {
  readonly #host: MemberUpdatesHost;
  readonly #now: () => number;
  /** Deltas that came while I was not (yet) joined, for {@linkcode start}. */
  #held: MembersDelta[] = [];

  constructor(host: MemberUpdatesHost) {
    this.#host = host;
    this.#now = host.now ?? Date.now;
  }

  /**
   * Takes a member list: its HashIDs and names are the origins whose
   * messages are shown (on every list: the window counts a member's absence
   * from them); forgets the messages of members gone for `keepaliveMs`.
   *
   * @returns true when the list differs from the last one
   */
  set(frame: MembersFrame): boolean {
    const { members, seen } = this.#host;
    const { changed, forget } = members.set(frame, this.#now());
    seen.setMembers(members.originKeys);
    for (const key of forget) seen.forget(key);
    return changed;
  }

  /**
   * Takes the list I joined with, as `me`: its members are not announced.
   * Then the deltas that came meanwhile (a registry pushes the changes after
   * that list at once); the full list is asked for when one does not apply.
   */
  start(frame: MembersFrame, me: RingMember): void {
    this.set(frame);
    this.#host.life.start(this.#host.members.members, me);
    const held = this.#held;
    this.#held = [];
    for (const delta of held) {
      if (delta.from === this.#host.members.msid.toString() && !this.onMembersDelta(delta)) {
        this.#host.refresh?.();
        return;
      }
    }
  }

  /** I left the room: forgets its members. */
  stop(): void {
    this.#held = [];
    this.#host.life.stop();
    this.#host.members.reset();
  }

  /** Emits the `members` event of the list I show; `asked` when it answers `/who`. */
  emitMembers(asked = false): void {
    const event = this.#host.overlay.membersEvent();
    this.#host.emit(asked ? { ...event, asked } : event);
  }

  /** Takes a list the registry sent while I am joined (ignored otherwise). */
  onMembers(frame: MembersFrame): void {
    const place = this.#host.place();
    if (place === null) return;
    this.#listed(place, this.set(frame));
  }

  /**
   * Takes a `members-delta` the registry pushed while I am joined (one for
   * another room is dropped; one while I am joining is held for
   * {@linkcode start}). False when it does not apply to my list
   * (`Membership.applyDelta`): the full list is to be asked for.
   */
  onMembersDelta(delta: MembersDelta): boolean {
    const place = this.#host.place();
    if (place === null) {
      if (this.#held.length < MAX_HELD_DELTAS) this.#held.push(delta);
      return true;
    }
    if (delta.room !== place.room) return true;
    const { members, seen } = this.#host;
    const update = members.applyDelta(delta, this.#now());
    if (update === null) return false;
    seen.changeMembers(update.originsAdded, update.originsRemoved);
    for (const key of update.forget) seen.forget(key);
    this.#listed(place, true, delta);
    return true;
  }

  /**
   * What follows a new list (`changed`: it differs from the last; `delta`:
   * the change that made it, when a delta did).
   */
  #listed(place: Place, changed: boolean, delta?: MembersDelta): void {
    const { members, life, emit, overlay } = this.#host;
    const now = this.#now();
    for (const event of life.update(members.members, members.leftNotices(), now, delta)) {
      emit(event);
    }
    overlay.dropAbsent(this.#now(), place.room);
    // Member info kept for this list applies now (the fingers: by the relink, if it changed).
    overlay.reauthenticate(!changed);
    if (!changed) return;
    this.emitMembers();
    overlay.relink();
  }

  /** Takes the registry's member info: who speaks ringchat/2, with which key. */
  onMemberInfo(info: RegistryMemberInfo): void {
    const place = this.#host.place();
    if (place !== null && info.room !== place.room) return;
    // A change for the list I show (a member proved its key) is shown; one for the next list
    // is shown with that list.
    if (this.#host.members.setInfo(info) && place !== null) this.emitMembers();
    // Links to members with a new key prove it (the info may apply with the next list).
    this.#host.overlay.reauthenticate();
  }
}
