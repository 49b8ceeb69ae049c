/**
 * A stand-in for our registry's member-info (CONTRACTS2.md, until the
 * registry sends it): a registry of one room that answers each JOIN with the
 * `M` of its members (newest first) and, to members it was told are ringchat
 * peers, the `member-info` after it (in the same write). Members not in
 * {@linkcode InfoRegistry.keys} are seed clients: absent from member-info,
 * and sent none.
 *
 * @module
 */

import { encodeFrame, type Member, msidOf } from "../../lib/frames.ts";
import { RawLink } from "./raw_peer.ts";

/** The fake registry; see the module doc. */
export class InfoRegistry implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  /** Ringchat members' keys by name ("" for a ringchat member without a key). */
  readonly keys = new Map<string, string>();
  /** The room's members, newest first. */
  members: Member[] = [];
  readonly #conns = new Set<RawLink>();
  readonly #serving = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  readonly #room: string;

  /** A registry of `room`. */
  constructor(room = "room1") {
    this.#room = room;
    this.#accepting = this.#accept();
  }

  /** Its port. */
  get port(): number {
    return this.listener.addr.port;
  }

  /** The member-info frame of the room now. */
  memberInfo(): Uint8Array {
    const members = this.members.flatMap((m) => {
      const key = this.keys.get(m.name);
      if (key === undefined) return [];
      return [{ ...m, ringchat: true, ...(key === "" ? {} : { key }) }];
    });
    return encodeFrame({
      type: "X",
      op: "member-info",
      body: { room: this.#room, msid: msidOf(this.members).toString(), members },
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    await this.#accepting;
    for (const link of this.#conns) await link.close();
    await Promise.allSettled([...this.#serving]);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.listener.accept();
      } catch {
        return;
      }
      const link = new RawLink(conn);
      this.#conns.add(link);
      const serving = this.#serve(link);
      this.#serving.add(serving);
      serving.finally(() => this.#serving.delete(serving));
    }
  }

  async #serve(link: RawLink): Promise<void> {
    for (;;) {
      try {
        await link.until(() => link.frames.length > 0, "a request", 60_000);
      } catch {
        return;
      }
      const request = link.frames.shift()!;
      if (!request.startsWith("J:")) continue;
      const [, , name, ip, port] = request.replace(/::\r\n$/, "").split(":");
      const member = { name: name!, ip: ip!, port: Number(port) };
      if (!this.members.some((m) => m.name === member.name && m.port === member.port)) {
        this.members = [member, ...this.members];
      }
      const m = encodeFrame({ type: "M", msid: msidOf(this.members), members: this.members });
      const info = this.keys.has(member.name) ? this.memberInfo() : new Uint8Array();
      const both = new Uint8Array(m.length + info.length);
      both.set(m);
      both.set(info, m.length);
      await link.write(both).catch(() => {});
    }
  }
}
