/**
 * The registry's side of the ringchat/2 hello (`docs/extensions.md`: `hello`,
 * `prove`, `proved`, `error`): what a connection said about itself, and the
 * answer to each `X` op it sends. Pure but for the signature check
 * (WebCrypto, asynchronous).
 *
 * A connection that never says hello is a seed client: it gets exactly the
 * reference's answers (`F:Unknown message - Unknown request!!` to any `X`)
 * and never a frame it did not ask for. Only a hello naming `ringchat/2` is
 * answered; after it, every `X` gets an `X` answer.
 *
 * @module
 */

import { encodeFrame, type ExtensionFrame } from "../lib/frames.ts";
import { MEMBERS_DELTA } from "../lib/members_delta.ts";
import { nameProblem } from "../lib/names.ts";
import {
  decodeBase64Url,
  encodeBase64Url,
  isPublicKey,
  newRegistryChallenge,
  verifyRegistryProof,
} from "../lib/registry_proof.ts";

/** The version a hello names. */
export const HELLO_VERSION = "ringchat/2";

/** What this registry offers, in its hello. */
export const REGISTRY_FEATURES: readonly string[] = Object.freeze([
  "members-push",
  "member-info",
  "keys",
  "people",
  MEMBERS_DELTA,
]);

/** Features of a peer's hello looked at, at most (the first). */
export const MAX_HELLO_FEATURES = 32;

/** The codes of the registry's `error` op. */
export type HelloErrorCode = "bad-request" | "bad-proof" | "unknown-op" | "taken-over";

/** The encoded `X` error op. */
export function helloError(code: HelloErrorCode, message: string): Uint8Array {
  return encodeFrame({ type: "X", op: "error", body: { code, message } });
}

const PROVED = encodeFrame({ type: "X", op: "proved", body: {} });

/** The op that departs a connection's member as renamed (`docs/extensions.md`: `rename`). */
export const RENAME_OP = "rename";

/**
 * The new name a `rename` op asks for, or the `error` to answer: `to` must
 * be a valid user name (1–32 printable ASCII, no `:`).
 */
export function renameTarget(body: Record<string, unknown>): string | Uint8Array {
  const to = body.to;
  if (typeof to !== "string") return helloError("bad-request", "rename needs a string to");
  const problem = nameProblem(to, "User name");
  return problem === null ? to : helloError("bad-request", problem);
}

/** The answer to a `rename` that departed the member. */
export function renamedReply(to: string): Uint8Array {
  return encodeFrame({ type: "X", op: "renamed", body: { to } });
}

/** What one connection said in its hello, and whether it proved its key. */
export class HelloSession {
  /** The public key of its hello (base64url), or null when it sent none. */
  readonly key: string | null;
  /** Its hello's `features` named `members-delta`: pushes go as deltas (`delta_push.ts`). */
  readonly membersDelta: boolean;
  /** The challenge its `prove` signs; null once spent (one proof per connection). */
  #challenge: Uint8Array | null;
  #proved = false;

  /**
   * A session for a hello with `key`, challenged with `challenge`;
   * `features`: what the hello said the connection takes.
   */
  constructor(key: string | null, challenge: Uint8Array, features: readonly string[] = []) {
    this.key = key;
    this.membersDelta = features.includes(MEMBERS_DELTA);
    this.#challenge = challenge;
  }

  /** True once the connection proved it holds {@linkcode key}. */
  get proved(): boolean {
    return this.#proved;
  }

  /** The key, when proved; else null. What member-info announces and takeovers compare. */
  get provedKey(): string | null {
    return this.#proved ? this.key : null;
  }

  /**
   * Checks a `prove` op's signature against the challenge (spending it) and
   * answers `proved` or `error` (`bad-proof`, or `bad-request` when there is
   * nothing to prove). `onProved` runs when the key is proved, before the
   * answer is returned.
   */
  async prove(body: Record<string, unknown>, onProved: () => void): Promise<Uint8Array> {
    const challenge = this.#challenge;
    if (this.key === null) return helloError("bad-request", "No key was said in the hello");
    if (challenge === null) {
      return helloError("bad-request", "A proof was already given on this connection");
    }
    this.#challenge = null;
    const sig = typeof body.sig === "string" ? decodeBase64Url(body.sig) : null;
    if (sig === null || !(await verifyRegistryProof(this.key, challenge, sig))) {
      return helloError("bad-proof", "The signature does not prove the key of the hello");
    }
    this.#proved = true;
    onProved();
    return PROVED;
  }
}

/** What {@linkcode answerHello} decided for a connection's `X` frame. */
export type HelloAnswer =
  /** Not a ringchat hello on a connection that never said one: answer as the reference. */
  | { kind: "unknown" }
  /** The connection said hello: keep `session`, answer `reply`. */
  | { kind: "hello"; session: HelloSession; reply: Uint8Array }
  /** Answer `reply` (now or once it resolves). */
  | { kind: "reply"; reply: Uint8Array | Promise<Uint8Array> };

/**
 * The answer to `frame` from a connection whose hello is `session` (null:
 * none yet). `onProved` runs when the connection proves its key.
 */
export function answerHello(
  session: HelloSession | null,
  frame: ExtensionFrame,
  onProved: () => void,
): HelloAnswer {
  if (session === null) {
    if (frame.op !== "hello" || frame.body.version !== HELLO_VERSION) return { kind: "unknown" };
    const key = frame.body.key;
    if (key !== undefined && !isPublicKey(key)) {
      return {
        kind: "reply",
        reply: helloError("bad-request", "key is not the base64url of a 32-byte Ed25519 key"),
      };
    }
    const challenge = newRegistryChallenge();
    const features = frame.body.features;
    const said = Array.isArray(features)
      ? features.slice(0, MAX_HELLO_FEATURES).filter((f): f is string => typeof f === "string")
      : [];
    const fresh = new HelloSession(key ?? null, challenge, said);
    const reply = encodeFrame({
      type: "X",
      op: "hello",
      body: {
        version: HELLO_VERSION,
        features: [...REGISTRY_FEATURES],
        challenge: encodeBase64Url(challenge),
      },
    });
    return { kind: "hello", session: fresh, reply };
  }
  switch (frame.op) {
    case "hello":
      return {
        kind: "reply",
        reply: helloError("bad-request", "Hello was already said on this connection"),
      };
    case "prove":
      return { kind: "reply", reply: session.prove(frame.body, onProved) };
    default:
      return {
        kind: "reply",
        reply: helloError("unknown-op", `Unknown op ${JSON.stringify(frame.op).slice(0, 40)}`),
      };
  }
}
