/**
 * What the registry's directory keeps across a restart (accounts, blocks,
 * mail for the offline), behind one small interface so that the request
 * handlers never know which store runs: {@linkcode SqlitePeopleStore}
 * (`registry/people_db.ts`, `node:sqlite`, one machine) today, a shared store
 * such as Redis later (issue 15).
 *
 * Every method returns a promise, because a networked store is asynchronous;
 * the SQLite store answers at once. Every method that checks and writes (a
 * name being free, a mailbox having room) does both atomically, so two
 * requests racing for the same name or the last mailbox slot cannot both win.
 *
 * @module
 */

/** A registered account. */
export interface AccountRecord {
  /** The user name (PROTOCOL.md §6 rules), unique. */
  readonly name: string;
  /** The encoded password hash (`registry/passwords.ts`), never the password. */
  readonly password: string;
  /** When it was registered, in ms since the epoch. */
  readonly createdAt: number;
}

/** `by` blocks `name`. */
export interface BlockRecord {
  /** The account that blocks. */
  readonly by: string;
  /** The name it blocks. */
  readonly name: string;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** A direct message kept for a registered user who was offline. */
export interface MailRecord {
  /** Unique and increasing within a store; the peer acknowledges by it. */
  readonly id: number;
  /** The recipient's account name. */
  readonly to: string;
  /** The sender's name. */
  readonly from: string;
  /** The text as sent. */
  readonly text: string;
  /** When it was stored, in ms since the epoch. */
  readonly at: number;
}

/** A mail to store: a {@linkcode MailRecord} before it has an id. */
export type NewMail = Omit<MailRecord, "id">;

/** The bounds of one recipient's mailbox. */
export interface MailboxLimits {
  /** Most messages kept for one recipient. */
  readonly maxMessages: number;
  /** Most UTF-8 bytes of text kept for one recipient, all messages together. */
  readonly maxBytes: number;
}

/** Why a mail was not stored: the recipient's mailbox is at its count or byte bound. */
export type MailRefusal = "mailbox-full";

/** The persistent part of the registry's directory; see the module doc. */
export interface PeopleStore {
  /** Stores a new account; false when the name is taken (nothing is changed then). */
  createAccount(account: AccountRecord): Promise<boolean>;
  /** The account named `name`, if registered. */
  account(name: string): Promise<AccountRecord | undefined>;
  /** Every registered name (loaded once at start; the directory keeps them in memory). */
  accountNames(): Promise<string[]>;
  /** Replaces an account's password hash (a rehash with more iterations); false when there is no such account. */
  setPassword(name: string, password: string): Promise<boolean>;
  /** Stores that `by` blocks `name`; false when it already did. */
  addBlock(block: BlockRecord): Promise<boolean>;
  /** Forgets that `by` blocks `name`; false when it did not. */
  removeBlock(by: string, name: string): Promise<boolean>;
  /** Every block (loaded once at start; the directory keeps them in memory). */
  blocks(): Promise<BlockRecord[]>;
  /** Stores `mail` if the recipient's mailbox stays within `limits`, and returns its id. */
  depositMail(mail: NewMail, limits: MailboxLimits): Promise<number | MailRefusal>;
  /** The mail kept for `to`, oldest first. */
  mailFor(to: string): Promise<MailRecord[]>;
  /** Deletes the mail of `to` with these ids (others' ids are ignored) and returns how many. */
  deleteMail(to: string, ids: readonly number[]): Promise<number>;
  /** Releases the store; further calls fail. */
  close(): void;
}
