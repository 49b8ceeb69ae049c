import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { testPeopleStore } from "./support/people_store_contract.ts";
import { tempDbPath } from "./support/temp_db.ts";
import { MIGRATIONS, SCHEMA_VERSION, SqlitePeopleStore } from "../registry/people_db.ts";

const LIMITS = { maxMessages: 3, maxBytes: 10 };

testPeopleStore("people db", () => SqlitePeopleStore.open(":memory:"));

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
