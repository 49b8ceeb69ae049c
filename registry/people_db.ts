/**
 * The embedded {@linkcode PeopleStore}: one SQLite file (`node:sqlite`, built
 * into Deno, nothing to install), or `":memory:"` for tests.
 *
 * The schema has a version (table `schema_version`, one row) and a list of
 * {@linkcode MIGRATIONS}; opening a file brings it up to the latest version
 * in one transaction, and refuses a file written by a newer ringchat (a
 * version it does not know) instead of guessing. A file is opened in WAL mode
 * with `synchronous=NORMAL`: a committed write survives the process being
 * killed (SIGKILL), which is the crash the registry must ride out; only a
 * power loss may lose the last commits.
 *
 * Needs `--allow-read` and `--allow-write` for the file (none for `:memory:`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SqlitePeopleStore } from "./people_db.ts";
 * using store = SqlitePeopleStore.open(":memory:");
 * assert.equal(await store.createAccount({ name: "bob", password: "x", createdAt: 0 }), true);
 * assert.equal(await store.createAccount({ name: "bob", password: "y", createdAt: 1 }), false);
 * ```
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type {
  AccountRecord,
  BlockRecord,
  MailboxLimits,
  MailRecord,
  MailRefusal,
  NewMail,
  PeopleStore,
} from "./people_store.ts";

const encoder = new TextEncoder();

/** Runs `work` now and returns its result or its error as a promise, as an asynchronous store would. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The schema, one entry per version: entry `i` takes a file from version `i`
 * to `i + 1`. Never edit an entry that has shipped; add one.
 */
export const MIGRATIONS: readonly string[] = Object.freeze([
  // 1: accounts.
  `CREATE TABLE accounts (
     name TEXT PRIMARY KEY NOT NULL,
     password TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;`,
  // 2: blocks and mail for the offline.
  `CREATE TABLE blocks (
     by_name TEXT NOT NULL,
     name TEXT NOT NULL,
     at INTEGER NOT NULL,
     PRIMARY KEY (by_name, name)
   ) STRICT;
   CREATE TABLE mail (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     to_name TEXT NOT NULL,
     from_name TEXT NOT NULL,
     text TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX mail_to ON mail (to_name, id);`,
]);

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** Options of {@linkcode SqlitePeopleStore.open}. */
export interface SqlitePeopleStoreOptions {
  /**
   * The migrations to apply (tests pass a prefix to write an older file).
   * Default {@linkcode MIGRATIONS}.
   */
  migrations?: readonly string[];
}

/** The version of the schema in `db`, 0 for a new file. */
function schemaVersion(db: DatabaseSync): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT");
  const row = db.prepare("SELECT version FROM schema_version").get() as
    | { version: number }
    | undefined;
  return row?.version ?? 0;
}

function migrate(db: DatabaseSync, migrations: readonly string[]): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const from = schemaVersion(db);
    if (from > migrations.length) {
      throw new RangeError(
        `People database has schema version ${from}, newer than ${migrations.length}: ` +
          "written by a newer ringchat",
      );
    }
    for (let v = from; v < migrations.length; v++) db.exec(migrations[v]!);
    db.exec("DELETE FROM schema_version");
    db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(migrations.length);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/** The SQLite {@linkcode PeopleStore}; see the module doc. */
export class SqlitePeopleStore implements PeopleStore, Disposable {
  readonly #db: DatabaseSync;
  readonly #version: number;

  private constructor(db: DatabaseSync, version: number) {
    this.#db = db;
    this.#version = version;
  }

  /**
   * Opens (creating it if needed) the database at `path` and migrates it to
   * the latest schema.
   *
   * @throws {RangeError} when the file's schema is newer than this code knows
   */
  static open(path: string, options: SqlitePeopleStoreOptions = {}): SqlitePeopleStore {
    const migrations = options.migrations ?? MIGRATIONS;
    const db = new DatabaseSync(path);
    try {
      if (path !== ":memory:") {
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
      }
      db.exec("PRAGMA busy_timeout = 5000");
      migrate(db, migrations);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqlitePeopleStore(db, migrations.length);
  }

  /** The schema version of the open file. */
  get version(): number {
    return this.#version;
  }

  createAccount(account: AccountRecord): Promise<boolean> {
    return settle(() =>
      this.#db.prepare(
        "INSERT OR IGNORE INTO accounts (name, password, created_at) VALUES (?, ?, ?)",
      ).run(account.name, account.password, account.createdAt).changes === 1
    );
  }

  account(name: string): Promise<AccountRecord | undefined> {
    return settle(() => {
      const row = this.#db.prepare(
        "SELECT name, password, created_at AS createdAt FROM accounts WHERE name = ?",
      ).get(name) as AccountRecord | undefined;
      return row === undefined ? undefined : { ...row };
    });
  }

  accountNames(): Promise<string[]> {
    return settle(() =>
      (this.#db.prepare("SELECT name FROM accounts ORDER BY name").all() as { name: string }[])
        .map((r) => r.name)
    );
  }

  setPassword(name: string, password: string): Promise<boolean> {
    return settle(() =>
      this.#db.prepare("UPDATE accounts SET password = ? WHERE name = ?").run(password, name)
        .changes === 1
    );
  }

  addBlock(block: BlockRecord): Promise<boolean> {
    return settle(() =>
      this.#db.prepare("INSERT OR IGNORE INTO blocks (by_name, name, at) VALUES (?, ?, ?)")
        .run(block.by, block.name, block.at).changes === 1
    );
  }

  removeBlock(by: string, name: string): Promise<boolean> {
    return settle(() =>
      this.#db.prepare("DELETE FROM blocks WHERE by_name = ? AND name = ?").run(by, name)
        .changes === 1
    );
  }

  blocks(): Promise<BlockRecord[]> {
    return settle(() =>
      (this.#db.prepare("SELECT by_name AS by, name, at FROM blocks ORDER BY at")
        .all() as unknown as BlockRecord[])
        .map((r) => ({ ...r }))
    );
  }

  depositMail(mail: NewMail, limits: MailboxLimits): Promise<number | MailRefusal> {
    return settle(() => {
      const bytes = encoder.encode(mail.text).length;
      const db = this.#db;
      db.exec("BEGIN IMMEDIATE");
      try {
        const held = db.prepare(
          "SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM mail WHERE to_name = ?",
        ).get(mail.to) as { n: number; b: number };
        if (held.n + 1 > limits.maxMessages || held.b + bytes > limits.maxBytes) {
          db.exec("ROLLBACK");
          return "mailbox-full";
        }
        const { lastInsertRowid } = db.prepare(
          "INSERT INTO mail (to_name, from_name, text, bytes, at) VALUES (?, ?, ?, ?, ?)",
        ).run(mail.to, mail.from, mail.text, bytes, mail.at);
        db.exec("COMMIT");
        return Number(lastInsertRowid);
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  mailFor(to: string): Promise<MailRecord[]> {
    return settle(() =>
      (this.#db.prepare(
        "SELECT id, to_name AS 'to', from_name AS 'from', text, at FROM mail WHERE to_name = ? ORDER BY id",
      ).all(to) as unknown as MailRecord[]).map((r) => ({ ...r }))
    );
  }

  deleteMail(to: string, ids: readonly number[]): Promise<number> {
    return settle(() => {
      if (ids.length === 0) return 0;
      const params: SQLInputValue[] = [to, ...ids];
      return Number(
        this.#db.prepare(
          `DELETE FROM mail WHERE to_name = ? AND id IN (${ids.map(() => "?").join(", ")})`,
        ).run(...params).changes,
      );
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
