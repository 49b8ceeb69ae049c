/**
 * Link authentication (peer/link_auth.ts): the challenge and proof of one
 * link between two key pairs, and every way a proof is refused.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { decodeFrame, type ExtensionFrame } from "../lib/frames.ts";
import { type Identity, loadIdentity } from "../peer/identity.ts";
import { LinkAuth, type LinkAuthParams } from "../peer/link_auth.ts";

const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };

function x(bytes: Uint8Array | undefined): ExtensionFrame {
  ok(bytes !== undefined, "a frame to send");
  const frame = decodeFrame(bytes);
  if (frame.type !== "X") throw new Error(`not X: ${frame.type}`);
  return frame;
}

/** The linking side (alice) and the accepting side (bob), each knowing the other's key. */
async function pair(
  overrides: { linker?: Partial<LinkAuthParams>; acceptor?: Partial<LinkAuthParams> } = {},
) {
  const a = await loadIdentity(null);
  const b = await loadIdentity(null);
  const linker = new LinkAuth({
    identity: a,
    room: "room1",
    me: alice,
    peer: bob,
    peerKey: b.publicKey,
    role: "link",
    ...overrides.linker,
  });
  const acceptor = new LinkAuth({
    identity: b,
    room: "room1",
    me: bob,
    peer: alice,
    peerKey: a.publicKey,
    role: "accept",
    ...overrides.acceptor,
  });
  return { a, b, linker, acceptor };
}

Deno.test("link auth: both sides prove their keys to each other", async () => {
  const { linker, acceptor } = await pair();
  ok(linker.required && acceptor.required);
  const fromAlice = x(linker.challenge());
  equal(fromAlice.op, "link-auth");
  const fromBob = x(acceptor.challenge());
  const bobsProof = await acceptor.handle(fromAlice);
  const alicesProof = await linker.handle(fromBob);
  if (bobsProof.kind !== "none" || alicesProof.kind !== "none") throw new Error("no proofs");
  deepEqual(await acceptor.handle(x(alicesProof.reply)), { kind: "proved" });
  deepEqual(await linker.handle(x(bobsProof.reply)), { kind: "proved" });
  ok(linker.verified && acceptor.verified && linker.speaksRingchat && acceptor.speaksRingchat);
});

Deno.test("link auth: a proof for another challenge, role, claim or verifier is refused", async () => {
  const { a, linker, acceptor } = await pair();
  // A proof of alice's for an old challenge of bob's.
  const old = x(acceptor.challenge());
  const stale = await linker.handle(old);
  acceptor.challenge();
  if (stale.kind !== "none") throw new Error("no proof");
  equal((await acceptor.handle(x(stale.reply))).kind, "failed");
  // A proof made as the accepting side (reflected).
  const mirror = new LinkAuth({
    identity: a,
    room: "room1",
    me: alice,
    peer: bob,
    peerKey: (await loadIdentity(null)).publicKey,
    role: "accept",
  });
  const reflected = await mirror.handle(x(acceptor.challenge()));
  if (reflected.kind !== "none") throw new Error("no proof");
  equal((await acceptor.handle(x(reflected.reply))).kind, "failed");
  // Bob's key pair, claiming to be alice: a proof that alice's key does not verify.
  const { linker: impostor, acceptor: victim } = await pair({
    linker: { identity: await loadIdentity(null) },
  });
  const forged = await impostor.handle(x(victim.challenge()));
  if (forged.kind !== "none") throw new Error("no proof");
  deepEqual((await victim.handle(x(forged.reply))).kind, "failed");
  ok(!victim.verified);
});

Deno.test("link auth: an unsolicited proof fails; no proof for a peer whose key I do not know", async () => {
  const { linker, acceptor } = await pair();
  const proof = await linker.handle(x(acceptor.challenge()));
  if (proof.kind !== "none") throw new Error("no proof");
  const fresh = (await pair()).acceptor;
  equal((await fresh.handle(x(proof.reply))).kind, "failed");
  // Without bob's key alice does not answer (her proof could be relayed), until she learns it.
  const b: Identity = await loadIdentity(null);
  const unsure = new LinkAuth({
    identity: await loadIdentity(null),
    room: "room1",
    me: alice,
    peer: bob,
    peerKey: undefined,
    role: "link",
  });
  ok(!unsure.required);
  const challenge = new LinkAuth({
    identity: b,
    room: "room1",
    me: bob,
    peer: alice,
    peerKey: "unused",
    role: "accept",
  }).challenge();
  deepEqual(await unsure.handle(x(challenge)), { kind: "none", reply: undefined });
  const late = await unsure.setPeerKey(b.publicKey);
  equal(x(late).op, "link-proof");
});
