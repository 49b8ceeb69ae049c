import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { Accounts, type AccountsOptions, NAME_USE_REFUSALS } from "../registry/accounts.ts";
import { parsePasswordRecord, PasswordHasher } from "../registry/passwords.ts";
import { SqlitePeopleStore } from "../registry/people_db.ts";

const PW = "correct horse";
const SRC = "10.0.0.1";

async function setup(
  options: AccountsOptions = {},
  hasher = new PasswordHasher({ iterations: 1000 }),
) {
  const store = SqlitePeopleStore.open(":memory:");
  const accounts = await Accounts.open<string>(store, hasher, options);
  return { store, accounts, [Symbol.dispose]: () => store.close() };
}

Deno.test("accounts: register takes a free valid name once and does not log in", async () => {
  using t = await setup();
  deepEqual(await t.accounts.register("bob", PW, SRC, 0), { ok: true, name: "bob" });
  deepEqual(await t.accounts.register("bob", "another pw", SRC, 1), {
    ok: false,
    code: "name-taken",
  });
  equal(t.accounts.isRegistered("bob"), true);
  equal(t.accounts.sessionOf("bob"), undefined);
  equal((await t.accounts.register("a:b", PW, SRC, 2)).ok, false);
  deepEqual(await t.accounts.register("a:b", PW, SRC, 2), {
    ok: false,
    code: "bad-name",
    message: "User name must not contain ':'",
  });
  equal(
    (await t.accounts.register("carol", "short", SRC, 3) as { code: string }).code,
    "weak-password",
  );
  equal(
    (await t.accounts.register("carol", "x".repeat(257), SRC, 3) as { code: string }).code,
    "weak-password",
  );
  // The stored password is a hash, never the password.
  const stored = (await t.store.account("bob"))!.password;
  ok(!stored.includes(PW));
  equal(parsePasswordRecord(stored).iterations, 1000);
});

Deno.test("accounts: two registrations racing for one name: exactly one wins", async () => {
  using t = await setup();
  const results = await Promise.all([
    t.accounts.register("bob", PW, "10.0.0.1", 0),
    t.accounts.register("bob", PW, "10.0.0.2", 0),
  ]);
  deepEqual(results.map((r) => r.ok).sort(), [false, true]);
  equal(t.accounts.accountCount, 1);
});

Deno.test("accounts: three wrong passwords lock for 60 s, with remaining tries and retryAfterMs", async () => {
  using t = await setup();
  await t.accounts.register("bob", PW, SRC, 0);
  deepEqual(await t.accounts.login("bob", "wrong", "c1", SRC, 1000), {
    ok: false,
    code: "bad-password",
    remaining: 2,
  });
  deepEqual(await t.accounts.login("bob", "wrong", "c1", SRC, 1001), {
    ok: false,
    code: "bad-password",
    remaining: 1,
  });
  deepEqual(await t.accounts.login("bob", "wrong", "c1", SRC, 1002), {
    ok: false,
    code: "locked",
    retryAfterMs: 60_000,
  });
  // Locked: even the right password is refused, and the wait shrinks.
  deepEqual(await t.accounts.login("bob", PW, "c1", SRC, 31_002), {
    ok: false,
    code: "locked",
    retryAfterMs: 30_000,
  });
  equal(t.accounts.sessionOf("bob"), undefined);
  // The lock has run out: a fresh set of tries, and the right password works.
  deepEqual(await t.accounts.login("bob", "wrong", "c1", SRC, 61_002), {
    ok: false,
    code: "bad-password",
    remaining: 2,
  });
  equal((await t.accounts.login("bob", PW, "c1", SRC, 61_003)).ok, true);
  equal(t.accounts.sessionOf("bob"), "c1");
});

Deno.test("accounts: lockout options; a right password resets the count", async () => {
  using t = await setup({ maxFailures: 2, lockoutMs: 50 });
  await t.accounts.register("bob", PW, SRC, 0);
  equal(
    (await t.accounts.login("bob", "wrong", "c1", SRC, 0) as { remaining: number }).remaining,
    1,
  );
  equal((await t.accounts.login("bob", PW, "c1", SRC, 1)).ok, true);
  equal(
    (await t.accounts.login("bob", "wrong", "c1", SRC, 2) as { remaining: number }).remaining,
    1,
  );
  deepEqual(await t.accounts.login("bob", "wrong", "c1", SRC, 3), {
    ok: false,
    code: "locked",
    retryAfterMs: 50,
  });
  equal((await t.accounts.login("bob", PW, "c1", SRC, 53)).ok, true);
});

Deno.test("accounts: a hundred parallel guesses get only three tries", async () => {
  using t = await setup();
  await t.accounts.register("bob", PW, SRC, 0);
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => t.accounts.login("bob", `guess${i}`, `c${i}`, SRC, 10)),
  );
  const codes = results.map((r) => (r as { code: string }).code);
  equal(codes.filter((c) => c === "bad-password").length, 2);
  equal(codes.filter((c) => c === "locked").length, 1);
  equal(codes.filter((c) => c === "busy").length, 97);
  equal((await t.accounts.login("bob", PW, "c", SRC, 11) as { code: string }).code, "locked");
});

Deno.test("accounts: a login to an unknown name answers unknown-user", async () => {
  using t = await setup();
  deepEqual(await t.accounts.login("nobody", PW, "c1", SRC, 0), {
    ok: false,
    code: "unknown-user",
  });
});

Deno.test("accounts: lockoutScope account-and-source keeps the owner's address its own tries", async () => {
  using t = await setup({ lockoutScope: "account-and-source" });
  await t.accounts.register("bob", PW, SRC, 0);
  for (let i = 0; i < 3; i++) await t.accounts.login("bob", "wrong", "evil", "6.6.6.6", i);
  equal(
    (await t.accounts.login("bob", PW, "evil", "6.6.6.6", 5) as { code: string }).code,
    "locked",
  );
  equal((await t.accounts.login("bob", PW, "c1", SRC, 5)).ok, true);

  using u = await setup();
  await u.accounts.register("bob", PW, SRC, 0);
  for (let i = 0; i < 3; i++) await u.accounts.login("bob", "wrong", "evil", "6.6.6.6", i);
  // The default scope is the rule: the account itself is locked.
  equal((await u.accounts.login("bob", PW, "c1", SRC, 5) as { code: string }).code, "locked");
});

Deno.test("accounts: a login from a second connection ends the older session and says why", async () => {
  using t = await setup();
  await t.accounts.register("bob", PW, SRC, 0);
  deepEqual(await t.accounts.login("bob", PW, "c1", SRC, 1), {
    ok: true,
    name: "bob",
    kicked: null,
    previousName: null,
  });
  deepEqual(await t.accounts.login("bob", PW, "c2", SRC, 2), {
    ok: true,
    name: "bob",
    kicked: { session: "c1", reason: "logged-in-elsewhere" },
    previousName: null,
  });
  equal(t.accounts.sessionOf("bob"), "c2");
  equal(t.accounts.nameOf("c1"), undefined);
  // The kicked connection closing later does not log the new one out.
  equal(t.accounts.logout("c1"), undefined);
  equal(t.accounts.sessionOf("bob"), "c2");
  // Logging in again on the same connection kicks nobody.
  equal((await t.accounts.login("bob", PW, "c2", SRC, 3) as { kicked: unknown }).kicked, null);
  equal(t.accounts.logout("c2"), "bob");
  equal(t.accounts.sessionOf("bob"), undefined);
});

Deno.test("accounts: a connection logging in as another name leaves the first", async () => {
  using t = await setup();
  await t.accounts.register("bob", PW, SRC, 0);
  await t.accounts.register("bobby", PW, SRC, 0);
  await t.accounts.login("bob", PW, "c1", SRC, 1);
  equal(
    (await t.accounts.login("bobby", PW, "c1", SRC, 2) as { previousName: string }).previousName,
    "bob",
  );
  equal(t.accounts.sessionOf("bob"), undefined);
  equal(t.accounts.nameOf("c1"), "bobby");
});

Deno.test("accounts: a registered name is usable in a JOIN only by its session; requireLogin needs an account", async () => {
  using t = await setup();
  await t.accounts.register("bob", PW, SRC, 0);
  deepEqual(t.accounts.canUseName("alice", "c1"), { ok: true });
  deepEqual(t.accounts.canUseName("bob", "c1"), { ok: false, reason: "registered" });
  await t.accounts.login("bob", PW, "c1", SRC, 1);
  deepEqual(t.accounts.canUseName("bob", "c1"), { ok: true });
  deepEqual(t.accounts.canUseName("bob", "c2"), { ok: false, reason: "registered" });
  equal(NAME_USE_REFUSALS.registered, "JOIN message - Name registered, log in first!!");

  using strict = await setup({ requireLogin: true });
  await strict.accounts.register("bob", PW, SRC, 0);
  deepEqual(strict.accounts.canUseName("alice", "c1"), { ok: false, reason: "login-required" });
  deepEqual(strict.accounts.canUseName("bob", "c1"), { ok: false, reason: "registered" });
  await strict.accounts.login("bob", PW, "c1", SRC, 1);
  deepEqual(strict.accounts.canUseName("bob", "c1"), { ok: true });
});

Deno.test("accounts: registrations are capped per source address per window and in total", async () => {
  using t = await setup({
    maxRegistrationsPerSource: 2,
    registrationWindowMs: 1000,
    maxAccounts: 3,
  });
  equal((await t.accounts.register("a1", PW, SRC, 0)).ok, true);
  // A refused registration does not count against its source.
  equal((await t.accounts.register("a1", PW, SRC, 10)).ok, false);
  equal((await t.accounts.register("a2", PW, SRC, 100)).ok, true);
  deepEqual(await t.accounts.register("a3", PW, SRC, 500), {
    ok: false,
    code: "rate-limited",
    retryAfterMs: 500,
  });
  equal((await t.accounts.register("a3", PW, SRC, 1000)).ok, true);
  deepEqual(await t.accounts.register("a4", PW, "10.0.0.2", 1000), {
    ok: false,
    code: "too-many-accounts",
  });
  ok(t.accounts.trackedEntries > 0);
  t.accounts.sweep(10_000);
  equal(t.accounts.trackedEntries, 0);
});

Deno.test("accounts: a full hasher queue answers busy instead of queueing", async () => {
  using t = await setup(
    {},
    new PasswordHasher({ iterations: 20_000, concurrency: 1, maxQueued: 0 }),
  );
  const [a, b] = await Promise.all([
    t.accounts.register("a1", PW, SRC, 0),
    t.accounts.register("a2", PW, "10.0.0.2", 0),
  ]);
  equal(a.ok, true);
  deepEqual(b, { ok: false, code: "busy" });
  // The busy attempt neither took the name nor counted against its source.
  equal((await t.accounts.register("a2", PW, "10.0.0.2", 1)).ok, true);
});

Deno.test("accounts: a hash cheaper than the current setting is replaced at login", async () => {
  const store = SqlitePeopleStore.open(":memory:");
  try {
    const cheap = await Accounts.open<string>(store, new PasswordHasher({ iterations: 500 }));
    await cheap.register("bob", PW, SRC, 0);
    const accounts = await Accounts.open<string>(store, new PasswordHasher({ iterations: 1000 }));
    equal(accounts.isRegistered("bob"), true);
    equal((await accounts.login("bob", PW, "c1", SRC, 1)).ok, true);
    equal(parsePasswordRecord((await store.account("bob"))!.password).iterations, 1000);
    equal((await accounts.login("bob", PW, "c2", SRC, 2)).ok, true);
  } finally {
    store.close();
  }
});

Deno.test("accounts: bad options are refused", async () => {
  const store = SqlitePeopleStore.open(":memory:");
  try {
    const hasher = new PasswordHasher({ iterations: 1000 });
    await rejects(() => Accounts.open(store, hasher, { maxFailures: 0 }), RangeError);
    await rejects(() => Accounts.open(store, hasher, { lockoutMs: -1 }), RangeError);
    await rejects(() => Accounts.open(store, hasher, { maxPasswordBytes: 4 }), RangeError);
  } finally {
    store.close();
  }
});

Deno.test("accounts: registered names are kept sorted, for the online list's pages", async () => {
  using t = await setup({ maxRegistrationsPerSource: 10 });
  await t.store.createAccount({ name: "mike", password: "x", createdAt: 0 });
  using u = await setup({ maxRegistrationsPerSource: 10 });
  for (const name of ["zoe", "bob", "Carl", "alice", "bobby"]) {
    await u.accounts.register(name, PW, SRC, 0);
  }
  deepEqual(u.accounts.registeredNames(), ["Carl", "alice", "bob", "bobby", "zoe"]);
  const loaded = await Accounts.open<string>(t.store, new PasswordHasher({ iterations: 1000 }));
  await loaded.register("adam", PW, SRC, 0);
  deepEqual(loaded.registeredNames(), ["adam", "mike"]);
});
