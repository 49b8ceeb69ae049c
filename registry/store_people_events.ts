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
 * @module
 */

/** One change another registry made (or this one: see {@linkcode PeopleEvents.origin}). */
export type PeopleEvent =
  | { readonly kind: "account"; readonly name: string }
  | {
    readonly kind: "block";
    readonly by: string;
    readonly name: string;
    readonly blocked: boolean;
  }
  | { readonly kind: "login"; readonly name: string; readonly origin: string };

/** The events of a shared people store. */
export interface PeopleEvents {
  /** This registry's id in `login` events (its own logins come back with it). */
  readonly origin: string;
  /** Calls `listener` on every event, whichever registry caused it; returns its unsubscribe. */
  onPeopleEvent(listener: (event: PeopleEvent) => void): () => void;
  /** Tells every registry that `name` logged in here (older sessions elsewhere end). */
  loggedIn(name: string): Promise<void>;
}

/** `store`'s events when it is shared (`registry --store`), else null. */
export function peopleEvents(store: object): PeopleEvents | null {
  return "onPeopleEvent" in store ? store as PeopleEvents : null;
}
