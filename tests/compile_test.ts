/**
 * The single binaries themselves: both programs are `deno compile`d into a
 * temporary directory and a fault scenario runs against the binaries (a
 * registry and five peers, the most linked peer SIGKILLed, everyone left
 * still chats exactly once).
 *
 * Compiling needs Deno's base runtime (denort): from `DENORT_BIN`, from the
 * cache, or downloaded. Where none can be had the test is ignored and the
 * reason is printed on its own line when this module loads.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../lib/flags.ts";
import { Cluster } from "../tools/cluster/cluster.ts";
import {
  compileProgram,
  executableName,
  probeBaseRuntime,
  verifyVersion,
} from "../tools/compile.ts";

const probe = await probeBaseRuntime();
if (!probe.available) console.log(`compile_test.ts ignored: ${probe.reason}`);

Deno.test({
  name: "compile: compiled binaries repair the overlay after the most linked peer is killed",
  ignore: !probe.available,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ringchat-compile-test-" });
    try {
      const binaries = {
        registry: join(dir, executableName("registry")),
        peer: join(dir, executableName("peer")),
      };
      await compileProgram("registry", { output: binaries.registry });
      await compileProgram("peer", { output: binaries.peer });
      for (const binary of Object.values(binaries)) {
        assert.match(
          await verifyVersion(binary),
          new RegExp(`\\b${VERSION.replaceAll(".", "\\.")}\\b`),
        );
      }

      await using cluster = await Cluster.start({
        peers: 5,
        room: "r",
        keepaliveMs: 1_000,
        retryMs: 100,
        binaries,
      });
      const before = await cluster.waitConnected(30_000);
      assert.equal(before.size, 5);
      const victim = cluster.mostLinked(before)[0]!;
      assert.ok(before.get(victim)!.backward.length >= 1, `${victim} has no backward link`);

      await cluster.kill(victim);
      const after = await cluster.waitConnected(30_000);
      const survivors = [...after.keys()];
      assert.equal(survivors.length, 4);
      assert.ok(!survivors.includes(victim));

      await cluster.exchange((name) => [`hello from ${name}`], 30_000);
      // A second round: a late duplicate of the first would show by now.
      await cluster.exchange((name) => [`fence from ${name}`], 30_000);
      for (const peer of cluster.alive()) {
        for (const from of survivors.filter((name) => name !== peer.name)) {
          const copies = peer.messages().filter((m) =>
            m.from === from && m.text === `hello from ${from}`
          );
          assert.equal(
            copies.length,
            1,
            `${peer.name} got ${from}'s message ${copies.length} times`,
          );
        }
      }
      assert.deepEqual(cluster.deliveryProblems(), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
