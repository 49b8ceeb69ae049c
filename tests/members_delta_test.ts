/**
 * The `members-delta` op (lib/members_delta.ts): the registry's builder, the
 * frames and their parts, the peer's reader with its bounds, the applier,
 * and the peer's membership view taking a chain of deltas
 * (`Membership.applyDelta`): every random run of joins, leaves and proofs
 * gives the registry's list and MSID, and a missed or forged delta is never
 * taken.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { decodeFrame, type ExtensionFrame, type Member, msidOf } from "../lib/frames.ts";
import {
  applyMembersDelta,
  type DeltaMember,
  isEmptyDelta,
  type ListState,
  MAX_DELTA_ENTRIES,
  type MembersDelta,
  membersDelta,
  MembersDeltaAssembler,
  membersDeltaFrames,
  readMembersDelta,
} from "../lib/members_delta.ts";
import { memberKey, ringOrder } from "../lib/ring.ts";
import { Membership } from "../peer/membership.ts";
import { countedMode, messageMode } from "../lib/overlay_mode.ts";

const KEY = "lYq2cC2HWqmFiKxkAh0BJEUk0vzqMnKaCZf_XCWkBmE";

function member(i: number): Member {
  return { name: `m${i}`, ip: "127.0.0.1", port: 40000 + i };
}

function state(members: Member[], info: [Member, string | null][] = []): ListState {
  return {
    msid: msidOf(members).toString(),
    members,
    info: new Map(info.map(([m, key]) => [memberKey(m), key])),
  };
}

function x(bytes: Uint8Array): ExtensionFrame {
  const frame = decodeFrame(bytes);
  equal(frame.type, "X");
  return frame as ExtensionFrame;
}

const make = (m: DeltaMember): Member => ({ name: m.name, ip: m.ip, port: m.port });
const keys = (list: readonly Member[]) => list.map(memberKey);

Deno.test("members delta: a join, a leave with its reason, a proof; applied, it is the new list", () => {
  const [a, b, c] = [member(1), member(2), member(3)];
  const from = state([b, a], [[b, null]]);
  const to = state([c, a], [[c, null], [a, KEY]]);
  const delta = membersDelta("r", from, to, [{ ...b, reason: "left" }])!;
  deepEqual(delta.added, [{ ...c, ringchat: true }]);
  deepEqual(delta.removed, [{ ...b, reason: "left" }]);
  deepEqual(delta.info, [{ ...a, ringchat: true, key: KEY }]);
  equal(delta.from, from.msid);
  equal(delta.msid, to.msid);
  const next = applyMembersDelta(from.members, delta, make)!;
  deepEqual(keys(next), keys(to.members));
  equal(msidOf(next).toString(), to.msid);
});

Deno.test("members delta: lists that do not chain (a kept member moved, an added one not newest) make none", () => {
  const [a, b, c] = [member(1), member(2), member(3)];
  equal(membersDelta("r", state([b, a]), state([a, b])), null);
  equal(membersDelta("r", state([b, a]), state([b, c, a])), null);
  const same = membersDelta("r", state([b, a]), state([b, a]))!;
  ok(isEmptyDelta(same));
});

Deno.test("members delta: a big delta is split in parts under the JSON limit; the parts join in order only", () => {
  const before = Array.from({ length: 50 }, (_, i) => member(i));
  const added = Array.from({ length: 300 }, (_, i) => member(1000 + i));
  const delta = membersDelta("r", state(before), state([...added, ...before.slice(10)]))!;
  const frames = membersDeltaFrames(delta, 2048);
  ok(frames.length > 5, `${frames.length} parts`);
  for (const f of frames) {
    const json = new TextDecoder().decode(f).split(":").slice(2).join(":");
    ok(json.length < 2048 + 10);
  }
  const whole = new MembersDeltaAssembler();
  let got: ReturnType<MembersDeltaAssembler["feed"]> = null;
  for (const f of frames) got = whole.feed(x(f));
  ok(got !== null && got !== "bad");
  deepEqual(got, delta);

  // A part missing: the run is dropped, never taken.
  const broken = new MembersDeltaAssembler();
  const results = frames.filter((_, i) => i !== 2).map((f) => broken.feed(x(f)));
  ok(results.includes("bad"));
  ok(results.every((r) => r === null || r === "bad"));
});

Deno.test("members delta: the reader refuses malformed deltas whole (bad MSID, a name with ':', too many entries)", () => {
  const good = { room: "r", from: "1", msid: "2", added: [member(1)], removed: [], info: [] };
  const frame = (body: Record<string, unknown>): ExtensionFrame => ({
    type: "X",
    op: "members-delta",
    body,
  });
  ok(readMembersDelta(frame(good)) !== null);
  equal(readMembersDelta(frame({ ...good, from: "01" })), null);
  equal(readMembersDelta(frame({ ...good, msid: (1n << 64n).toString() })), null);
  equal(readMembersDelta(frame({ ...good, added: [{ ...member(1), name: "a:b" }] })), null);
  equal(readMembersDelta(frame({ ...good, removed: [{ ...member(1), port: 70000 }] })), null);
  equal(readMembersDelta(frame({ ...good, info: "x" })), null);
  const many = Array.from({ length: MAX_DELTA_ENTRIES + 1 }, () => member(1));
  equal(readMembersDelta(frame({ ...good, added: many })), null);
  // A rename without its new name is a removal without a reason.
  const renamed = readMembersDelta(
    frame({ ...good, removed: [{ ...member(2), reason: "renamed" }] }),
  );
  deepEqual(renamed?.removed, [member(2)]);
});

Deno.test("members delta: the applier refuses a delta that does not fit the list", () => {
  const [a, b, c] = [member(1), member(2), member(3)];
  const list = [b, a];
  const base = { room: "r", from: "0", msid: "0", added: [], removed: [], info: [] };
  equal(applyMembersDelta(list, { ...base, removed: [c] }, make), null);
  equal(applyMembersDelta(list, { ...base, added: [a] }, make), null);
  equal(applyMembersDelta(list, { ...base, added: [c, c] }, make), null);
  equal(applyMembersDelta(list, { ...base, removed: [a, a] }, make), null);
  equal(applyMembersDelta(list, { ...base, info: [c] }, make), null);
  deepEqual(keys(applyMembersDelta(list, { ...base, removed: [a], added: [a] }, make)!), [
    memberKey(a),
    memberKey(b),
  ]);
});

/** One step of a room's life, as the registry sees it. */
type Op = { kind: "join" } | { kind: "leave"; at: number } | { kind: "prove"; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "join" as const }) },
  { weight: 3, arbitrary: fc.nat(1000).map((at) => ({ kind: "leave" as const, at })) },
  { weight: 1, arbitrary: fc.nat(1000).map((at) => ({ kind: "prove" as const, at })) },
);

/** The registry's lists after each step of `ops`, with the removals' reasons. */
function lives(
  ops: readonly Op[],
  burst: number,
  speaks: (n: number) => boolean = (n) => n % 3 !== 0,
): { state: ListState; left: Member[] }[] {
  let members: Member[] = [member(0)];
  let info = new Map<string, string | null>([[memberKey(members[0]!), null]]);
  let next = 1;
  const out = [{
    state: { msid: msidOf(members).toString(), members, info },
    left: [] as Member[],
  }];
  for (let i = 0; i < ops.length; i += burst) {
    const left: Member[] = [];
    members = [...members];
    info = new Map(info);
    for (const step of ops.slice(i, i + burst)) {
      if (step.kind === "join") {
        const m = member(next++);
        members.unshift(m);
        if (speaks(next)) info.set(memberKey(m), null);
      } else if (members.length > 0 && step.kind === "leave") {
        const [gone] = members.splice(step.at % members.length, 1);
        info.delete(memberKey(gone!));
        left.push(gone!);
      } else if (members.length > 0) {
        const m = members[step.at % members.length]!;
        if (info.has(memberKey(m))) info.set(memberKey(m), KEY);
      }
    }
    out.push({ state: { msid: msidOf(members).toString(), members, info }, left });
  }
  return out;
}

/** A peer's view that took `first` as its list, with its member info. */
function viewOf(first: ListState): Membership {
  const view = new Membership(1000);
  view.set({ type: "M", msid: BigInt(first.msid), members: [...first.members] }, 0);
  view.setInfo({
    room: "r",
    msid: BigInt(first.msid),
    members: first.members.map((m) => ({ ...m, key: first.info.get(memberKey(m)) ?? null })),
  });
  return view;
}

Deno.test("members delta (property): every chain of deltas makes the registry's list, MSID, ring and info at the peer", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 6 }), (ops, burst) => {
      const states = lives(ops, burst);
      const first = states[0]!.state;
      const view = viewOf(first);
      let list: Member[] = [...first.members];
      for (let i = 1; i < states.length; i++) {
        const { state: to, left } = states[i]!;
        const from = states[i - 1]!.state;
        const delta = membersDelta(
          "r",
          from,
          to,
          left.map((m) => ({ ...m, reason: "left" as const })),
        )!;
        ok(delta !== null, "a registry's lists always chain");
        // Through the wire: frames (split small), read back, joined.
        const assembler = new MembersDeltaAssembler();
        let read: MembersDelta | null | "bad" = null;
        for (const f of membersDeltaFrames(delta, 600)) read = assembler.feed(x(f));
        ok(read !== null && read !== "bad");
        list = applyMembersDelta(list, read, make)!;
        deepEqual(keys(list), keys(to.members));
        equal(msidOf(list).toString(), to.msid);
        ok(view.applyDelta(read, i) !== null, `step ${i} taken`);
        equal(view.msid.toString(), to.msid);
        deepEqual(keys(view.members), keys(to.members));
        deepEqual(
          keys(view.ring),
          to.members.length === 0 ? [] : keys(ringOrder(to.members, to.members[0]!)),
        );
        for (const m of to.members) {
          equal(view.speaksRingchat(m), to.info.has(memberKey(m)));
          equal(view.keyOf(m), to.info.get(memberKey(m)) ?? null);
        }
        deepEqual(
          view.infos().map((m) => `${m.name}:${m.ringchat}`),
          to.members.map((m) => `${m.name}:${to.info.has(memberKey(m))}`),
        );
        for (const m of left) {
          ok(!view.knownOrigin(m.name) || to.members.some((t) => t.name === m.name));
        }
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("members delta: the peer takes a delta only from its own list, and only when it hashes to its MSID", () => {
  const [a, b, c] = [member(1), member(2), member(3)];
  const s1 = state([a], [[a, null]]);
  const s2 = state([b, a], [[a, null], [b, null]]);
  const s3 = state([c, b, a], [[a, null], [b, null], [c, null]]);
  const view = new Membership(1000);
  view.set({ type: "M", msid: BigInt(s1.msid), members: [a] }, 0);
  view.setInfo({ room: "r", msid: BigInt(s1.msid), members: [{ ...a, key: null }] });
  const d12 = membersDelta("r", s1, s2)!;
  const d23 = membersDelta("r", s2, s3)!;
  // Missed d12: d23 does not start from my list.
  equal(view.applyDelta(d23, 1), null);
  equal(view.msid.toString(), s1.msid);
  // A forged MSID: the list it makes does not hash to it; nothing changes.
  equal(view.applyDelta({ ...d12, msid: s3.msid }, 1), null);
  equal(view.msid.toString(), s1.msid);
  deepEqual(keys(view.members), [memberKey(a)]);
  // The chain in order is taken.
  ok(view.applyDelta(d12, 2) !== null);
  ok(view.applyDelta(d23, 3) !== null);
  equal(view.msid.toString(), s3.msid);
  deepEqual(keys(view.members), keys(s3.members));
  // No member info for my list (a plain registry's list): no delta is taken.
  const plain = new Membership(1000);
  plain.set({ type: "M", msid: BigInt(s1.msid), members: [a] }, 0);
  equal(plain.applyDelta(d12, 1), null);
});

Deno.test("members delta (property): the mode kept through deltas is the mode of a full scan of the list", () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 80 }),
      fc.integer({ min: 1, max: 6 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 4 }),
      (ops, burst, quiet) => {
        // Members `quiet` do not speak ringchat/2: the room is in tree mode while none is listed.
        const states = lives(ops, burst, (n) => !quiet.includes(n));
        const view = viewOf(states[0]!.state);
        const scanned = () => messageMode(view.ring, (m) => view.speaksRingchat(m) === true);
        equal(countedMode(view.members.length, view.speakers()), scanned());
        for (let i = 1; i < states.length; i++) {
          const { state: to, left } = states[i]!;
          const from = states[i - 1]!.state;
          const reasons = left.map((m) => ({ ...m, reason: "left" as const }));
          ok(view.applyDelta(membersDelta("r", from, to, reasons)!, i) !== null, `step ${i} taken`);
          const speakers = to.members.filter((m) => to.info.has(memberKey(m))).length;
          equal(view.speakers(), speakers, `step ${i}: the speakers counted`);
          equal(
            countedMode(view.members.length, view.speakers()),
            scanned(),
            `step ${i}: the mode`,
          );
        }
      },
    ),
    { numRuns: 200 },
  );
});
