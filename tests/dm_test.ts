import assert from "node:assert/strict";
import { FrameReader } from "../lib/frame_reader.ts";
import type { ExtensionFrame } from "../lib/frames.ts";
import { DirectMessages } from "../peer/dm.ts";
import type { PeerEvent } from "../peer/events.ts";

const OPTIONS = {
  maxTextBytes: 1000,
  connectTimeoutMs: 1000,
  consentTimeoutMs: 50,
  link: { maxFrameBytes: 4096, ratePerSecond: 50, burst: 100 },
  maxLinks: 32,
  maxLinksPerToken: 2,
  maxQueued: 64,
};

/** Direct messages whose registry answers every op with `answer(op)`; events are kept. */
function dms(answer: (op: string, body: Record<string, unknown>) => Record<string, unknown>) {
  const events: PeerEvent[] = [];
  const waiters = new Set<() => void>();
  const abort = new AbortController();
  const tasks = new Set<Promise<unknown>>();
  const dm = new DirectMessages({
    request: (op, body) => Promise.resolve({ type: "X", op: "reply", body: answer(op, body) }),
    emit: (event) => {
      events.push(event);
      for (const wake of [...waiters]) wake();
    },
    track: (promise) => {
      tasks.add(promise);
      promise.finally(() => tasks.delete(promise)).catch(() => {});
      return promise;
    },
    me: () => "bob",
    port: () => 1,
    signal: abort.signal,
  }, OPTIONS);
  const until = (found: () => boolean) =>
    new Promise<void>((resolve) => {
      if (found()) return resolve();
      const wake = () => {
        if (!found()) return;
        waiters.delete(wake);
        resolve();
      };
      waiters.add(wake);
    });
  const close = async () => {
    abort.abort();
    await dm.close();
    await Promise.allSettled([...tasks]);
  };
  return { dm, events, until, close };
}

Deno.test("dm: a request to talk that gets no answer is given up with no-answer", async () => {
  const { dm, events, until, close } = dms(() => ({ route: "direct" }));
  try {
    const id = await dm.send("alice", "hello?");
    assert.match(id, /^[0-9a-z]+-1$/);
    await until(() => events.some((e) => e.type === "error"));
    const error = events.find((e) => e.type === "error");
    assert.equal(error?.type === "error" && error.code, "no-answer");
    assert.equal(events.filter((e) => e.type === "dm-receipt").length, 0);
  } finally {
    await close();
  }
});

Deno.test("dm: a consent's token opens at most two connections, only for its user", async () => {
  const { dm, close } = dms((op) => op === "dm-answer" ? { token: "tok1" } : {});
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clients: Deno.TcpConn[] = [];
  try {
    await dm.answer("alice", true);
    const verdicts: boolean[] = [];
    for (const from of ["alice", "alice", "alice", "mallory"]) {
      const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      clients.push(client);
      const conn = await listener.accept();
      const probe: ExtensionFrame = { type: "X", op: "dm-hello", body: { from, token: "tok1" } };
      assert.ok(
        dm.accept({ conn, reader: new FrameReader({ maxFrameBytes: 4096 }), frames: [], probe }),
      );
      verdicts.push(dm.links > verdicts.filter(Boolean).length);
    }
    assert.deepEqual(verdicts, [true, true, false, false]);
    assert.equal(dm.links, 2);
    // Another op as the first frame is not a direct message's: left to the other probes.
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    clients.push(client);
    const conn = await listener.accept();
    const probe: ExtensionFrame = { type: "X", op: "text-sig-request", body: {} };
    assert.ok(
      !dm.accept({ conn, reader: new FrameReader({ maxFrameBytes: 4096 }), frames: [], probe }),
    );
    conn.close();
  } finally {
    for (const client of clients) client.close();
    await close();
  }
});

Deno.test("dm: when the connection the other side opened is gone, my next message asks again", async () => {
  const asked: string[] = [];
  const { dm, close } = dms((op, body) => {
    asked.push(`${op} ${body.to}`);
    return op === "dm-answer" ? { token: "tok1" } : { route: "direct" };
  });
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await dm.answer("alice", true);
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const conn = await listener.accept();
    const probe: ExtensionFrame = {
      type: "X",
      op: "dm-hello",
      body: { from: "alice", token: "tok1" },
    };
    dm.accept({ conn, reader: new FrameReader({ maxFrameBytes: 4096 }), frames: [], probe });
    // Alice's side reads the welcome, then goes away.
    const buf = new Uint8Array(256);
    const n = await client.read(buf);
    assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /"op":"dm-welcome"/);
    client.close();
    const deadline = Date.now() + 2000;
    while (dm.links > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    assert.equal(dm.links, 0);
    await dm.send("alice", "are you back?");
    assert.deepEqual(asked, ["dm-answer alice", "dm-request alice"]);
  } finally {
    await close();
  }
});
