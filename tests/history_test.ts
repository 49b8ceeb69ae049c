import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  HISTORY_MIGRATIONS,
  HISTORY_SCHEMA_VERSION,
  type NewMessage,
  openHistory,
  type StoredMessage,
} from "../peer/history.ts";

const ALICE = "1419600254385803609";
const BOB = "7096407668745481807";
const decoder = new TextDecoder();

function message(originHid: string, msgId: bigint, text: string, extra: Partial<NewMessage> = {}) {
  const originName = originHid === ALICE ? "alice" : originHid === BOB ? "bob" : "carol";
  return { room: "room1", originHid, originName, msgId, content: text, ...extra };
}

function texts(messages: StoredMessage[]): string[] {
  return messages.map((m) => decoder.decode(m.content));
}

async function withDir(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ringchat-history-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("history: keeps every field, a msgID of 2^64 - 1 included", () => {
  using history = openHistory({ path: ":memory:", now: () => 5_000 });
  const max = (1n << 64n) - 1n;
  equal(history.add(message(ALICE, max, "a:b::\r\n", { at: 4_000, verified: true })), true);
  deepEqual(history.recent("room1", 10), [{
    room: "room1",
    originHid: ALICE,
    originName: "alice",
    msgId: max,
    content: new TextEncoder().encode("a:b::\r\n"),
    at: 4_000,
    verified: true,
  }]);
  deepEqual(history.lastSeen("room1"), new Map([[ALICE, max]]));
});

Deno.test("history: keeps the long text a message is a part of", () => {
  using history = openHistory({ path: ":memory:" });
  const group = { first: (1n << 64n) - 2n, count: 2, bytes: 1000, digest: (1n << 64n) - 1n };
  history.add(message(ALICE, group.first, "part one", { group }));
  history.add(message(ALICE, 5n, "alone"));
  const [alone, part] = history.recent("room1", 10); // in msgID order
  deepEqual(part!.group, group);
  equal(alone!.group, undefined);
  equal("group" in alone!, false);
});

Deno.test("history: refuses a msgID outside 0 to 2^64 - 1 and oversized fields", () => {
  using history = openHistory({ path: ":memory:" });
  equal(history.add(message(ALICE, 1n << 64n, "x")), false);
  equal(history.add(message(ALICE, -1n, "x")), false);
  equal(history.add(message(ALICE, 1n, "x", { room: "r".repeat(33) })), false);
  equal(history.add(message("h".repeat(65), 1n, "x")), false);
  equal(history.add(message(ALICE, 1n, "x".repeat(64 * 1024 + 1))), false);
  equal(history.size("room1").count, 0);
  equal(history.add(message(ALICE, 0n, "x".repeat(64 * 1024))), true);
});

Deno.test("history: adding the same message again changes nothing", () => {
  using history = openHistory({ path: ":memory:" });
  equal(history.add(message(ALICE, 1n, "hi")), true);
  equal(history.add(message(ALICE, 1n, "hi", { at: 1 })), false);
  // Same msgID, other text: a restarted seed client reusing msgIDs, kept apart.
  equal(history.add(message(ALICE, 1n, "hi again")), true);
  // Same msgID and text from another origin, or in another room: other messages.
  equal(history.add(message(BOB, 1n, "hi")), true);
  equal(history.add(message(ALICE, 1n, "hi", { room: "room2" })), true);
  deepEqual(texts(history.recent("room1", 10)), ["hi", "hi again", "hi"]);
  equal(history.size("room2").count, 1);
});

Deno.test("history: recent gives the last messages oldest first, each origin in msgID order", () => {
  using history = openHistory({ path: ":memory:" });
  history.add(message(ALICE, 1n, "a1"));
  history.add(message(BOB, 10n, "b10"));
  history.add(message(ALICE, 3n, "a3")); // overtook a2 on another path
  history.add(message(ALICE, 2n, "a2"));
  history.add(message(BOB, 11n, "b11"));
  deepEqual(texts(history.recent("room1", 10)), ["a1", "b10", "a2", "a3", "b11"]);
  deepEqual(texts(history.recent("room1", 2)), ["a2", "b11"]);
  deepEqual(history.recent("room1", 0), []);
  deepEqual(history.recent("nowhere", 5), []);
});

Deno.test("history: since gives what a member with that cursor missed, none twice when paged", () => {
  using history = openHistory({ path: ":memory:" });
  for (let i = 1n; i <= 5n; i++) {
    history.add(message(ALICE, i, `a${i}`));
    history.add(message(BOB, 100n + i, `b${100n + i}`));
  }
  history.add(message("carol-hid", 7n, "c7"));
  const cursor = new Map([[ALICE, 3n], [BOB, 105n]]);
  deepEqual(texts(history.since("room1", cursor)), ["a4", "a5", "c7"]);
  deepEqual(texts(history.since("room1", new Map())).length, 11);

  // Paging: ask for 3 at a time, advance the cursor to what came, ask again.
  const paged: string[] = [];
  const moving = new Map<string, bigint>([[ALICE, 1n]]);
  for (let round = 0; round < 10; round++) {
    const page = history.since("room1", moving, 3);
    if (page.length === 0) break;
    for (const m of page) {
      paged.push(decoder.decode(m.content));
      const seen = moving.get(m.originHid);
      if (seen === undefined || m.msgId > seen) moving.set(m.originHid, m.msgId);
    }
  }
  deepEqual(paged.sort(), ["a2", "a3", "a4", "a5", "b101", "b102", "b103", "b104", "b105", "c7"]);
});

Deno.test("history: paging by cursor loses nothing when a message overtook an older one", () => {
  using history = openHistory({ path: ":memory:" });
  history.add(message(ALICE, 5n, "a5"));
  history.add(message(BOB, 1n, "b1"));
  history.add(message(ALICE, 4n, "a4"));
  const first = history.since("room1", new Map(), 1);
  deepEqual(texts(first), ["a4"], "the lowest msgID of the origin comes first");
  const rest = history.since("room1", new Map([[ALICE, 4n]]), 10);
  deepEqual(texts(rest), ["a5", "b1"]);
});

Deno.test("history: keeps at most maxMessages and maxBytes per room, the newest", () => {
  using history = openHistory({ path: ":memory:", maxMessages: 3, maxBytes: 1_000 });
  for (let i = 1n; i <= 10n; i++) history.add(message(ALICE, i, `m${i}`));
  deepEqual(texts(history.recent("room1", 10)), ["m8", "m9", "m10"]);
  history.add(message(BOB, 1n, "x".repeat(600)));
  history.add(message(BOB, 2n, "y".repeat(600)));
  deepEqual(texts(history.recent("room1", 10)).map((t) => t.slice(0, 1)), ["y"]);
  equal(history.size("room1").bytes, 600);
  equal(history.add(message(BOB, 3n, "z".repeat(1_001))), false, "larger than the byte bound");
});

Deno.test("history: drops messages older than maxAgeMs, by their earlier time", () => {
  let now = 1_000_000;
  using history = openHistory({ path: ":memory:", maxAgeMs: 10_000, now: () => now });
  history.add(message(ALICE, 1n, "old"));
  history.add(message(ALICE, 2n, "said long ago, arrived now", { at: now - 9_000 }));
  equal(history.add(message(ALICE, 3n, "too old", { at: now - 10_001 })), false);
  now += 5_000;
  history.add(message(BOB, 1n, "new"));
  deepEqual(texts(history.recent("room1", 10)), ["old", "new"]);
  now += 6_000;
  history.add(message(BOB, 2n, "newer"));
  deepEqual(texts(history.recent("room1", 10)), ["new", "newer"]);
});

Deno.test("history: keeps at most maxRooms rooms, dropping the least recently written", () => {
  using history = openHistory({ path: ":memory:", maxRooms: 2 });
  history.add(message(ALICE, 1n, "1", { room: "one" }));
  history.add(message(ALICE, 2n, "2", { room: "two" }));
  history.add(message(ALICE, 3n, "1 again", { room: "one" }));
  history.add(message(ALICE, 4n, "3", { room: "three" }));
  equal(history.size("two").count, 0);
  equal(history.size("one").count, 2);
  equal(history.size("three").count, 1);
});

Deno.test("history: stays bounded through 20,000 adds from many forged origins", async () => {
  await withDir((dir) => {
    const path = `${dir}/history.db`;
    let now = 0;
    using history = openHistory({
      path,
      maxMessages: 100,
      maxBytes: 20_000,
      maxRooms: 3,
      maxAgeMs: 1_000_000,
      now: () => now,
    });
    let sizeAfter5000 = 0;
    for (let i = 0; i < 20_000; i++) {
      now++;
      history.add({
        room: `room${i % 5}`,
        originHid: `forged${i}`,
        originName: "mallory",
        msgId: BigInt(i),
        content: "x".repeat(i % 400),
      });
      if (i === 5_000) sizeAfter5000 = Deno.statSync(path).size;
      for (let r = 0; r < 5; r++) {
        const { count, bytes } = history.size(`room${r}`);
        if (count > 100 || bytes > 20_000) throw new Error(`room${r}: ${count}, ${bytes}`);
      }
    }
    const rooms = [0, 1, 2, 3, 4].filter((r) => history.size(`room${r}`).count > 0);
    equal(rooms.length, 3);
    ok(Deno.statSync(path).size <= Math.max(sizeAfter5000 * 2, 256 * 1024), "the file stays small");
  });
});

Deno.test("history: survives a close and a reopen of the same file", async () => {
  await withDir((dir) => {
    const path = `${dir}/history.db`;
    {
      using history = openHistory({ path });
      history.add(message(ALICE, 1n, "before"));
      history.add(message(BOB, 9n, "the restart"));
    }
    using history = openHistory({ path });
    deepEqual(texts(history.recent("room1", 10)), ["before", "the restart"]);
    deepEqual(history.lastSeen("room1"), new Map([[ALICE, 1n], [BOB, 9n]]));
    equal(history.add(message(ALICE, 1n, "before")), false, "still known after the reopen");
    equal(history.add(message(ALICE, 2n, "after")), true);
  });
});

Deno.test("history: migrates an empty file and records the schema version", async () => {
  await withDir((dir) => {
    const path = `${dir}/empty.db`;
    Deno.writeFileSync(path, new Uint8Array());
    openHistory({ path }).close();
    const db = new DatabaseSync(path);
    try {
      const row = db.prepare("SELECT version FROM schema_version").all();
      deepEqual(row.map((r) => r.version), [HISTORY_SCHEMA_VERSION]);
    } finally {
      db.close();
    }
    // Opening again does not migrate twice (the CREATE TABLE would throw).
    using history = openHistory({ path });
    equal(history.add(message(ALICE, 1n, "hi")), true);
  });
});

Deno.test("history: migrates a version 1 file, counting the rooms it holds", async () => {
  await withDir((dir) => {
    const path = `${dir}/v1.db`;
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    db.exec(HISTORY_MIGRATIONS[0]!);
    db.exec("INSERT INTO schema_version VALUES (1)");
    const insert = db.prepare(
      `INSERT INTO messages (room, origin, origin_name, msg_id, digest, content, at, born, verified)
       VALUES (?, ?, 'alice', ?, '0', ?, ?, ?, 0)`,
    );
    const now = Date.now();
    for (let i = 1; i <= 5; i++) {
      insert.run("room1", ALICE, String(i).padStart(20, "0"), new Uint8Array(10), now, now);
    }
    db.close();
    using history = openHistory({ path, maxMessages: 4 });
    deepEqual(history.size("room1"), { count: 5, bytes: 50 });
    deepEqual(history.lastSeen("room1"), new Map([[ALICE, 5n]]));
    equal(history.add(message(ALICE, 6n, "after the migration")), true);
    equal(history.size("room1").count, 4, "the bounds hold from the first add");
    deepEqual(history.recent("room1", 4).map((m) => m.msgId), [3n, 4n, 5n, 6n]);
  });
});

Deno.test("history: refuses a file of a newer schema and a file that is not a database", async () => {
  await withDir((dir) => {
    const newer = `${dir}/newer.db`;
    const db = new DatabaseSync(newer);
    db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    db.exec(`INSERT INTO schema_version VALUES (${HISTORY_SCHEMA_VERSION + 1})`);
    db.close();
    throws(() => openHistory({ path: newer }), /newer than this ringchat's/);
    const junk = `${dir}/junk.db`;
    Deno.writeTextFileSync(junk, "this is not a database, it is a text file ".repeat(100));
    throws(() => openHistory({ path: junk }));
  });
});

Deno.test("history: refuses bad bounds and use after close", () => {
  throws(() => openHistory({ path: ":memory:", maxMessages: 0 }), RangeError);
  throws(() => openHistory({ path: ":memory:", maxAgeMs: 1.5 }), RangeError);
  const history = openHistory({ path: ":memory:" });
  history.close();
  history.close();
  throws(() => history.recent("room1", 1), TypeError);
});

Deno.test("history: storedAt finds a message by room, origin, msgID and digest", () => {
  using history = openHistory({ path: ":memory:", now: () => 5000 });
  const bytes = new TextEncoder().encode("hi");
  history.add({
    room: "r",
    originHid: "1",
    originName: "alice",
    msgId: 7n,
    content: bytes,
    at: 4000,
  });
  equal(history.storedAt("r", "1", "alice", 7n, bytes), 4000);
  equal(history.storedAt("r", "1", "alice", 7n, new TextEncoder().encode("ho")), null);
  equal(history.storedAt("r", "1", "mallory", 7n, bytes), null);
  equal(history.storedAt("r", "2", "alice", 7n, bytes), null);
  equal(history.storedAt("q", "1", "alice", 7n, bytes), null);
  equal(history.storedAt("r", "1", "alice", 1n << 64n, bytes), null);
});

Deno.test("history: addAll stores in one transaction what add would, duplicates and bounds alike", () => {
  using history = openHistory({ path: ":memory:", maxMessages: 2 });
  const m = (msgId: bigint, content: string) => ({
    room: "r",
    originHid: "1",
    originName: "alice",
    msgId,
    content,
  });
  deepEqual(history.addAll([m(1n, "a"), m(1n, "a"), m(2n, "b"), m(3n, "c"), m(1n << 64n, "d")]), [
    true,
    false,
    true,
    true,
    false,
  ]);
  deepEqual(history.recent("r", 10).map((s) => s.msgId), [2n, 3n]);
  deepEqual(history.addAll([]), []);
});
