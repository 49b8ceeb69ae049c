/**
 * The registry's doors (issue 16): the accept loop under resets and
 * resource errors, idle connections, the per-source limits and the JOIN ip
 * check.
 */

import { equal, match, ok } from "node:assert/strict";
import { ACCEPT_BACKOFF_MS, type AcceptCounts, acceptLoop } from "../registry/accept_loop.ts";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { AddressList, isLoopback, mayAdvertise } from "../registry/source_address.ts";
import { SourceLimits } from "../registry/source_limits.ts";
import { RawClient } from "./support/raw_client.ts";

const SOURCE_BUSY = "F:Server busy - too many connections from this address!!::\r\n";
const TOO_MANY_MEMBERS = "F:JOIN message - Too many members from this address!!::\r\n";
const TOO_MANY_ROOMS = "F:JOIN message - Too many chatrooms from this address!!::\r\n";
const IP_NOT_SOURCE = "F:JOIN message - IP address is not this connection's address!!::\r\n";

function start(options: RegistryOptions = {}) {
  return startRegistry({ hostname: "127.0.0.1", port: 0, ...options });
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function counts(): AcceptCounts {
  return { accepted: 0, perConnectionErrors: 0, resourceErrors: 0, backoffMs: 0 };
}

/** A listener whose accept() fails with each of `errors` in turn, then yields one connection. */
function failingListener(errors: Error[]) {
  let i = 0;
  return {
    accept(): Promise<string> {
      const n = i++;
      if (n < errors.length) return Promise.reject(errors[n]);
      if (n === errors.length) return Promise.resolve("conn");
      return Promise.reject(new Deno.errors.BadResource("closed"));
    },
  };
}

Deno.test("registry doors: 2,000 connections reset before accept do not slow the accept loop", async () => {
  const seen = counts();
  const got: string[] = [];
  const started = performance.now();
  await acceptLoop(
    failingListener([
      ...Array.from({ length: 1000 }, () => new Deno.errors.ConnectionAborted("aborted")),
      ...Array.from({ length: 1000 }, () => new Deno.errors.NotConnected("not connected")),
    ]),
    (c) => got.push(c),
    () => false,
    seen,
  );
  const elapsed = performance.now() - started;
  equal(got.length, 1);
  equal(seen.perConnectionErrors, 2000);
  equal(seen.backoffMs, 0);
  // A 50 ms sleep per failure (main before issue 16) would take 100 s.
  ok(elapsed < 500, `2,000 failed accepts took ${elapsed.toFixed(0)} ms`);
});

Deno.test("registry doors: a resource error of accept (EMFILE) backs off briefly, doubling", async () => {
  const seen = counts();
  const emfile = () => new Error("Too many open files (os error 24)");
  const started = performance.now();
  await acceptLoop(failingListener([emfile(), emfile(), emfile()]), () => {}, () => false, seen);
  const elapsed = performance.now() - started;
  equal(seen.resourceErrors, 3);
  equal(seen.backoffMs, ACCEPT_BACKOFF_MS * (1 + 2 + 4));
  ok(elapsed >= seen.backoffMs - 1, `waited ${elapsed.toFixed(0)} ms`);
  equal(seen.accepted, 1);
});

Deno.test("registry doors: a connection in no room is closed after idleTimeoutMs of silence", async () => {
  await using registry = await start({ idleTimeoutMs: 100 });
  await using idle = await RawClient.connect(registry.port);
  await using lister = await RawClient.connect(registry.port);
  const started = performance.now();
  match(await idle.request("L::\r\n"), /^G:/);
  // A seed client that lists, then JOINs within the window, is served and kept.
  match(await lister.request("L::\r\n"), /^G:/);
  await new Promise((resolve) => setTimeout(resolve, 40));
  match(await lister.request("J:room1:alice:127.0.0.1:50001::\r\n"), /^M:/);
  equal((await idle.closedByPeer(2000)).length, 0);
  const closedAfter = performance.now() - started;
  ok(closedAfter >= 100, `closed after ${closedAfter.toFixed(0)} ms`);
  // The member's connection is still served.
  match(await lister.request("J:room1:alice:127.0.0.1:50001::\r\n"), /^M:/);
  equal(registry.stats().connections, 1);
});

Deno.test("registry doors: connections per source address are capped unless the source is trusted", async () => {
  await using limited = await start({ trustedSources: "none", maxConnectionsPerSource: 2 });
  await using a = await RawClient.connect(limited.port);
  await using b = await RawClient.connect(limited.port);
  match(await a.request("L::\r\n"), /^G:/);
  match(await b.request("L::\r\n"), /^G:/);
  await using c = await RawClient.connect(limited.port);
  equal((await c.closedByPeer()).join(""), SOURCE_BUSY);
  a.close();
  await waitFor(() => limited.stats().connections === 1);
  await using d = await RawClient.connect(limited.port);
  match(await d.request("L::\r\n"), /^G:/);

  // 127.0.0.1 is trusted by default.
  await using trusting = await start({ maxConnectionsPerSource: 1 });
  await using e = await RawClient.connect(trusting.port);
  await using f = await RawClient.connect(trusting.port);
  match(await e.request("L::\r\n"), /^G:/);
  match(await f.request("L::\r\n"), /^G:/);
});

Deno.test("registry doors: members per source per room and rooms per source are capped", async () => {
  await using registry = await start({
    trustedSources: "none",
    maxMembersPerSource: 2,
    maxRoomsPerSource: 2,
  });
  const clients: RawClient[] = [];
  const join = async (frame: string) => {
    const client = await RawClient.connect(registry.port);
    clients.push(client);
    return { client, reply: await client.request(frame) };
  };
  try {
    const first = await join("J:room1:m1:127.0.0.1:1::\r\n");
    match(first.reply, /^M:/);
    match((await join("J:room1:m2:127.0.0.1:2::\r\n")).reply, /^M:/);
    equal((await join("J:room1:m3:127.0.0.1:3::\r\n")).reply, TOO_MANY_MEMBERS);
    // Renewing a listed member is never refused.
    match(await first.client.request("J:room1:m1:127.0.0.1:1::\r\n"), /^M:/);
    match((await join("J:room2:m4:127.0.0.1:4::\r\n")).reply, /^M:/);
    equal((await join("J:room3:m5:127.0.0.1:5::\r\n")).reply, TOO_MANY_ROOMS);
    // A member that leaves frees its place.
    first.client.close();
    await waitFor(() => registry.stats().members === 2);
    match((await join("J:room1:m6:127.0.0.1:6::\r\n")).reply, /^M:/);
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("registry doors: a JOIN's ip must be its connection's address, loopback for loopback", async () => {
  await using strict = await start({ trustedSources: "none" });
  for (const [ip, expected] of [["10.0.0.1", IP_NOT_SOURCE], ["example.com", IP_NOT_SOURCE]]) {
    await using c = await RawClient.connect(strict.port);
    equal(await c.request(`J:room1:a:${ip}:1::\r\n`), expected);
  }
  // (An IPv6 address cannot be advertised: the ip field holds no ':'.)
  for (const [i, ip] of ["127.0.0.1", "localhost", "127.0.0.9"].entries()) {
    await using c = await RawClient.connect(strict.port);
    match(await c.request(`J:room1:a${i}:${ip}:1::\r\n`), /^M:/);
  }
  await using nat = await start({ trustedSources: "none", allowAnyIp: true });
  await using n = await RawClient.connect(nat.port);
  match(await n.request("J:room1:a:10.0.0.1:1::\r\n"), /^M:/);
  // A trusted source (127.0.0.1 by default) may advertise any ip.
  await using trusting = await start();
  await using t = await RawClient.connect(trusting.port);
  match(await t.request("J:room1:a:10.0.0.1:1::\r\n"), /^M:/);
});

Deno.test("registry doors: source addresses: normal forms, loopback, trusted lists", () => {
  ok(mayAdvertise("10.0.0.1", "::ffff:10.0.0.1"));
  ok(!mayAdvertise("10.0.0.2", "10.0.0.1"));
  ok(!mayAdvertise("localhost", "10.0.0.1"));
  ok(!mayAdvertise("127.0.0.1", "10.0.0.1"));
  ok(mayAdvertise("2001:DB8::1", "2001:db8::1"));
  ok(isLoopback("127.255.0.1") && isLoopback("::ffff:127.0.0.1") && !isLoopback("128.0.0.1"));
  const list = new AddressList(" 127.0.0.1 , 192.168.0.0/16 ");
  ok(list.has("192.168.40.2") && !list.has("192.169.0.1") && !list.has("127.0.0.2"));
  ok(!new AddressList("none").has("127.0.0.1"));
  equal(
    AddressList.problem("127.0.0.1,bogus"),
    'must list IP addresses or IPv4 prefixes: "bogus" is not one',
  );
  equal(AddressList.problem("10.0.0.0/33")?.startsWith("must list"), true);
});

Deno.test("registry doors: per-source counts go back to nothing when members and connections go", () => {
  const limits = new SourceLimits<string>({
    maxConnectionsPerSource: 2,
    maxMembersPerSource: 1,
    maxRoomsPerSource: 1,
    trusted: new AddressList("none"),
  });
  ok(limits.open("10.0.0.1") && limits.open("::ffff:10.0.0.1"));
  ok(!limits.open("10.0.0.1"), "the mapped form counts as the same address");
  limits.added("alice", "10.0.0.1", "room1");
  equal(limits.joinRefusal("10.0.0.1", "room1", true), "members-per-source");
  // alice's membership taken over from another address moves her count there.
  limits.added("alice", "10.0.0.2", "room1");
  equal(limits.joinRefusal("10.0.0.1", "room1", true), null);
  equal(limits.joinRefusal("10.0.0.2", "room1", true), "members-per-source");
  limits.removed("alice");
  limits.removed("alice");
  limits.close("10.0.0.1");
  limits.close("10.0.0.1");
  equal(limits.sourceCount, 0);
});

Deno.test("registry doors: new connections per source are rated per address, bounded, trusted exempt", () => {
  let now = 0;
  const limits = new SourceLimits<string>({
    maxConnectionsPerSource: 64,
    maxMembersPerSource: 4,
    maxRoomsPerSource: 16,
    connectsPerSecond: 10,
    connectBurst: 3,
    maxRatedSources: 100,
    trusted: new AddressList("127.0.0.1"),
    now: () => now,
  });
  for (let i = 0; i < 3; i++) ok(limits.connect("10.0.0.1").allowed, `connection ${i}`);
  const over = limits.connect("::ffff:10.0.0.1");
  ok(!over.allowed && over.first, "the mapped form counts as the same address");
  const again = limits.connect("10.0.0.1");
  ok(!again.allowed && !again.first, "one burst of refusals is reported once");
  // Another address has its own burst; a trusted one has none to spend.
  ok(limits.connect("10.0.0.2").allowed);
  for (let i = 0; i < 1000; i++) ok(limits.connect("127.0.0.1").allowed);
  // 10 a second: one more after 100 ms, not before.
  now = 99;
  ok(!limits.connect("10.0.0.1").allowed);
  now = 101;
  ok(limits.connect("10.0.0.1").allowed);
  ok(!limits.connect("10.0.0.1").allowed);
  // Full again (3 tokens after 300 ms): the burst of refusals ends and says how many it refused.
  now = 1000;
  equal(limits.connect("10.0.0.1").ended, 4);
  // A scan of many addresses: at most maxRatedSources are remembered.
  for (let i = 0; i < 10_000; i++) limits.connect(`10.1.${i >> 8}.${i & 255}`);
  equal(limits.ratedSourceCount, 100);
  // No rate given: nothing is remembered, nothing refused.
  const unrated = new SourceLimits<string>({
    maxConnectionsPerSource: 1,
    maxMembersPerSource: 1,
    maxRoomsPerSource: 1,
    trusted: new AddressList("none"),
  });
  for (let i = 0; i < 1000; i++) ok(unrated.connect("10.0.0.1").allowed);
  equal(unrated.ratedSourceCount, 0);
});

/** The value of the sample `line` (name and labels) in Prometheus text. */
function sample(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  if (found === undefined) throw new Error(`No ${line} in the metrics`);
  return Number(found.slice(line.length + 1));
}

Deno.test("registry doors: a connection over its source's connect rate is closed at once, a trusted one is served", async () => {
  // 1 a second: no token comes back while the test runs (a slow machine: a few hundred ms).
  await using limited = await start({
    trustedSources: "none",
    connectsPerSecond: 1,
    connectBurst: 3,
    firstFrameTimeoutMs: 10_000,
    metrics: { hostname: "127.0.0.1", port: 0 },
  });
  const served: RawClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = await RawClient.connect(limited.port);
      served.push(client);
      match(await client.request("L::\r\n"), /^G:/);
    }
    await using over = await RawClient.connect(limited.port);
    const started = performance.now();
    // Closed long before the first-frame timeout (10 s), with nothing written.
    equal((await over.closedByPeer(2000)).length, 0);
    const closedMs = performance.now() - started;
    ok(closedMs < 1000, `closed after ${closedMs.toFixed(0)} ms`);
    equal(limited.stats().connections, 3);
    // Those served are served still.
    match(await served[0]!.request("L::\r\n"), /^G:/);
    const address = limited.metricsAddress!;
    const text = await (await fetch(`http://127.0.0.1:${address.port}/metrics`)).text();
    equal(sample(text, 'ringchat_registry_connections_refused_total{reason="connect-rate"}'), 1);
    equal(sample(text, 'ringchat_registry_connections_refused_total{reason="max-connections"}'), 0);
  } finally {
    for (const client of served) client.close();
  }

  // 127.0.0.1 is trusted by default: no rate applies.
  await using trusting = await start({ connectsPerSecond: 1, connectBurst: 1 });
  for (let i = 0; i < 5; i++) {
    await using client = await RawClient.connect(trusting.port);
    match(await client.request("L::\r\n"), /^G:/);
  }
});
