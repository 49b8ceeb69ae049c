/**
 * What a new user meets when joining: a registry that is down at start (the
 * peer keeps trying), a registry that refuses the JOIN (the peer says so and
 * stays NAMED), and texts that are only blanks (not sent).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { executeCommand } from "../peer/commands.ts";
import { startRegistry } from "../registry/registry.ts";
import { testPeer } from "./support/peer_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A port with nothing listening on it (just freed). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

const REFUSAL = "JOIN message - Name already in use in this chatroom!!";

/**
 * A registry that answers each JOIN from `refused` names with REFUSAL and
 * any other JOIN with a member list of that one member; anything else (a
 * ringchat hello too) with the reference's `F:Unknown message - Unknown request!!`.
 */
async function fakeRegistry(listener: Deno.TcpListener, refused: Set<string>): Promise<void> {
  const conns: Deno.TcpConn[] = [];
  try {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        let pending = "";
        for await (const chunk of conn.readable) {
          pending += decoder.decode(chunk);
          let end;
          while ((end = pending.indexOf("::\r\n")) >= 0) {
            const [type, room, name, ip, port] = pending.slice(0, end).split(":");
            pending = pending.slice(end + 4);
            if (type !== "J") {
              // As the reference answers a ringchat hello or any other request.
              await conn.write(encoder.encode("F:Unknown message - Unknown request!!::\r\n"));
              continue;
            }
            const reply = refused.has(name!)
              ? `F:${REFUSAL}::\r\n`
              : `M:7:${name}:${ip}:${port}::\r\n`;
            void room;
            await conn.write(encoder.encode(reply));
          }
        }
      })().catch(() => {});
    }
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Closed by the peer already.
      }
    }
  }
}

Deno.test("join: started with a room while the registry is down, the peer retries until it answers", async () => {
  const port = freePort();
  const { peer, rec } = await testPeer(port, { name: "alice", room: "room1", retryMs: 50 });
  try {
    equal(peer.state, "NAMED");
    const first = await rec.waitFor(
      (e) => e.type === "info" && /trying again/.test(e.message),
      "a retry notice",
    );
    match(
      (first as { message: string }).message,
      new RegExp(
        `^Cannot reach the registry at 127\\.0\\.0\\.1:${port} \\(.+\\); trying again in 0\\.05 s$`,
      ),
    );
    // Each try is visible, the delay doubling.
    await rec.waitFor(
      (e) => e.type === "info" && /trying again in 0\.1 s$/.test(e.message),
      "the second retry notice, twice the delay",
    );
    equal(rec.of("error").length, 0);
    await using reg = await startRegistry({ hostname: "127.0.0.1", port });
    const joined = await rec.waitFor(
      (e) => e.type === "joined",
      "the join once the registry is up",
      {
        timeoutMs: 10_000,
      },
    );
    deepEqual((joined as { members: { name: string }[] }).members.map((m) => m.name), ["alice"]);
    equal(peer.state, "JOINED");
    equal(reg.stats().members, 1);
  } finally {
    await peer.quit();
  }
});

Deno.test("join: quitting stops the retries of the start JOIN at once", async () => {
  const port = freePort();
  const { peer, rec } = await testPeer(port, { name: "alice", room: "room1", retryMs: 5_000 });
  await rec.waitFor((e) => e.type === "info" && /trying again in 5 s/.test(e.message), "a notice");
  // quit() resolves once every task ended: a retry left waiting would hold it 5 s.
  const started = performance.now();
  await peer.quit();
  const took = performance.now() - started;
  ok(took < 1000, `quit took ${took.toFixed(0)} ms`);
  equal(rec.events.at(-1)!.type, "quit");
  equal(rec.of("joined").length, 0);
});

Deno.test("join: a JOIN typed while the registry is down fails once, with no retry", async () => {
  const { peer, rec } = await testPeer(freePort(), { name: "alice", retryMs: 20 });
  try {
    await rejects(peer.join("room1"), { code: "registry-unreachable", message: /Cannot reach/ });
    equal(peer.state, "NAMED");
    equal(rec.of("info").filter((e) => /trying again/.test(e.message)).length, 0);
  } finally {
    await peer.quit();
  }
});

Deno.test("join: a JOIN the registry refuses is reported with its text, and the peer stays NAMED", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const registry = fakeRegistry(listener, new Set(["bob"]));
  const { peer, rec } = await testPeer(listener.addr.port, { name: "bob" });
  try {
    await rejects(peer.join("room1"), {
      name: "PeerError",
      code: "registry-refused",
      message: `The registry refused to join room1: ${REFUSAL}`,
    });
    equal(peer.state, "NAMED");
    // Through the CLI dispatcher it is an error event with the code.
    await executeCommand(peer, { type: "join", room: "room1" }, () => {});
    deepEqual(rec.of("error").at(-1), {
      type: "error",
      code: "registry-refused",
      message: `The registry refused to join room1: ${REFUSAL}`,
    });
    // Another name then joins.
    peer.user("bob2");
    await peer.join("room1");
    equal(peer.state, "JOINED");
    deepEqual(rec.of("joined").at(-1)!.members.map((m) => m.name), ["bob2"]);
  } finally {
    await peer.quit();
    listener.close();
    await registry;
  }
});

Deno.test("join: started with a room the registry refuses, the peer shows why once and stays NAMED", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const registry = fakeRegistry(listener, new Set(["bob"]));
  const { peer, rec } = await testPeer(listener.addr.port, {
    name: "bob",
    room: "room1",
    retryMs: 20,
  });
  try {
    equal(peer.state, "NAMED");
    deepEqual(rec.of("error"), [{
      type: "error",
      code: "registry-refused",
      message: `The registry refused to join room1: ${REFUSAL}`,
    }]);
    equal(rec.of("info").filter((e) => /trying again/.test(e.message)).length, 0);
  } finally {
    await peer.quit();
    listener.close();
    await registry;
  }
});

Deno.test("send: a text of only spaces and tabs is not sent (empty-text), as the empty string", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
  try {
    for (const blank of ["", " ", "   ", "\t", " \t "]) {
      await rejects(peer.send(blank), { code: "empty-text", message: /must not be empty/ });
    }
    equal(rec.of("message").length, 0);
    equal(peer.stats().sent, 0);
    // Text with blanks around it is sent as it is.
    await peer.send("  hi\t");
    deepEqual(rec.texts(), ["  hi\t"]);
  } finally {
    await peer.quit();
  }
});
