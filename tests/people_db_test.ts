import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDbPath } from "./support/temp_db.ts";
import { MIGRATIONS, SCHEMA_VERSION, SqlitePeopleStore } from "../registry/people_db.ts";

const LIMITS = { maxMessages: 3, maxBytes: 10 };

Deno.test("people db: a name is registered once; a second createAccount changes nothing", async () => {
  using store = SqlitePeopleStore.open(":memory:");
  equal(await store.createAccount({ name: "bob", password: "h1", createdAt: 5 }), true);
  equal(await store.createAccount({ name: "bob", password: "h2", createdAt: 6 }), false);
  deepEqual(await store.account("bob"), { name: "bob", password: "h1", createdAt: 5 });
  equal(await store.account("Bob"), undefined);
  deepEqual(await store.accountNames(), ["bob"]);
  equal(await store.setPassword("bob", "h3"), true);
  equal(await store.setPassword("nobody", "h3"), false);
  equal((await store.account("bob"))?.password, "h3");
});

Deno.test("people db: blocks are added once and removed once", async () => {
  using store = SqlitePeopleStore.open(":memory:");
  equal(await store.addBlock({ by: "bob", name: "mallory", at: 1 }), true);
  equal(await store.addBlock({ by: "bob", name: "mallory", at: 2 }), false);
  equal(await store.addBlock({ by: "alice", name: "mallory", at: 3 }), true);
  deepEqual(await store.blocks(), [
    { by: "bob", name: "mallory", at: 1 },
    { by: "alice", name: "mallory", at: 3 },
  ]);
  equal(await store.removeBlock("bob", "mallory"), true);
  equal(await store.removeBlock("bob", "mallory"), false);
  deepEqual(await store.blocks(), [{ by: "alice", name: "mallory", at: 3 }]);
});

Deno.test("people db: a mailbox is bounded by count and by bytes, and deletes only its own mail", async () => {
  using store = SqlitePeopleStore.open(":memory:");
  const first = await store.depositMail({ to: "bob", from: "alice", text: "héllo", at: 1 }, LIMITS);
  equal(typeof first, "number");
  // "héllo" is 6 bytes; 5 more would be 11 > 10.
  equal(
    await store.depositMail({ to: "bob", from: "a", text: "12345", at: 2 }, LIMITS),
    "mailbox-full",
  );
  const second = await store.depositMail({ to: "bob", from: "carol", text: "hi", at: 3 }, LIMITS);
  const third = await store.depositMail({ to: "bob", from: "carol", text: "yo", at: 4 }, LIMITS);
  equal(
    await store.depositMail({ to: "bob", from: "carol", text: "", at: 5 }, LIMITS),
    "mailbox-full",
  );
  // Another recipient has its own bounds.
  const other = await store.depositMail({ to: "carol", from: "bob", text: "x", at: 6 }, LIMITS);
  deepEqual((await store.mailFor("bob")).map((m) => [m.id, m.from, m.text, m.at]), [
    [first, "alice", "héllo", 1],
    [second, "carol", "hi", 3],
    [third, "carol", "yo", 4],
  ]);
  equal(await store.deleteMail("bob", [first as number, other as number]), 1);
  equal((await store.mailFor("carol")).length, 1);
  equal((await store.mailFor("bob")).length, 2);
  equal(await store.deleteMail("bob", []), 0);
});

Deno.test("people db: a file keeps accounts, blocks and mail across a reopen", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  {
    using store = SqlitePeopleStore.open(path);
    await store.createAccount({ name: "bob", password: "h", createdAt: 1 });
    await store.addBlock({ by: "bob", name: "mallory", at: 2 });
    const limits = { maxMessages: 1, maxBytes: 100 };
    equal(
      typeof await store.depositMail(
        { to: "bob", from: "a", text: "while you were away", at: 3 },
        limits,
      ),
      "number",
    );
  }
  using store = SqlitePeopleStore.open(path);
  equal(store.version, SCHEMA_VERSION);
  deepEqual(await store.accountNames(), ["bob"]);
  deepEqual(await store.blocks(), [{ by: "bob", name: "mallory", at: 2 }]);
  deepEqual((await store.mailFor("bob")).map((m) => m.text), ["while you were away"]);
});

Deno.test("people db: a version-1 file (accounts only) is migrated and keeps its accounts", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  {
    using old = SqlitePeopleStore.open(path, { migrations: MIGRATIONS.slice(0, 1) });
    equal(old.version, 1);
    await old.createAccount({ name: "bob", password: "h", createdAt: 1 });
    // Version 1 has no mail table.
    await rejects(
      () => old.depositMail({ to: "bob", from: "a", text: "x", at: 1 }, LIMITS),
      /no such table: mail/,
    );
  }
  using store = SqlitePeopleStore.open(path);
  equal(store.version, SCHEMA_VERSION);
  deepEqual(await store.account("bob"), { name: "bob", password: "h", createdAt: 1 });
  equal(
    typeof await store.depositMail({ to: "bob", from: "a", text: "x", at: 1 }, LIMITS),
    "number",
  );
  const raw = new DatabaseSync(path);
  try {
    deepEqual({ ...raw.prepare("SELECT version FROM schema_version").get() }, {
      version: SCHEMA_VERSION,
    });
  } finally {
    raw.close();
  }
});

Deno.test("people db: a file from a newer schema is refused, not guessed at", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  SqlitePeopleStore.open(path).close();
  const raw = new DatabaseSync(path);
  raw.exec(`UPDATE schema_version SET version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  throws(() => SqlitePeopleStore.open(path), /newer than/);
});
