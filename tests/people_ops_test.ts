import { deepEqual, equal, ok } from "node:assert/strict";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { UNKNOWN_REQUEST, xFrame } from "./support/hello_client.ts";
import { PeopleClient } from "./support/people_client.ts";
import { RawClient } from "./support/raw_client.ts";

/** Cheap hashes: the ops, not PBKDF2, are under test here. */
const FAST: RegistryOptions = {
  hostname: "127.0.0.1",
  port: 0,
  passwordIterations: 1000,
  maxRegistrationsPerSource: 1000,
};

Deno.test("people: register, then login, then logout; errors carry their fields", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  deepEqual(await alice.request("register", { name: "alice", password: "correct horse" }), {
    op: "registered",
    ref: "1",
    name: "alice",
  });
  deepEqual(await alice.request("register", { name: "alice", password: "correct horse" }), {
    op: "error",
    ref: "2",
    code: "name-taken",
  });
  const weak = await alice.request("register", { name: "bob", password: "short" });
  equal(weak.code, "weak-password");
  ok(typeof weak.message === "string");
  equal(
    (await alice.request("register", { name: "a:b", password: "correct horse" })).code,
    "bad-name",
  );
  deepEqual(await alice.request("login", { name: "alice", password: "wrong one" }), {
    op: "error",
    ref: "5",
    code: "bad-password",
    remaining: 2,
  });
  equal(
    (await alice.request("login", { name: "nobody", password: "whatever1" })).code,
    "unknown-user",
  );
  deepEqual(await alice.request("login", { name: "alice", password: "correct horse" }), {
    op: "logged-in",
    ref: "7",
    name: "alice",
    mail: 0,
  });
  deepEqual(await alice.request("logout"), { op: "logged-out", ref: "8" });
});

Deno.test("people: a bad ref is a bad-request without ref; a seed connection gets the reference's reply", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.client.write(xFrame("login", { name: "alice", password: "x" }));
  deepEqual(await alice.push(), {
    op: "error",
    code: "bad-request",
    message: "ref must be 1 to 16 ASCII characters",
  });
  await using seed = await RawClient.connect(registry.port);
  for (const op of ["register", "login", "online", "search", "mail"]) {
    equal(
      await seed.request(xFrame(op, { ref: "1", name: "alice", password: "x" })),
      UNKNOWN_REQUEST,
    );
  }
  equal(await seed.request("L::\r\n"), "G::\r\n");
});

Deno.test("people: a registered name JOINs only when logged in as it; --require-login needs an account for every name", async () => {
  await using registry = await startRegistry(FAST);
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  await using seed = await RawClient.connect(registry.port);
  equal(
    await seed.request("J:room1:bob:127.0.0.1:4000::\r\n"),
    "F:JOIN message - Name registered, log in first!!::\r\n",
  );
  // An unregistered name stays free, exactly as before.
  ok((await seed.request("J:room1:carol:127.0.0.1:4001::\r\n")).startsWith("M:"));
  ok((await bob.join("room1", "bob", 4002)).startsWith("M:"));

  await using strict = await startRegistry({ ...FAST, requireLogin: true });
  await using seed2 = await RawClient.connect(strict.port);
  equal(
    await seed2.request("J:room1:carol:127.0.0.1:4001::\r\n"),
    "F:JOIN message - Log in first!!::\r\n",
  );
  await using dave = await PeopleClient.connect(strict.port);
  await dave.account("dave");
  ok((await dave.join("room1", "dave", 4003)).startsWith("M:"));
});
