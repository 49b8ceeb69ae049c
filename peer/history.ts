/**
 * A room's recent messages, kept in an embedded SQLite database (`node:sqlite`,
 * built into Deno) so a peer can show them (`/history`), answer a member that
 * asks what it missed, and ask for what it missed itself after a restart.
 *
 * The store is bounded whatever others send: per room by message count
 * (default 1,000) and content bytes (default 4 MiB), by age (default 24 h,
 * counted from the earlier of the message's time and its arrival, so a
 * message re-shared by other peers does not live longer), and by the number
 * of rooms kept (default 16, the least recently written room goes first).
 * Every {@linkcode History.add} prunes in the same transaction.
 *
 * A message is the same message when room, origin, msgID and digest (the
 * {@linkcode sdbmHash} of `originName + "\n" + content`, as the flood's
 * dedup window computes it) agree: adding it again changes nothing. So a
 * restarted seed client that reuses msgIDs with other text is kept apart.
 *
 * msgIDs are unsigned 64-bit: SQLite's INTEGER is signed, so they are stored
 * as 20-digit zero-padded decimal TEXT, whose order is their numeric order.
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { openHistory } from "./history.ts";
 * using history = openHistory({ path: ":memory:" });
 * history.add({ room: "room1", originHid: "1", originName: "alice", msgId: 7n, content: "hi" });
 * equal(history.recent("room1", 50).length, 1);
 * deepEqual(history.lastSeen("room1"), new Map([["1", 7n]]));
 * ```
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { getLogger } from "@logtape/logtape";
import { MAX_NAME_BYTES, MAX_TEXT_BYTES } from "../lib/limits.ts";
import { sdbmHash } from "../lib/sdbm.ts";
import type { PartsGroup } from "./long_text.ts";
import { inOriginOrder } from "./origin_order.ts";

export { inOriginOrder };

const logger = getLogger(["ringchat", "peer", "history"]);
const encoder = new TextEncoder();

/** A message as {@linkcode History.add} takes it. */
export interface NewMessage {
  /** The room (the peer keeps it under its wire name: a private room's derived one). */
  room: string;
  /** The origin's HashID, decimal (or whatever a liberal client sent there). */
  originHid: string;
  /** The origin's user name. */
  originName: string;
  /** The origin's msgID, 0 to 2^64 − 1. */
  msgId: bigint;
  /** The text: UTF-8 bytes, or a string stored as its UTF-8 bytes. */
  content: Uint8Array | string;
  /** When it was said or first received, in ms since the epoch (default: now). */
  at?: number;
  /** Whether the origin was verified (default false). */
  verified?: boolean;
  /** The origin's Ed25519 signature of the text, when it verified (answers pass it on). */
  sig?: Uint8Array;
  /** The long text this message is a part of, when a `parts` op announced it. */
  group?: PartsGroup;
}

/** A message as the history returns it. */
export interface StoredMessage {
  room: string;
  originHid: string;
  originName: string;
  msgId: bigint;
  /** The text's UTF-8 bytes. */
  content: Uint8Array;
  /** When it was said or first received, in ms since the epoch. */
  at: number;
  verified: boolean;
  /** The origin's signature of the text, when kept. */
  sig?: Uint8Array;
  /** The long text this message is a part of, if known. */
  group?: PartsGroup;
}

/** Options of {@linkcode openHistory}. */
export interface HistoryOptions {
  /** The database file, or `":memory:"` to keep nothing on disk. */
  path: string;
  /** Messages kept per room. @default {1000} */
  maxMessages?: number;
  /** How long a message is kept, in ms. @default {86400000} (24 h) */
  maxAgeMs?: number;
  /** Content bytes kept per room. @default {4194304} (4 MiB) */
  maxBytes?: number;
  /** Rooms kept; the least recently written is dropped first. @default {16} */
  maxRooms?: number;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

/** The schema version this code writes; {@linkcode openHistory} migrates older files to it. */
export const HISTORY_SCHEMA_VERSION = 3;

/**
 * The schema's migrations: entry `i` takes a database from version `i` to
 * `i + 1`. A new version appends one and never edits an old one. Version 1:
 * the messages. Version 2: per-room counts kept by triggers, so that pruning
 * costs no scan of the room. Version 3: the origin's signature of each text, so
 * a catch-up answer can be verified by its requester.
 */
export const HISTORY_MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     room TEXT NOT NULL,
     origin TEXT NOT NULL,
     origin_name TEXT NOT NULL,
     msg_id TEXT NOT NULL,
     digest TEXT NOT NULL,
     content BLOB NOT NULL,
     at INTEGER NOT NULL,
     born INTEGER NOT NULL,
     verified INTEGER NOT NULL,
     part_of TEXT,
     UNIQUE (room, origin, msg_id, digest)
   );
   CREATE INDEX messages_room_seq ON messages (room, seq);
   CREATE INDEX messages_born ON messages (born);`,
  `CREATE TABLE rooms (
     room TEXT PRIMARY KEY,
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     last_seq INTEGER NOT NULL
   );
   INSERT INTO rooms (room, count, bytes, last_seq)
     SELECT room, COUNT(*), SUM(length(content)), MAX(seq) FROM messages GROUP BY room;
   CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN
     INSERT INTO rooms (room, count, bytes, last_seq)
       VALUES (NEW.room, 1, length(NEW.content), NEW.seq)
       ON CONFLICT (room) DO UPDATE SET
         count = count + 1, bytes = bytes + length(NEW.content), last_seq = NEW.seq;
   END;
   CREATE TRIGGER messages_uncounted AFTER DELETE ON messages BEGIN
     UPDATE rooms SET count = count - 1, bytes = bytes - length(OLD.content)
       WHERE room = OLD.room;
     DELETE FROM rooms WHERE room = OLD.room AND count <= 0;
   END;`,
  `ALTER TABLE messages ADD COLUMN sig BLOB;`,
];

const MSG_ID_DIGITS = 20;
const MAX_MSG_ID = (1n << 64n) - 1n;
/** Longest originHID field kept: a HashID is at most 20 digits, liberal clients send a name. */
const MAX_ORIGIN_BYTES = 64;

/** Opens (creating and migrating as needed) a history database; see the module doc. */
export function openHistory(options: HistoryOptions): History {
  return new History(options);
}

/** A bounded store of recent room messages; open one with {@linkcode openHistory}. */
export class History {
  readonly #db: DatabaseSync;
  readonly #maxMessages: number;
  readonly #maxAgeMs: number;
  readonly #maxBytes: number;
  readonly #maxRooms: number;
  readonly #now: () => number;
  readonly #insert: StatementSync;
  readonly #hasRoom: StatementSync;
  readonly #pruneAge: StatementSync;
  readonly #pruneCount: StatementSync;
  readonly #pruneBytes: StatementSync;
  readonly #pruneRooms: StatementSync;
  readonly #recent: StatementSync;
  readonly #all: StatementSync;
  readonly #lastSeen: StatementSync;
  readonly #stats: StatementSync;
  readonly #find: StatementSync;
  #open = true;

  /** Opens the database at `options.path`; prefer {@linkcode openHistory}. */
  constructor(options: HistoryOptions) {
    this.#maxMessages = options.maxMessages ?? 1000;
    this.#maxAgeMs = options.maxAgeMs ?? 24 * 60 * 60_000;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.#maxRooms = options.maxRooms ?? 16;
    this.#now = options.now ?? Date.now;
    for (
      const [key, value] of Object.entries({
        maxMessages: this.#maxMessages,
        maxAgeMs: this.#maxAgeMs,
        maxBytes: this.#maxBytes,
        maxRooms: this.#maxRooms,
      })
    ) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`History option ${key} must be a positive integer, got ${value}`);
      }
    }
    this.#db = new DatabaseSync(options.path);
    try {
      if (options.path !== ":memory:") {
        this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      }
      migrate(this.#db, options.path);
      const columns = "room, origin, origin_name, msg_id, content, at, verified, part_of, sig";
      this.#insert = this.#db.prepare(
        `INSERT OR IGNORE INTO messages
           (room, origin, origin_name, msg_id, digest, content, at, born, verified, part_of, sig)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      this.#hasRoom = this.#db.prepare("SELECT 1 FROM rooms WHERE room = ?");
      this.#pruneAge = this.#db.prepare("DELETE FROM messages WHERE born < ?");
      // The oldest messages of a room beyond its count bound.
      this.#pruneCount = this.#db.prepare(
        `DELETE FROM messages WHERE seq IN (
           SELECT seq FROM messages WHERE room = ?1 ORDER BY seq
           LIMIT MAX(0, (SELECT count FROM rooms WHERE room = ?1) - ?2))`,
      );
      // The oldest message of a room over its byte bound (one at a time: usually none or one).
      this.#pruneBytes = this.#db.prepare(
        `DELETE FROM messages WHERE seq = (
           SELECT seq FROM messages WHERE room = ?1 ORDER BY seq LIMIT 1)
         AND (SELECT bytes FROM rooms WHERE room = ?1) > ?2`,
      );
      this.#pruneRooms = this.#db.prepare(
        `DELETE FROM messages WHERE room IN (
           SELECT room FROM rooms ORDER BY last_seq DESC LIMIT -1 OFFSET ?)`,
      );
      this.#recent = this.#db.prepare(
        `SELECT ${columns} FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?`,
      );
      this.#all = this.#db.prepare(`SELECT ${columns} FROM messages WHERE room = ? ORDER BY seq`);
      this.#lastSeen = this.#db.prepare(
        "SELECT origin, MAX(msg_id) AS msg_id FROM messages WHERE room = ? GROUP BY origin",
      );
      this.#stats = this.#db.prepare("SELECT count, bytes FROM rooms WHERE room = ?");
      this.#find = this.#db.prepare(
        "SELECT at FROM messages WHERE room = ? AND origin = ? AND msg_id = ? AND digest = ?",
      );
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /**
   * Stores a message unless the same one (room, origin, msgID, digest) is
   * stored already, then prunes the store to its bounds. Returns true when
   * the message was stored now; false for a duplicate, and for a message the
   * store does not take (msgID outside 0 to 2^64 − 1, room or name longer
   * than 32 bytes, origin longer than 64, content over 64 KiB or over the
   * room's byte bound, or older than the age bound).
   */
  add(message: NewMessage): boolean {
    this.#checkOpen();
    return this.#transaction(() => this.#add(message));
  }

  /**
   * {@linkcode History.add} for each of `messages`, in order, in one
   * transaction (a catch-up answer's frame: one write of the file, not one
   * per message). Returns what `add` would have returned for each.
   */
  addAll(messages: readonly NewMessage[]): boolean[] {
    this.#checkOpen();
    if (messages.length === 0) return [];
    return this.#transaction(() => messages.map((message) => this.#add(message)));
  }

  #add(message: NewMessage): boolean {
    const content = typeof message.content === "string"
      ? encoder.encode(message.content)
      : message.content;
    const now = this.#now();
    const at = message.at ?? now;
    const born = Math.min(at, now);
    if (
      message.msgId < 0n || message.msgId > MAX_MSG_ID ||
      byteLength(message.room) > MAX_NAME_BYTES ||
      byteLength(message.originName) > MAX_NAME_BYTES ||
      byteLength(message.originHid) > MAX_ORIGIN_BYTES ||
      content.length > Math.min(MAX_TEXT_BYTES, this.#maxBytes) ||
      !Number.isSafeInteger(at) || born < now - this.#maxAgeMs
    ) {
      logger.debug("Not stored: outside the history's bounds: {originHid} {msgId}", {
        originHid: message.originHid,
        msgId: message.msgId,
      });
      return false;
    }
    const digest = messageDigest(message.originName, content);
    const newRoom = this.#hasRoom.get(message.room) === undefined;
    const { changes } = this.#insert.run(
      message.room,
      message.originHid,
      message.originName,
      message.msgId.toString().padStart(MSG_ID_DIGITS, "0"),
      digest.toString(),
      content,
      at,
      born,
      message.verified ? 1 : 0,
      message.group === undefined ? null : encodeGroup(message.group),
      message.sig ?? null,
    );
    if (changes === 0) return false;
    this.#pruneAge.run(now - this.#maxAgeMs);
    this.#pruneCount.run(message.room, this.#maxMessages);
    while (this.#pruneBytes.run(message.room, this.#maxBytes).changes > 0) {
      // One more of the oldest gone; the added message alone fits the bound.
    }
    if (newRoom) this.#pruneRooms.run(this.#maxRooms);
    return true;
  }

  /**
   * The last `count` messages of a room, oldest first: in arrival order,
   * except that each origin's messages are in msgID order (a message that
   * overtook an older one of the same origin goes back to its place).
   */
  recent(room: string, count: number): StoredMessage[] {
    this.#checkOpen();
    if (count <= 0) return [];
    const rows = this.#recent.all(room, Math.floor(count)).reverse();
    return inOriginOrder(rows.map(toMessage), (m) => m.msgId);
  }

  /**
   * What a member missed that last saw, from each origin, the msgID in
   * `cursor`: every message of an origin in the cursor with a higher msgID,
   * and every message of an origin not in it. Ordered as
   * {@linkcode History.recent}; at most `limit` (the first ones), so that a
   * member that advances its cursor to what it got and asks again gets the
   * rest, none twice.
   */
  since(room: string, cursor: ReadonlyMap<string, bigint>, limit = Infinity): StoredMessage[] {
    this.#checkOpen();
    const missed = this.#all.all(room).map(toMessage).filter((m) => {
      const seen = cursor.get(m.originHid);
      return seen === undefined || m.msgId > seen;
    });
    return inOriginOrder(missed, (m) => m.msgId).slice(0, Math.max(0, limit));
  }

  /** The highest msgID stored per origin of a room: what to ask after since a restart. */
  lastSeen(room: string): Map<string, bigint> {
    this.#checkOpen();
    const seen = new Map<string, bigint>();
    for (const row of this.#lastSeen.all(room)) {
      seen.set(String(row.origin), BigInt(String(row.msg_id)));
    }
    return seen;
  }

  /**
   * When the same message (room, origin, msgID, digest) was stored, in ms
   * since the epoch; null when it is not stored.
   */
  storedAt(
    room: string,
    originHid: string,
    originName: string,
    msgId: bigint,
    content: Uint8Array,
  ): number | null {
    this.#checkOpen();
    if (msgId < 0n || msgId > MAX_MSG_ID) return null;
    const row = this.#find.get(
      room,
      originHid,
      msgId.toString().padStart(MSG_ID_DIGITS, "0"),
      messageDigest(originName, content).toString(),
    );
    return row === undefined ? null : Number(row.at);
  }

  /** How many messages and content bytes a room holds now. */
  size(room: string): { count: number; bytes: number } {
    this.#checkOpen();
    const row = this.#stats.get(room);
    return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
  }

  /** Closes the database; further calls throw. Closing twice is harmless. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#db.close();
  }

  /** Closes the database. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (!this.#open) throw new TypeError("The history is closed");
  }

  #transaction<T>(body: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}

/**
 * The digest that tells two messages under one msgID apart: the sdbm hash of
 * `originName + "\n" + content`, as the flood's dedup window computes it.
 */
export function messageDigest(originName: string, content: Uint8Array): bigint {
  const name = encoder.encode(`${originName}\n`);
  const bytes = new Uint8Array(name.length + content.length);
  bytes.set(name);
  bytes.set(content, name.length);
  return sdbmHash(bytes);
}

/** Brings the database's schema to {@linkcode HISTORY_SCHEMA_VERSION}, one version at a time. */
function migrate(db: DatabaseSync, path: string): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT MAX(version) AS version FROM schema_version").get();
  let version = Number(row?.version ?? 0);
  if (version > HISTORY_MIGRATIONS.length) {
    throw new Error(
      `History database ${path} has schema version ${version}, newer than this ringchat's ${HISTORY_MIGRATIONS.length}`,
    );
  }
  while (version < HISTORY_MIGRATIONS.length) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(HISTORY_MIGRATIONS[version]!);
      db.prepare("DELETE FROM schema_version").run();
      db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(version + 1);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
    version++;
    logger.debug("History database {path} migrated to schema version {version}", {
      path,
      version,
    });
  }
}

function toMessage(row: Record<string, SQLInputValue>): StoredMessage {
  const message: StoredMessage = {
    room: String(row.room),
    originHid: String(row.origin),
    originName: String(row.origin_name),
    msgId: BigInt(String(row.msg_id)),
    content: row.content as Uint8Array,
    at: Number(row.at),
    verified: row.verified === 1,
  };
  if (typeof row.part_of === "string") message.group = decodeGroup(row.part_of);
  if (row.sig instanceof Uint8Array) message.sig = row.sig;
  return message;
}

/** A group as the `part_of` column holds it: `first:count:bytes:digest`, decimal. */
function encodeGroup(group: PartsGroup): string {
  return `${group.first}:${group.count}:${group.bytes}:${group.digest}`;
}

function decodeGroup(text: string): PartsGroup {
  const [first, count, bytes, digest] = text.split(":");
  return {
    first: BigInt(first!),
    count: Number(count),
    bytes: Number(bytes),
    digest: BigInt(digest!),
  };
}

function byteLength(text: string): number {
  return encoder.encode(text).length;
}
