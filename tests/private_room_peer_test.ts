/**
 * Private rooms in a peer (issue 11, item 7; docs/extensions.md, Private
 * rooms): joined with a password under a derived wire name, every text
 * encrypted; members see the real name and the plaintext; the registry and a
 * raw client that joins the wire name and links see neither; a wrong
 * password is another room; texts that do not decrypt are dropped and
 * reported once.
 */

import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { encodeFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { parseCommand, parseJsonCommand } from "../peer/commands.ts";
import { splitText } from "../peer/long_text.ts";
import { decryptText, derivePrivateRoom } from "../peer/private_room.ts";
import { PrivateSession } from "../peer/private_session.ts";
import { startRegistry } from "../registry/registry.ts";
import { RawClient } from "./support/raw_client.ts";
import { meshConnected, type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { dialSeed, otherFrames, seedTexts } from "./support/seed_link.ts";
import type { RawLink } from "./support/raw_peer.ts";

const PASSWORD = "correct horse battery staple";

function messages(p: TestPeer, text: string) {
  return p.rec.of("message").filter((m) => m.text === text);
}

function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("private room: members see its name and texts; the registry and a raw member of the wire name see neither", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { wireName, key } = await derivePrivateRoom("plans", PASSWORD);
  const options = { room: "plans", password: PASSWORD };
  const alice = await testPeer(registry.port, { name: "alice", ...options });
  const bob = await testPeer(registry.port, { name: "bob", ...options });
  await using raw = await RawClient.connect(registry.port);
  let eve: RawLink | undefined;
  try {
    await meshConnected([alice, bob]);
    equal(alice.rec.of("joined")[0]?.room, "plans", "the joined event shows the real name");
    // The registry knows the wire name only.
    const rooms = await raw.request("L::\r\n");
    equal(rooms, `G:${wireName}::\r\n`);
    // eve joins the wire name without the password, and links to alice.
    const evePort = deadPort();
    const members = await raw.request(`J:${wireName}:eve:127.0.0.1:${evePort}::\r\n`);
    match(members, /^M:\d+:eve:.*:bob:.*:alice:/);
    ok(!members.includes("plans"));
    await untilAll(
      [alice, bob],
      () => [alice, bob].every((p) => p.rec.of("members").at(-1)?.members.length === 3),
      "eve listed",
    );
    eve = await dialSeed(alice.peer.port, wireName, "eve", evePort);
    const secret = "the plans: meet at noon by the old mill";
    await alice.peer.send(secret);
    await bob.rec.until(() => messages(bob, secret).length === 1, "the text at bob");
    const [shown] = messages(bob, secret);
    equal(shown!.room, "plans");
    equal(shown!.verified, true);
    await eve.until(() => seedTexts(eve!).length >= 1, "the text at eve");
    const [t] = seedTexts(eve);
    equal(t!.frame.room, wireName);
    match(t!.frame.text, /^~e1~[A-Za-z0-9_-]+$/);
    for (const word of ["plans", "meet", "noon", "mill"]) ok(!t!.frame.text.includes(word));
    // With the key, it is alice's text under its own msgID.
    const binding = {
      wireRoom: wireName,
      originHid: t!.frame.originHid,
      originName: "alice",
      msgId: t!.frame.msgId,
    };
    equal(new TextDecoder().decode(await decryptText(key, t!.frame.text, binding)), secret);

    // A long text: eve is a seed client, so parts of at most 500 bytes, each encrypted.
    const long = "word ".repeat(300).trim();
    await alice.peer.send(long);
    const parts = splitText(long, 319);
    await bob.rec.until(() => messages(bob, long).length === 1, "the long text at bob, whole");
    await eve.until(() => seedTexts(eve!).length === 1 + parts.length, "every part at eve");
    deepEqual(otherFrames(eve), [], "no X reaches the seed client");
    for (const part of seedTexts(eve).slice(1)) {
      ok(part.content.length <= 500, `${part.content.length} bytes`);
      ok(!part.frame.text.includes("word"));
    }

    // eve's own plaintext: not shown, reported once.
    const eveHid = hashId("eve", "127.0.0.1", evePort).toString();
    for (const id of [1n, 2n]) {
      await eve.write(encodeFrame({
        type: "T",
        room: wireName,
        originHid: eveHid,
        originName: "eve",
        msgId: id,
        text: `plain ${id}`,
      }));
    }
    await alice.rec.until(
      () => alice.rec.of("error").some((e) => /does not decrypt/.test(e.message)),
      "the report",
    );
    await alice.peer.send("after eve");
    await bob.rec.until(() => messages(bob, "after eve").length === 1, "after eve");
    deepEqual(alice.rec.texts().filter((text) => text.startsWith("plain")), []);
    deepEqual(bob.rec.texts().filter((text) => text.startsWith("plain")), []);
    equal(alice.rec.of("error").filter((e) => /does not decrypt/.test(e.message)).length, 1);
  } finally {
    await eve?.close();
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

Deno.test("private room: a wrong password is another room", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "plans", password: PASSWORD });
  const bob = await testPeer(registry.port, { name: "bob" });
  try {
    await alice.rec.waitFor((e) => e.type === "joined", "alice joined");
    await bob.peer.join("plans", { password: "wrong" });
    const joined = bob.rec.of("joined")[0]!;
    equal(joined.room, "plans");
    deepEqual(joined.members.map((m) => m.name), ["bob"], "alone in another room");
    await bob.peer.send("hello?");
    // Alone, so one frame: the longest text is what fits 65,536 bytes once encrypted.
    await bob.peer.send("x".repeat(49_119));
    await rejects(bob.peer.send("x".repeat(49_120)), { code: "text-too-long" });
    await using raw = await RawClient.connect(registry.port);
    const rooms = (await raw.request("L::\r\n")).split(":").slice(1, -2);
    equal(rooms.length, 2);
    ok(rooms.every((r) => r.startsWith("~") && r.length === 25), rooms.join(", "));
    for (const e of alice.rec.of("members")) deepEqual(e.members.map((m) => m.name), ["alice"]);
    deepEqual(messages(alice, "hello?"), []);
  } finally {
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

Deno.test("private room: the derivation runs off the event loop; an empty password is refused", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice" });
  try {
    await rejects(alice.peer.join("plans", { password: "" }), { code: "bad-room-password" });
    equal(alice.peer.state, "NAMED");
    // A 5 ms timer keeps firing while the password is stretched (600,000 PBKDF2 rounds):
    // the longest pause between its ticks is a fraction of the join.
    let last = performance.now();
    let longest = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    try {
      await derivePrivateRoom("plans", PASSWORD);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - started;
    ok(longest < ms / 2, `longest pause ${longest.toFixed(0)} ms in ${ms.toFixed(0)} ms`);
    await alice.peer.join("plans", { password: PASSWORD });
    equal(alice.rec.of("joined")[0]?.room, "plans");
  } finally {
    await alice.peer.quit();
  }
});

Deno.test("private room: /join ROOM --password asks for the password; JSON takes it", () => {
  deepEqual(parseCommand("/join plans --password"), {
    type: "join",
    room: "plans",
    askPassword: true,
  });
  deepEqual(parseCommand("/join plans"), { type: "join", room: "plans" });
  deepEqual(parseJsonCommand('{"command":"join","room":"plans","password":"pw"}'), {
    type: "join",
    room: "plans",
    password: "pw",
  });
  match(
    (parseJsonCommand('{"command":"join","room":"plans","password":1}') as { message: string })
      .message,
    /password/,
  );
});

Deno.test("private room: a rejoin under the wire name stays private; a join without a password is an open room", async () => {
  const session = new PrivateSession();
  const wire = await session.enter("plans", PASSWORD);
  equal(session.shown(wire), "plans");
  equal(await session.enter(wire), wire, "a rejoin (a rename) keeps it");
  ok(session.roomOf(wire) !== null);
  equal(await session.enter("plans"), "plans", "no password: the open room");
  equal(session.room, null);
  equal(
    await session.decrypt("plans", "hello", { originHid: "1", originName: "a", msgId: 1n }),
    "hello",
  );
});

Deno.test("private room: a nick stays in it; /leave leaves it, and the same name without a password is another room", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { wireName } = await derivePrivateRoom("plans", PASSWORD);
  const options = { room: "plans", password: PASSWORD };
  const alice = await testPeer(registry.port, { name: "alice", ...options });
  const bob = await testPeer(registry.port, { name: "bob", ...options });
  await using raw = await RawClient.connect(registry.port);
  try {
    await meshConnected([alice, bob]);
    await alice.peer.nick("alicia");
    await untilAll(
      [alice, bob],
      () => bob.rec.of("nick").length === 1 && alice.rec.of("joined").length === 2,
      "the nick",
    );
    equal(alice.rec.of("joined")[1]?.room, "plans");
    await meshConnected([alice, bob]);
    await alice.peer.send("still private");
    await bob.rec.until(() => messages(bob, "still private").length === 1, "the text at bob");
    equal(messages(bob, "still private")[0]!.from, "alicia");
    equal(await raw.request("L::\r\n"), `G:${wireName}::\r\n`);
    await alice.peer.leave();
    equal(alice.rec.of("left").at(-1)?.room, "plans", "the left event shows the real name");
    await alice.peer.join("plans");
    equal(alice.rec.of("joined").at(-1)?.room, "plans");
    equal(await raw.request("L::\r\n"), `G:plans:${wireName}::\r\n`);
  } finally {
    await alice.peer.quit();
    await bob.peer.quit();
  }
});
