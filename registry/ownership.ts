/**
 * Who may hold a room's member (issue 16, "Eviction"): a JOIN naming a member
 * (same name, ip and port) that another live connection holds is refused,
 * unless the joining connection proved the same key as the holder (then it is
 * the same member, come back on a new connection, and takes it over). A close
 * or a DEPART only ever removes the member of its own connection, so a twin's
 * JOIN-and-close cannot evict anybody.
 *
 * This replaces "the newest connection owns the membership" of PROTOCOL.md §5
 * for a live holder; the reference's crash case (a second connection's same
 * JOIN, then close) still holds: the second JOIN is refused, its close
 * removes nothing.
 *
 * @module
 */

/** The reply to a JOIN for a member another connection holds. */
export const JOIN_HELD: Uint8Array = new TextEncoder().encode(
  "F:JOIN message - Member held by another connection!!::\r\n",
);

/** What a JOIN of a listed member from a connection that does not hold it does. */
export type Claim = "refuse" | "take-over";

/**
 * The outcome of a JOIN for a member held by another connection whose proved
 * key is `holderKey`, from a connection whose proved key is `claimantKey`
 * (null: none proved).
 */
export function claim(holderKey: string | null, claimantKey: string | null): Claim {
  return holderKey !== null && holderKey === claimantKey ? "take-over" : "refuse";
}
