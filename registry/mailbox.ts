/**
 * Mail for the offline: a direct message to a registered user who is offline
 * is kept in the {@linkcode PeopleStore} (so it survives a restart), bounded
 * per recipient by count and by bytes, delivered when the recipient logs in,
 * and deleted when the recipient's peer acknowledges it.
 *
 * Delivery is **at least once**: on every login the registry sends every
 * message not yet acknowledged; the peer acknowledges by id (`mail-ack`) and
 * only then is it deleted. If the connection drops between delivery and
 * acknowledgement, the next login delivers it again, with the same `id`
 * (ids are never reused: SQLite `AUTOINCREMENT`), so a peer that remembers
 * the ids it showed displays each message exactly once.
 *
 * Which messages go to the mailbox at all is {@linkcode routeDm}'s pure
 * decision.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mailbox } from "./mailbox.ts";
 * import { SqlitePeopleStore } from "./people_db.ts";
 * using store = SqlitePeopleStore.open(":memory:");
 * const mailbox = new Mailbox(store);
 * const stored = await mailbox.deposit({ to: "bob", from: "alice", text: "call me" }, Date.now());
 * assert.equal(stored.ok, true);
 * const mail = await mailbox.pending("bob");
 * assert.equal(await mailbox.ack("bob", mail.map((m) => m.id)), 1);
 * ```
 *
 * @module
 */

import { type BlockLookup, permits } from "./blocks.ts";
import type { MailRecord, PeopleStore } from "./people_store.ts";

const encoder = new TextEncoder();

/**
 * Longest text of one mail, in UTF-8 bytes. Mail travels to the registry in
 * an `X` frame, which a registry reads only up to 4 KiB
 * (`REGISTRY_MAX_FRAME_BYTES`), and its JSON is ASCII: a character above
 * U+007F is escaped as `\uXXXX` (two for one outside the BMP), so at worst
 * 3 JSON bytes per UTF-8 byte. 1,024 bytes of text is at most 3,072 bytes of
 * JSON, leaving room for the op's other fields. A longer DM goes peer to peer.
 */
export const MAIL_MAX_TEXT_BYTES = 1024;

/** Options of {@linkcode Mailbox}. */
export interface MailboxOptions {
  /**
   * Messages kept for one recipient.
   * @default {100}
   */
  maxMessages?: number;
  /**
   * UTF-8 bytes of text kept for one recipient, all messages together.
   * @default {65_536}
   */
  maxBytes?: number;
  /**
   * Longest text of one message, in UTF-8 bytes ({@linkcode MAIL_MAX_TEXT_BYTES}).
   * @default {1024}
   */
  maxTextBytes?: number;
}

/** What {@linkcode Mailbox.deposit} did: stored (the `dm-receipt` says `stored`), or why not. */
export type DepositResult =
  | { ok: true; id: number; at: number }
  | { ok: false; code: "mailbox-full" | "too-long" | "empty" };

/** Where a DM from `from` to `to` goes ({@linkcode routeDm}). */
export type DmRoute =
  /** `to` is online: peer to peer, after consent. */
  | { route: "direct" }
  /** `to` is registered and offline: into the mailbox. */
  | { route: "mailbox" }
  /** Refused: nobody by that name, or `to` blocks `from`. */
  | { route: "refused"; code: "unknown-user" | "blocked" };

/**
 * Where a DM goes: to an online name directly (the peers talk, the registry
 * never sees the text); to a registered offline name into the mailbox; to a
 * name that is neither, nowhere (`unknown-user`); never to someone who
 * blocks the sender (`blocked`).
 */
export function routeDm(
  from: string,
  to: string,
  people: {
    isRegistered(name: string): boolean;
    isOnline(name: string): boolean;
    blocks: BlockLookup;
  },
): DmRoute {
  const online = people.isOnline(to);
  if (!online && !people.isRegistered(to)) return { route: "refused", code: "unknown-user" };
  if (!permits(people.blocks, online ? "dm" : "mail", from, to)) {
    return { route: "refused", code: "blocked" };
  }
  return { route: online ? "direct" : "mailbox" };
}

/** The mailboxes of every registered user; see the module doc. */
export class Mailbox {
  readonly #store: PeopleStore;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #maxTextBytes: number;

  /**
   * Creates the mailboxes kept in `store`.
   *
   * @throws {RangeError} when a bound is below 1
   */
  constructor(store: PeopleStore, options: MailboxOptions = {}) {
    this.#store = store;
    this.#maxMessages = options.maxMessages ?? 100;
    this.#maxBytes = options.maxBytes ?? 64 * 1024;
    this.#maxTextBytes = options.maxTextBytes ?? MAIL_MAX_TEXT_BYTES;
    for (
      const [key, value] of [
        ["maxMessages", this.#maxMessages],
        ["maxBytes", this.#maxBytes],
        ["maxTextBytes", this.#maxTextBytes],
      ] as const
    ) {
      if (!(value >= 1)) throw new RangeError(`${key} must be at least 1, got ${value}`);
    }
  }

  /** Keeps `text` from `from` for `to` (the caller has checked {@linkcode routeDm}). */
  async deposit(
    mail: { to: string; from: string; text: string },
    now: number,
  ): Promise<DepositResult> {
    if (mail.text.length === 0) return { ok: false, code: "empty" };
    if (encoder.encode(mail.text).length > this.#maxTextBytes) {
      return { ok: false, code: "too-long" };
    }
    const id = await this.#store.depositMail({ ...mail, at: now }, {
      maxMessages: this.#maxMessages,
      maxBytes: this.#maxBytes,
    });
    return id === "mailbox-full" ? { ok: false, code: id } : { ok: true, id, at: now };
  }

  /** The mail waiting for `to`, oldest first, to deliver as `dm` events with `offline: true`. */
  pending(to: string): Promise<MailRecord[]> {
    return this.#store.mailFor(to);
  }

  /**
   * Deletes the mail of `to` that its peer acknowledged, and returns how many
   * were deleted. Ids that are not `to`'s waiting mail are ignored, as are
   * ids past the first `maxMessages` (no mailbox holds more).
   */
  ack(to: string, ids: readonly unknown[]): Promise<number> {
    const valid = ids.slice(0, this.#maxMessages).filter((id): id is number =>
      Number.isSafeInteger(id)
    );
    return this.#store.deleteMail(to, valid);
  }
}
