/**
 * The text guard (peer/text_guard.ts) on its own, with a real membership,
 * dedup window and keys, fake links and a fake signature fetcher: what is
 * believed, what is a forgery, and which encoding goes to which link.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { decodeFrame, encodeFrame, msidOf, type TextFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { SeenWindow } from "../peer/flood.ts";
import { type Identity, loadIdentity } from "../peer/identity.ts";
import type { Link } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import { type Fetched, OwnSignatures, type SigFetcher } from "../peer/sig_fetch.ts";
import { signText } from "../peer/signed_text.ts";
import { TextGuard } from "../peer/text_guard.ts";

const carol = { name: "carol", ip: "127.0.0.1", port: 50003 };
const sam = { name: "sam", ip: "127.0.0.1", port: 50004 };
const carolHid = hashId(carol.name, carol.ip, carol.port).toString();
const samHid = hashId(sam.name, sam.ip, sam.port).toString();

function link(peer: typeof carol, verified: boolean): Link {
  return {
    peer: { ...peer, hashId: hashId(peer.name, peer.ip, peer.port) },
    auth: verified ? { verified: true, speaksRingchat: true } : undefined,
  } as unknown as Link;
}

async function fixture(
  fetched: (key: Identity) => Promise<Fetched> = () => Promise.resolve("unreachable"),
  admit = false,
) {
  const key: Identity = await loadIdentity(null);
  const members = new Membership(60_000);
  const list = [carol, sam];
  members.set({ type: "M", msid: msidOf(list), members: list }, 0);
  members.setInfo({
    room: "room1",
    msid: msidOf(list),
    members: [{ ...carol, key: key.publicKey }],
  });
  const seen = new SeenWindow();
  seen.setMembers([carolHid, "carol", samHid, "sam"]);
  const relayed: { frame: TextFrame; raw: Uint8Array }[] = [];
  const reports: string[] = [];
  const tasks: Promise<unknown>[] = [];
  let refused = 0;
  const guard = new TextGuard({
    identity: null,
    plain: false,
    members,
    seen,
    fetcher: { fetch: () => fetched(key) } as unknown as SigFetcher,
    own: new OwnSignatures(),
    relay: (_from, frame, raw) => {
      // As the relay does: a text it takes is seen from then on.
      if (admit) seen.admit(frame.originHid, frame.originName, frame.msgId, content(frame));
      relayed.push({ frame, raw });
    },
    refused: () => void refused++,
    report: (_key, _type, message) => void reports.push(message),
    track: <T>(p: Promise<T>) => {
      tasks.push(p);
      return p;
    },
    lookUp: () => Promise.resolve(),
    maxTextBytes: 64 * 1024,
  });
  const settle = async () => {
    while (tasks.length > 0) await tasks.shift();
  };
  return { key, guard, members, relayed, reports, settle, refused: () => refused };
}

const t = (text: string, msgId = 1n, originHid = carolHid): TextFrame => ({
  type: "T",
  room: "room1",
  originHid,
  originName: originHid === carolHid ? "carol" : "sam",
  msgId,
  text,
});

function content(frame: TextFrame): Uint8Array {
  return new TextEncoder().encode(frame.text);
}

Deno.test("text guard: a signed op verifies; a wrong signature is a forgery", async () => {
  const f = await fixture();
  const signed = await signText(f.key, t("hi"));
  const op = decodeFrame(signed.x);
  if (op.type !== "X") throw new Error("not X");
  f.guard.onTextOp(link(carol, true), op);
  await f.settle();
  equal(f.relayed.length, 1);
  ok(f.guard.verified(f.relayed[0]!.raw));
  // To a ringchat link the op goes on; to a seed link the T.
  deepEqual(f.guard.bytesFor(link(carol, true), f.relayed[0]!.raw), signed.x);
  deepEqual(f.guard.bytesFor(link(sam, false), f.relayed[0]!.raw), f.relayed[0]!.raw);
  const other = await signText(await loadIdentity(null), t("bye", 2n));
  const forged = decodeFrame(other.x);
  if (forged.type !== "X") throw new Error("not X");
  f.guard.onTextOp(link(carol, true), forged);
  await f.settle();
  equal(f.relayed.length, 1);
  equal(f.refused(), 1);
  ok(/claiming to be from carol/.test(f.reports[0]!));
});

Deno.test("text guard: a copy that arrives while the first is checked is a copy, not checked again", async () => {
  const f = await fixture(undefined, true);
  const op = decodeFrame((await signText(f.key, t("twice"))).x);
  // The same text under a signature of another key: checked, it would be a forgery.
  const other = decodeFrame((await signText(await loadIdentity(null), t("twice"))).x);
  if (op.type !== "X" || other.type !== "X") throw new Error("not X");
  // Both copies are in before the first one's check has run (two links, one turn).
  f.guard.onTextOp(link(carol, true), op);
  f.guard.onTextOp(link(sam, true), other);
  await f.settle();
  equal(f.refused(), 0, "the second copy was not verified");
  equal(f.relayed.length, 2, "it still reaches the relay, which drops and counts it");
  ok(f.guard.verified(f.relayed[0]!.raw));
  // As a copy after the first was believed already (checked before: seen, never verified).
  f.guard.onTextOp(link(sam, true), other);
  await f.settle();
  equal(f.refused(), 0);
});

Deno.test("text guard: a keyed origin's T over a proved link is a forgery; a seed origin's passes", async () => {
  const f = await fixture();
  const forged = t("forged");
  f.guard.onT(link(sam, true), forged, encodeFrame(forged), content(forged));
  equal(f.relayed.length, 0);
  equal(f.refused(), 1);
  const own = t("mine", 1n, samHid);
  f.guard.onT(link(sam, false), own, encodeFrame(own), content(own));
  equal(f.relayed.length, 1);
  ok(!f.guard.verified(f.relayed[0]!.raw));
});

Deno.test("text guard: a keyed origin's T from a seed link is believed only with its origin's signature", async () => {
  const stranger = await loadIdentity(null);
  const real = t("relayed");
  const sigOf = async (key: Identity) => {
    const op = decodeFrame((await signText(key, real)).x);
    if (op.type !== "X") throw new Error("not X");
    return Uint8Array.fromBase64(op.body.sig as string, { alphabet: "base64url" });
  };
  const cases: [string, (key: Identity) => Promise<Fetched>, number, boolean][] = [
    ["the origin's signature", sigOf, 1, true],
    ["another key's signature", () => sigOf(stranger), 0, false],
    ["none", () => Promise.resolve("none"), 0, false],
    ["no answer", () => Promise.resolve("unreachable"), 1, false],
  ];
  for (const [what, fetched, shown, verified] of cases) {
    const f = await fixture(fetched);
    f.guard.onT(link(sam, false), real, encodeFrame(real), content(real));
    await f.settle();
    equal(f.relayed.length, shown, what);
    if (shown === 1) {
      const raw = f.relayed[0]!.raw;
      equal(f.guard.verified(raw), verified, what);
      // Ringchat links get it as an op: signed when believed, unsigned when unverified.
      const op = decodeFrame(f.guard.bytesFor(link(carol, true), raw));
      equal(op.type === "X" && typeof op.body.sig === "string", verified, what);
    } else {
      equal(f.refused(), 1, what);
    }
  }
});

Deno.test("text guard: a text of an origin without a key is not shown before a text still being checked", async () => {
  // Commit 36f338b: such a text went to the relay at once, ahead of the keyed texts that came
  // before it and were still being verified (an out-of-order delivery in the fault suite).
  const f = await fixture();
  const op = async (key: Identity, frame: TextFrame) => {
    const x = decodeFrame((await signText(key, frame)).x);
    if (x.type !== "X") throw new Error("not X");
    return x;
  };
  const first = await op(f.key, t("carol's first", 1n));
  // sam has no key in my member-info: his text op passes unverified.
  const sams = await op(await loadIdentity(null), t("sam's", 1n, samHid));
  const second = await op(f.key, t("carol's second", 2n));
  // All in one turn, before the first one's check has run.
  f.guard.onTextOp(link(carol, true), first);
  f.guard.onTextOp(link(carol, true), sams);
  // The same origin too: carol's key leaves the member-info (a list in which she has none) while
  // her first text is checked; her second then passes unverified, still behind her first.
  const list = [carol, sam];
  ok(f.members.setInfo({ room: "room1", msid: msidOf(list), members: [] }));
  f.guard.onTextOp(link(carol, true), second);
  await f.settle();
  deepEqual(f.relayed.map((r) => r.frame.text), ["carol's first", "sam's", "carol's second"]);
  ok(f.guard.verified(f.relayed[0]!.raw));
  ok(!f.guard.verified(f.relayed[1]!.raw) && !f.guard.verified(f.relayed[2]!.raw));
  equal(f.refused(), 0);
});
