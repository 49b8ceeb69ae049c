/**
 * Ringchat peers with keys in one room (issue 16, "Anyone is anyone"), on
 * our registry (its member-info gives their proved keys): links
 * prove their keys, texts travel signed and are shown `verified`, a handshake
 * or a text claiming a keyed member from elsewhere is not believed, and seed
 * clients' texts still arrive exactly once, `verified: false`.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { decodeFrame, encodeFrame, type TextFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { loadIdentity } from "../peer/identity.ts";
import type { PeerOptions } from "../peer/peer.ts";
import { SigFetcher } from "../peer/sig_fetch.ts";
import { verifyText } from "../peer/signed_text.ts";
import { type RegistryHandle, startRegistry } from "../registry/registry.ts";
import { RawClient } from "./support/raw_client.ts";
import { meshConnected, type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { RawLink } from "./support/raw_peer.ts";

type Message = Extract<TestPeer["rec"]["events"][number], { type: "message" }>;

/** Waits until `condition` holds, checked every 10 ms (for counters, which emit no event). */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port nobody listens on (bound, then released). */
function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

interface Room extends AsyncDisposable {
  registry: RegistryHandle;
  peers: Map<string, TestPeer>;
  peer(name: string): TestPeer;
}

/**
 * A room on our registry of peers named `ringchat` (each says hello with a
 * new key and proves it) and `seeds` (plain: no hello, no key, no `X`, as
 * seed clients).
 */
async function room(
  ringchat: string[],
  seeds: string[] = [],
  options: PeerOptions = {},
  dataDirs: Record<string, string> = {},
) {
  const registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const peers = new Map<string, TestPeer>();
  const dispose = async () => {
    for (const p of peers.values()) await p.peer.quit();
    await registry.close();
  };
  try {
    for (const name of [...ringchat, ...seeds]) {
      const plain = seeds.includes(name);
      const dataDir = dataDirs[name] ?? null;
      peers.set(
        name,
        await testPeer(registry.port, { name, room: "room1", plain, dataDir, ...options }),
      );
    }
    await meshConnected([...peers.values()]);
  } catch (error) {
    await dispose();
    throw error;
  }
  const r: Room = {
    registry,
    peers,
    peer: (name) => peers.get(name)!,
    [Symbol.asyncDispose]: dispose,
  };
  return r;
}

function messages(p: TestPeer, text: string): Message[] {
  return p.rec.of("message").filter((m) => m.text === text);
}

/** Every peer sends one text; every other peer shows each exactly once. Returns what they showed. */
async function everyoneSends(r: Room, tag: string): Promise<Map<string, Message[]>> {
  const all = [...r.peers.values()];
  for (const [name, p] of r.peers) await p.peer.send(`${tag} from ${name}`);
  const expected = [...r.peers.keys()].map((name) => `${tag} from ${name}`);
  await untilAll(
    all,
    () => all.every((p) => expected.every((text) => messages(p, text).length >= 1)),
    `every ${tag} text everywhere`,
  );
  const shown = new Map<string, Message[]>();
  for (const [name, p] of r.peers) {
    const got = expected.map((text) => messages(p, text));
    for (const [i, list] of got.entries()) equal(list.length, 1, `${name}: ${expected[i]} once`);
    shown.set(name, got.map((list) => list[0]!));
  }
  return shown;
}

Deno.test("signed room: texts between ringchat peers are shown verified, by all", async () => {
  await using r = await room(["alice", "bob", "carol"]);
  const shown = await everyoneSends(r, "hello");
  for (const [name, list] of shown) {
    for (const m of list) equal(m.verified, true, `${name} shows ${m.from}'s text verified`);
  }
  // Too long for one op once escaped (180,000 bytes of JSON): the op, then its T.
  const long = "é".repeat(30_000);
  await r.peer("alice").peer.send(long);
  for (const name of ["bob", "carol"]) {
    const p = r.peer(name);
    await p.rec.until(() => messages(p, long).length === 1, `the long text at ${name}`);
    equal(messages(p, long)[0]!.verified, true);
  }
});

Deno.test("signed room: a P claiming bob from another socket gets no S, and bob's link stays", async () => {
  await using r = await room(["alice", "bob"], [], { handshakeTimeoutMs: 500 });
  const alice = r.peer("alice");
  const bob = r.peer("bob");
  const impostor = await RawLink.connect(alice.peer.port);
  await using _close = { [Symbol.asyncDispose]: () => impostor.close() };
  await impostor.write(`P:room1:bob:127.0.0.1:${bob.peer.port}:0::\r\n`);
  await impostor.closed(3000);
  ok(!impostor.frames.some((f) => f.startsWith("S:")), `no S: ${impostor.frames}`);
  match(impostor.frames[0] ?? "", /^X:\d+:\{"op":"link-auth","challenge":"[\w-]{43}"\}::\r\n$/);
  const refusals = alice.rec.of("info").map((e) => e.message).filter((m) => /bob/.test(m));
  ok(refusals.some((m) => /did not prove its key in time/.test(m)), refusals.join("; "));
  const downs = alice.rec.of("link").filter((e) => e.state === "down");
  deepEqual(downs, [], "the link with bob stayed up");
  await everyoneSends(r, "after");
});

Deno.test("signed room: a T as carol over a seed member's link is dropped and reported", async () => {
  const carolDir = await Deno.makeTempDir();
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(carolDir, { recursive: true }) };
  const carolKey = (await loadIdentity(carolDir)).publicKey;
  await using r = await room(["alice", "carol"], [], {}, { carol: carolDir });
  const alice = r.peer("alice");
  const carol = r.peer("carol");
  // mallory: a listed seed member (no hello, no key) that accepts no links.
  const port = deadPort();
  await using registration = await RawClient.connect(r.registry.port);
  await registration.write(`J:room1:mallory:127.0.0.1:${port}::\r\n`);
  match(await registration.frame(), /^M:/);
  const mallory = await RawLink.connect(alice.peer.port);
  await using _close = { [Symbol.asyncDispose]: () => mallory.close() };
  await mallory.write(`P:room1:mallory:127.0.0.1:${port}:0::\r\n`);
  await mallory.until(() => mallory.frames.some((f) => f.startsWith("S:")), "S");
  const carolHid = hashId("carol", "127.0.0.1", carol.peer.port).toString();
  const forged = (id: number, text: string) =>
    encodeFrame({
      type: "T",
      room: "room1",
      originHid: carolHid,
      originName: "carol",
      msgId: BigInt(id),
      text,
    });
  await mallory.write(forged(1, "forged as carol"));
  await alice.rec.until(
    () => alice.rec.of("error").some((e) => /claiming to be from carol/.test(e.message)),
    "the forgery reported",
  );
  deepEqual(messages(alice, "forged as carol"), []);
  deepEqual(messages(carol, "forged as carol"), []);
  // carol's real texts still reach alice, verified.
  await carol.peer.send("real carol");
  await alice.rec.until(() => messages(alice, "real carol").length === 1, "carol's text");
  equal(messages(alice, "real carol")[0]!.verified, true);
  // A copy of carol's real text with other content under its msgID: forged too.
  const real = messages(alice, "real carol")[0]!;
  const refused = alice.peer.stats().refused;
  await mallory.write(forged(Number(real.msgId), "changed"));
  await until(() => alice.peer.stats().refused > refused, "the changed copy refused");
  deepEqual(messages(alice, "changed"), []);
  // What alice asked carol: her signature of the real text, none for msgID 1.
  const fetcher = new SigFetcher(1000, AbortSignal.timeout(5000));
  const carolMember = { name: "carol", ip: "127.0.0.1", port: carol.peer.port };
  const sig = await fetcher.fetch(carolMember, "room1", carolHid, BigInt(real.msgId));
  ok(sig instanceof Uint8Array);
  const key = carolKey;
  const frame = { ...decodeFrame(forged(Number(real.msgId), "real carol")) } as TextFrame;
  ok(await verifyText(key, frame, new TextEncoder().encode("real carol"), sig));
  equal(await fetcher.fetch(carolMember, "room1", carolHid, 1n), "none");
});

Deno.test("signed room: a seed client's texts are verified:false and delivered once in a mixed room", async () => {
  await using r = await room(["alice", "bob"], ["sam"]);
  const shown = await everyoneSends(r, "mixed");
  for (const [name, list] of shown) {
    for (const m of list) {
      const expected = m.from !== "sam" && name !== "sam";
      equal(m.verified, expected, `${name} shows ${m.from}'s text verified: ${expected}`);
    }
  }
  const lines = r.peer("alice").rec.of("message").filter((m) => m.from === "sam");
  equal(lines.length, 1);
});
