/** The registry's ringchat/2 hello, proof, member-info and member ownership (issues 11, 16). */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { encodeBase64Url } from "../lib/registry_proof.ts";
import { loadIdentity, registrySigningInput } from "../peer/identity.ts";
import { MemberInfoAssembler } from "../peer/registry_hello.ts";
import { type MemberInfoEntry, memberInfoFrames } from "../registry/member_push.ts";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import {
  decoded,
  extension,
  helloClient,
  memberList,
  UNKNOWN_REQUEST,
  xFrame,
} from "./support/hello_client.ts";
import { RawClient } from "./support/raw_client.ts";

const ALICE = "alice:127.0.0.1:50001";
const BOB = "bob:127.0.0.1:50002";
const HELD = "F:JOIN message - Member held by another connection!!::\r\n";
const DEPART_NOT_OWNER = "F:DEPART message - Not a member joined on this connection!!::\r\n";

function start(options: RegistryOptions = {}) {
  return startRegistry({ hostname: "127.0.0.1", port: 0, ...options });
}

function join(room: string, member: string): string {
  return `J:${room}:${member}::\r\n`;
}

Deno.test("registry hello: answers a ringchat/2 hello with version, features and a 32-byte challenge", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const key = (await loadIdentity(null)).publicKey;
  const reply = await client.request(xFrame("hello", { version: "ringchat/2", key }));
  match(
    reply,
    /^X:\d+:\{"op":"hello","version":"ringchat\/2","features":\["members-push","member-info","keys","people","members-delta"\],"challenge":"[A-Za-z0-9_-]{43}"\}::\r\n$/,
  );
  equal(Number(reply.split(":")[1]), reply.length - reply.indexOf("{") - 4, "the length is right");
  // A second hello on the connection is refused; an unknown op gets an X error, not F.
  deepEqual(
    extension(await client.request(xFrame("hello", { version: "ringchat/2" }))).body.code,
    "bad-request",
  );
  deepEqual(extension(await client.request(xFrame("shout", {}))).body.code, "unknown-op");
  // Seed requests on a hello'd connection are answered as ever.
  equal(await client.request("L::\r\n"), "G::\r\n");
});

Deno.test("registry hello: a hello of another version, or another op first, is the reference's F", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  equal(await client.request(xFrame("hello", { version: 2 })), UNKNOWN_REQUEST);
  equal(await client.request(xFrame("hello", { version: "ringchat/3" })), UNKNOWN_REQUEST);
  equal(await client.request(xFrame("prove", { sig: "AAAA" })), UNKNOWN_REQUEST);
  equal(await client.request(xFrame("member-info", {})), UNKNOWN_REQUEST);
  // Still a seed connection: a JOIN gets its M and nothing after it.
  equal(
    await client.request(join("room1", ALICE)),
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
  );
  equal(await client.request("L::\r\n"), "G:room1::\r\n", "no frame between the M and the G");
});

Deno.test("registry hello: a malformed key is refused with bad-request and the connection stays a seed one", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const reply = extension(
    await client.request(xFrame("hello", { version: "ringchat/2", key: "abc" })),
  );
  equal(reply.op, "error");
  equal(reply.body.code, "bad-request");
  equal(await client.request(xFrame("prove", { sig: "AAAA" })), UNKNOWN_REQUEST);
});

Deno.test("registry hello: a good proof is proved once; a bad one and a second one are refused", async () => {
  await using registry = await start();
  await using good = await helloClient(registry.port);
  equal(await good.prove(), 'X:15:{"op":"proved"}::\r\n');
  equal(extension(await good.prove()).body.code, "bad-request", "one proof per connection");

  await using bad = await helloClient(registry.port);
  // Signed with another key than the hello's.
  const other = await loadIdentity(null);
  const sig = await other.sign(registrySigningInput(bad.challenge, bad.identity.publicKey));
  const refused = extension(
    await bad.client.request(xFrame("prove", { sig: encodeBase64Url(sig) })),
  );
  equal(refused.op, "error");
  equal(refused.body.code, "bad-proof");
  // Garbage is a bad proof too; the challenge is spent by the first try.
  equal(extension(await bad.prove()).body.code, "bad-request");

  await using keyless = await RawClient.connect(registry.port);
  await keyless.request(xFrame("hello", { version: "ringchat/2" }));
  equal(
    extension(await keyless.request(xFrame("prove", { sig: "AAAA" }))).body.code,
    "bad-request",
  );
});

Deno.test("registry hello: every M to a hello'd connection is followed by member-info; keys only once proved", async () => {
  await using registry = await start();
  await using seed = await RawClient.connect(registry.port);
  await seed.request(join("room1", BOB));
  await using alice = await helloClient(registry.port);
  const m = await alice.client.request(join("room1", ALICE));
  deepEqual(memberList(m), [ALICE, BOB]);
  const info = extension(await alice.client.frame());
  deepEqual(info, {
    type: "X",
    op: "member-info",
    body: {
      room: "room1",
      msid: (decoded(m) as { msid: bigint }).msid.toString(),
      members: [{ name: "alice", ip: "127.0.0.1", port: 50001, ringchat: true }],
    },
  });
  // Proving after joining pushes the new member-info (with the same M).
  equal(await alice.prove(), 'X:15:{"op":"proved"}::\r\n');
  equal(await alice.client.frame(), m);
  deepEqual(extension(await alice.client.frame()).body.members, [
    { name: "alice", ip: "127.0.0.1", port: 50001, ringchat: true, key: alice.identity.publicKey },
  ]);
  // A keepalive's M is followed by member-info too.
  equal(await alice.client.request(join("room1", ALICE)), m);
  equal(extension(await alice.client.frame()).op, "member-info");
});

Deno.test("registry hello: a seed client's replies are byte for byte the same, and it gets nothing unasked, while ringchat members come and go", async () => {
  // The same script of seed requests, against a registry with and without ringchat traffic.
  async function seedScript(port: number, between: () => Promise<void>): Promise<string[]> {
    await using seed = await RawClient.connect(port);
    const replies = [await seed.request(join("room1", BOB))];
    await between();
    replies.push(await seed.request(join("room1", BOB)));
    replies.push(await seed.request("L::\r\n"));
    replies.push(await seed.request(xFrame("hello", { version: 1 })));
    replies.push(await seed.request("D:room1:bob:127.0.0.1:50002::\r\n"));
    return replies;
  }
  await using quiet = await start();
  const expected = await seedScript(quiet.port, () => Promise.resolve());
  await using busy = await start();
  const got = await seedScript(busy.port, async () => {
    // Ringchat members join, prove, leave, depart, in the seed's room and another.
    for (let i = 0; i < 5; i++) {
      await using x = await helloClient(busy.port);
      await x.prove();
      await x.client.request(join(i % 2 === 0 ? "room1" : "room2", `r${i}:127.0.0.1:${41000 + i}`));
      await x.client.frame(); // its member-info
      if (i % 2 === 1) await x.client.request(`D:room2:r${i}:127.0.0.1:${41000 + i}::\r\n`);
    }
    // Every close is handled: the room holds the seed alone again.
    const deadline = Date.now() + 5000;
    while (busy.stats().members !== 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  deepEqual(got, expected);
  equal(got[3], UNKNOWN_REQUEST);
});

Deno.test("registry hello: member-info too big for one frame goes in parts that join up", () => {
  const entries: MemberInfoEntry[] = [];
  for (let i = 0; i < 300; i++) {
    entries.push({ name: `m${i}é`, ip: "10.0.0.1", port: 30000 + i, ringchat: true });
  }
  const frames = memberInfoFrames("room1", "42", entries, 4096);
  ok(frames.length > 1, `${frames.length} parts`);
  const assembler = new MemberInfoAssembler();
  let whole = null;
  for (const [i, bytes] of frames.entries()) {
    const text = new TextDecoder().decode(bytes);
    ok(Number(text.split(":")[1]) <= 4096, "each part's JSON within the bound");
    const frame = extension(text);
    equal(frame.body.part, i);
    equal(frame.body.parts, frames.length);
    whole = assembler.feed(frame);
    if (i < frames.length - 1) equal(whole, null);
  }
  deepEqual(
    whole!.members.map((m) => `${m.name}:${m.port}`),
    entries.map((m) => `${m.name}:${m.port}`),
  );
  equal(whole!.msid, 42n);
  // One that fits is one frame without part fields.
  const one = extension(
    new TextDecoder().decode(memberInfoFrames("room1", "42", entries.slice(0, 3))[0]!),
  );
  equal(one.body.part, undefined);
});

Deno.test("registry ownership: a twin's JOIN is refused and its DEPART or close removes nothing", async () => {
  await using registry = await start();
  await using alice = await RawClient.connect(registry.port);
  const reply = await alice.request(join("room1", ALICE));
  for (let i = 0; i < 10; i++) {
    await using twin = await RawClient.connect(registry.port);
    equal(await twin.request(join("room1", ALICE)), HELD);
    if (i % 2 === 1) equal(await twin.request(`D:room1:${ALICE}::\r\n`), DEPART_NOT_OWNER);
  }
  equal(await alice.request(join("room1", ALICE)), reply, "alice is still listed, unchanged");
  // A hello'd twin with a proved key of its own is refused as well.
  await using proved = await helloClient(registry.port);
  await proved.prove();
  equal(await proved.client.request(join("room1", ALICE)), HELD);
});

Deno.test("registry ownership: the holder's own key, proved on a new connection, takes the member over", async () => {
  await using registry = await start();
  const me = await loadIdentity(null);
  await using old = await helloClient(registry.port, me);
  await old.prove();
  const m = await old.client.request(join("room1", ALICE));
  await old.client.frame(); // member-info
  await using fresh = await helloClient(registry.port, me);
  // Unproved, the same key is not enough.
  equal(await fresh.client.request(join("room1", ALICE)), HELD);
  await fresh.prove();
  equal(await fresh.client.request(join("room1", ALICE)), m);
  // The old connection is told, then closed; the member stays, held by the new one.
  const told = await old.client.closedByPeer();
  ok(told.some((f) => f.startsWith("X:") && extension(f).body.code === "taken-over"), told.join());
  equal(registry.stats().members, 1);
  await using twin = await RawClient.connect(registry.port);
  equal(await twin.request(join("room1", ALICE)), HELD);
});

Deno.test("registry hello: the page's hello example is answered, its member-info example reads", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/extensions.md", import.meta.url));
  const lines = doc.split("\n").map((line) => line.trim());
  const hello = lines.find((line) => line.startsWith("X:") && line.includes('{"op":"hello"'))!;
  const wire = hello.replace(/\\r\\n$/, "\r\n");
  equal(Number(wire.split(":")[1]), wire.length - wire.indexOf("{") - 4, "its length is right");
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  equal(extension(await client.request(wire)).op, "hello");
  const json = lines.find((line) => line.startsWith('{"op":"member-info"'))!;
  const { op, ...body } = JSON.parse(json);
  const info = new MemberInfoAssembler().feed({ type: "X", op, body });
  equal(info!.msid, 2909318189333896768n);
  equal(info!.members[0]!.key, "lYq2cC2HWqmFiKxkAh0BJEUk0vzqMnKaCZf_XCWkBmE");
});

Deno.test("registry hello: a member-info key counts only as 32 bytes of unpadded base64url", async () => {
  const key = (await loadIdentity(null)).publicKey;
  const cases: [string, string | null][] = [
    [key, key],
    [key.slice(0, 42), null],
    [`${key}A`, null],
    [`${key}=`, null],
    [`${key.slice(0, 42)}+`, null],
    [`${key.slice(0, 42)}/`, null],
    [` ${key.slice(1)}`, null],
  ];
  for (const [given, proved] of cases) {
    const info = new MemberInfoAssembler().feed({
      type: "X",
      op: "member-info",
      body: {
        room: "r",
        msid: "1",
        members: [{ name: "a", ip: "127.0.0.1", port: 1, ringchat: true, key: given }],
      },
    });
    equal(info!.members[0]!.key, proved, JSON.stringify(given));
  }
});
