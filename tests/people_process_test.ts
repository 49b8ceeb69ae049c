/**
 * The people ops against the `registry` program as its own process, with the
 * flags users give it: lockout timing with short options, the older session
 * kicked, and mail that survives a SIGKILL of the registry (restarted on the
 * same `--data-dir`).
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { PeopleClient } from "./support/people_client.ts";
import { tempDbPath } from "./support/temp_db.ts";

/** Cheap hashes, and the registrations the test makes from loopback. */
const FAST = ["--password-iterations", "1000", "--max-registrations-per-source", "100"];

Deno.test("people process: three wrong passwords lock for --lockout-ms, then the right one logs in", async () => {
  await using registry = await RegistryProcess.start({
    logLevel: "warning",
    args: [...FAST, "--lockout-ms", "400", "--max-login-failures", "3"],
  });
  await using bob = await PeopleClient.connect(registry.port);
  await bob.register("bob");
  const wrong = { name: "bob", password: "wrong horse" };
  equal((await bob.request("login", wrong)).code, "bad-password");
  equal((await bob.request("login", wrong)).code, "bad-password");
  const lockedAt = performance.now();
  const locked = await bob.request("login", wrong);
  deepEqual({ code: locked.code, retryAfterMs: locked.retryAfterMs }, {
    code: "locked",
    retryAfterMs: 400,
  });
  const right = { name: "bob", password: "correct horse" };
  equal((await bob.request("login", right)).code, "locked");
  // Ask again until the lock runs out: it must not open before 400 ms, and must by then.
  for (;;) {
    const answer = await bob.request("login", right);
    if (answer.op === "logged-in") break;
    equal(answer.code, "locked");
    await new Promise((resolve) => setTimeout(resolve, answer.retryAfterMs as number));
  }
  const lockedFor = performance.now() - lockedAt;
  ok(lockedFor >= 390, `locked for ${lockedFor} ms`);
  ok(lockedFor < 3000, `still locked after ${lockedFor} ms`);
});

Deno.test("people process: a login elsewhere kicks the older session: told why, then closed", async () => {
  await using registry = await RegistryProcess.start({ logLevel: "warning", args: FAST });
  await using first = await PeopleClient.connect(registry.port);
  await first.account("bob");
  ok((await first.join("room1", "bob", 5100)).startsWith("M:"));
  await using second = await PeopleClient.connect(registry.port);
  await second.login("bob");
  deepEqual(await first.pushOf("kicked"), { op: "kicked", reason: "logged-in-elsewhere" });
  await first.client.closedByPeer();
  // The name is the new session's now: its JOIN takes bob's place in the room.
  const m = await second.join("room1", "bob", 5101);
  ok(m.includes(":bob:127.0.0.1:5101:") && !m.includes(":5100:"), m);
});

Deno.test("people process: mail stored before a SIGKILL is delivered after a restart on the same --data-dir", async () => {
  await using db = await tempDbPath();
  const args = [...FAST, "--data-dir", db.dir];
  let stored;
  {
    const registry = await RegistryProcess.start({ logLevel: "warning", args });
    try {
      await using alice = await PeopleClient.connect(registry.port);
      await alice.register("bob");
      await alice.account("alice");
      stored = await alice.request("mail", { to: "bob", text: "before the crash" });
      equal(stored.op, "mail-stored");
      // Killed right after the reply: nothing gets to shut down cleanly.
      const status = await registry.kill("SIGKILL");
      equal(status.signal, "SIGKILL");
    } finally {
      await registry.stop();
    }
  }
  await using registry = await RegistryProcess.start({ logLevel: "warning", args });
  await using bob = await PeopleClient.connect(registry.port);
  const login = await bob.request("login", { name: "bob", password: "correct horse" });
  equal(login.op, "logged-in", "the account survived too");
  equal(login.mail, 1);
  deepEqual(await bob.push(), {
    op: "mail",
    id: stored.id,
    from: "alice",
    text: "before the crash",
    at: stored.at,
  });
  equal((await bob.request("mail-ack", { ids: [stored.id] })).count, 1);
});
