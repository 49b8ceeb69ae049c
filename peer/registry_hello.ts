/**
 * The peer's side of the ringchat/2 registry hello (`docs/extensions.md`:
 * `hello`, `prove`, `member-info`): the frames it sends, and what it reads
 * from a ringchat registry's answers, and whether to say hello at all
 * ({@linkcode HelloSession}). The registry client (`peer/registry_client.ts`)
 * drives it; nothing here does I/O.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ExtensionFrame, Frame } from "../lib/frames.ts";
import {
  decodeBase64Url,
  encodeBase64Url,
  REGISTRY_CHALLENGE_BYTES,
  registrySigningInput,
} from "../lib/registry_proof.ts";
import type { Identity } from "./identity.ts";
import { MEMBERS_DELTA, type MembersDelta, MembersDeltaAssembler } from "../lib/members_delta.ts";
import { type LeftNotice, readLeft } from "./room_life.ts";

const logger = getLogger(["ringchat", "peer", "registry_hello"]);

/** The version a hello names. */
export const HELLO_VERSION = "ringchat/2";

/** What a peer misses on a registry that does not speak ringchat/2 (said once, as an info event). */
export const PLAIN_REGISTRY_NOTICE =
  "The registry does not speak ringchat/2: running plain P2PChat, without pushed membership " +
  "(member changes show at the next keepalive), member information (which members speak " +
  "ringchat/2) and announced keys; join and leave lines come at the keepalive, a leave's " +
  "reason is not known (shown as lost), a nick shows as a leave and a join, a long text from " +
  "another member shows in parts (as a seed client shows it), a member coming back is not " +
  "caught up on what it missed (the history is still kept: /history), and the people " +
  "commands (accounts, /msg, /online, …) answer not-supported";

/** Parts of one member-info, and members in all its parts, held at most. */
const MAX_INFO_PARTS = 1024;
const MAX_INFO_MEMBERS = 100_000;

/** A member as the registry's member-info lists it: it said hello; `key` when it proved one. */
export interface RingchatMember {
  name: string;
  ip: string;
  port: number;
  /** Its proved Ed25519 public key (base64url), or null when it proved none. */
  key: string | null;
}

/** The registry's member information for one `M` (same room and MSID). */
export interface RegistryMemberInfo {
  room: string;
  msid: bigint;
  /** The members that speak ringchat/2, newest join first; seed members are absent. */
  members: RingchatMember[];
  /** The room's recent removals with their reasons, newest first (room_life.ts). */
  left?: LeftNotice[];
}

/**
 * The hello a peer opens a registry connection with; `features`: what the
 * connection takes (`members-delta`), said only when there are any.
 */
export function helloFrame(key: string | null, features: readonly string[] = []): ExtensionFrame {
  const body: Record<string, unknown> = { version: HELLO_VERSION };
  if (key !== null) body.key = key;
  if (features.length > 0) body.features = [...features];
  return { type: "X", op: "hello", body };
}

/** What a ringchat registry's hello says; null when `frame` is not one. */
export function readHelloReply(
  frame: ExtensionFrame,
): { features: string[]; challenge: Uint8Array } | null {
  const { version, features, challenge } = frame.body;
  if (frame.op !== "hello" || version !== HELLO_VERSION) return null;
  const bytes = typeof challenge === "string" ? decodeBase64Url(challenge) : null;
  if (bytes === null || bytes.length !== REGISTRY_CHALLENGE_BYTES) return null;
  const list = Array.isArray(features)
    ? features.filter((f): f is string => typeof f === "string")
    : [];
  return { features: list, challenge: bytes };
}

/** The `prove` op signing `challenge` with `identity`. */
export async function proveFrame(
  identity: Identity,
  challenge: Uint8Array,
): Promise<ExtensionFrame> {
  const sig = await identity.sign(registrySigningInput(challenge, identity.publicKey));
  return { type: "X", op: "prove", body: { sig: encodeBase64Url(sig) } };
}

/**
 * Joins the parts of member-info frames: a whole member-info is returned
 * once all its parts (of one room and MSID) arrived in order; a part of
 * another MSID starts over. Malformed frames are ignored.
 */
export class MemberInfoAssembler {
  #parts: RegistryMemberInfo | null = null;
  #next = 0;

  /** Takes one `member-info` frame; the whole member-info when it is complete, else null. */
  feed(frame: ExtensionFrame): RegistryMemberInfo | null {
    const info = readMemberInfo(frame);
    if (info === null) return null;
    const { part, parts } = frame.body;
    if (part === undefined && parts === undefined) {
      this.#parts = null;
      return info;
    }
    if (
      !Number.isInteger(part) || !Number.isInteger(parts) || (parts as number) < 1 ||
      (parts as number) > MAX_INFO_PARTS || (part as number) >= (parts as number)
    ) return null;
    if (part === 0) {
      this.#parts = info;
      this.#next = 1;
    } else if (
      this.#parts === null || part !== this.#next || this.#parts.msid !== info.msid ||
      this.#parts.room !== info.room ||
      this.#parts.members.length + info.members.length > MAX_INFO_MEMBERS
    ) {
      this.#parts = null;
      return null;
    } else {
      this.#parts.members.push(...info.members);
      this.#next++;
    }
    if (this.#next < (parts as number)) return null;
    const whole = this.#parts;
    this.#parts = null;
    return whole;
  }
}

/**
 * An Ed25519 public key in unpadded base64url: exactly the strings that
 * decode to 32 bytes, checked without decoding (every key of every push).
 */
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;

function readMemberInfo(frame: ExtensionFrame): RegistryMemberInfo | null {
  const { room, msid, members } = frame.body;
  if (frame.op !== "member-info" || typeof room !== "string" || typeof msid !== "string") {
    return null;
  }
  if (!/^(0|[1-9][0-9]{0,19})$/.test(msid) || BigInt(msid) >= 1n << 64n) return null;
  if (!Array.isArray(members) || members.length > MAX_INFO_MEMBERS) return null;
  const out: RingchatMember[] = [];
  for (const m of members) {
    if (typeof m !== "object" || m === null) continue;
    const { name, ip, port, ringchat, key } = m as Record<string, unknown>;
    if (typeof name !== "string" || typeof ip !== "string" || ringchat !== true) continue;
    if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) continue;
    const proved = typeof key === "string" && PUBLIC_KEY.test(key) ? key : null;
    out.push({ name, ip, port: port as number, key: proved });
  }
  const left = readLeft(frame.body.left);
  const info: RegistryMemberInfo = { room, msid: BigInt(msid), members: out };
  if (left.length > 0) info.left = left;
  return info;
}

/** What the registry client needs for the ringchat/2 hello. */
export interface RegistryHelloOptions {
  /** The key to say hello with and prove; null: a hello without a key. */
  identity: Identity | null;
  /** Member information from a ringchat registry (after each `M`). */
  onMemberInfo(info: RegistryMemberInfo): void;
  /**
   * With it, the hello asks for pushes as `members-delta` ops, each handed
   * here whole; false: it was not taken (it does not apply to my list), and
   * the client asks for the full list.
   */
  onMembersDelta?(delta: MembersDelta): boolean;
  /** Said once: what is unavailable (the registry does not speak ringchat/2, or refused the key). */
  onUnavailable(message: string): void;
}

/** How a registry answered the hello: plain P2PChat, or ringchat/2 with the proof to send next. */
export type HelloAnswer =
  | { ringchat: false }
  | { ringchat: true; features: string[]; prove: Promise<ExtensionFrame> | null };

/**
 * The hello over a registry's connections: said on each until a registry
 * answers one with `F`, something else or nothing (then plain P2PChat from
 * then on, said once through `onUnavailable`), the key proved on each, and
 * the member-info parts joined.
 */
export class HelloSession {
  readonly #options: RegistryHelloOptions;
  readonly #memberInfo = new MemberInfoAssembler();
  readonly #deltas = new MembersDeltaAssembler();
  #plain = false;
  #unavailableSaid = false;

  constructor(options: RegistryHelloOptions) {
    this.#options = options;
  }

  /** False once the registry did not speak ringchat/2: never say hello again. */
  get wanted(): boolean {
    return !this.#plain;
  }

  /** The hello of a new connection. */
  hello(): ExtensionFrame {
    const features = this.#options.onMembersDelta === undefined ? [] : [MEMBERS_DELTA];
    return helloFrame(this.#options.identity?.publicKey ?? null, features);
  }

  /** Reads the hello's reply (a refusal degrades to plain P2PChat). */
  answer(reply: Frame): HelloAnswer {
    if (reply.type === "F") return this.degrade();
    const said = reply.type === "X" ? readHelloReply(reply) : null;
    if (said === null) {
      logger.warn("The registry answered the hello with a {type} frame; not ringchat/2", {
        type: reply.type,
      });
      return this.degrade();
    }
    const identity = this.#options.identity;
    const prove = identity === null ? null : proveFrame(identity, said.challenge);
    return { ringchat: true, features: said.features, prove };
  }

  /** Reads the `prove` op's reply: a refusal is said once. */
  proved(answer: Frame): void {
    if (answer.type === "X" && answer.op === "proved") return;
    const why = answer.type === "X" ? String(answer.body.message ?? answer.op) : answer.type;
    this.#unavailable(`The registry did not take our key (${why}): members will not see it`);
  }

  /** The registry does not speak ringchat/2: plain P2PChat from now on. */
  degrade(): { ringchat: false } {
    this.#plain = true;
    this.#unavailable(PLAIN_REGISTRY_NOTICE);
    return { ringchat: false };
  }

  /** Takes one `member-info` frame; the whole member-info when it is complete, else null. */
  feed(frame: ExtensionFrame): RegistryMemberInfo | null {
    return this.#memberInfo.feed(frame);
  }

  /**
   * Takes one `members-delta` frame: hands a whole delta on (`"taken"`, or
   * `"refused"` when it does not apply to my list), `"partial"` while its
   * parts come; a malformed part, or a broken run of parts, is `"refused"`
   * (the full list is to be asked for).
   */
  feedDelta(frame: ExtensionFrame): "taken" | "refused" | "partial" {
    const delta = this.#deltas.feed(frame);
    if (delta === null) return "partial";
    if (delta === "bad") return "refused";
    return this.#options.onMembersDelta?.(delta) === true ? "taken" : "refused";
  }

  /** Hands a whole member-info on. */
  memberInfo(info: RegistryMemberInfo): void {
    this.#options.onMemberInfo(info);
  }

  #unavailable(message: string): void {
    if (this.#unavailableSaid) return;
    this.#unavailableSaid = true;
    this.#options.onUnavailable(message);
  }
}
