import { deepEqual, equal, ok } from "node:assert/strict";
import { hashId } from "../lib/sdbm.ts";
import type { PeerEvent } from "../peer/events.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { ProgramProcess } from "../tools/process/program_process.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { RawPeer } from "./support/raw_peer.ts";

const FAST_HASH = ["--password-iterations", "1000"];
const ROUNDS = 30;

function text(room: string, name: string, hid: string, id: number, content: string): string {
  return `T:${room}:${hid}:${name}:${id}:${
    new TextEncoder().encode(content).length
  }:${content}::\r\n`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

Deno.test("people peer process: DMs between two peer processes with consent, receipts and their latency; a seed client chats throughout", async () => {
  await using registry = await RegistryProcess.start({ logLevel: "warning", args: FAST_HASH });
  const seed = new RawPeer("seedy", "room1", "127.0.0.1");
  await seed.join(registry.port);
  await using alice = await PeerProcess.start({
    name: "alice",
    room: "room1",
    registryPort: registry.port,
  });
  await using bob = await PeerProcess.start({
    name: "bob",
    room: "room1",
    registryPort: registry.port,
  });
  let seedId = 0;
  const seedSays = async (words: string) => {
    // The seed client writes its text on every link it has, as the reference client floods.
    const hid = hashId("seedy", "127.0.0.1", seed.port).toString();
    const frame = text("room1", "seedy", hid, ++seedId, words);
    await Promise.all(seed.links.map((link) => link.write(frame).catch(() => {})));
  };
  try {
    await alice.waitFor((e) => e.type === "link" && e.state === "up", 10_000, true);
    await bob.waitFor((e) => e.type === "link" && e.state === "up", 10_000, true);
    const sawSeed = (p: PeerProcess, words: string) =>
      p.waitFor(
        (e) => e.type === "message" && e.from === "seedy" && e.text === words,
        10_000,
        true,
      );
    await seed.links[0]?.until(() => seed.links.length > 0, "a link");
    await seedSays("seed before");
    await Promise.all([sawSeed(alice, "seed before"), sawSeed(bob, "seed before")]);

    // Consent over --json.
    const request = bob.waitFor((e) => e.type === "dm-request", 10_000);
    await alice.command(JSON.stringify({ command: "dm", to: "bob", text: "first" }));
    deepEqual(await request, { type: "dm-request", from: "alice" });
    const accepted = alice.waitFor((e) => e.type === "dm-accepted", 10_000);
    await bob.command(JSON.stringify({ command: "dm-answer", to: "alice", accept: true }));
    deepEqual(await accepted, { type: "dm-accepted", by: "bob" });
    await bob.waitFor((e) => e.type === "dm" && e.text === "first", 10_000, true);
    await seedSays("seed during");
    await Promise.all([sawSeed(alice, "seed during"), sawSeed(bob, "seed during")]);

    // Latency: from alice's command line written to bob's `dm` line read, and to alice's `delivered`.
    const oneWay: number[] = [];
    const roundTrip: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const words = `dm ${i}`;
      let receivedAt = 0;
      let deliveredAt = 0;
      const offBob = bob.on((e, at) => {
        if (e.type === "dm" && e.text === words) receivedAt = at;
      });
      const offAlice = alice.on((e, at) => {
        if (e.type === "dm-receipt" && e.state === "delivered") deliveredAt = at;
      });
      const start = performance.now();
      const delivered = alice.waitFor(
        (e) => e.type === "dm-receipt" && e.state === "delivered",
        10_000,
      );
      const got = bob.waitFor((e) => e.type === "dm" && e.text === words, 10_000);
      await alice.command(JSON.stringify({ command: "dm", to: "bob", text: words }));
      await Promise.all([got, delivered]);
      offBob();
      offAlice();
      oneWay.push(receivedAt - start);
      roundTrip.push(deliveredAt - start);
    }
    oneWay.sort((a, b) => a - b);
    roundTrip.sort((a, b) => a - b);
    const figures = {
      oneWayP50: percentile(oneWay, 0.5).toFixed(2),
      oneWayP99: percentile(oneWay, 0.99).toFixed(2),
      deliveredP50: percentile(roundTrip, 0.5).toFixed(2),
      deliveredP99: percentile(roundTrip, 0.99).toFixed(2),
    };
    console.log(`DM latency over ${ROUNDS} messages between two peer processes (ms):`, figures);
    // Bob saw every DM once, in order.
    const dms = bob.events.filter((e): e is Extract<PeerEvent, { type: "dm" }> => e.type === "dm");
    deepEqual(dms.map((e) => e.text), [
      "first",
      ...Array.from({ length: ROUNDS }, (_, i) => `dm ${i}`),
    ]);
    await seedSays("seed after");
    await Promise.all([sawSeed(alice, "seed after"), sawSeed(bob, "seed after")]);
    // The seed client got none of the DMs, and no X frame.
    ok(!seed.links.some((l) => l.frames.some((f) => f.startsWith("X") || f.includes(":dm "))));
    // And --json search works against the same registry.
    const found = alice.waitFor((e) => e.type === "search", 10_000);
    await alice.command(JSON.stringify({ command: "search", name: "bob" }));
    deepEqual(await found, {
      type: "search",
      name: "bob",
      result: "found",
      state: "online",
      room: "room1",
    });
  } finally {
    await seed.close();
  }
});

Deno.test("people peer process: in a pipe, /register and /login take the password from the next line", async () => {
  await using registry = await RegistryProcess.start({ logLevel: "warning", args: FAST_HASH });
  await using peer = ProgramProcess.spawn("peer", {
    stdin: true,
    args: ["--data-dir", "none", "--registry", `127.0.0.1:${registry.port}`, "--port", "0"],
  });
  const lines: string[] = [];
  peer.onLine("stdout", (line) => lines.push(line));
  for (
    const line of [
      "/register alice",
      "correct horse",
      "/login alice",
      "correct horse",
      "/join room1",
    ]
  ) {
    await peer.write(line);
  }
  await peer.waitForLine(() => lines.some((l) => l.startsWith("-- Joined room1")), 10_000);
  ok(lines.includes("-- Registered alice; /login alice to use it"), lines.join("\n"));
  ok(lines.includes("-- Logged in as alice"), lines.join("\n"));
  ok(lines.includes("-- You are alice"), lines.join("\n"));
  equal(lines.filter((l) => l.startsWith("!!")).length, 0, lines.join("\n"));
  ok(!lines.some((l) => l.includes("correct horse")), "the password is never shown");
  await peer.write("/quit");
  equal((await peer.exited).code, 0);
});
