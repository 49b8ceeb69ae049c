/**
 * Password hashing with WebCrypto only: PBKDF2-HMAC-SHA-256, 600,000
 * iterations by default (OWASP Password Storage Cheat Sheet, 2023: the
 * figure for PBKDF2-HMAC-SHA-256 when Argon2id and scrypt are not available,
 * as they are not in WebCrypto), a random 16-byte salt per password, a 32-byte
 * output.
 *
 * A hash is stored as one string that names its algorithm and cost, so the
 * cost can be raised later without breaking old accounts:
 * `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`.
 * {@linkcode PasswordHasher.verify} says `needsRehash` when a stored hash is
 * cheaper than the current setting; the caller then stores a new one.
 *
 * Off the event loop: `crypto.subtle.deriveBits` runs on Deno's blocking
 * thread pool, not on the JavaScript thread (measured on Deno 2.9.6, 2 cores:
 * `deno run tools/bench/passwords.ts`, figures in `docs/people.md`), so no Worker is
 * needed. What would still stall JOINs is every core busy hashing, so the
 * hasher runs at most `concurrency` hashes at once (default: one core fewer
 * than the machine has, at least 1) and queues at most `maxQueued` more; past
 * that it fails at once with {@linkcode HasherBusyError}, so a login storm
 * cannot queue unbounded work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PasswordHasher } from "./passwords.ts";
 * const hasher = new PasswordHasher({ iterations: 1000 }); // tests only: the default is 600,000
 * const stored = await hasher.hash("correct horse");
 * assert.equal((await hasher.verify("correct horse", stored)).ok, true);
 * assert.equal((await hasher.verify("wrong horse", stored)).ok, false);
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/** The algorithm tag of the stored form. */
export const PASSWORD_ALGORITHM = "pbkdf2-sha256";
/** OWASP's 2023 figure for PBKDF2-HMAC-SHA-256. */
export const DEFAULT_PASSWORD_ITERATIONS = 600_000;
/** Bytes of random salt per password. */
export const SALT_BYTES = 16;
/** Bytes of derived key kept. */
export const HASH_BYTES = 32;

/** A stored password hash, parsed. */
export interface PasswordRecord {
  /** Always {@linkcode PASSWORD_ALGORITHM} for now. */
  readonly algorithm: string;
  /** PBKDF2 iterations. */
  readonly iterations: number;
  /** The random salt. */
  readonly salt: Uint8Array;
  /** The derived key. */
  readonly hash: Uint8Array;
}

/** What {@linkcode PasswordHasher.verify} found. */
export interface Verification {
  /** True when the password matches. */
  ok: boolean;
  /** True when it matches but was hashed with fewer iterations than the hasher uses now. */
  needsRehash: boolean;
}

/** Options of {@linkcode PasswordHasher}. */
export interface PasswordHasherOptions {
  /**
   * PBKDF2 iterations of new hashes.
   * @default {600_000}
   */
  iterations?: number;
  /**
   * Hashes computed at once. Default: `navigator.hardwareConcurrency - 1`, at least 1.
   */
  concurrency?: number;
  /**
   * Hashes waiting for a slot; one more fails with {@linkcode HasherBusyError}.
   * @default {64}
   */
  maxQueued?: number;
}

/** The hasher's queue is full: try again later (the request is refused, not queued). */
export class HasherBusyError extends Error {
  /** Creates the error. */
  constructor(queued: number) {
    super(`Password hasher busy: ${queued} hashes already queued`);
    this.name = "HasherBusyError";
  }
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function unbase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** The stored form of `record`: `pbkdf2-sha256$<iterations>$<salt>$<hash>`. */
export function encodePasswordRecord(record: PasswordRecord): string {
  return `${record.algorithm}$${record.iterations}$${base64(record.salt)}$${base64(record.hash)}`;
}

/**
 * Parses a stored hash.
 *
 * @throws {RangeError} when `stored` is not a hash this module wrote
 */
export function parsePasswordRecord(stored: string): PasswordRecord {
  const parts = stored.split("$");
  const [algorithm, iterations, salt, hash] = parts;
  if (
    parts.length !== 4 || algorithm !== PASSWORD_ALGORITHM || !/^[1-9][0-9]*$/.test(iterations!)
  ) {
    throw new RangeError("Stored password hash is not pbkdf2-sha256$iterations$salt$hash");
  }
  try {
    return {
      algorithm,
      iterations: Number(iterations),
      salt: unbase64(salt!),
      hash: unbase64(hash!),
    };
  } catch {
    throw new RangeError("Stored password hash has bad base64");
  }
}

/**
 * True when `a` and `b` hold the same bytes, in time that depends only on
 * their lengths (never on where they first differ).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

/** Hashes and verifies passwords with bounded concurrency and queue; see the module doc. */
export class PasswordHasher {
  readonly #iterations: number;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  #running = 0;
  readonly #queue: (() => void)[] = [];

  /**
   * Creates a hasher.
   *
   * @throws {RangeError} when an option is not a positive integer (`maxQueued` may be 0)
   */
  constructor(options: PasswordHasherOptions = {}) {
    this.#iterations = options.iterations ?? DEFAULT_PASSWORD_ITERATIONS;
    this.#concurrency = options.concurrency ??
      Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
    this.#maxQueued = options.maxQueued ?? 64;
    for (
      const [key, value, min] of [
        ["iterations", this.#iterations, 1],
        ["concurrency", this.#concurrency, 1],
        ["maxQueued", this.#maxQueued, 0],
      ] as const
    ) {
      if (!Number.isInteger(value) || value < min) {
        throw new RangeError(`${key} must be an integer of at least ${min}, got ${value}`);
      }
    }
  }

  /** Iterations of new hashes. */
  get iterations(): number {
    return this.#iterations;
  }

  /** Hashes being computed now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * A new stored hash of `password`, with a fresh salt.
   *
   * @throws {HasherBusyError} when the queue is full
   */
  hash(password: string): Promise<string> {
    return this.#slot(async () => {
      const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
      const hash = await derive(password, salt, this.#iterations);
      return encodePasswordRecord({
        algorithm: PASSWORD_ALGORITHM,
        iterations: this.#iterations,
        salt,
        hash,
      });
    });
  }

  /**
   * Whether `password` matches the stored hash, with its own salt and
   * iterations, compared in constant time.
   *
   * @throws {HasherBusyError} when the queue is full
   * @throws {RangeError} when `stored` is not a stored hash
   */
  verify(password: string, stored: string): Promise<Verification> {
    let record: PasswordRecord;
    try {
      record = parsePasswordRecord(stored);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#slot(async () => {
      const hash = await derive(password, record.salt, record.iterations);
      const ok = constantTimeEqual(hash, record.hash);
      return { ok, needsRehash: ok && record.iterations < this.#iterations };
    });
  }

  async #slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#queue.length >= this.#maxQueued) throw new HasherBusyError(this.#queue.length);
      // The slot is handed over by the finishing hash: #running stays counted.
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#queue.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }
}
