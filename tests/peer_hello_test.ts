/**
 * The peer's registry hello (issue 11 item 1): on the reference (a registry
 * double that answers as it does) the peer runs plain P2PChat, says once what
 * it misses and never sends `X` again; on ours it proves the key kept in its
 * data dir, which the registry then announces to the room.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { parse } from "@optique/core";
import { flagParser } from "../lib/option_table.ts";
import { PEER_OPTION_TABLE } from "../peer/options.ts";
import { FrameReader } from "../lib/frame_reader.ts";
import { sdbmHash } from "../lib/sdbm.ts";
import { IDENTITY_FILE, loadIdentity } from "../peer/identity.ts";
import { type PeerEvent, startPeer } from "../peer/peer.ts";
import { PLAIN_REGISTRY_NOTICE } from "../peer/registry_hello.ts";
import { startRegistry } from "../registry/registry.ts";
import { extension, helloClient, memberList } from "./support/hello_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A registry that answers as the reference does: `J` with the one member,
 * `L` with `G`, anything else `F:Unknown message…`; it records each
 * connection's frames and can cut every connection.
 */
class ReferenceLike {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  /** The frames of each connection, in order. */
  readonly connections: string[][] = [];
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #serving = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  onFrame = () => {};

  constructor() {
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  cut(): void {
    for (const conn of this.#conns) conn.close();
    this.#conns.clear();
  }

  async close(): Promise<void> {
    this.listener.close();
    await this.#accepting;
    this.cut();
    await Promise.allSettled([...this.#serving]);
  }

  async #accept(): Promise<void> {
    for await (const conn of this.listener) {
      this.#conns.add(conn);
      const serving = this.#serve(conn, []);
      this.#serving.add(serving);
      serving.finally(() => this.#serving.delete(serving));
    }
  }

  async #serve(conn: Deno.TcpConn, frames: string[]): Promise<void> {
    this.connections.push(frames);
    const reader = new FrameReader({ maxFrameBytes: 4096 });
    try {
      for await (const chunk of conn.readable) {
        for (const raw of reader.feed(chunk)) {
          const text = decoder.decode(raw.bytes);
          frames.push(text);
          let reply = "F:Unknown message - Unknown request!!::\r\n";
          if (text.startsWith("J:")) {
            const [, , name, ip, port] = text.slice(0, -4).split(":");
            const payload = `${name}:${ip}:${port}:`;
            reply = `M:${sdbmHash(payload)}:${payload}:\r\n`;
          } else if (text.startsWith("L:")) {
            reply = "G::\r\n";
          }
          await conn.write(encoder.encode(reply));
          this.onFrame();
        }
      }
    } catch {
      // Cut.
    } finally {
      this.#conns.delete(conn);
    }
  }
}

function recorder() {
  const events: PeerEvent[] = [];
  let wake = () => {};
  return {
    events,
    onEvent: (e: PeerEvent) => {
      events.push(e);
      wake();
    },
    wake: () => wake(),
    async until(what: string, check: () => boolean): Promise<void> {
      const deadline = Date.now() + 5000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

Deno.test("peer hello: on a registry that answers like the reference, plain P2PChat, said once, no X after", async () => {
  const registry = new ReferenceLike();
  const rec = recorder();
  registry.onFrame = rec.wake;
  try {
    await using peer = await startPeer({
      registry: { hostname: "127.0.0.1", port: registry.port },
      hostname: "127.0.0.1",
      advertise: "127.0.0.1",
      name: "alice",
      room: "room1",
      retryMs: 20,
      onEvent: rec.onEvent,
    });
    equal(peer.state, "JOINED");
    const first = registry.connections[0]!;
    ok(first[0]!.startsWith("X:") && extension(first[0]!).op === "hello", first[0]);
    ok(first[1]!.startsWith("J:room1:alice:127.0.0.1:"), "the JOIN waits for the hello's answer");
    // Cut: the peer reconnects and re-registers, without a hello.
    registry.cut();
    await rec.until("the re-registration", () =>
      registry.connections.length >= 2 &&
      registry.connections[1]!.length > 0);
    ok(registry.connections[1]![0]!.startsWith("J:room1:alice:"), registry.connections[1]![0]);
    const xs = registry.connections.flat().filter((f) => f.startsWith("X:"));
    equal(xs.length, 1, "one hello in all");
    const notices = rec.events.filter((e) =>
      e.type === "info" && e.message === PLAIN_REGISTRY_NOTICE
    );
    equal(notices.length, 1, "said once");
    const joined = rec.events.find((e) => e.type === "joined") as Extract<
      PeerEvent,
      { type: "joined" }
    >;
    equal(joined.members[0]!.ringchat, undefined, "no ringchat flag without member-info");
  } finally {
    await registry.close();
  }
});

Deno.test("peer hello: the key kept in the data dir is proved and announced in member-info", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    await using peer = await startPeer({
      registry: { hostname: "127.0.0.1", port: registry.port },
      hostname: "127.0.0.1",
      advertise: "127.0.0.1",
      name: "alice",
      room: "room1",
      dataDir: dir,
    });
    const key = (await loadIdentity(dir)).publicKey;
    ok((await Deno.stat(`${dir}/${IDENTITY_FILE}`)).isFile);
    await using bob = await helloClient(registry.port);
    const m = await bob.client.request(encoder.encode("J:room1:bob:127.0.0.1:50002::\r\n"));
    deepEqual(memberList(m), ["bob:127.0.0.1:50002", `alice:127.0.0.1:${peer.port}`]);
    deepEqual(extension(await bob.client.frame()).body.members, [
      { name: "bob", ip: "127.0.0.1", port: 50002, ringchat: true },
      { name: "alice", ip: "127.0.0.1", port: peer.port, ringchat: true, key },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("peer hello: --data-dir takes a path, or none for a key in memory", () => {
  const parser = flagParser(PEER_OPTION_TABLE.dataDir);
  const read = (args: string[]) => {
    const result = parse(parser, args);
    ok(result.success);
    return result.value;
  };
  equal(read(["--data-dir", "none"]), null);
  equal(read(["--data-dir", "/tmp/x"]), "/tmp/x");
  equal(read([]), undefined, "absent: the program's per-user default applies");
});
