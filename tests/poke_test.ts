/** The UDP poke socket on its own: poke and ACK, timeouts, junk, limits. */
import { deepEqual, equal, match } from "node:assert/strict";
import { encodeFrame, type PokeFrame } from "../lib/frames.ts";
import { junkMessage, pokeLimitMessage, type PokeLimitReport, PokeSocket } from "../peer/poke.ts";

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
