/**
 * The proof a ringchat peer gives its registry that it holds the key it said
 * hello with (`docs/extensions.md`, `prove`): what is signed, and the check.
 * Both sides speak it, so it lives here; `peer/identity.ts` re-exports the
 * signing input next to its others.
 *
 * The signed bytes are the UTF-8 of `"ringchat/2 registry-proof\n"`, then
 * the registry's 32-byte challenge, then the UTF-8 of the key as sent in the
 * hello (43 base64url characters). The prefix keeps a proof from ever being a
 * valid text or handshake signature (those have other prefixes), and the
 * fixed-size challenge keeps the fields apart.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { loadIdentity } from "../peer/identity.ts";
 * import { newRegistryChallenge, registrySigningInput, verifyRegistryProof } from "./registry_proof.ts";
 * const me = await loadIdentity(null);
 * const challenge = newRegistryChallenge();
 * const sig = await me.sign(registrySigningInput(challenge, me.publicKey));
 * ok(await verifyRegistryProof(me.publicKey, challenge, sig));
 * ```
 *
 * @module
 */

/** The length of a registry challenge, in bytes. */
export const REGISTRY_CHALLENGE_BYTES = 32;

const PURPOSE = new TextEncoder().encode("ringchat/2 registry-proof\n");
const encoder = new TextEncoder();

/**
 * The bytes a peer signs to prove to its registry that it holds `key` (the
 * base64url public key of its hello), for the registry's `challenge`.
 *
 * @throws {RangeError} when the challenge is not {@linkcode REGISTRY_CHALLENGE_BYTES} long
 */
export function registrySigningInput(challenge: Uint8Array, key: string): Uint8Array {
  if (challenge.length !== REGISTRY_CHALLENGE_BYTES) {
    throw new RangeError(
      `A registry challenge has ${REGISTRY_CHALLENGE_BYTES} bytes, got ${challenge.length}`,
    );
  }
  const keyBytes = encoder.encode(key);
  const out = new Uint8Array(PURPOSE.length + challenge.length + keyBytes.length);
  out.set(PURPOSE, 0);
  out.set(challenge, PURPOSE.length);
  out.set(keyBytes, PURPOSE.length + challenge.length);
  return out;
}

/** A fresh random registry challenge. */
export function newRegistryChallenge(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(REGISTRY_CHALLENGE_BYTES));
}

/** True when `text` is base64url (no padding) of a 32-byte Ed25519 public key. */
export function isPublicKey(text: unknown): text is string {
  return typeof text === "string" && text.length === 43 && decodeBase64Url(text)?.length === 32;
}

/**
 * True when `sig` is `key`'s Ed25519 signature of
 * {@linkcode registrySigningInput}`(challenge, key)`. False for a malformed
 * key or signature (never throws for those).
 */
export async function verifyRegistryProof(
  key: string,
  challenge: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  const raw = decodeBase64Url(key);
  if (raw === null || raw.length !== 32 || sig.length !== 64) return false;
  try {
    const publicKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, [
      "verify",
    ]);
    const bytes = registrySigningInput(challenge, key);
    return await crypto.subtle.verify(
      { name: "Ed25519" },
      publicKey,
      new Uint8Array(sig),
      new Uint8Array(bytes),
    );
  } catch {
    return false;
  }
}

/** The bytes of unpadded base64url `text`, or null when it is not that. */
export function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    return Uint8Array.fromBase64(text, { alphabet: "base64url" });
  } catch {
    return null;
  }
}

/** `bytes` as unpadded base64url. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}
