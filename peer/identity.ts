/**
 * A ringchat peer's Ed25519 identity (issue 16, "Identity among ringchat
 * peers"): the key pair, kept in the peer's data dir, and the canonical bytes
 * that get signed.
 *
 * The key file is `<dataDir>/identity.json`, mode 0600, created on first use:
 *
 * ```json
 * { "version": 1, "algorithm": "Ed25519", "publicKey": "<base64url raw 32 bytes>",
 *   "privateKey": "<base64url PKCS#8>" }
 * ```
 *
 * Every signed message starts with a domain-separation prefix naming its
 * purpose, followed by its fields, each as a 4-byte big-endian length and its
 * bytes; so a signature made for one purpose (a chat text, a handshake) is
 * never valid for another, and no two different field lists sign the same
 * bytes.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { loadIdentity, textSigningInput, verify } from "./identity.ts";
 * const me = await loadIdentity(null);
 * const content = new TextEncoder().encode("hi");
 * const input = textSigningInput("room1", "1419600254385803609", 7n, content);
 * const signature = await me.sign(input);
 * ok(await verify(me.publicKey, input, signature));
 * ```
 *
 * @module
 */

import { createPublicKey, type KeyObject, verify as nodeVerify } from "node:crypto";
import { join } from "node:path";

/** The file of a data dir that holds the identity. */
export const IDENTITY_FILE = "identity.json";

const ALGORITHM = { name: "Ed25519" } as const;
const B64URL = { alphabet: "base64url", omitPadding: true } as const;
const encoder = new TextEncoder();

/** Prefix of a chat text's signing input. */
const TEXT_PURPOSE = "ringchat/2 text signature\n";
/** Prefix of a handshake proof's signing input. */
const HANDSHAKE_PURPOSE = "ringchat/2 handshake signature\n";
/** Prefix of the key file's self-check. */
const SELF_CHECK_PURPOSE = "ringchat/2 key file check\n";

/** A key file or key that cannot be used; its message says which file and why. */
export class IdentityError extends Error {
  /** Creates an identity error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IdentityError";
  }
}

/** A peer's key pair. */
export interface Identity {
  /** The raw 32-byte Ed25519 public key, base64url without padding. */
  readonly publicKey: string;
  /** Where the key is kept; null when in memory only. */
  readonly path: string | null;
  /** The 64-byte Ed25519 signature of `bytes`. */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

class KeyPair implements Identity {
  readonly publicKey: string;
  readonly path: string | null;
  readonly #privateKey: CryptoKey;

  constructor(publicKey: string, privateKey: CryptoKey, path: string | null) {
    this.publicKey = publicKey;
    this.path = path;
    this.#privateKey = privateKey;
  }

  async sign(bytes: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign(ALGORITHM, this.#privateKey, own(bytes)));
  }
}

interface KeyFile {
  version: 1;
  algorithm: "Ed25519";
  publicKey: string;
  privateKey: string;
}

/**
 * The identity kept in `dataDir` (created there on first use, with the file
 * mode 0600 and the directory made if missing), or a fresh in-memory one
 * when `dataDir` is null.
 *
 * @throws {IdentityError} when the key file cannot be read, is readable by
 * others, is not a ringchat key file, or holds a private key that does not
 * match its public key
 */
export async function loadIdentity(dataDir: string | null): Promise<Identity> {
  if (dataDir === null) {
    const pair = await generate(false);
    return new KeyPair(pair.publicKey, pair.privateKey, null);
  }
  const path = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new IdentityError(`Cannot read the key file ${path}: ${reason(e)}`, { cause: e });
    }
    return await create(dataDir, path);
  }
  await checkMode(path);
  return await parse(path, text);
}

/**
 * True when `signature` is `publicKey`'s Ed25519 signature of `bytes`.
 * False for a malformed key or signature too (never throws for those).
 */
export function verify(
  publicKey: string,
  bytes: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return Promise.resolve(verifyNow(publicKey, bytes, signature));
}

/** {@linkcode verify}, answered at once (node:crypto verifies synchronously). */
export function verifyNow(publicKey: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  const key = importPublicKey(publicKey);
  if (key === null || signature.length !== 64) return false;
  try {
    // node:crypto's Ed25519 verify: the same answers as WebCrypto's (valid,
    // tampered, non-canonical and small-order signatures and keys alike), in
    // under half its time; every hop of a text runs it.
    return nodeVerify(null, bytes, key, signature);
  } catch {
    // A key or signature that is no curve point.
    return false;
  }
}

/**
 * The bytes a ringchat origin signs for a chat text: room, originHID,
 * msgID (decimal) and the content bytes exactly as on the wire. The origin
 * name is not covered: a key speaks for a member (its HashID), whatever name
 * a frame shows.
 */
export function textSigningInput(
  room: string,
  originHid: string,
  msgId: bigint,
  content: Uint8Array,
): Uint8Array {
  return signingInput(TEXT_PURPOSE, [room, originHid, msgId.toString(), content]);
}

/** What a handshake proof covers; see {@linkcode handshakeSigningInput}. */
export interface HandshakeClaim {
  /** The room of the `P`. */
  room: string;
  /** The member the prover claims to be: name, ip and port as in `P`. */
  name: string;
  ip: string;
  port: number;
  /** Which side proves: the peer that linked (`"link"`) or the one that accepted (`"accept"`). */
  role: "link" | "accept";
  /** The verifier's fresh random challenge (at least 16 bytes). */
  challenge: Uint8Array;
  /** The verifier's public key (base64url), so a proof made for one peer convinces no other. */
  verifierKey: string;
}

/**
 * The bytes a ringchat peer signs to prove, in a handshake, that it holds the
 * key of the member it claims to be: the claim, the side it speaks for, and
 * the verifier's challenge and key, so a proof can be neither replayed (new
 * challenge each time), reflected (role) nor relayed to another verifier.
 *
 * @throws {RangeError} when the challenge is shorter than 16 bytes or the port is not one
 */
export function handshakeSigningInput(claim: HandshakeClaim): Uint8Array {
  if (claim.challenge.length < 16) {
    throw new RangeError(`A challenge needs at least 16 bytes, got ${claim.challenge.length}`);
  }
  if (!Number.isInteger(claim.port) || claim.port < 0 || claim.port > 65535) {
    throw new RangeError(`Port ${claim.port} is not a port`);
  }
  return signingInput(HANDSHAKE_PURPOSE, [
    claim.room,
    claim.name,
    claim.ip,
    String(claim.port),
    claim.role,
    claim.challenge,
    claim.verifierKey,
  ]);
}

/** The bytes a peer signs to prove its key to its registry (lib/registry_proof.ts). */
export { registrySigningInput } from "../lib/registry_proof.ts";

/** A fresh random challenge for {@linkcode HandshakeClaim.challenge}. */
export function newChallenge(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function signingInput(purpose: string, fields: (string | Uint8Array)[]): Uint8Array {
  const parts = [
    encoder.encode(purpose),
    ...fields.map((f) => typeof f === "string" ? encoder.encode(f) : f),
  ];
  const size = parts.reduce((sum, p, i) => sum + p.length + (i === 0 ? 0 : 4), 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [i, part] of parts.entries()) {
    if (i > 0) {
      view.setUint32(at, part.length);
      at += 4;
    }
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Imported public keys, most recently used last: verifying is the hot path. */
const publicKeys = new Map<string, KeyObject>();
const MAX_PUBLIC_KEYS = 1024;

function importPublicKey(publicKey: string): KeyObject | null {
  const cached = publicKeys.get(publicKey);
  if (cached !== undefined) {
    publicKeys.delete(publicKey);
    publicKeys.set(publicKey, cached);
    return cached;
  }
  const raw = decode(publicKey);
  if (raw === null || raw.length !== 32) return null;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: raw.toBase64(B64URL) },
      format: "jwk",
    });
  } catch {
    return null;
  }
  publicKeys.set(publicKey, key);
  if (publicKeys.size > MAX_PUBLIC_KEYS) publicKeys.delete(publicKeys.keys().next().value!);
  return key;
}

async function generate(
  extractable: boolean,
): Promise<{ publicKey: string; privateKey: CryptoKey }> {
  const pair = await crypto.subtle.generateKey(ALGORITHM, extractable, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { publicKey: raw.toBase64(B64URL), privateKey: pair.privateKey };
}

async function create(dataDir: string, path: string): Promise<Identity> {
  const pair = await generate(true);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const file: KeyFile = {
    version: 1,
    algorithm: "Ed25519",
    publicKey: pair.publicKey,
    privateKey: pkcs8.toBase64(B64URL),
  };
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(temporary, JSON.stringify(file, null, 2) + "\n", {
      mode: 0o600,
      createNew: true,
    });
    // writeTextFile's mode is filtered by the umask; make sure.
    if (Deno.build.os !== "windows") await Deno.chmod(temporary, 0o600);
    await Deno.rename(temporary, path);
  } catch (e) {
    await Deno.remove(temporary).catch(() => {});
    throw new IdentityError(`Cannot write the key file ${path}: ${reason(e)}`, { cause: e });
  }
  // Through the file, as every later start will: what was written is what is used.
  return await parse(path, await Deno.readTextFile(path));
}

async function checkMode(path: string): Promise<void> {
  let mode: number | null;
  try {
    ({ mode } = await Deno.stat(path));
  } catch (e) {
    throw new IdentityError(`Cannot read the key file ${path}: ${reason(e)}`, { cause: e });
  }
  if (mode !== null && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, "0");
    throw new IdentityError(
      `The key file ${path} can be read by other users (mode ${octal}); ` +
        `make it private with: chmod 600 ${path}`,
    );
  }
}

async function parse(path: string, text: string): Promise<Identity> {
  const bad = (why: string, cause?: unknown): never => {
    throw new IdentityError(`The key file ${path} ${why}; move it away to make a new key`, {
      cause,
    });
  };
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (e) {
    return bad("is not JSON", e);
  }
  if (typeof file !== "object" || file === null || Array.isArray(file)) {
    return bad("is not a JSON object");
  }
  const { version, algorithm, publicKey, privateKey } = file as Record<string, unknown>;
  if (version !== 1) return bad(`has version ${JSON.stringify(version)}, expected 1`);
  if (algorithm !== "Ed25519") {
    return bad(`has algorithm ${JSON.stringify(algorithm)}, expected "Ed25519"`);
  }
  if (typeof publicKey !== "string" || decode(publicKey)?.length !== 32) {
    return bad("has no valid publicKey (base64url of 32 bytes)");
  }
  const pkcs8 = typeof privateKey === "string" ? decode(privateKey) : null;
  if (pkcs8 === null) return bad("has no valid privateKey (base64url of PKCS#8)");
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", pkcs8, ALGORITHM, false, ["sign"]);
  } catch (e) {
    return bad("holds a privateKey that is not an Ed25519 PKCS#8 key", e);
  }
  const identity = new KeyPair(publicKey, key, path);
  const probe = encoder.encode(SELF_CHECK_PURPOSE);
  if (!(await verify(publicKey, probe, await identity.sign(probe)))) {
    return bad("holds a privateKey that does not match its publicKey");
  }
  return identity;
}

/** `bytes` itself when it views an ArrayBuffer (WebCrypto takes no shared memory), else a copy. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes);
}

function decode(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    return Uint8Array.fromBase64(text, { alphabet: "base64url" });
  } catch {
    return null;
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
