import { equal, match, notEqual, ok, rejects, throws } from "node:assert/strict";
import {
  constantTimeEqual,
  DEFAULT_PASSWORD_ITERATIONS,
  HasherBusyError,
  parsePasswordRecord,
  PasswordHasher,
} from "../registry/passwords.ts";

const FAST = { iterations: 1000 };

Deno.test("passwords: the default is PBKDF2-SHA-256 with 600,000 iterations and a 16-byte salt", async () => {
  equal(DEFAULT_PASSWORD_ITERATIONS, 600_000);
  const hasher = new PasswordHasher();
  equal(hasher.iterations, 600_000);
  const stored = await hasher.hash("pw");
  match(stored, /^pbkdf2-sha256\$600000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const record = parsePasswordRecord(stored);
  equal(record.salt.length, 16);
  equal(record.hash.length, 32);
});

Deno.test("passwords: a right password verifies, a wrong one does not, the same password salts apart", async () => {
  const hasher = new PasswordHasher(FAST);
  const a = await hasher.hash("correct horse");
  const b = await hasher.hash("correct horse");
  notEqual(a, b);
  equal((await hasher.verify("correct horse", a)).ok, true);
  equal((await hasher.verify("correct horse", b)).ok, true);
  equal((await hasher.verify("correct hors", a)).ok, false);
  equal((await hasher.verify("", a)).ok, false);
  equal((await hasher.verify("pässwörd", await hasher.hash("pässwörd"))).ok, true);
});

Deno.test("passwords: a hash with fewer iterations than now verifies and asks for a rehash", async () => {
  const old = await new PasswordHasher({ iterations: 500 }).hash("pw");
  const hasher = new PasswordHasher(FAST);
  const right = await hasher.verify("pw", old);
  equal(right.ok, true);
  equal(right.needsRehash, true);
  equal((await hasher.verify("nope", old)).needsRehash, false);
  equal((await hasher.verify("pw", await hasher.hash("pw"))).needsRehash, false);
});

Deno.test("passwords: a stored hash that is not ours is refused", async () => {
  const hasher = new PasswordHasher(FAST);
  await rejects(() => hasher.verify("pw", "plain"), RangeError);
  await rejects(() => hasher.verify("pw", "md5$1000$AAAA$AAAA"), RangeError);
  await rejects(() => hasher.verify("pw", "pbkdf2-sha256$0$AAAA$AAAA"), RangeError);
  await rejects(() => hasher.verify("pw", "pbkdf2-sha256$10$!!$AAAA"), RangeError);
});

Deno.test("passwords: constantTimeEqual compares bytes and lengths", () => {
  ok(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  ok(!constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  ok(!constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3, 0])));
  ok(!constantTimeEqual(new Uint8Array([]), new Uint8Array([0])));
});

Deno.test("passwords: at most `concurrency` hashes run; past `maxQueued` waiting, hashing fails at once", async () => {
  const hasher = new PasswordHasher({ iterations: 20_000, concurrency: 2, maxQueued: 3 });
  let peak = 0;
  const jobs = Array.from({ length: 5 }, async (_, i) => {
    const stored = hasher.hash(`pw${i}`);
    peak = Math.max(peak, hasher.running);
    return await stored;
  });
  equal(hasher.running, 2);
  equal(hasher.queued, 3);
  await rejects(() => hasher.hash("one too many"), HasherBusyError);
  await rejects(() => hasher.verify("pw", "pbkdf2-sha256$1$AAAA$AAAA"), HasherBusyError);
  const stored = await Promise.all(jobs);
  equal(peak, 2);
  equal(hasher.running, 0);
  equal(hasher.queued, 0);
  equal((await hasher.verify("pw4", stored[4]!)).ok, true);
});

Deno.test("passwords: bad options are refused", () => {
  throws(() => new PasswordHasher({ iterations: 0 }), RangeError);
  throws(() => new PasswordHasher({ concurrency: 0 }), RangeError);
  throws(() => new PasswordHasher({ maxQueued: -1 }), RangeError);
  throws(() => new PasswordHasher({ iterations: 1.5 }), RangeError);
});

Deno.test("passwords: a 600,000-iteration hash leaves the event loop free to run timers", async () => {
  // A hash takes about 200 ms here; if it ran on the JavaScript thread no
  // timer could fire until it finished (node:crypto's pbkdf2Sync: 0 ticks).
  let ticks = 0;
  let running = true;
  function tick() {
    ticks++;
    if (running) setTimeout(tick, 0);
  }
  setTimeout(tick, 0);
  const hash = new PasswordHasher().hash("pw");
  await hash;
  running = false;
  await new Promise((resolve) => setTimeout(resolve, 5));
  ok(ticks >= 5, `only ${ticks} timer ticks during a hash`);
});
