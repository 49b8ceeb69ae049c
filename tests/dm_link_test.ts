import assert from "node:assert/strict";
import type { ExtensionFrame } from "../lib/frames.ts";
import { DmLink } from "../peer/dm_link.ts";

const LIMITS = { maxFrameBytes: 4096, ratePerSecond: 10, burst: 5 };

/** Two ends of one loopback TCP connection. */
async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return [a, b];
}

function frame(op: string, body: Record<string, unknown> = {}): string {
  const json = JSON.stringify({ op, ...body });
  return `X:${json.length}:${json}::\r\n`;
}

/** A link on one end; its ops and its close are recorded. */
function watched(conn: Deno.TcpConn) {
  const ops: ExtensionFrame[] = [];
  const closed = Promise.withResolvers<string>();
  const three = Promise.withResolvers<void>();
  const link = new DmLink(conn, "alice", "t", {
    onOp: (_link, op) => {
      ops.push(op);
      if (ops.length === 3) three.resolve();
    },
    onClose: (_link, why) => closed.resolve(why),
  }, LIMITS);
  return { link, ops, closed: closed.promise, three: three.promise };
}

async function write(conn: Deno.TcpConn, text: string): Promise<void> {
  await conn.write(new TextEncoder().encode(text));
}

Deno.test("dm link: ops within the rate are handed on; a burst over it closes the link", async () => {
  const [mine, theirs] = await pair();
  const { link, ops, closed } = watched(mine);
  await write(theirs, Array.from({ length: 5 }, (_, i) => frame("dm", { id: `${i}` })).join(""));
  await write(theirs, frame("dm", { id: "5" }).repeat(20));
  assert.equal(await closed, "Too many ops on the direct connection");
  assert.equal(ops.length, 5);
  assert.ok(link.closed);
  theirs.close();
  await link.done;
});

Deno.test("dm link: a frame over the size bound, or a frame that is not an X op, closes the link", async () => {
  for (const bad of [frame("dm", { text: "x".repeat(5000) }), "T:room1:1:x:1:2:hi::\r\n"]) {
    const [mine, theirs] = await pair();
    const { link, ops, closed } = watched(mine);
    await write(theirs, bad);
    const why = await closed;
    assert.ok(/frame|Sent a T/.test(why), why);
    assert.equal(ops.length, 0);
    theirs.close();
    await link.done;
  }
});

Deno.test("dm link: what is written goes out in order, each frame whole", async () => {
  const [mine, theirs] = await pair();
  const sender = watched(mine);
  const receiver = watched(theirs);
  await Promise.all(
    ["a", "b", "c"].map((id) => sender.link.send({ type: "X", op: "dm", body: { id, text: id } })),
  );
  await receiver.three;
  assert.deepEqual(receiver.ops.map((op) => op.body.id), ["a", "b", "c"]);
  sender.link.close("done");
  assert.equal(await receiver.closed, "The other side closed the direct connection");
  await Promise.all([sender.link.done, receiver.link.done]);
});
