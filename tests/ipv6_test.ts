/**
 * `--host ::` (issue 15): on Linux one socket bound to `::` takes IPv6 and
 * IPv4 (as IPv4-mapped `::ffff:a.b.c.d`, net.ipv6.bindv6only = 0, the
 * default); the registry treats a mapped source as the IPv4 address it is.
 * Peers name registries by DNS name or [IPv6], and never advertise an
 * address with `:`. Skipped, with the reason printed, where the machine has
 * no IPv6.
 */

import assert from "node:assert/strict";
import { startRegistry } from "../registry/registry.ts";
import type { PeerError } from "../peer/peer.ts";
import { ProgramProcess } from "../tools/process/program_process.ts";
import { RawClient } from "./support/raw_client.ts";
import { testPeer } from "./support/peer_harness.ts";

/** Why IPv6 cannot be tested here, or null when `::` and `::1` can be bound. */
function noIpv6(): string | null {
  for (const hostname of ["::", "::1"]) {
    try {
      Deno.listen({ hostname, port: 0 }).close();
    } catch (error) {
      return `cannot listen on ${hostname}: ${error instanceof Error ? error.message : error}`;
    }
  }
  return null;
}

const skip = noIpv6();
if (skip !== null) console.log(`ipv6 tests skipped: ${skip}`);

/** A global (not loopback, not link-local) IPv6 address of this machine, if any. */
function globalIpv6(): string | null {
  const found = Deno.networkInterfaces().find((i) =>
    i.family === "IPv6" && i.address !== "::1" && !i.address.toLowerCase().startsWith("fe80")
  );
  return found?.address ?? null;
}

Deno.test({
  name: "ipv6: a registry on :: answers IPv4 and IPv6 clients, mapped IPv4 as IPv4",
  ignore: skip !== null,
  fn: async () => {
    await using registry = await startRegistry({
      hostname: "::",
      port: 0,
      trustedSources: "none",
      maxConnectionsPerSource: 2,
    });
    assert.equal(registry.hostname, "::");
    await using v4 = await RawClient.connect(registry.port, "127.0.0.1");
    await using v6 = await RawClient.connect(registry.port, "::1");
    // The ip rule: the mapped source ::ffff:127.0.0.1 may advertise 127.0.0.1…
    assert.match(await v4.request("J:r:alice:127.0.0.1:50001::\r\n"), /^M:\d+:alice:127\.0\.0\.1/);
    // … ::1 is loopback too, so it may advertise a loopback address or localhost …
    assert.match(await v6.request("J:r:bob:localhost:50002::\r\n"), /^M:\d+:bob:localhost:50002/);
    // … and neither may advertise another host's address.
    await using other = await RawClient.connect(registry.port, "127.0.0.1");
    assert.equal(
      await other.request("J:r:eve:10.0.0.1:50003::\r\n"),
      "F:JOIN message - IP address is not this connection's address!!::\r\n",
    );
    // Per-source limits count 127.0.0.1 once, however it arrives (two are open from it).
    await using third = await RawClient.connect(registry.port, "127.0.0.1");
    assert.equal(
      (await third.frames(1))[0],
      "F:Server busy - too many connections from this address!!::\r\n",
    );
    assert.equal(registry.stats().members, 2);
  },
});

Deno.test({
  name: "ipv6: the default trusted sources trust 127.0.0.1 arriving as ::ffff:127.0.0.1",
  ignore: skip !== null,
  fn: async () => {
    await using registry = await startRegistry({ hostname: "::", port: 0 });
    await using client = await RawClient.connect(registry.port, "127.0.0.1");
    // Trusted: no ip check, so an address of elsewhere is believed.
    assert.match(await client.request("J:r:alice:10.9.9.9:50001::\r\n"), /^M:/);
  },
});

Deno.test({
  name: "ipv6: peers name the registry by DNS name or [::1] and advertise 127.0.0.1",
  ignore: skip !== null,
  fn: async () => {
    await using registry = await startRegistry({ hostname: "::", port: 0 });
    const byName = await testPeer(registry.port, {
      registry: { hostname: "localhost", port: registry.port },
    });
    const byV6 = await testPeer(registry.port, {
      registry: { hostname: "::1", port: registry.port },
    });
    try {
      byName.peer.user("alice");
      await byName.peer.join("r");
      byV6.peer.user("bob");
      await byV6.peer.join("r");
      const joined = byV6.rec.of("joined")[0]!;
      assert.deepEqual(joined.members.map((m) => [m.name, m.ip]), [
        ["bob", "127.0.0.1"],
        ["alice", "127.0.0.1"],
      ]);
    } finally {
      await byName.peer.quit();
      await byV6.peer.quit();
    }
  },
});

const global = skip === null ? globalIpv6() : null;
if (skip === null && global === null) {
  console.log("ipv6: no global IPv6 address here: the no-ipv4-address test is skipped");
}

Deno.test({
  name:
    "ipv6: a peer whose registry connection is IPv6 (not ::1) refuses to JOIN without --advertise",
  ignore: global === null,
  fn: async () => {
    // allowAnyIp: the JOIN ip need not be the IPv6 source (as for members behind NAT).
    await using registry = await startRegistry({ hostname: "::", port: 0, allowAnyIp: true });
    const { peer } = await testPeer(registry.port, {
      registry: { hostname: global!, port: registry.port },
    });
    try {
      peer.user("alice");
      await assert.rejects(
        peer.join("r"),
        (e: PeerError) =>
          e.code === "no-ipv4-address" && e.message.includes(global!) &&
          e.message.includes("--advertise"),
      );
      assert.equal(registry.stats().members, 0);
      // With an IPv4 address to advertise, the same connection joins.
      const advertised = await testPeer(registry.port, {
        registry: { hostname: global!, port: registry.port },
        advertise: "127.0.0.1",
      });
      try {
        advertised.peer.user("bob");
        await advertised.peer.join("r");
        assert.equal(registry.stats().members, 1);
      } finally {
        await advertised.peer.quit();
      }
    } finally {
      await peer.quit();
    }
  },
});

Deno.test({
  name: "ipv6: the registry program on --host :: says listening on [::]:PORT",
  ignore: skip !== null,
  fn: async () => {
    await using registry = ProgramProcess.spawn("registry", {
      args: ["--data-dir", ":memory:", "--host", "::", "--port", "0", "--log-level", "warning"],
    });
    const line = await registry.waitForLine((l) => l.startsWith("listening on "), 30_000);
    const m = /^listening on \[::\]:(\d+)$/.exec(line);
    assert.ok(m !== null, line);
    await using v4 = await RawClient.connect(Number(m[1]), "127.0.0.1");
    assert.equal(await v4.request("L::\r\n"), "G::\r\n");
  },
});
