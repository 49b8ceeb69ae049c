/**
 * The process harness (tools/process/): a registry and peers spawned with the
 * compiled binaries' flags and environment, watched through their lines and
 * events, signalled and disposed.
 */

import assert from "node:assert/strict";
import { programEnv, runArgs } from "../lib/flags.ts";
import type { PeerEvent } from "../peer/events.ts";
import type { PeerHandle } from "../peer/peer.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { statsOfEvent, statsOfHandle } from "../tools/process/peer_stats.ts";
import { readProc } from "../tools/process/proc.ts";
import { ProgramProcess } from "../tools/process/program_process.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { RawClient } from "./support/raw_client.ts";

/** The environment of a running process, from /proc/PID/environ. */
async function environment(pid: number): Promise<Map<string, string>> {
  const text = await readProc(`/proc/${pid}/environ`);
  return new Map(
    text.split("\0").filter((e) => e.includes("=")).map((e) => {
      const eq = e.indexOf("=");
      return [e.slice(0, eq), e.slice(eq + 1)];
    }),
  );
}

Deno.test("harness: a registry process runs with programEnv(), answers, and stops with SIGTERM", async () => {
  await using registry = await RegistryProcess.start({ logLevel: "warning" });
  assert.ok(registry.port > 0);
  assert.ok(registry.alive);
  const env = await environment(registry.pid);
  for (const [key, value] of Object.entries(programEnv("registry"))) {
    assert.equal(env.get(key), value, key);
  }
  {
    await using client = await RawClient.connect(registry.port);
    assert.match(await client.request("J:r:alice:127.0.0.1:50001::\r\n"), /^M:/);
  }
  const status = await registry.stop();
  assert.equal(status.code, 0, await registry.stderr());
  assert.ok(!registry.alive);
  // Idempotent: a second stop (the disposal) resolves with the same status.
  assert.equal(await registry.stop(), status);
});

Deno.test("harness: a binary is run with the program's own arguments and programEnv()", async () => {
  // A stand-in for a compiled registry: a script that runs the sources with the binary's flags.
  const dir = await Deno.makeTempDir({ prefix: "ringchat-harness-test-" });
  try {
    const binary = `${dir}/registry`;
    const command = [Deno.execPath(), ...runArgs("registry")].map((a) => `'${a}'`).join(" ");
    await Deno.writeTextFile(binary, `#!/bin/sh\nexec ${command} "$@"\n`, { mode: 0o755 });
    await using registry = await RegistryProcess.start({ binary, args: ["--expiry-ms", "5000"] });
    assert.ok(registry.port > 0);
    const env = await environment(registry.pid);
    assert.equal(
      env.get("DENO_TOKIO_EVENT_INTERVAL"),
      programEnv("registry").DENO_TOKIO_EVENT_INTERVAL,
    );
    const cmdline = (await readProc(`/proc/${registry.pid}/cmdline`)).split("\0");
    assert.deepEqual(cmdline.slice(-7), [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--expiry-ms",
      "5000",
      "",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("harness: waiting for a line rejects with the stderr tail when the program exits", async () => {
  await using bad = ProgramProcess.spawn("registry", { args: ["--port", "-5"] });
  await assert.rejects(
    bad.waitForLine((line) => line.startsWith("listening on "), 30_000),
    /The registry \(pid \d+\) exited \(code [1-9]\d*\) while waiting\n.*--port/s,
  );
  assert.notEqual((await bad.exited).code, 0);
});

Deno.test("harness: peer processes run with programEnv(), chat, answer /links, stop and resume", async () => {
  await using registry = await RegistryProcess.start();
  const options = { room: "r", registryPort: registry.port, keepaliveMs: 1_000 };
  await using alice = await PeerProcess.start({ name: "alice", ...options });
  await using bob = await PeerProcess.start({ name: "bob", ...options });
  assert.ok(alice.port > 0 && bob.port > 0);
  const env = await environment(bob.pid);
  for (const [key, value] of Object.entries(programEnv("peer"))) {
    assert.equal(env.get(key), value, key);
  }
  await bob.waitFor((e) => e.type === "link" && e.state === "up", 15_000, true);
  const links = await bob.links();
  assert.equal(links.forward?.name ?? links.backward[0]?.name, "alice");

  const seen: PeerEvent[] = [];
  const off = bob.on((event) => seen.push(event));
  const heard = bob.waitFor((e) => e.type === "message" && e.text === "a:b::\r\nc", 15_000);
  await alice.send("a:b::\r\nc");
  await heard;
  off();
  assert.ok(seen.some((e) => e.type === "message" && e.from === "alice"));
  assert.equal(bob.messages().length, 1);

  // SIGSTOP: bob answers nothing; SIGCONT: he answers again.
  bob.signal("SIGSTOP");
  await assert.rejects(bob.links(300), /no matching line within 300 ms/);
  bob.signal("SIGCONT");
  assert.ok((await bob.links()).forward !== undefined);

  assert.equal((await alice.quit()).code, 0);
  assert.ok(!alice.alive);
  assert.equal((await bob.kill("SIGKILL")).signal, "SIGKILL");
  await assert.rejects(bob.waitFor(() => true, 1_000), /not running/);
});

Deno.test("harness: stats come from the stats event or peer.stats(), never from log text", () => {
  const counters = { sent: 1, delivered: 2, forwarded: 3, duplicates: 4, links: 1, queuedBytes: 0 };
  const event = { type: "stats", ...counters } as unknown as PeerEvent;
  assert.deepEqual(statsOfEvent(event), counters);
  assert.equal(statsOfEvent({ type: "quit" }), null);
  assert.throws(
    () => statsOfEvent({ type: "stats", sent: 1 } as unknown as PeerEvent),
    /stats event without delivered/,
  );
  const handle = { stats: () => counters } as unknown as PeerHandle;
  assert.deepEqual(statsOfHandle(handle), counters);
  assert.throws(() => statsOfHandle({} as PeerHandle), /has no stats\(\)/);
});
