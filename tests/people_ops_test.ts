import { deepEqual, equal, ok } from "node:assert/strict";
import { PEOPLE_OPS } from "../registry/people_ops.ts";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { UNKNOWN_REQUEST, xFrame } from "./support/hello_client.ts";
import { declineInvitation, PeopleClient } from "./support/people_client.ts";
import { RawClient } from "./support/raw_client.ts";

/** Cheap hashes: the ops, not PBKDF2, are under test here. */
const FAST: RegistryOptions = {
  hostname: "127.0.0.1",
  port: 0,
  passwordIterations: 1000,
  maxRegistrationsPerSource: 1000,
  presenceFlushMs: 5,
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

Deno.test("people: three wrong passwords lock the account for lockoutMs, then it has fresh tries", async () => {
  await using registry = await startRegistry({ ...FAST, lockoutMs: 300 });
  await using bob = await PeopleClient.connect(registry.port);
  equal(
    (await bob.request("register", { name: "bob", password: "correct horse" })).op,
    "registered",
  );
  const wrong = { name: "bob", password: "wrong horse" };
  equal((await bob.request("login", wrong)).remaining, 2);
  equal((await bob.request("login", wrong)).remaining, 1);
  const locked = await bob.request("login", wrong);
  equal(locked.code, "locked");
  equal(locked.retryAfterMs, 300);
  const right = { name: "bob", password: "correct horse" };
  const still = await bob.request("login", right);
  equal(still.code, "locked", "no password is checked while locked, not even the right one");
  ok((still.retryAfterMs as number) > 0 && (still.retryAfterMs as number) <= 300);
  await new Promise((resolve) => setTimeout(resolve, (still.retryAfterMs as number) + 20));
  equal((await bob.request("login", right)).op, "logged-in");
});

Deno.test("people: a login from a second connection kicks the older one, which is told why and closed", async () => {
  await using registry = await startRegistry(FAST);
  await using first = await PeopleClient.connect(registry.port);
  await first.account("bob");
  ok((await first.join("room1", "bob", 4100)).startsWith("M:"));
  await using watcher = await PeopleClient.connect(registry.port);
  ok((await watcher.join("room1", "carol", 4101)).startsWith("M:"));
  await using second = await PeopleClient.connect(registry.port);
  await second.login("bob");
  deepEqual(await first.pushOf("kicked"), { op: "kicked", reason: "logged-in-elsewhere" });
  await first.client.closedByPeer();
  // Its membership went with it: the room's pushed list no longer has bob.
  for (;;) {
    const text = await watcher.client.frame();
    if (text.startsWith("M:") && !text.includes(":bob:")) break;
  }
  equal(registry.stats().members, 1);
  ok((await second.join("room1", "bob", 4102)).startsWith("M:"));
});

Deno.test("people: presence changes are pushed to listening connections, never to those the subject blocks", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using mallory = await PeopleClient.connect(registry.port);
  await mallory.account("mallory");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  equal((await bob.request("block", { name: "mallory" })).op, "blocked");
  deepEqual(await alice.pushOf("presence"), { op: "presence", name: "mallory", state: "online" });
  deepEqual(await alice.pushOf("presence"), { op: "presence", name: "bob", state: "online" });
  await bob.join("room1", "bob", 4200);
  deepEqual(await alice.pushOf("presence"), {
    op: "presence",
    name: "bob",
    state: "online",
    room: "room1",
  });
  equal((await bob.request("away", { on: true })).on, true);
  deepEqual(await alice.pushOf("presence"), {
    op: "presence",
    name: "bob",
    state: "away",
    room: "room1",
  });
  await bob.client.close();
  deepEqual(await alice.pushOf("presence"), { op: "presence", name: "bob", state: "offline" });
  // Of bob, mallory is told at most his login (if its round went out before the block), then
  // offline (the block hides him); of his room, away and close, nothing.
  await using carol = await PeopleClient.connect(registry.port);
  await carol.account("carol");
  const ofBob: unknown[] = [];
  for (;;) {
    const push = await mallory.pushOf("presence");
    if (push.name === "carol") break;
    if (push.name === "bob") {
      ofBob.push(push.room === undefined ? push.state : `${push.state} in room`);
    }
  }
  ok(["offline", "online,offline"].includes(ofBob.join(",")), JSON.stringify(ofBob));
  ok(!mallory.keptPushes.some((p) => p.name === "bob"));
});

Deno.test("people: online lists live and registered-offline names but mine, sorted, paged; search finds, hides and says self", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("dave", "bob", "mallory");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.login("bob");
  await bob.join("room1", "bob", 4300);
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room2:zed:127.0.0.1:4301::\r\n")).startsWith("M:"));
  deepEqual(await alice.request("online"), {
    op: "online",
    ref: "3",
    users: [
      { name: "bob", state: "online", room: "room1" },
      { name: "dave", state: "offline" },
      { name: "mallory", state: "offline" },
      { name: "zed", state: "online", room: "room2" },
    ],
    truncated: false,
  });
  const page = await alice.request("online", { limit: 2 });
  equal((page.users as unknown[]).length, 2);
  equal(page.truncated, true);
  equal((await alice.request("online", { limit: 0 })).code, "bad-request");
  deepEqual(await alice.request("search", { name: "bob" }), {
    op: "search",
    ref: "6",
    name: "bob",
    result: "found",
    state: "online",
    room: "room1",
  });
  equal((await alice.request("search", { name: "nobody" })).result, "not-found");
  equal((await alice.request("search", { name: "alice" })).result, "self");
  equal((await bob.request("block", { name: "alice" })).op, "blocked");
  equal((await alice.request("search", { name: "bob" })).result, "not-found");
  const names = ((await alice.request("online")).users as { name: string }[]).map((u) => u.name);
  deepEqual(names, ["dave", "mallory", "zed"]);
});

Deno.test("people: block and unblock need a login and a registered other name; blocks lists them", async () => {
  await using registry = await startRegistry({ ...FAST, maxBlocksPerUser: 1 });
  await using anon = await PeopleClient.connect(registry.port);
  equal((await anon.request("block", { name: "bob" })).code, "login-required");
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("bob", "carol");
  equal((await alice.request("block", { name: "nobody" })).code, "unknown-user");
  equal((await alice.request("block", { name: "alice" })).code, "self");
  deepEqual(await alice.request("block", { name: "bob" }), {
    op: "blocked",
    ref: "5",
    name: "bob",
  });
  equal((await alice.request("block", { name: "carol" })).code, "too-many-blocks");
  deepEqual(await alice.request("blocks"), { op: "blocks", ref: "7", names: ["bob"] });
  deepEqual(await alice.request("unblock", { name: "bob" }), {
    op: "unblocked",
    ref: "8",
    name: "bob",
  });
  deepEqual((await alice.request("blocks")).names, []);
});

Deno.test("people: a broadcast reaches every other listening name once, not those who block the sender, and is rate-limited", async () => {
  await using registry = await startRegistry({ ...FAST, broadcastBurst: 2, broadcastPerMinute: 1 });
  const names = ["alice", "bob", "carol", "dave", "mallory"];
  const clients: PeopleClient[] = [];
  try {
    for (const name of names) {
      const c = await PeopleClient.connect(registry.port);
      clients.push(c);
      await c.account(name);
    }
    const [alice, , , dave, mallory] = clients as [PeopleClient, ...PeopleClient[]];
    equal((await dave!.request("block", { name: "alice" })).op, "blocked");
    // A seed client in a room is online but cannot take a push.
    await using seed = await RawClient.connect(registry.port);
    ok((await seed.request("J:room1:zed:127.0.0.1:4400::\r\n")).startsWith("M:"));
    const sent = await alice.request("broadcast", { text: "hi all" });
    equal(sent.op, "broadcast-sent");
    equal(sent.count, 3);
    for (const c of [clients[1]!, clients[2]!, mallory!]) {
      const push = await c.pushOf("broadcast");
      equal(push.from, "alice");
      equal(push.text, "hi all");
      ok(typeof push.at === "number");
    }
    equal((await alice.request("broadcast", { text: "" })).code, "empty");
    equal((await alice.request("broadcast", { text: "x".repeat(1025) })).code, "too-long");
    equal((await alice.request("broadcast", { text: "again" })).op, "broadcast-sent");
    const limited = await alice.request("broadcast", { text: "third" });
    equal(limited.code, "rate-limited");
    ok((limited.retryAfterMs as number) > 0);
    // Each got the first exactly once, and dave (who blocks alice) none.
    equal(await seed.request("L::\r\n"), "G:room1::\r\n");
    for (const c of [clients[1]!, clients[2]!, mallory!]) {
      equal((await c.pushOf("broadcast")).text, "again");
      ok(!c.keptPushes.some((p) => p.op === "broadcast"));
    }
    equal((await dave!.request("online")).op, "online");
    ok(!dave!.keptPushes.some((p) => p.op === "broadcast"));
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

Deno.test("people: a DM request asks bob, and only his consent gives alice his address and a token", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  await bob.join("room1", "bob", 4500);
  equal((await alice.request("address", { name: "bob" })).code, "consent-required");
  deepEqual(await alice.request("dm-request", { to: "bob" }), {
    op: "dm-route",
    ref: "4",
    to: "bob",
    route: "direct",
  });
  deepEqual(await bob.pushOf("dm-request"), { op: "dm-request", from: "alice" });
  // Asking again while it waits does not ask bob twice.
  equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
  const answered = await bob.request("dm-answer", { to: "alice", accept: true });
  equal(answered.op, "dm-answered");
  equal(answered.accept, true);
  ok(/^[0-9a-f]{32}$/.test(answered.token as string));
  deepEqual(await alice.pushOf("dm-accepted"), {
    op: "dm-accepted",
    by: "bob",
    ip: "127.0.0.1",
    port: 4500,
    token: answered.token,
  });
  ok(!bob.keptPushes.some((p) => p.op === "dm-request"), "bob was asked once");
  equal((await bob.request("dm-answer", { to: "alice", accept: true })).code, "no-request");
  deepEqual(await alice.request("address", { name: "bob", for: "poke" }), {
    op: "address",
    ref: "6",
    name: "bob",
    ip: "127.0.0.1",
    port: 4500,
    room: "room1",
  });
  // After consent, a new request is answered at once with the same address and token.
  equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
  equal((await alice.pushOf("dm-accepted")).token, answered.token);
});

Deno.test("people: a rejected DM request tells alice; a seed client cannot take DMs; a DM to yourself or nobody is refused", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
  await bob.pushOf("dm-request");
  const answerNoPort = await bob.request("dm-answer", { to: "alice", accept: true });
  equal(answerNoPort.code, "bad-request", "in no room, an acceptance must say the port");
  deepEqual(await bob.request("dm-answer", { to: "alice", accept: false }), {
    op: "dm-answered",
    ref: "4",
    to: "alice",
    accept: false,
  });
  deepEqual(await alice.pushOf("dm-rejected"), { op: "dm-rejected", by: "bob" });
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room1:zed:127.0.0.1:4501::\r\n")).startsWith("M:"));
  equal((await alice.request("dm-request", { to: "zed" })).code, "not-supported");
  equal((await alice.request("dm-request", { to: "alice" })).code, "self");
  equal((await alice.request("dm-request", { to: "nobody" })).code, "unknown-user");
  await using anon = await PeopleClient.connect(registry.port);
  equal((await anon.request("dm-request", { to: "bob" })).code, "login-required");
});

Deno.test("people: mail to an offline account is stored, delivered at login oldest first, acknowledged and deleted", async () => {
  await using registry = await startRegistry(FAST);
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("bob");
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  equal((await alice.request("dm-request", { to: "bob" })).route, "mailbox");
  const first = await alice.request("mail", { to: "bob", text: "call me" });
  equal(first.op, "mail-stored");
  equal(first.to, "bob");
  const second = await alice.request("mail", { to: "bob", text: "caf\u00e9?" });
  ok((second.id as number) > (first.id as number));
  equal((await alice.request("mail", { to: "nobody", text: "x" })).code, "unknown-user");
  equal((await alice.request("mail", { to: "bob", text: "" })).code, "empty");
  await using anon = await PeopleClient.connect(registry.port);
  equal((await anon.request("mail", { to: "bob", text: "x" })).code, "login-required");

  await using bob = await PeopleClient.connect(registry.port);
  const login = await bob.request("login", { name: "bob", password: "correct horse" });
  equal(login.mail, 2);
  deepEqual(await bob.push(), {
    op: "mail",
    id: first.id,
    from: "alice",
    text: "call me",
    at: first.at,
  });
  deepEqual(await bob.push(), {
    op: "mail",
    id: second.id,
    from: "alice",
    text: "caf\u00e9?",
    at: second.at,
  });
  equal((await alice.request("mail", { to: "bob", text: "now?" })).code, "not-offline");
  // Not acknowledged: delivered again at the next login, same ids.
  equal((await bob.request("logout")).op, "logged-out");
  equal((await bob.login("bob")).mail, 2);
  await bob.push();
  await bob.push();
  // One-way ack (no ref, no answer), then one with a ref.
  await bob.client.write(xFrame("mail-ack", { ids: [first.id] }));
  deepEqual(await bob.request("mail-ack", { ids: [second.id, 999_999] }), {
    op: "mail-acked",
    ref: "4",
    count: 1,
  });
  equal((await bob.request("logout")).op, "logged-out");
  equal((await bob.login("bob")).mail, 0);
});

Deno.test("people: a mailbox is bounded, a blocked sender is refused, mail per sender is rate-limited", async () => {
  await using registry = await startRegistry({ ...FAST, maxMailMessages: 2, mailPerMinute: 3 });
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("bob", "carol");
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  equal((await alice.request("mail", { to: "bob", text: "1" })).op, "mail-stored");
  equal((await alice.request("mail", { to: "bob", text: "2" })).op, "mail-stored");
  equal((await alice.request("mail", { to: "bob", text: "3" })).code, "mailbox-full");
  const limited = await alice.request("mail", { to: "carol", text: "4" });
  equal(limited.code, "rate-limited");
  ok((limited.retryAfterMs as number) > 0);
  await using carol = await PeopleClient.connect(registry.port);
  equal((await carol.login("carol")).mail, 0);
  equal((await carol.request("block", { name: "alice" })).op, "blocked");
  equal((await carol.request("logout")).op, "logged-out");
  await using mallory = await PeopleClient.connect(registry.port);
  await mallory.account("mallory");
  equal((await mallory.request("block", { name: "alice" })).op, "blocked");
  await using alice2 = await PeopleClient.connect(registry.port);
  await alice2.account("alice2");
  equal((await alice2.request("mail", { to: "carol", text: "hi" })).op, "mail-stored");
  await using blocked = await PeopleClient.connect(registry.port);
  await blocked.login("alice");
  equal((await blocked.request("mail", { to: "carol", text: "hi" })).code, "blocked");
  equal((await blocked.request("dm-request", { to: "carol" })).code, "blocked");
  equal((await blocked.request("dm-request", { to: "mallory" })).code, "blocked");
});

Deno.test("people: an invitation reaches bob, his answer reaches the inviter; blocked, offline and nobody are refused", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  deepEqual(await alice.request("invite", { to: "bob", room: "room9" }), {
    op: "invite-sent",
    ref: "3",
    to: "bob",
    room: "room9",
  });
  deepEqual(await bob.pushOf("invite"), { op: "invite", from: "alice", room: "room9" });
  deepEqual(await bob.request("invite-answer", { to: "alice", room: "room9", accept: true }), {
    op: "invite-answered",
    ref: "3",
    to: "alice",
    room: "room9",
    accept: true,
  });
  deepEqual(await alice.pushOf("invite-accepted"), {
    op: "invite-accepted",
    by: "bob",
    room: "room9",
  });
  await declineInvitation(alice, "alice", bob, "bob");
  equal((await alice.request("invite", { to: "bob", room: "a:b" })).code, "bad-name");
  equal((await alice.request("invite", { to: "nobody", room: "room1" })).code, "unknown-user");
  equal((await bob.request("block", { name: "alice" })).op, "blocked");
  equal((await alice.request("invite", { to: "bob", room: "room1" })).code, "blocked");
  equal((await alice.request("address", { name: "bob", for: "poke" })).code, "blocked");
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("dave");
  equal((await alice.request("invite", { to: "dave", room: "room1" })).code, "not-online");
});

Deno.test("people: the address of a member of my room is mine to ask; one outside it needs consent", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await alice.join("room1", "alice", 4600);
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room1:zed:127.0.0.1:4601::\r\n")).startsWith("M:"));
  ok((await seed.request("D:room1:zed:127.0.0.1:4601::\r\n")).startsWith("S:"));
  equal((await alice.request("address", { name: "zed" })).code, "unknown-user");
  ok((await seed.request("J:room2:zed:127.0.0.1:4601::\r\n")).startsWith("M:"));
  equal((await alice.request("address", { name: "zed" })).code, "consent-required");
  await using seed2 = await RawClient.connect(registry.port);
  ok((await seed2.request("J:room1:yan:127.0.0.1:4602::\r\n")).startsWith("M:"));
  deepEqual(await alice.request("address", { name: "yan", for: "link" }), {
    op: "address",
    ref: "5",
    name: "yan",
    ip: "127.0.0.1",
    port: 4602,
    room: "room1",
  });
});

Deno.test("people: people ops per connection are rate-limited; pending requests per sender are bounded", async () => {
  await using registry = await startRegistry({
    ...FAST,
    peopleRequestsPerSecond: 1,
    peopleRequestBurst: 3,
  });
  await using alice = await PeopleClient.connect(registry.port);
  for (let i = 0; i < 3; i++) equal((await alice.request("online")).op, "online");
  const limited = await alice.request("online");
  equal(limited.code, "rate-limited");
  ok((limited.retryAfterMs as number) > 0 && (limited.retryAfterMs as number) <= 1000);

  await using other = await startRegistry({ ...FAST, maxPendingRequests: 2 });
  await using carol = await PeopleClient.connect(other.port);
  await carol.account("carol");
  const targets: PeopleClient[] = [];
  try {
    for (const name of ["t1", "t2", "t3"]) {
      const t = await PeopleClient.connect(other.port);
      targets.push(t);
      await t.account(name);
    }
    equal((await carol.request("dm-request", { to: "t1" })).route, "direct");
    equal((await carol.request("invite", { to: "t2", room: "r" })).op, "invite-sent");
    const refused = await carol.request("dm-request", { to: "t3" });
    equal(refused.code, "rate-limited");
    ok((refused.retryAfterMs as number) > 0);
  } finally {
    for (const t of targets) await t[Symbol.asyncDispose]();
  }
});

Deno.test("people: a connection that lets its pushes pile past maxQueuedPushes is closed", async () => {
  await using registry = await startRegistry({ ...FAST, maxQueuedPushes: 2 });
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("bob");
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  for (const text of ["1", "2", "3"]) {
    equal((await alice.request("mail", { to: "bob", text })).op, "mail-stored");
  }
  // Three mail pushes queued at once at login: past the bound of 2.
  await using bob = await PeopleClient.connect(registry.port);
  await bob.client.write(xFrame("login", { ref: "1", name: "bob", password: "correct horse" }));
  const frames = await bob.client.closedByPeer();
  ok(frames.length <= 3, `closed before all were written: ${frames.length}`);
});

Deno.test("people: presence changes are coalesced per name and pushed at most maxPresenceBatch per round", async () => {
  const flushMs = 500;
  await using registry = await startRegistry({
    ...FAST,
    presenceFlushMs: flushMs,
    maxPresenceBatch: 2,
  });
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using seed = await RawClient.connect(registry.port);
  // One name joins and leaves 20 times within a round, then three others join.
  for (let i = 0; i < 20; i++) {
    ok((await seed.request("J:room1:zed:127.0.0.1:4800::\r\n")).startsWith("M:"));
    equal(await seed.request("D:room1:zed:127.0.0.1:4800::\r\n"), "S::\r\n");
  }
  const others: RawClient[] = [];
  try {
    for (const name of ["n1", "n2", "n3"]) {
      const c = await RawClient.connect(registry.port);
      others.push(c);
      ok((await c.request(`J:room1:${name}:127.0.0.1:4801::\r\n`)).startsWith("M:"));
    }
    const pushes: { name: unknown; state: unknown; at: number }[] = [];
    while (pushes.length < 4) {
      const push = await alice.pushOf("presence");
      pushes.push({ name: push.name, state: push.state, at: performance.now() });
    }
    // zed's 40 changes: one push, its latest state.
    deepEqual(pushes.filter((p) => p.name === "zed").map((p) => p.state), ["offline"]);
    deepEqual(pushes.map((p) => p.name).filter((n) => n !== "zed").sort(), ["n1", "n2", "n3"]);
    // Rounds are flushMs apart; none carried more than 2.
    const rounds: number[] = [1];
    for (let i = 1; i < pushes.length; i++) {
      if (pushes[i]!.at - pushes[i - 1]!.at > flushMs / 2) rounds.push(1);
      else rounds[rounds.length - 1]!++;
    }
    ok(rounds.length >= 2 && rounds.every((n) => n <= 2), JSON.stringify(rounds));
  } finally {
    for (const c of others) c.close();
  }
});

Deno.test("people: a seed client in the room keeps the reference's exact replies while people ops flow", async () => {
  await using registry = await startRegistry(FAST);
  await using seed = await RawClient.connect(registry.port);
  const m1 = await seed.request("J:room1:zed:127.0.0.1:4700::\r\n");
  ok(m1.startsWith("M:"));
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  await bob.join("room1", "bob", 4701);
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  equal((await alice.request("broadcast", { text: "hi" })).count, 1);
  equal((await bob.request("away", { on: true })).on, true);
  equal((await alice.request("dm-request", { to: "zed" })).code, "not-supported");
  // Nothing was pushed to the seed: its next frame answers its own next request.
  equal(await seed.request("L::\r\n"), "G:room1::\r\n");
  equal(await seed.request(xFrame("online", { ref: "1" })), UNKNOWN_REQUEST);
  equal(await seed.request("D:room1:zed:127.0.0.1:4700::\r\n"), "S::\r\n");
});

Deno.test("people: logging out takes a member of the registered name out of its room, so the name is free for its next login", async () => {
  await using registry = await startRegistry(FAST);
  await using first = await PeopleClient.connect(registry.port);
  await first.account("bob");
  ok((await first.join("room1", "bob", 4900)).startsWith("M:"));
  equal(registry.stats().members, 1);
  equal((await first.request("logout")).op, "logged-out");
  equal(registry.stats().members, 0);
  // Its keepalive is a JOIN again now, and refused.
  equal(
    await first.client.request("J:room1:bob:127.0.0.1:4900::\r\n"),
    "F:JOIN message - Name registered, log in first!!::\r\n",
  );
  await using second = await PeopleClient.connect(registry.port);
  await second.login("bob");
  ok((await second.join("room1", "bob", 4901)).includes(":bob:127.0.0.1:4901:"));
});

Deno.test("people: a logged-in session in no room outlives idleTimeoutMs; a hello'd connection that is neither does not", async () => {
  await using registry = await startRegistry({ ...FAST, idleTimeoutMs: 100, expiryMs: 60_000 });
  await using idle = await PeopleClient.connect(registry.port);
  equal((await idle.request("online")).op, "online");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  await idle.client.closedByPeer();
  // bob, logged in, is still served well after the idle connection was closed.
  await new Promise((resolve) => setTimeout(resolve, 200));
  equal((await bob.request("search", { name: "bob" })).result, "self");
});

Deno.test("people: docs/extensions.md shows every people op the registry answers", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/extensions.md", import.meta.url));
  const people = doc.slice(doc.indexOf("## People:"));
  for (const op of PEOPLE_OPS) ok(people.includes(`{"op":"${op}"`), `${op} has an example`);
});

Deno.test("people: the account limits reach the wire: accounts, registrations per source, hashes queued", async () => {
  await using registry = await startRegistry({
    ...FAST,
    maxAccounts: 2,
    maxRegistrationsPerSource: 1,
    registrationWindowMs: 60_000,
  });
  await using alice = await PeopleClient.connect(registry.port);
  await alice.register("alice");
  const limited = await alice.request("register", { name: "bob", password: "correct horse" });
  equal(limited.code, "rate-limited");
  ok((limited.retryAfterMs as number) > 0 && (limited.retryAfterMs as number) <= 60_000);

  await using full = await startRegistry({ ...FAST, maxAccounts: 1 });
  await using carol = await PeopleClient.connect(full.port);
  await carol.register("carol");
  equal(
    (await carol.request("register", { name: "dave", password: "correct horse" })).code,
    "too-many-accounts",
  );

  // One hash at a time and none queued: of parallel logins from several connections, those that
  // find the hasher taken are answered busy at once.
  await using busy = await startRegistry({
    ...FAST,
    passwordIterations: 200_000,
    hashConcurrency: 1,
    maxQueuedHashes: 0,
  });
  await using reg = await PeopleClient.connect(busy.port);
  const names = ["u1", "u2", "u3", "u4"];
  await reg.register(...names);
  const clients = await Promise.all(names.map(() => PeopleClient.connect(busy.port)));
  try {
    const answers = await Promise.all(
      clients.map((c, i) => c.request("login", { name: names[i]!, password: "correct horse" })),
    );
    const codes = answers.map((a) => a.op === "logged-in" ? "ok" : a.code);
    ok(codes.includes("ok") && codes.includes("busy"), JSON.stringify(codes));
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

Deno.test("people: an unanswered request is forgotten after requestTtlMs; a mailbox is bounded in bytes too", async () => {
  await using registry = await startRegistry({ ...FAST, requestTtlMs: 50, maxMailBytes: 10 });
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
  await bob.pushOf("dm-request");
  await new Promise((resolve) => setTimeout(resolve, 80));
  equal((await bob.request("dm-answer", { to: "alice", accept: false })).code, "no-request");
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("carol");
  equal((await alice.request("mail", { to: "carol", text: "0123456789" })).op, "mail-stored");
  equal((await alice.request("mail", { to: "carol", text: "x" })).code, "mailbox-full");
});

Deno.test("people: a member that expires goes offline for those who listen", async () => {
  await using registry = await startRegistry({ ...FAST, expiryMs: 50, sweepMs: 20 });
  await using alice = await PeopleClient.connect(registry.port);
  await alice.account("alice");
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room1:zed:127.0.0.1:4950::\r\n")).startsWith("M:"));
  deepEqual(await alice.pushOf("presence"), {
    op: "presence",
    name: "zed",
    state: "online",
    room: "room1",
  });
  // zed sends no keepalive: expired by the monitor, pushed as offline (unregistered: gone).
  deepEqual(await alice.pushOf("presence"), { op: "presence", name: "zed", state: "offline" });
  equal(registry.stats().members, 0);
});

Deno.test("people: a block hides bob's presence from mallory at once, an unblock shows it again", async () => {
  await using registry = await startRegistry(FAST);
  await using mallory = await PeopleClient.connect(registry.port);
  await mallory.account("mallory");
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  await bob.join("room1", "bob", 5000);
  deepEqual(await mallory.pushOf("presence"), {
    op: "presence",
    name: "bob",
    state: "online",
    room: "room1",
  });
  equal((await bob.request("block", { name: "mallory" })).op, "blocked");
  deepEqual(await mallory.pushOf("presence"), { op: "presence", name: "bob", state: "offline" });
  equal((await bob.request("unblock", { name: "mallory" })).op, "unblocked");
  deepEqual(await mallory.pushOf("presence"), {
    op: "presence",
    name: "bob",
    state: "online",
    room: "room1",
  });
});

Deno.test("people: a name in use in a room cannot be registered by another connection", async () => {
  await using registry = await startRegistry(FAST);
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room1:zed:127.0.0.1:5010::\r\n")).startsWith("M:"));
  await using other = await PeopleClient.connect(registry.port);
  equal(
    (await other.request("register", { name: "zed", password: "correct horse" })).code,
    "name-taken",
  );
  // Its own user may: the hello'd connection holding the member.
  ok((await seed.request("D:room1:zed:127.0.0.1:5010::\r\n")).startsWith("S:"));
  await using zed = await PeopleClient.connect(registry.port);
  ok((await zed.join("room1", "zed", 5011)).startsWith("M:"));
  await zed.account("zed");
});

Deno.test("people: the register example of docs/extensions.md is a frame the registry answers", async () => {
  const doc = Deno.readTextFileSync(new URL("../docs/extensions.md", import.meta.url));
  const line = doc.split("\n").map((l) => l.trim()).find((l) =>
    l.startsWith('X:67:{"op":"register"')
  )!;
  const match = /^X:(\d+):(.*)::\\r\\n$/.exec(line);
  ok(match, line);
  equal(Number(match[1]), match[2]!.length);
  await using registry = await startRegistry(FAST);
  await using client = await PeopleClient.connect(registry.port);
  deepEqual(
    JSON.parse(
      await client.client.request(`X:${match[1]}:${match[2]}::\r\n`).then((t) =>
        t.slice(t.indexOf("{"), t.lastIndexOf("}") + 1)
      ),
    ),
    {
      op: "registered",
      ref: "1",
      name: "bob",
    },
  );
});

Deno.test("people: a one-way mail-ack past the connection's people-op rate is dropped", async () => {
  await using registry = await startRegistry({
    ...FAST,
    peopleRequestsPerSecond: 0.001,
    peopleRequestBurst: 2,
  });
  await using reg = await PeopleClient.connect(registry.port);
  await reg.register("bob");
  await using alice = await PeopleClient.connect(registry.port);
  await alice.register("alice");
  const ids = [];
  for (const text of ["1", "2"]) {
    // Each connection has two ops: a login and one mail.
    await using sender = await PeopleClient.connect(registry.port);
    await sender.login("alice");
    ids.push((await sender.request("mail", { to: "bob", text })).id);
  }
  await using bob = await PeopleClient.connect(registry.port);
  equal((await bob.login("bob")).mail, 2);
  // The login spent one op of the two; the first ack the second; the next is over the rate.
  await bob.client.write(xFrame("mail-ack", { ids: [ids[0]] }));
  await bob.client.write(xFrame("mail-ack", { ids: [ids[1]] }));
  await using bob2 = await PeopleClient.connect(registry.port);
  equal((await bob2.login("bob")).mail, 1, "the second ack was not taken");
  deepEqual((await bob2.push()).id, ids[1]);
});

Deno.test("people: a hello'd connection with a room member is pushed presence changes without asking; one without a name is not", async () => {
  await using registry = await startRegistry(FAST);
  await using alice = await PeopleClient.connect(registry.port);
  ok((await alice.join("room1", "alice", 5100)).startsWith("M:"));
  await using nameless = await PeopleClient.connect(registry.port);
  await using bob = await PeopleClient.connect(registry.port);
  await bob.account("bob");
  deepEqual(await alice.pushOf("presence", 2000), {
    op: "presence",
    name: "bob",
    state: "online",
  });
  await bob.client.close();
  deepEqual(await alice.pushOf("presence", 2000), {
    op: "presence",
    name: "bob",
    state: "offline",
  });
  // Nameless asked nothing and owns no member: by now it would have had both pushes.
  equal((await nameless.request("search", { name: "bob" })).state, "offline");
  ok(!nameless.keptPushes.some((p) => p.op === "presence"), JSON.stringify(nameless.keptPushes));
});

Deno.test("people: presence rounds space out by the writes the last one cost (presenceWritesPerSecond)", async () => {
  await using registry = await startRegistry({ ...FAST, presenceWritesPerSecond: 10 });
  await using alice = await PeopleClient.connect(registry.port);
  ok((await alice.join("room1", "alice", 5200)).startsWith("M:"));
  await using seed = await RawClient.connect(registry.port);
  ok((await seed.request("J:room2:zed:127.0.0.1:5201::\r\n")).startsWith("M:"));
  deepEqual(await alice.pushOf("presence", 2000), {
    op: "presence",
    name: "zed",
    state: "online",
    room: "room2",
  });
  const first = performance.now();
  // One write (to alice) at 10 a second: the next round waits 100 ms, not presenceFlushMs (5).
  equal(await seed.request("D:room2:zed:127.0.0.1:5201::\r\n"), "S::\r\n");
  deepEqual(await alice.pushOf("presence", 2000), {
    op: "presence",
    name: "zed",
    state: "offline",
  });
  const ms = performance.now() - first;
  ok(ms >= 90, `the second round came ${ms.toFixed(1)} ms after the first`);
});
