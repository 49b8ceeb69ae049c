/**
 * The UDP poke socket on its own (poke and ACK, timeouts, junk, limits, which
 * source a poke or an ACK counts from), and a peer poked by a seed client and
 * by forgers with raw sockets.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { encodeFrame, type Member, type PokeFrame } from "../lib/frames.ts";
import { junkMessage, pokeLimitMessage, type PokeLimitReport, PokeSocket } from "../peer/poke.ts";
import { fromAddress, isLoopback, sameHost } from "../peer/poke_address.ts";
import { startRegistry } from "../registry/registry.ts";
import { testPeer } from "./support/peer_harness.ts";
import { RawClient } from "./support/raw_client.ts";

const poke: PokeFrame = { type: "K", room: "room1", name: "alice" };

Deno.test("poke: a poke is shown by the other socket and answered with an ACK", async () => {
  const heard: string[] = [];
  const bob = new PokeSocket("127.0.0.1", 0, { onPoke: (frame) => void heard.push(frame.name) });
  const alice = new PokeSocket("127.0.0.1", 0, { onPoke: () => {} });
  try {
    equal(await alice.poke("127.0.0.1", bob.port, poke, 2000), "ack");
    deepEqual(heard, ["alice"]);
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("poke: no answer is a timeout; closing settles a poke waiting as closed", async () => {
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (silent.addr as Deno.NetAddr).port;
  const alice = new PokeSocket("127.0.0.1", 0, { onPoke: () => {} });
  try {
    equal(await alice.poke("127.0.0.1", port, poke, 50), "timeout");
    const waiting = alice.poke("127.0.0.1", port, poke, 60_000);
    await silent.receive();
    await silent.receive();
    await alice.close();
    equal(await waiting, "closed");
    equal(await alice.poke("127.0.0.1", port, poke, 50), "closed");
  } finally {
    silent.close();
    await alice.close();
  }
});

Deno.test("poke: junk datagrams are ignored and reported", async () => {
  const junk: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const bob = new PokeSocket("127.0.0.1", 0, {
    onPoke: () => {},
    onJunk: (why) => {
      junk.push(why);
      if (junk.length === 2) resolve();
    },
  });
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: bob.port };
    await probe.send(new TextEncoder().encode("nonsense"), to);
    await probe.send(encodeFrame({ type: "A" }), to);
    await promise;
    equal(junk.length, 2);
    match(junk[1]!, /ACK frame with no poke waiting/);
  } finally {
    probe.close();
    await bob.close();
  }
});

Deno.test("poke: past the per-source limit pokes are neither answered nor shown, and that is reported", async () => {
  const reports: PokeLimitReport[] = [];
  let shown = 0;
  const limits = { pokesPerSecond: 0.001, pokeBurst: 2, strangerPokesPerSecond: Infinity };
  const bob = new PokeSocket("127.0.0.1", 0, {
    onPoke: () => void shown++,
    onLimited: (report) => void reports.push(report),
  }, limits);
  const alice = new PokeSocket("127.0.0.1", 0, { onPoke: () => {} });
  try {
    equal(await alice.poke("127.0.0.1", bob.port, poke, 1000), "ack");
    equal(await alice.poke("127.0.0.1", bob.port, poke, 1000), "ack");
    equal(await alice.poke("127.0.0.1", bob.port, poke, 100), "timeout");
    equal(shown, 2);
    equal(reports.length, 1);
    equal(reports[0]!.state, "started");
    equal(
      pokeLimitMessage(reports[0]!, limits),
      `Ignoring pokes from 127.0.0.1:${alice.port}: more than 0.001 per second (burst 2); ` +
        "they are neither answered nor shown",
    );
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("poke: the limit messages say who and what", () => {
  const from = { transport: "udp" as const, hostname: "10.0.0.1", port: 9 } as Deno.NetAddr;
  const limits = { pokesPerSecond: 10, pokeBurst: 20, strangerPokesPerSecond: 100 };
  equal(
    pokeLimitMessage({ scope: "strangers", state: "started", from, refused: 1 }, limits),
    "Ignoring pokes from addresses that are not a member's: more than 100 per second together; " +
      "they are neither answered nor shown",
  );
  equal(
    pokeLimitMessage({ scope: "source", state: "ended", from, refused: 7 }, limits),
    "Answering pokes from 10.0.0.1:9 again after ignoring 7",
  );
});

Deno.test("poke: an ignored datagram is reported with its source and why", () => {
  const from = { transport: "udp" as const, hostname: "10.0.0.1", port: 9 } as Deno.NetAddr;
  equal(junkMessage("Bad frame", from), "Ignored a datagram from 10.0.0.1:9: Bad frame");
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw UDP socket on 127.0.0.1 (port 0: any), as a seed client or a forger has. */
function udp(port = 0): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
}

function portOf(socket: Deno.DatagramConn): number {
  return (socket.addr as Deno.NetAddr).port;
}

function to(port: number): Deno.NetAddr {
  return { transport: "udp", hostname: "127.0.0.1", port };
}

/**
 * Every datagram `socket` has received so far: it sends itself a marker and
 * reads up to it (loopback queues a datagram when its send completes).
 */
async function receivedSoFar(socket: Deno.DatagramConn): Promise<string[]> {
  const marker = "-- marker --";
  await socket.send(encoder.encode(marker), to(portOf(socket)));
  const out: string[] = [];
  for (;;) {
    const [data] = await socket.receive();
    const text = decoder.decode(data);
    if (text === marker) return out;
    out.push(text);
  }
}

Deno.test("poke: every loopback spelling is one host, other hosts are compared as written, ports must match", () => {
  const loopback = ["localhost", "LocalHost.", "127.0.0.1", "127.0.1.1", "::1", "[::1]", "0.0.0.0"];
  for (const host of loopback) {
    ok(isLoopback(host), host);
    ok(sameHost(host, "127.0.0.1"), host);
  }
  ok(isLoopback("::ffff:127.0.0.1"));
  ok(!isLoopback("10.0.0.1"));
  ok(!isLoopback("localhost.example"));
  ok(sameHost("::ffff:10.0.0.1", "10.0.0.1"));
  ok(sameHost("Example.org", "example.org"));
  ok(!sameHost("10.0.0.1", "10.0.0.2"));
  ok(!sameHost("10.0.0.1", "127.0.0.1"));
  const from = { transport: "udp" as const, hostname: "127.0.0.1", port: 5000 };
  ok(fromAddress("localhost", 5000, from));
  ok(!fromAddress("localhost", 5001, from));
  ok(!fromAddress("6.6.6.6", 5000, from));
});

Deno.test("poke: a poke is from a member only from that member's address; others are still answered", async () => {
  const bobSocket = udp();
  const forger = udp();
  const heard: [string, boolean][] = [];
  const members: Member[] = [
    { name: "bob", ip: "localhost", port: portOf(bobSocket) },
    { name: "carol", ip: "127.0.0.1", port: portOf(forger) },
  ];
  const alice = new PokeSocket("127.0.0.1", 0, {
    onPoke: (frame, _from, fromMember) => void heard.push([frame.name, fromMember]),
    room: () => "room1",
    members: () => members,
  });
  try {
    const bobPoke = encodeFrame({ type: "K", room: "room1", name: "bob" });
    // Carol's socket (a member's address) and a stranger's name bob, then bob's own.
    await forger.send(bobPoke, to(alice.port));
    equal(decoder.decode((await forger.receive())[0]), "A::\r\n");
    await bobSocket.send(bobPoke, to(alice.port));
    equal(decoder.decode((await bobSocket.receive())[0]), "A::\r\n");
    await forger.send(encodeFrame({ type: "K", room: "room1", name: "carol" }), to(alice.port));
    await forger.receive();
    deepEqual(heard, [["bob", false], ["bob", true], ["carol", true]]);
  } finally {
    bobSocket.close();
    forger.close();
    await alice.close();
  }
});

Deno.test("poke: a K for another room, or while in no room, is neither answered nor shown, and is reported", async () => {
  let room: string | undefined = "room1";
  const junk: string[] = [];
  let shown = 0;
  let wake = () => {};
  const bob = new PokeSocket("127.0.0.1", 0, {
    onPoke: () => {
      shown++;
      wake();
    },
    room: () => room,
    onJunk: (why) => {
      junk.push(why);
      wake();
    },
  });
  const probe = udp();
  try {
    for (const step of ["room2", "none"]) {
      const handled = new Promise<void>((resolve) => wake = resolve);
      if (step === "none") room = undefined;
      await probe.send(encodeFrame({ type: "K", room: "room2", name: "x" }), to(bob.port));
      await handled;
    }
    await bob.close();
    deepEqual(await receivedSoFar(probe), []);
    equal(shown, 0);
    deepEqual(junk, [
      "Poke for room room2, not for my room room1",
      "Poke for room room2, I am in no room",
    ]);
  } finally {
    probe.close();
    await bob.close();
  }
});

Deno.test("poke: an ACK settles only a poke sent to its source; pokes to several members settle apart", async () => {
  const bob = udp();
  const carol = udp();
  const forger = udp();
  const junk: string[] = [];
  const alice = new PokeSocket("127.0.0.1", 0, {
    onPoke: () => {},
    onJunk: (why) => void junk.push(why),
  });
  try {
    const poke: PokeFrame = { type: "K", room: "room1", name: "alice" };
    const toBob = alice.poke("127.0.0.1", portOf(bob), poke, 400);
    const toCarol = alice.poke("localhost", portOf(carol), poke, 5000);
    await bob.receive();
    await carol.receive();
    // A forged ACK from another port, and carol's: only carol's poke is settled.
    await forger.send(encodeFrame({ type: "A" }), to(alice.port));
    await carol.send(encodeFrame({ type: "A" }), to(alice.port));
    equal(await toCarol, "ack");
    equal(await toBob, "timeout");
    deepEqual(junk, ["ACK frame from an address no poke waiting for it was sent to"]);
  } finally {
    bob.close();
    carol.close();
    forger.close();
    await alice.close();
  }
});

Deno.test("poke: a seed client poking and answering from its port works; forged pokes and ACKs do not pass as it", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  // The seed client: its UDP socket bound on the port it advertises (myport).
  const seed = udp();
  const forger = udp();
  const seedPort = portOf(seed);
  try {
    await using join = await RawClient.connect(reg.port);
    await join.write(`J:room1:seedy:127.0.0.1:${seedPort}::\r\n`);
    await join.frame();
    const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
    try {
      const alice = to(peer.port);
      const pokeFromSeedy = encodeFrame({ type: "K", room: "room1", name: "seedy" });
      // A forger naming seedy is answered but shown as from its own address.
      await forger.send(pokeFromSeedy, alice);
      equal(decoder.decode((await forger.receive())[0]), "A::\r\n");
      await rec.waitFor((e) => e.type === "poke", "the forged poke");
      // Seedy's own poke is seedy's.
      await seed.send(pokeFromSeedy, alice);
      equal(decoder.decode((await seed.receive())[0]), "A::\r\n");
      await rec.until(() => rec.of("poke").length === 2, "seedy's poke");
      deepEqual(rec.of("poke"), [
        { type: "poke", from: `127.0.0.1:${portOf(forger)}`, claimed: "seedy" },
        { type: "poke", from: "seedy" },
      ]);
      // Alice's poke, answered from seedy's port, is acknowledged.
      const acked = peer.poke("seedy");
      equal(decoder.decode((await seed.receive())[0]), "K:room1:alice::\r\n");
      await seed.send(encodeFrame({ type: "A" }), alice);
      await acked;
      // Seedy is silent now: a forged ACK from another port does not settle the poke.
      const unanswered = peer.poke("seedy");
      await seed.receive();
      await forger.send(encodeFrame({ type: "A" }), alice);
      await rejects(unanswered, (error: { code?: string }) => error.code === "poke-timeout");
      deepEqual(rec.of("poke-ack"), [{ type: "poke-ack", to: "seedy" }]);
      deepEqual(rec.of("poke-timeout"), [{ type: "poke-timeout", to: "seedy" }]);
      const ignored = new RegExp(`^Ignored a datagram from 127\\.0\\.0\\.1:${portOf(forger)}: ACK`);
      ok(rec.of("info").some((e) => ignored.test(e.message)), "the forged ACK is reported");
      // A poke for another room gets no answer and is not shown.
      const mark = rec.events.length;
      await seed.send(encodeFrame({ type: "K", room: "room2", name: "seedy" }), alice);
      await rec.waitFor(
        (e) => e.type === "info" && /Poke for room room2, not for my room room1$/.test(e.message),
        "the wrong-room report",
        { from: mark },
      );
    } finally {
      await peer.quit();
    }
    deepEqual(await receivedSoFar(seed), []);
    equal(rec.of("poke").length, 2);
  } finally {
    seed.close();
    forger.close();
  }
});
