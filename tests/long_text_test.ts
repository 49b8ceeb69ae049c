import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../lib/errors.ts";
import {
  type Delivery,
  parsePartsOp,
  partsGroup,
  partsOpBody,
  Reassembler,
  splitText,
  type TextPart,
} from "../peer/long_text.ts";

const ALICE = "1419600254385803609";
const BOB = "7096407668745481807";
const encoder = new TextEncoder();

function bytes(text: string): number {
  return encoder.encode(text).length;
}

function textParts(originHid: string, first: bigint, parts: string[]): TextPart[] {
  const originName = originHid === ALICE ? "alice" : "bob";
  return parts.map((text, i) => ({ originHid, originName, msgId: first + BigInt(i), text }));
}

function feed(reassembler: Reassembler, parts: TextPart[]): Delivery[] {
  return parts.flatMap((p) => reassembler.part(p));
}

Deno.test("long text: cuts 1,200 ASCII bytes into 500, 500 and 200", () => {
  const text = "x".repeat(1200);
  deepEqual(splitText(text).map(bytes), [500, 500, 200]);
  deepEqual(splitText(text, 600).map(bytes), [600, 600]);
  deepEqual(splitText("short"), ["short"]);
  deepEqual(splitText(""), []);
});

Deno.test("long text: never cuts inside a character", () => {
  // "😀" is 4 bytes, "é" 2, "€" 3.
  deepEqual(splitText("😀😀😀", 4), ["😀", "😀", "😀"]);
  deepEqual(splitText("😀😀😀", 7), ["😀", "😀", "😀"]);
  deepEqual(splitText("a😀", 4), ["a", "😀"]);
  deepEqual(splitText("éé€", 5), ["éé", "€"]);
  deepEqual(splitText(encoder.encode("€€"), 5), ["€", "€"]);
});

Deno.test("long text: prefers to cut after a space or a line break in the part's second half", () => {
  deepEqual(splitText("hello world again", 14), ["hello world ", "again"]);
  deepEqual(splitText("line one\nline two", 12), ["line one\n", "line two"]);
  // A space in the first half is too early: the part is cut full.
  deepEqual(splitText("a bcdefghijklmnop", 10), ["a bcdefghi", "jklmnop"]);
});

Deno.test("long text: refuses parts under 4 bytes, bytes that are not UTF-8, lone surrogates", () => {
  throws(() => splitText("abc", 3), RangeError);
  throws(() => splitText("abc", 4.5), RangeError);
  throws(() => splitText(new Uint8Array([0x61, 0xff, 0x62]), 10), TypeError);
  throws(() => splitText(new Uint8Array([0xf0, 0x9f]), 10), TypeError);
  throws(() => splitText("a\ud800b", 10), TypeError);
});

Deno.test("long text: any text and any part size of at least 4 rejoin, in valid parts", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 400 }),
      fc.integer({ min: 4, max: 600 }),
      (text, max) => {
        const parts = splitText(text, max);
        equal(parts.join(""), text);
        for (const part of parts) {
          ok(part.length > 0, "no empty part");
          ok(bytes(part) <= max, `part of ${bytes(part)} bytes over ${max}`);
          ok(part.isWellFormed(), "no lone surrogate: no character was cut");
        }
        deepEqual(splitText(encoder.encode(text), max), parts, "bytes cut as the string");
        if (bytes(text) <= max) deepEqual(parts, text === "" ? [] : [text]);
      },
    ),
    { numRuns: 2_000 },
  );
});

Deno.test("long text: the parts op body round-trips, 64-bit fields as decimal strings", () => {
  const parts = splitText("é".repeat(600));
  const group = partsGroup(parts, (1n << 64n) - 3n);
  equal(group.count, 3);
  equal(group.bytes, 1200);
  const body = partsOpBody({ room: "room1", originHid: ALICE, group });
  equal(body.first, "18446744073709551613");
  ok(/^[\x20-\x7e]+$/.test(JSON.stringify({ op: "parts", ...body })), "ASCII JSON");
  deepEqual(parsePartsOp(JSON.parse(JSON.stringify(body))), {
    room: "room1",
    originHid: ALICE,
    group,
  });
});

Deno.test("long text: a malformed parts op is a ProtocolError", () => {
  const good = partsOpBody({
    room: "room1",
    originHid: ALICE,
    group: partsGroup(["ab", "cd"], 5n),
  });
  for (
    const bad of [
      { ...good, room: 3 },
      { ...good, origin: undefined },
      { ...good, first: 5 },
      { ...good, first: "05" },
      { ...good, first: "18446744073709551616" },
      { ...good, digest: "-1" },
      { ...good, count: "2" },
      { ...good, bytes: 1.5 },
    ]
  ) {
    throws(() => parsePartsOp(bad), ProtocolError, JSON.stringify(bad));
  }
});

Deno.test("long text: announced parts come out as one message, whatever their order", () => {
  const parts = splitText("word ".repeat(300));
  const reassembler = new Reassembler();
  equal(reassembler.announce(ALICE, partsGroup(parts, 10n)), true);
  equal(parts.length, 3);
  const [a, b, c] = textParts(ALICE, 10n, parts);
  deepEqual(feed(reassembler, [c!, a!]), []);
  equal(reassembler.pending, 1);
  const out = reassembler.part(b!);
  equal(out.length, 1);
  equal(out[0]!.grouped, true);
  equal(out[0]!.text, "word ".repeat(300));
  deepEqual(out[0]!.parts.map((p) => p.msgId), [10n, 11n, 12n]);
  equal(reassembler.pending, 0);
  equal(reassembler.heldBytes, 0);
});

Deno.test("long text: without an announcement the parts pass through one by one", () => {
  const parts = splitText("x".repeat(1200));
  const reassembler = new Reassembler();
  const out = feed(reassembler, textParts(ALICE, 1n, parts));
  deepEqual(out.map((d) => [d.grouped, d.text]), parts.map((p) => [false, p]));
});

Deno.test("long text: an announcement after a part already went out is refused", () => {
  const parts = splitText("x".repeat(1200));
  const reassembler = new Reassembler();
  const [first, ...rest] = textParts(ALICE, 1n, parts);
  equal(reassembler.part(first!).length, 1);
  equal(reassembler.announce(ALICE, partsGroup(parts, 1n)), false);
  deepEqual(feed(reassembler, rest).map((d) => d.text), parts.slice(1));
});

Deno.test("long text: a group that does not complete in time lets its parts go, in order", () => {
  let now = 0;
  const reassembler = new Reassembler({ timeoutMs: 100, now: () => now });
  const parts = splitText("y".repeat(1500));
  reassembler.announce(ALICE, partsGroup(parts, 1n));
  const [a, b, c] = textParts(ALICE, 1n, parts);
  deepEqual(feed(reassembler, [b!, a!]), []);
  equal(reassembler.nextDeadline(), 100);
  now = 99;
  deepEqual(reassembler.expire(), []);
  now = 100;
  deepEqual(reassembler.expire().map((d) => d.parts[0]!.msgId), [1n, 2n]);
  equal(reassembler.nextDeadline(), null);
  // The late third part is no longer awaited.
  deepEqual(reassembler.part(c!).map((d) => d.grouped), [false]);
});

Deno.test("long text: parts that do not match the digest come out one by one", () => {
  const parts = splitText("z".repeat(1000));
  const reassembler = new Reassembler();
  reassembler.announce(ALICE, { ...partsGroup(parts, 1n), digest: 42n });
  const out = feed(reassembler, textParts(ALICE, 1n, parts));
  deepEqual(out.map((d) => [d.grouped, d.text]), parts.map((p) => [false, p]));
});

Deno.test("long text: a part under a taken msgID or another name breaks the group, losing none", () => {
  const parts = splitText("q".repeat(1500));
  for (const intruder of [{ text: "other" }, { originName: "mallory" }]) {
    const reassembler = new Reassembler();
    reassembler.announce(ALICE, partsGroup(parts, 1n));
    const [a, b, c] = textParts(ALICE, 1n, parts);
    const out = feed(reassembler, [a!, { ...a!, msgId: 2n, ...intruder }, b!, c!]);
    equal(out.length, 4);
    ok(out.every((d) => !d.grouped));
    equal(reassembler.pending, 0);
  }
});

Deno.test("long text: refuses announcements out of bounds, overlapping, or beyond the caps", () => {
  const reassembler = new Reassembler({ maxGroups: 3, maxGroupsPerOrigin: 2, maxParts: 10 });
  const group = { first: 100n, count: 3, bytes: 1000, digest: 1n };
  equal(reassembler.announce(ALICE, { ...group, count: 1 }), false);
  equal(reassembler.announce(ALICE, { ...group, count: 11 }), false);
  equal(reassembler.announce(ALICE, { ...group, bytes: 2 }), false);
  equal(reassembler.announce(ALICE, { ...group, bytes: 64 * 1024 + 1 }), false);
  equal(reassembler.announce(ALICE, { ...group, first: (1n << 64n) - 2n }), false);
  equal(reassembler.announce(ALICE, group), true);
  equal(reassembler.announce(ALICE, { ...group, first: 102n }), false, "overlaps");
  equal(reassembler.announce(BOB, { ...group, first: 102n }), true, "another origin");
  equal(reassembler.announce(ALICE, { ...group, first: 103n }), true);
  equal(reassembler.announce(ALICE, { ...group, first: 200n }), false, "per-origin cap");
  equal(reassembler.announce("carol", { ...group, first: 200n }), false, "global cap");
  equal(reassembler.pending, 3);
});

Deno.test("long text: forged announcements and parts cannot grow its memory", () => {
  let now = 0;
  const reassembler = new Reassembler({
    maxGroups: 8,
    maxHeldBytes: 10_000,
    timeoutMs: 50,
    now: () => now,
  });
  let delivered = 0;
  let fed = 0;
  for (let i = 0; i < 20_000; i++) {
    now++;
    const origin = `forged${i % 500}`;
    reassembler.announce(origin, { first: BigInt(i), count: 200, bytes: 60_000, digest: 0n });
    fed++;
    delivered += reassembler.part({
      originHid: origin,
      originName: "mallory",
      msgId: BigInt(i) + 1n,
      text: "m".repeat(300),
    }).length;
    ok(reassembler.pending <= 8);
    ok(reassembler.heldBytes <= 10_000);
  }
  delivered += reassembler.flush().length;
  equal(delivered, fed, "every part came out exactly once");
});

Deno.test("long text: every part comes out exactly once, and a whole only from its own parts", () => {
  const message = fc.record({
    origin: fc.constantFrom(ALICE, BOB),
    text: fc.string({ unit: "binary", minLength: 1, maxLength: 60 }),
    announce: fc.constantFrom("before", "after-first", "never", "forged-digest"),
  });
  let grouped = 0;
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 80 }),
      fc.array(
        fc.record({ at: fc.nat(200), first: fc.nat(100), count: fc.integer({ min: 2, max: 5 }) }),
        {
          maxLength: 6,
        },
      ),
      (messages, interleave, forged) => {
        let now = 0;
        const reassembler = new Reassembler({ timeoutMs: 20, maxGroups: 4, now: () => now });
        // Per origin: msgIDs follow on, and each origin's frames stay in order (TCP).
        const next = new Map([[ALICE, 1n], [BOB, 1n]]);
        const streams = new Map<string, (() => Delivery[])[]>([[ALICE, []], [BOB, []]]);
        const wholes = new Map<string, string>();
        let partsFed = 0;
        for (const m of messages) {
          const parts = splitText(m.text, 8);
          const first = next.get(m.origin)!;
          next.set(m.origin, first + BigInt(parts.length));
          const stream = streams.get(m.origin)!;
          const group = partsGroup(parts, first);
          const announce = () => {
            reassembler.announce(
              m.origin,
              m.announce === "forged-digest" ? { ...group, digest: group.digest + 1n } : group,
            );
            return [];
          };
          if (m.announce === "before" || m.announce === "forged-digest") stream.push(announce);
          textParts(m.origin, first, parts).forEach((p, i) => {
            partsFed++;
            stream.push(() => reassembler.part(p));
            if (i === 0 && m.announce === "after-first") stream.push(announce);
          });
          wholes.set(`${m.origin}/${first}`, m.text);
        }
        const out: Delivery[] = [];
        const forgedQueue = [...forged].sort((a, b) => a.at - b.at);
        let step = 0;
        for (const pick of [...interleave, ...Array(200).fill(0)]) {
          const ready = [...streams.values()].filter((s) => s.length > 0);
          if (ready.length === 0) break;
          now += pick % 3;
          while (forgedQueue.length > 0 && forgedQueue[0]!.at <= step) {
            const f = forgedQueue.shift()!;
            reassembler.announce(ALICE, {
              first: BigInt(f.first),
              count: f.count,
              bytes: f.count * 8,
              digest: 7n,
            });
          }
          out.push(...ready[pick % ready.length]!.shift()!());
          step++;
        }
        out.push(...reassembler.flush());
        const seen = out.flatMap((d) => d.parts.map((p) => `${p.originHid}/${p.msgId}`));
        equal(seen.length, partsFed, "none lost, none twice");
        equal(new Set(seen).size, partsFed);
        for (const d of out.filter((d) => d.grouped)) {
          const key = `${d.parts[0]!.originHid}/${d.parts[0]!.msgId}`;
          equal(d.text, wholes.get(key), "a whole is exactly one sent text");
        }
        equal(reassembler.pending, 0);
        equal(reassembler.heldBytes, 0);
        grouped += out.filter((d) => d.grouped).length;
      },
    ),
    { numRuns: 500 },
  );
  ok(grouped > 100, `the runs put ${grouped} long texts back together`);
});
