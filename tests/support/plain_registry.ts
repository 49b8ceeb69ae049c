/**
 * A registry that speaks only P2PChat, as the reference server does, for
 * the tests of what degrades there: our registry behind a front that answers
 * every `X` frame itself with the reference's
 * `F:Unknown message - Unknown request!!::\r\n` and passes every other frame
 * on. The registry never sees a hello, so it treats each connection as a seed
 * client's: no pushes, no member-info, no people ops; membership, expiry and
 * the `M` replies are the real ones.
 *
 * @module
 */

import { FrameReader } from "../../lib/frame_reader.ts";
import { type RegistryOptions, startRegistry } from "../../registry/registry.ts";

const UNKNOWN = new TextEncoder().encode("F:Unknown message - Unknown request!!::\r\n");

/** A running plain registry; see the module doc. */
export interface PlainRegistry extends AsyncDisposable {
  /** Where peers connect. */
  readonly port: number;
  /** `X` frames answered as unknown so far. */
  readonly refused: number;
}

/** Starts our registry (with `options`) behind a front that refuses every `X`. */
export async function startPlainRegistry(
  options: Partial<RegistryOptions> = {},
): Promise<PlainRegistry> {
  const registry = await startRegistry({ hostname: "127.0.0.1", port: 0, ...options });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.TcpConn>();
  const serving = new Set<Promise<void>>();
  let refused = 0;

  async function serve(client: Deno.TcpConn): Promise<void> {
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: registry.port });
    } catch {
      client.close();
      return;
    }
    conns.add(upstream);
    const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
    // One writer per direction: replies from the front and the registry keep their order.
    let toClient = Promise.resolve();
    const write = (conn: Deno.TcpConn, bytes: Uint8Array) =>
      toClient = toClient.then(async () => {
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      });
    const down = (async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await upstream.read(buf).catch(() => null);
        if (n === null) break;
        await write(client, buf.slice(0, n)).catch(() => {});
      }
    })();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await client.read(buf).catch(() => null);
        if (n === null) break;
        for (const frame of reader.feed(buf.subarray(0, n))) {
          if (frame.type === "X") {
            refused++;
            await write(client, UNKNOWN);
          } else {
            let off = 0;
            while (off < frame.bytes.length) off += await upstream.write(frame.bytes.subarray(off));
          }
        }
      }
    } catch {
      // Either side went away: both close.
    } finally {
      for (const conn of [client, upstream]) {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await down;
      await toClient.catch(() => {});
    }
  }

  const accepting = (async () => {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch {
        return;
      }
      conns.add(client);
      const done = serve(client);
      serving.add(done);
      done.finally(() => serving.delete(done));
    }
  })();

  return {
    port: listener.addr.port,
    get refused() {
      return refused;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await Promise.allSettled([...serving]);
      await registry[Symbol.asyncDispose]();
    },
  };
}
