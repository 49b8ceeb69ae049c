import assert from "node:assert/strict";
import fc from "fast-check";
import { forwardCandidates, memberKey, ringOrder, successors, withHashIds } from "../lib/ring.ts";
import type { Member } from "../lib/frames.ts";

// HashIDs: alice 1419600254385803609 < bob 7096407668745481807 < carol 18077499783421377068.
const alice: Member = { name: "alice", ip: "127.0.0.1", port: 50001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 50002 };
const carol: Member = { name: "carol", ip: "127.0.0.1", port: 50003 };
const none = () => false;
const names = (ms: Member[]) => ms.map((m) => m.name);

Deno.test("ring: sorts members by HashID, not by the registry's order", () => {
  assert.deepEqual(names(ringOrder([carol, bob, alice], alice)), ["alice", "bob", "carol"]);
  assert.deepEqual(ringOrder([carol], alice).map((m) => m.hashId), [
    1419600254385803609n,
    18077499783421377068n,
  ]);
});

Deno.test("ring: tries members from the one after me, wrapping around", () => {
  assert.deepEqual(names(forwardCandidates([carol, bob, alice], alice, none)), ["bob", "carol"]);
  assert.deepEqual(names(forwardCandidates([carol, bob, alice], bob, none)), ["carol", "alice"]);
  assert.deepEqual(names(forwardCandidates([carol, bob, alice], carol, none)), ["alice", "bob"]);
});

Deno.test("ring: skips a member that already links back", () => {
  const linksBack = (m: Member) => m.name === "bob";
  assert.deepEqual(names(forwardCandidates([carol, bob, alice], alice, linksBack)), ["carol"]);
  assert.deepEqual(names(forwardCandidates([carol, bob, alice], alice, () => true)), []);
});

Deno.test("ring: a lone member has nobody to link to", () => {
  assert.deepEqual(forwardCandidates([alice], alice, none), []);
  assert.deepEqual(forwardCandidates([], alice, none), []);
});

Deno.test("ring: counts me in even when the list lacks me", () => {
  assert.deepEqual(names(forwardCandidates([carol, alice], bob, none)), ["carol", "alice"]);
});

Deno.test("ring: lists a member named twice once", () => {
  assert.deepEqual(names(forwardCandidates([bob, bob, carol, alice], alice, none)), [
    "bob",
    "carol",
  ]);
});

Deno.test("ring: every other member is a candidate exactly once, in ring order", () => {
  const member = fc.record({
    name: fc.string({ minLength: 1, maxLength: 8 }),
    ip: fc.constantFrom("127.0.0.1", "10.0.0.2"),
    port: fc.integer({ min: 1, max: 65535 }),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(member, { selector: memberKey, minLength: 1, maxLength: 30 }),
      fc.nat(),
      (ms, i) => {
        const me = ms[i % ms.length]!;
        const got = forwardCandidates(ms, me, none);
        assert.equal(got.length, ms.length - 1);
        assert.ok(!got.some((m) => memberKey(m) === memberKey(me)));
        const ring = ringOrder(ms, me);
        const x = ring.findIndex((m) => memberKey(m) === memberKey(me));
        got.forEach((m, step) =>
          assert.equal(memberKey(m), memberKey(ring[(x + 1 + step) % ring.length]!))
        );
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("ring: successors gives each member the first of its forward candidates", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ name: fc.string({ maxLength: 4 }), port: fc.nat(3) }), {
        selector: (m) => `${m.name}:${m.port}`,
        maxLength: 12,
      }),
      (raw) => {
        const members = withHashIds(raw.map((m) => ({ ...m, ip: "127.0.0.1" })));
        const successorOf = successors(members);
        for (const m of members) {
          assert.deepEqual(successorOf(m), forwardCandidates(members, m, none)[0]);
        }
        assert.equal(successorOf({ name: "absent!", ip: "10.0.0.1", port: 1 }), undefined);
      },
    ),
  );
});

Deno.test("ring: a member with its HashID is not hashed again", () => {
  const [a] = withHashIds([{ ...alice, hashId: 7n } as Member]);
  assert.equal(a!.hashId, 7n);
  assert.equal(withHashIds([alice])[0]!.hashId, 1419600254385803609n);
});
