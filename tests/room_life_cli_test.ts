/**
 * Life in a room with processes (issue 11, items 2–4): peer processes on a
 * registry process, `--json`, a 20 s keepalive. A SIGKILL is a `lost` leave,
 * a quit a `left` one, both on every member within 1 s (measured from the
 * kill to the line read from the member's stdout); `{"command":"nick"}` is
 * one `nick` event; `{"command":"leave"}` brings the peer back to named, to
 * rename and join another room; messages carry `at`.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";

const WAIT_MS = 15_000;

/** When (`performance.now()` as its line was read) `peer` emits an event matching `match`. */
function lineAt(peer: PeerProcess, match: (e: PeerEvent) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${peer.name}: no matching event in ${WAIT_MS} ms`));
    }, WAIT_MS);
    const off = peer.on((event, at) => {
      if (!match(event)) return;
      clearTimeout(timer);
      off();
      resolve(at);
    });
  });
}

function life(peer: PeerProcess): string[] {
  return peer.events.flatMap((e) =>
    e.type === "member-joined"
      ? [`+${e.name}`]
      : e.type === "member-left"
      ? [`-${e.name} ${e.reason}`]
      : e.type === "nick"
      ? [`${e.from}>${e.to}`]
      : []
  );
}

Deno.test({
  name: "room life (processes): kill, nick, leave and quit as every member sees them, within 1 s",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using registry = await RegistryProcess.start();
    const start = (name: string, room = "room1") =>
      PeerProcess.start({ name, room, registryPort: registry.port, keepaliveMs: 20_000 });
    await using alice = await start("alice");
    await alice.waitFor((e) => e.type === "joined", WAIT_MS, true);
    await using bob = await start("bob");
    await alice.waitFor((e) => e.type === "member-joined" && e.name === "bob", WAIT_MS, true);
    await using carol = await start("carol");
    await using dave = await start("dave", "room2");
    for (const p of [alice, bob]) {
      await p.waitFor((e) => e.type === "member-joined" && e.name === "carol", WAIT_MS, true);
    }
    const delays: string[] = [];

    // SIGKILL: lost.
    const lost = [alice, bob].map((p) =>
      lineAt(p, (e) => e.type === "member-left" && e.name === "carol")
    );
    let t0 = performance.now();
    await carol.kill("SIGKILL");
    for (const t of await Promise.all(lost)) {
      ok(t - t0 < 1000, `kill → line ${t - t0} ms`);
      delays.push(`lost ${(t - t0).toFixed(0)}`);
    }

    // A nick: one event, no leave or join.
    const nick = lineAt(alice, (e) => e.type === "nick" && e.from === "bob" && e.to === "robert");
    t0 = performance.now();
    await bob.command(JSON.stringify({ command: "nick", name: "robert" }));
    const nickAt = await nick;
    ok(nickAt - t0 < 1000, `nick → line ${nickAt - t0} ms`);
    delays.push(`nick ${(nickAt - t0).toFixed(0)}`);
    await bob.waitFor((e) => e.type === "joined", WAIT_MS, true);
    await bob.waitFor((e) => e.type === "link" && e.state === "up", WAIT_MS, true);

    // Messages carry at.
    const text = alice.waitFor((e) => e.type === "message" && e.text === "from robert", WAIT_MS);
    await bob.command(JSON.stringify({ command: "send", text: "from robert" }));
    const got = (await text) as Extract<PeerEvent, { type: "message" }>;
    equal(got.from, "robert");
    ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(got.at), got.at);
    ok(Math.abs(Date.parse(got.at) - Date.now()) < 60_000);

    // Leave: back to named, rename, join another room.
    const leaves = lineAt(bob, (e) => e.type === "member-left" && e.name === "alice");
    t0 = performance.now();
    await alice.command(JSON.stringify({ command: "leave" }));
    const leftAt = await leaves;
    delays.push(`leave ${(leftAt - t0).toFixed(0)}`);
    await alice.waitFor((e) => e.type === "left", WAIT_MS, true);
    await alice.command(JSON.stringify({ command: "user", name: "ally" }));
    await alice.command(JSON.stringify({ command: "join", room: "room2" }));
    const joined2 = await alice.waitFor(
      (e) => e.type === "joined" && e.room === "room2",
      WAIT_MS,
      true,
    );
    ok(joined2.type === "joined" && joined2.members.some((m) => m.name === "dave"));
    await dave.waitFor((e) => e.type === "member-joined" && e.name === "ally", WAIT_MS, true);

    // Quit: left.
    const quits = lineAt(dave, (e) => e.type === "member-left" && e.name === "ally");
    t0 = performance.now();
    await alice.quit();
    const quitAt = await quits;
    ok(quitAt - t0 < 1000, `quit → line ${quitAt - t0} ms`);
    delays.push(`quit ${(quitAt - t0).toFixed(0)}`);

    deepEqual(life(bob), ["+carol", "-carol lost", "bob>robert", "-alice left"]);
    deepEqual(life(dave), ["+ally", "-ally left"]);
    deepEqual(life(alice).slice(0, 3), ["+bob", "+carol", "-carol lost"]);
    ok(life(alice).includes("bob>robert") && !life(alice).includes("+robert"));
    ok(!life(alice).includes("-bob left") && !life(alice).includes("-bob lost"));
    console.log(
      `pushed membership with processes (action → member's stdout line), ms: ${delays.join(", ")}`,
    );
    await bob.quit();
    await dave.quit();
  },
});
