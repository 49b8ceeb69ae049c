/**
 * The behaviour every {@linkcode PeopleStore} must have, as tests: the SQLite
 * store runs them (`tests/people_db_test.ts`), and so will a Redis store
 * (issue 15) with its own `open`.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import type { PeopleStore } from "../../registry/people_store.ts";

async function openStore(
  open: () => PeopleStore | Promise<PeopleStore>,
): Promise<PeopleStore & AsyncDisposable> {
  const store = await open();
  return Object.assign(store, { [Symbol.asyncDispose]: () => Promise.resolve(store.close()) });
}

/** Registers the store contract's tests, named `label: …`, each on a fresh empty store from `open`. */
export function testPeopleStore(
  label: string,
  open: () => PeopleStore | Promise<PeopleStore>,
): void {
  const LIMITS = { maxMessages: 3, maxBytes: 10 };

  Deno.test(`${label}: a name is registered once; a second createAccount changes nothing`, async () => {
    await using store = await openStore(open);
    equal(await store.createAccount({ name: "bob", password: "h1", createdAt: 5 }), true);
    equal(await store.createAccount({ name: "bob", password: "h2", createdAt: 6 }), false);
    deepEqual(await store.account("bob"), { name: "bob", password: "h1", createdAt: 5 });
    equal(await store.account("Bob"), undefined);
    deepEqual(await store.accountNames(), ["bob"]);
    equal(await store.setPassword("bob", "h3"), true);
    equal(await store.setPassword("nobody", "h3"), false);
    equal((await store.account("bob"))?.password, "h3");
  });

  Deno.test(`${label}: blocks are added once and removed once`, async () => {
    await using store = await openStore(open);
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

  Deno.test(`${label}: a mailbox is bounded by count and by bytes, and deletes only its own mail`, async () => {
    await using store = await openStore(open);
    const first = await store.depositMail(
      { to: "bob", from: "alice", text: "héllo", at: 1 },
      LIMITS,
    );
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

  Deno.test(`${label}: racing deposits never overfill a mailbox`, async () => {
    await using store = await openStore(open);
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => store.depositMail({ to: "bob", from: `s${i}`, text: "x", at: i }, LIMITS),
      ),
    );
    equal(results.filter((r) => typeof r === "number").length, LIMITS.maxMessages);
    equal((await store.mailFor("bob")).length, LIMITS.maxMessages);
  });

  Deno.test(`${label}: racing registrations of one name create one account`, async () => {
    await using store = await openStore(open);
    const results = await Promise.all(
      ["h1", "h2", "h3"].map((password) =>
        store.createAccount({ name: "bob", password, createdAt: 0 })
      ),
    );
    equal(results.filter((created) => created).length, 1);
    deepEqual(await store.accountNames(), ["bob"]);
  });
}
