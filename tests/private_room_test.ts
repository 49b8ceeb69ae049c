import { deepEqual, equal, notEqual, ok, rejects, throws } from "node:assert/strict";
import { createDecipheriv, hkdfSync, pbkdf2Sync } from "node:crypto";
import { ProtocolError } from "../lib/errors.ts";
import { nameProblem } from "../lib/names.ts";
import {
  decryptText,
  decryptTextSync,
  derivePrivateRoom,
  ENCRYPTED_TEXT_PREFIX,
  encryptedTextLength,
  encryptText,
  maxPlaintextBytes,
  PBKDF2_ITERATIONS,
  type TextBinding,
} from "../peer/private_room.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Fast derivations for the tests that are not about the iteration count. */
const FAST = { iterations: 1_000 };

function binding(wireRoom: string, extra: Partial<TextBinding> = {}): TextBinding {
  return { wireRoom, originHid: "1419600254385803609", originName: "alice", msgId: 7n, ...extra };
}

Deno.test("private room: the default derivation is 600,000 PBKDF2 iterations, as documented", async () => {
  equal(PBKDF2_ITERATIONS, 600_000);
  const room = await derivePrivateRoom("plans", "correct horse battery staple");
  // The documented derivation, done again with node:crypto.
  const stretched = pbkdf2Sync(
    "correct horse battery staple",
    "ringchat/2 private room\nplans",
    600_000,
    32,
    "sha256",
  );
  const nameBytes = new Uint8Array(
    hkdfSync("sha256", stretched, new Uint8Array(), "ringchat/2 wire room name", 18),
  );
  equal(room.wireName, "~" + nameBytes.toBase64({ alphabet: "base64url", omitPadding: true }));
  equal(room.name, "plans");

  // And a text decrypts with the documented key, nonce, tag, padding and additional data.
  const key = new Uint8Array(
    hkdfSync("sha256", stretched, new Uint8Array(), "ringchat/2 text key", 32),
  );
  const b = binding(room.wireName);
  const content = await encryptText(room.key, encoder.encode("meet at noon"), b);
  const body = Uint8Array.fromBase64(content.slice(ENCRYPTED_TEXT_PREFIX.length), {
    alphabet: "base64url",
    lastChunkHandling: "loose",
  });
  const decipher = createDecipheriv("aes-256-gcm", key, body.subarray(0, 12));
  decipher.setAAD(encoder.encode(`ringchat/2 text v1\n${room.wireName}\n${b.originHid}\nalice\n7`));
  decipher.setAuthTag(body.subarray(body.length - 16));
  const padded = new Uint8Array([
    ...decipher.update(body.subarray(12, body.length - 16)),
    ...decipher.final(),
  ]);
  equal(padded.length, 32);
  deepEqual(padded.subarray(0, 13), new Uint8Array([...encoder.encode("meet at noon"), 0x80]));
  ok(padded.subarray(13).every((byte) => byte === 0));
});

Deno.test("private room: the same name and password give the same wire name and key", async () => {
  const a = await derivePrivateRoom("plans", "s3cret", FAST);
  const b = await derivePrivateRoom("plans", "s3cret", FAST);
  equal(a.wireName, b.wireName);
  const content = await encryptText(a.key, encoder.encode("meet at noon"), binding(a.wireName));
  equal(decoder.decode(await decryptText(b.key, content, binding(b.wireName))), "meet at noon");
  // A password typed composed or decomposed is the same password.
  const composed = await derivePrivateRoom("plans", "caf\u00e9", FAST);
  const decomposed = await derivePrivateRoom("plans", "cafe\u0301", FAST);
  equal(composed.wireName, decomposed.wireName);
});

Deno.test("private room: the wire name is a valid room name that hides the real one", async () => {
  for (const [name, password] of [["plans", "x"], ["alpha", "password"], ["r".repeat(32), "ü🔑"]]) {
    const room = await derivePrivateRoom(name!, password!, FAST);
    equal(nameProblem(room.wireName, "Room name"), null);
    ok(/^~[A-Za-z0-9_-]{24}$/.test(room.wireName), room.wireName);
    ok(!room.wireName.includes(name!));
  }
});

Deno.test("private room: a wrong password is another room, with another key", async () => {
  const right = await derivePrivateRoom("plans", "s3cret", FAST);
  const wrong = await derivePrivateRoom("plans", "s3cres", FAST);
  const otherRoom = await derivePrivateRoom("plans2", "s3cret", FAST);
  notEqual(right.wireName, wrong.wireName);
  notEqual(right.wireName, otherRoom.wireName);
  const content = await encryptText(right.key, encoder.encode("hi"), binding(right.wireName));
  await rejects(decryptText(wrong.key, content, binding(right.wireName)), ProtocolError);
  // Fewer iterations are another derivation too.
  notEqual(
    (await derivePrivateRoom("plans", "s3cret", { iterations: 999 })).wireName,
    right.wireName,
  );
});

Deno.test("private room: any change to the content fails to decrypt", async () => {
  const room = await derivePrivateRoom("plans", "s3cret", FAST);
  const b = binding(room.wireName);
  const content = await encryptText(room.key, encoder.encode("pay bob 10"), b);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = ENCRYPTED_TEXT_PREFIX.length; i < content.length; i++) {
    const other = alphabet[(alphabet.indexOf(content[i]!) + 1) % 64]!;
    const tampered = content.slice(0, i) + other + content.slice(i + 1);
    await rejects(decryptText(room.key, tampered, b), ProtocolError, `position ${i}`);
  }
  for (
    const bad of [
      content.slice(0, -1),
      content + "A",
      content.slice(0, 30),
      "plain text",
      ENCRYPTED_TEXT_PREFIX + "not base64!",
      ENCRYPTED_TEXT_PREFIX,
    ]
  ) {
    await rejects(decryptText(room.key, bad, b), ProtocolError, bad);
  }
});

Deno.test("private room: a ciphertext replayed under another msgID, origin or room fails", async () => {
  const room = await derivePrivateRoom("plans", "s3cret", FAST);
  const b = binding(room.wireName);
  const content = await encryptText(room.key, encoder.encode("yes"), b);
  deepEqual(await decryptText(room.key, content, b), encoder.encode("yes"));
  for (
    const other of [
      { msgId: 8n },
      { originHid: "7096407668745481807" },
      { originName: "mallory" },
      { wireRoom: "~other" },
    ]
  ) {
    await rejects(decryptText(room.key, content, { ...b, ...other }), ProtocolError);
  }
});

Deno.test("private room: contents are printable ASCII whose length tells the plaintext's only to 32 bytes", async () => {
  const room = await derivePrivateRoom("plans", "s3cret", FAST);
  const b = binding(room.wireName);
  const lengths = new Set<number>();
  for (let n = 0; n < 32; n++) {
    const content = await encryptText(room.key, new Uint8Array(n).fill(0x0a), b);
    ok(/^[\x21-\x7e]+$/.test(content));
    lengths.add(content.length);
    equal(content.length, encryptedTextLength(n));
  }
  deepEqual([...lengths], [encryptedTextLength(0)], "0 to 31 bytes look the same");
  ok(encryptedTextLength(32) > encryptedTextLength(31));
  // Fresh nonce each time: the same text twice is two different contents.
  const text = encoder.encode("again");
  notEqual(await encryptText(room.key, text, b), await encryptText(room.key, text, b));
  // Control bytes and 0x80 in the plaintext survive the padding.
  const tricky = new Uint8Array([0x80, 0, 0, 0x80, 0]);
  deepEqual(await decryptText(room.key, await encryptText(room.key, tricky, b), b), tricky);
});

Deno.test("private room: 319 plaintext bytes fit a seed client's 500 content bytes, 320 do not", async () => {
  equal(maxPlaintextBytes(500), 319);
  ok(encryptedTextLength(319) <= 500);
  ok(encryptedTextLength(320) > 500);
  equal(encryptedTextLength(0), 84, "the shortest encrypted text");
  equal(maxPlaintextBytes(83), 0);
  equal(maxPlaintextBytes(84), 31);
  for (const bound of [84, 100, 117, 500, 1000, 64 * 1024]) {
    const n = maxPlaintextBytes(bound);
    ok(encryptedTextLength(n) <= bound && encryptedTextLength(n + 1) > bound, `bound ${bound}`);
  }
  const room = await derivePrivateRoom("plans", "s3cret", FAST);
  const content = await encryptText(room.key, new Uint8Array(319), binding(room.wireName));
  ok(content.length <= 500);
});

Deno.test("private room: refuses a bad room name, an empty or overlong password", async () => {
  await rejects(derivePrivateRoom("a:b", "pw", FAST), RangeError);
  await rejects(derivePrivateRoom("", "pw", FAST), RangeError);
  await rejects(derivePrivateRoom("plans", "", FAST), RangeError);
  await rejects(derivePrivateRoom("plans", "p".repeat(1025), FAST), RangeError);
  await rejects(derivePrivateRoom("plans", "pw", { iterations: 0 }), RangeError);
});

Deno.test("private room: the synchronous decryption gives what the WebCrypto one gives, and refuses what it refuses", async () => {
  const room = await derivePrivateRoom("plans", "correct horse", FAST);
  const binding = { wireRoom: room.wireName, originHid: "42", originName: "alice", msgId: 7n };
  const plaintext = new TextEncoder().encode("meet at noon: h\u00e9llo");
  const content = await encryptText(room.key, plaintext, binding);
  deepEqual(decryptTextSync(room.rawKey, content, binding), plaintext);
  deepEqual(await decryptText(room.key, content, binding), plaintext);
  throws(() => decryptTextSync(room.rawKey, content, { ...binding, msgId: 8n }));
  const other = await derivePrivateRoom("plans", "wrong horse", FAST);
  throws(() => decryptTextSync(other.rawKey, content, binding));
});
