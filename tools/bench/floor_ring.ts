/**
 * The floor for overlay propagation: flooding over a ring of N raw TCP
 * connections in one process, with none of the engine's work (no frame
 * codec, no dedup window, no events). Node 0 writes a 16-byte frame to both
 * neighbours; every node forwards the first copy it gets to its other
 * neighbour and drops the second. The time until the last node has it is
 * what Deno's TCP on loopback costs for that many hops on one event loop.
 *
 * @module
 */

const FRAME = 16;

interface FloorNode {
  left: Deno.TcpConn;
  right: Deno.TcpConn;
  seen: Set<number>;
}

/** Milliseconds from the first write to the last node's receipt, per message. */
export async function floorRing(peers: number, messages: number): Promise<number[]> {
  if (peers < 3) throw new RangeError("A floor ring needs at least 3 nodes");
  const listeners = Array.from(
    { length: peers },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const rights: Deno.TcpConn[] = [];
  const lefts: Deno.TcpConn[] = [];
  const nodes: FloorNode[] = [];
  const reads: Promise<void>[] = [];
  try {
    for (let i = 0; i < peers; i++) {
      const next = listeners[(i + 1) % peers]!;
      const [out, accepted] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: (next.addr as Deno.NetAddr).port }),
        next.accept(),
      ]);
      out.setNoDelay(true);
      accepted.setNoDelay(true);
      rights[i] = out;
      lefts[(i + 1) % peers] = accepted;
    }
    for (let i = 0; i < peers; i++) {
      nodes.push({ left: lefts[i]!, right: rights[i]!, seen: new Set() });
    }

    let waiting: { seq: number; left: number; resolve: (at: number) => void } | null = null;
    const onFrame = (node: FloorNode, from: Deno.TcpConn, frame: Uint8Array) => {
      const seq = new DataView(frame.buffer, frame.byteOffset, FRAME).getUint32(0);
      if (node.seen.has(seq)) return;
      node.seen.add(seq);
      const other = from === node.left ? node.right : node.left;
      other.write(frame.slice()).catch(() => {});
      if (waiting !== null && waiting.seq === seq && --waiting.left === 0) {
        waiting.resolve(performance.now());
      }
    };
    for (const node of nodes) {
      for (const conn of [node.left, node.right]) {
        reads.push((async () => {
          const buf = new Uint8Array(4096);
          let carry = new Uint8Array(0);
          try {
            for (;;) {
              const n = await conn.read(buf);
              if (n === null) return;
              let data = buf.subarray(0, n);
              if (carry.length > 0) data = new Uint8Array([...carry, ...data]);
              let off = 0;
              for (; off + FRAME <= data.length; off += FRAME) {
                onFrame(node, conn, data.subarray(off, off + FRAME));
              }
              carry = data.slice(off);
            }
          } catch {
            // Closed at the end.
          }
        })());
      }
    }

    const times: number[] = [];
    for (let seq = 1; seq <= messages; seq++) {
      const frame = new Uint8Array(FRAME);
      new DataView(frame.buffer).setUint32(0, seq);
      const origin = nodes[(seq * 7) % peers]!;
      origin.seen.add(seq);
      const { promise, resolve } = Promise.withResolvers<number>();
      waiting = { seq, left: peers - 1, resolve };
      const started = performance.now();
      origin.left.write(frame.slice()).catch(() => {});
      origin.right.write(frame.slice()).catch(() => {});
      const timer = setTimeout(() => resolve(Number.NaN), 10_000);
      const done = await promise;
      clearTimeout(timer);
      times.push(done - started);
      // Let the last forwards (the duplicates) drain before the next message.
      await new Promise((r) => setTimeout(r, 5));
    }
    return times.filter((t) => !Number.isNaN(t));
  } finally {
    for (const listener of listeners) listener.close();
    for (const conn of [...rights, ...lefts]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.allSettled(reads);
  }
}
