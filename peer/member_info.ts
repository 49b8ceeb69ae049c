/**
 * Our registry's `member-info` op (CONTRACTS2.md, docs/extensions.md): which
 * members of a room speak ringchat/2 and the Ed25519 keys they proved. It is
 * the only source of that knowledge: a member absent from it is a seed
 * client, and is never sent an `X` frame.
 *
 * @module
 */

/** One member the registry says speaks ringchat/2. */
export interface RingchatMember {
  name: string;
  ip: string;
  port: number;
  /** Its proved Ed25519 public key (base64url of 32 bytes), when it proved one. */
  key?: string;
}

/** A `member-info` body, checked. */
export interface MemberInfo {
  room: string;
  msid: string;
  members: RingchatMember[];
  /** Which part of a split member-info this is (0-based) and of how many, when split. */
  part?: number;
  parts?: number;
}

const KEY = /^[A-Za-z0-9_-]{43}$/;

/** The member-info in an `X` body, or null when it is not one (a malformed body is ignored). */
export function parseMemberInfo(body: Record<string, unknown>): MemberInfo | null {
  const { room, msid, members, part, parts } = body;
  if (typeof room !== "string" || typeof msid !== "string" || !Array.isArray(members)) {
    return null;
  }
  const out: RingchatMember[] = [];
  for (const m of members) {
    if (typeof m !== "object" || m === null) return null;
    const { name, ip, port, ringchat, key } = m as Record<string, unknown>;
    if (typeof name !== "string" || typeof ip !== "string" || !Number.isInteger(port)) return null;
    if (ringchat !== true) continue;
    const member: RingchatMember = { name, ip, port: port as number };
    if (typeof key === "string" && KEY.test(key)) member.key = key;
    out.push(member);
  }
  const info: MemberInfo = { room, msid, members: out };
  if (Number.isInteger(part) && Number.isInteger(parts)) {
    info.part = part as number;
    info.parts = parts as number;
  }
  return info;
}
