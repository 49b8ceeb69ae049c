/**
 * Test doubles that speak PROTOCOL.md bytes directly, written the way other
 * clients of the protocol are: {@linkcode RawLink} is one TCP link to a peer
 * (frames written as given, frames read by length), {@linkcode RawPeer} a
 * whole seed-style peer (a registry connection, a listener that answers every
 * `P` with `S`, and links), and {@linkcode FakeRegistry} a registry that
 * answers every `J` with a member list the test sets and counts the JOINs.
 *
 * @module
 */

import { FrameReader } from "../../lib/frame_reader.ts";
import { LINK_MAX_FRAME_BYTES } from "../../lib/limits.ts";
import { sdbmHash } from "../../lib/sdbm.ts";
import { RawClient } from "./raw_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long a read waits by default before it fails the test. */
const TIMEOUT_MS = 5000;

/** One raw TCP link: every frame it receives is kept, in order. */
export class RawLink {
  readonly conn: Deno.TcpConn;
  /** Every whole frame received, as text. */
  readonly frames: string[] = [];
  /** Every whole frame received, as its bytes. */
  readonly raw: Uint8Array[] = [];
  /** The most bytes one read takes (a seed client's `recv(1024)`: 1024). */
  readonly #readBytes: number;
  #eof = false;
  #wake: (() => void) | null = null;
  readonly #reading: Promise<void>;

  constructor(conn: Deno.TcpConn, initial: string[] = [], readBytes = 64 * 1024) {
    this.conn = conn;
    this.#readBytes = readBytes;
    conn.setNoDelay(true);
    this.frames.push(...initial);
    this.#reading = this.#read();
  }

  /** Connects to a peer on 127.0.0.1. */
  static async connect(port: number, readBytes?: number): Promise<RawLink> {
    return new RawLink(await Deno.connect({ hostname: "127.0.0.1", port }), [], readBytes);
  }

  /** True once the other side closed. */
  get eof(): boolean {
    return this.#eof;
  }

  /** Writes a string or bytes with one write per call (looping only on a short write). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Waits until `condition` holds, re-checked on every frame and on EOF. */
  async until(condition: () => boolean, what: string, timeoutMs = TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.#eof) throw new Error(`Closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; got ${this.frames}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /** Waits for the other side to close; fails if it does not within the timeout. */
  async closed(timeoutMs = TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Timed out waiting for the other side to close");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /** Closes the link and waits for its read loop. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }

  async #read(): Promise<void> {
    const reader = new FrameReader({ maxFrameBytes: LINK_MAX_FRAME_BYTES });
    const buf = new Uint8Array(this.#readBytes);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        for (const frame of reader.push(buf.subarray(0, n))) {
          this.frames.push(decoder.decode(frame));
          this.raw.push(frame.slice());
        }
        this.#wake?.();
      }
    } catch {
      // Closed.
    }
    this.#eof = true;
    this.#wake?.();
  }
}

/**
 * A seed-style peer made of raw bytes: registers with a registry, accepts
 * links (answering `P` with `S:<lastMsgId>`), opens links with `P`, and keeps
 * every link so a test can read what reached it.
 */
export class RawPeer {
  readonly name: string;
  readonly room: string;
  /** The ip this peer advertises (a quirky client may say "localhost"). */
  readonly ip: string;
  readonly listener: Deno.TcpListener;
  readonly links: RawLink[] = [];
  /** The last msgID, as the seed counts it. */
  lastMsgId = 0;
  #registry: RawClient | null = null;
  readonly #accepting: Promise<void>;
  readonly #handshakes = new Set<Promise<void>>();

  constructor(name: string, room: string, ip: string) {
    this.name = name;
    this.room = room;
    this.ip = ip;
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** The listening port. */
  get port(): number {
    return this.listener.addr.port;
  }

  /** Sends `J` to the registry on its own connection and returns the `M` reply. */
  async join(registryPort: number): Promise<string> {
    this.#registry ??= await RawClient.connect(registryPort);
    await this.#registry.write(`J:${this.room}:${this.name}:${this.ip}:${this.port}::\r\n`);
    return await this.#registry.frame();
  }

  /** Closes the registry connection (the registry drops the member at once). */
  async leave(): Promise<void> {
    await this.#registry?.close();
    this.#registry = null;
  }

  /** Opens a link to a peer: sends `P`, returns the link once `S` arrived. */
  async dial(port: number): Promise<RawLink> {
    const link = await RawLink.connect(port);
    await link.write(
      `P:${this.room}:${this.name}:${this.ip}:${this.port}:${this.lastMsgId}::\r\n`,
    );
    await link.until(() => link.frames.length > 0, "the S reply");
    const reply = link.frames.shift()!;
    if (!/^S:\d+::\r\n$/.test(reply)) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
    this.links.push(link);
    return link;
  }

  /** Every `T` frame received on any link, as text. */
  texts(): string[] {
    return this.links.flatMap((l) => l.frames.filter((f) => f.startsWith("T:")));
  }

  /** Closes everything. */
  async close(): Promise<void> {
    this.listener.close();
    await this.#accepting;
    await Promise.allSettled([...this.#handshakes]);
    await Promise.all(this.links.map((l) => l.close()));
    this.links.length = 0;
    await this.leave();
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
      this.links.push(link);
      const handshake = (async () => {
        try {
          await link.until(() => link.frames.length > 0, "a P");
        } catch {
          return;
        }
        const hello = link.frames.shift()!;
        if (hello.startsWith("P:")) await link.write(`S:${this.lastMsgId}::\r\n`);
      })();
      this.#handshakes.add(handshake);
      handshake.finally(() => this.#handshakes.delete(handshake));
    }
  }
}

/**
 * A registry double that speaks as the reference: answers every `J` with
 * `M:<msid>:<members>::\r\n` (and counts JOINs), `L` with `G::\r\n`, and
 * anything else (a ringchat hello too) with `F:Unknown message - Unknown request!!`.
 */
export class FakeRegistry {
  readonly listener: Deno.TcpListener;
  /** The member payload (`name:ip:port:…`, no trailing `:`) of the next `M`. */
  members = "";
  /** JOINs received. */
  joins = 0;
  readonly #conns = new Set<RawLink>();
  readonly #serving = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  constructor() {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async close(): Promise<void> {
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
      if (request.startsWith("J:")) {
        this.joins++;
        const body = this.members.length > 0 ? `:${this.members}` : "";
        const msid = sdbmHash(this.members.length > 0 ? `${this.members}:` : "");
        await link.write(`M:${msid}${body}::\r\n`).catch(() => {});
      } else if (request.startsWith("L")) {
        await link.write("G::\r\n").catch(() => {});
      } else {
        // What the reference answers to anything else, a ringchat hello included.
        await link.write("F:Unknown message - Unknown request!!::\r\n").catch(() => {});
      }
    }
  }
}
