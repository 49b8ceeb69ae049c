/** Links on their own: the handshake on both sides, frames both ways, limits, and queued bytes. */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { encodeFrame, type HandshakeFrame, type TextFrame } from "../lib/frames.ts";
import { withHashIds } from "../lib/ring.ts";
import { dial, greet, Link, type LinkHandlers } from "../peer/links.ts";

const [alice, bob] = withHashIds([
  { name: "alice", ip: "127.0.0.1", port: 1 },
  { name: "bob", ip: "127.0.0.1", port: 2 },
]);

const hello: HandshakeFrame = {
  type: "P",
  room: "room1",
  name: "alice",
  ip: "127.0.0.1",
  port: 1,
  msgId: 4n,
};

function text(body: string, msgId = 1n): TextFrame {
  return { type: "T", room: "room1", originHid: "1", originName: "alice", msgId, text: body };
}

/** Records what a link reports, with a wait on it. */
class Heard implements LinkHandlers {
  readonly texts: string[] = [];
  readonly closes: { reason: string; error: boolean }[] = [];
  readonly rejected: string[] = [];
  #wake = () => {};
  onText(_link: Link, frame: TextFrame): void {
    this.texts.push(frame.text);
    this.#wake();
  }
  onClose(_link: Link, reason: string, error: boolean): void {
    this.closes.push({ reason, error });
    this.#wake();
  }
  onRejected(_link: Link, reason: string): void {
    this.rejected.push(reason);
    this.#wake();
  }
  async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** A forward link (alice → bob) and its backward end, handshaken. */
async function pair(maxTextBytes = 1000) {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().then(async (conn) => {
    const greeted = await greet(conn, 1000);
    await conn.write(encodeFrame({ type: "S", msgId: 9n }));
    return greeted;
  });
  const dialed = await dial({ ...bob!, port: listener.addr.port }, hello, 1000);
  const greeted = await accepted;
  const fh = new Heard();
  const bh = new Heard();
  const forward = new Link(dialed, "forward", bob!, fh, { maxTextBytes, graceMs: 200 });
  const backward = new Link(greeted, "backward", alice!, bh, { maxTextBytes, graceMs: 200 });
  forward.start();
  backward.start();
  return { dialed, greeted, forward, backward, fh, bh };
}

async function closeBoth(...links: Link[]): Promise<void> {
  for (const link of links) link.close();
  await Promise.all(links.map((link) => link.done()));
}

Deno.test("links: dial sends P and reads S; greet reads the P", async () => {
  const { dialed, greeted, forward, backward } = await pair();
  try {
    equal(dialed.msgId, 9n);
    deepEqual(greeted.hello, hello);
  } finally {
    await closeBoth(forward, backward);
  }
});

Deno.test("links: texts go both ways in order; end() finishes what is in flight", async () => {
  const { forward, backward, fh, bh } = await pair();
  for (let i = 1; i <= 3; i++) forward.send(encodeFrame(text(`to bob ${i}`, BigInt(i))));
  backward.send(encodeFrame(text("to alice")));
  await bh.until(() => bh.texts.length === 3, "bob's texts");
  await fh.until(() => fh.texts.length === 1, "alice's text");
  deepEqual(bh.texts, ["to bob 1", "to bob 2", "to bob 3"]);
  forward.send(encodeFrame(text("last")));
  forward.end("Retired");
  equal(forward.open, false);
  equal(forward.send(encodeFrame(text("too late"))), false);
  await Promise.all([forward.done(), backward.done()]);
  deepEqual(bh.texts.at(-1), "last");
  deepEqual(fh.closes, [{ reason: "Retired", error: false }]);
  equal(bh.closes.length, 1);
});

Deno.test("links: a text over maxTextBytes is rejected, the link stays", async () => {
  const { forward, backward, bh } = await pair(10);
  try {
    forward.send(encodeFrame(text("x".repeat(11))));
    forward.send(encodeFrame(text("short")));
    await bh.until(() => bh.texts.length === 1, "the short text");
    deepEqual(bh.texts, ["short"]);
    match(bh.rejected[0]!, /a message of 11 bytes from "alice", over the limit of 10/);
    ok(backward.open);
  } finally {
    await closeBoth(forward, backward);
  }
});

Deno.test("links: garbage drops the link as an error", async () => {
  const { dialed, forward, backward, bh } = await pair();
  try {
    await dialed.conn.write(new TextEncoder().encode("Z:nonsense::\r\n"));
    await bh.until(() => bh.closes.length === 1, "the drop");
    equal(bh.closes[0]!.error, true);
    match(bh.closes[0]!.reason, /^Dropped: /);
  } finally {
    await closeBoth(forward, backward);
  }
});

Deno.test("links: queuedBytes counts what waits while the other side does not read", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const dialing = dial({ ...bob!, port: listener.addr.port }, hello, 1000);
  const conn = await accepted;
  // Answer S, then read nothing more.
  await conn.write(encodeFrame({ type: "S", msgId: 0n }));
  const heard = new Heard();
  const link = new Link(await dialing, "forward", bob!, heard, { graceMs: 100 });
  link.start();
  try {
    equal(link.queuedBytes, 0);
    const frame = encodeFrame(text("y".repeat(60_000)));
    let sent = 0;
    while (link.queuedBytes === 0 && sent < 1000) {
      link.send(frame);
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (let i = 0; i < 10; i++) link.send(frame);
    ok(link.queuedBytes >= 10 * frame.length, `queued ${link.queuedBytes}`);
  } finally {
    link.close("Done", true);
    conn.close();
    await link.done();
  }
  equal(link.queuedBytes, 0, "nothing once closed");
});

Deno.test("links: dial fails with why, and greet refuses a first frame that is not P", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  await rejects(dial({ ...bob!, port }, hello, 500), Error);
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  await client.write(encodeFrame({ type: "S", msgId: 1n }));
  await rejects(greet(conn, 500), /instead of a handshake/);
  client.close();
});
