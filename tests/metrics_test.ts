import assert from "node:assert/strict";
import { DURATION_BUCKETS_SECONDS, RegistryMetrics } from "../registry/metrics.ts";
import { FrameReader } from "../lib/frame_reader.ts";
import { serveMetrics, type StoreHealth } from "../registry/metrics_server.ts";
import { startRegistry } from "../registry/registry.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { RawClient } from "./support/raw_client.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

async function get(address: { hostname: string; port: number }, path: string) {
  const response = await fetch(`http://${address.hostname}:${address.port}${path}`);
  return { status: response.status, text: await response.text(), type: response.headers };
}

/** The value of the sample `name` (with its labels, as written) in Prometheus text. */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `no sample ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

Deno.test("metrics: the histogram is cumulative and every request lands in one bucket", () => {
  const metrics = new RegistryMetrics([]);
  metrics.request("J", 0.000001);
  metrics.request("J", 0.00003);
  metrics.request("L", 0.3);
  metrics.request("D", 60);
  const text = metrics.render({ connections: 0, rooms: 0, members: 0 });
  const h = "ringchat_registry_request_duration_seconds";
  assert.equal(sample(text, `${h}_bucket{le="0.00001"}`), 1);
  assert.equal(sample(text, `${h}_bucket{le="0.00005"}`), 2);
  assert.equal(sample(text, `${h}_bucket{le="0.25"}`), 2);
  assert.equal(sample(text, `${h}_bucket{le="0.5"}`), 3);
  assert.equal(sample(text, `${h}_bucket{le="5"}`), 3);
  assert.equal(sample(text, `${h}_bucket{le="+Inf"}`), 4);
  assert.equal(sample(text, `${h}_count`), 4);
  assert.ok(Math.abs(sample(text, `${h}_sum`) - 60.300031) < 1e-9);
  assert.equal(text.split("\n").filter((l) => l.startsWith(`${h}_bucket`)).length, 19);
  assert.equal(DURATION_BUCKETS_SECONDS.length, 18);
});

Deno.test("metrics: request types are bounded: unknown ops are X:other, unknown frames other", () => {
  const metrics = new RegistryMetrics(["hello", "login"]);
  const x = "X".charCodeAt(0);
  metrics.request(metrics.typeIndex(x, "login"), 0);
  for (let i = 0; i < 100; i++) metrics.request(metrics.typeIndex(x, `op${i}`), 0);
  metrics.request(metrics.typeIndex(x, null), 0);
  metrics.request(metrics.typeIndex("T".charCodeAt(0)), 0);
  metrics.request(metrics.typeIndex(0), 0);
  assert.deepEqual(metrics.requests(), {
    J: 0,
    L: 0,
    D: 0,
    "X:hello": 0,
    "X:login": 1,
    "X:other": 101,
    other: 2,
  });
  assert.throws(() => metrics.request("X:op1", 0), RangeError);
});

Deno.test("metrics: a registry without --metrics serves no metrics", async () => {
  await using registry = await startRegistry(LOOPBACK);
  assert.equal(registry.metricsAddress, null);
});

Deno.test("metrics: /metrics counts requests by type and reads the gauges; /healthz is ok", async () => {
  await using registry = await startRegistry({ ...LOOPBACK, metrics: LOOPBACK });
  const address = registry.metricsAddress!;
  assert.equal(address.hostname, "127.0.0.1");
  assert.notEqual(address.port, 0);
  await using a = await RawClient.connect(registry.port);
  await using b = await RawClient.connect(registry.port);
  assert.match(await a.request("J:r1:alice:127.0.0.1:50001::\r\n"), /^M:/);
  assert.match(await a.request("J:r1:alice:127.0.0.1:50001::\r\n"), /^M:/); // keepalive
  assert.match(await b.request("J:r2:bob:127.0.0.1:50002::\r\n"), /^M:/);
  assert.equal(await b.request("L::\r\n"), "G:r2:r1::\r\n");
  assert.match(await b.request("Q:what::\r\n"), /^F:Unknown message/);
  assert.match(await b.request('X:16:{"op":"no-such"}::\r\n'), /^F:Unknown message/);
  const first = await get(address, "/metrics");
  assert.equal(first.status, 200);
  assert.equal(first.type.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(sample(first.text, "ringchat_registry_connections"), 2);
  assert.equal(sample(first.text, "ringchat_registry_rooms"), 2);
  assert.equal(sample(first.text, "ringchat_registry_members"), 2);
  assert.equal(sample(first.text, 'ringchat_registry_requests_total{type="J"}'), 3);
  assert.equal(sample(first.text, 'ringchat_registry_requests_total{type="L"}'), 1);
  assert.equal(sample(first.text, 'ringchat_registry_requests_total{type="other"}'), 1);
  assert.equal(sample(first.text, 'ringchat_registry_requests_total{type="X:other"}'), 1);
  assert.equal(sample(first.text, "ringchat_registry_request_duration_seconds_count"), 6);
  assert.equal(sample(first.text, "ringchat_registry_store_errors_total"), 0);
  assert.equal(await b.request("D:r2:bob:127.0.0.1:50002::\r\n"), "S::\r\n");
  const second = await get(address, "/metrics");
  assert.equal(sample(second.text, 'ringchat_registry_requests_total{type="D"}'), 1);
  assert.equal(sample(second.text, "ringchat_registry_rooms"), 1);
  assert.equal(sample(second.text, "ringchat_registry_members"), 1);
  // Every label exists from the start: the same lines, only the values change.
  assert.deepEqual(names(second.text), names(first.text));
  assert.deepEqual(await get(address, "/healthz").then((r) => [r.status, r.text]), [200, "ok\n"]);
  assert.equal((await get(address, "/other")).status, 404);
});

function names(text: string): string[] {
  return text.split("\n").map((l) => l.split(" ")[0]!);
}

Deno.test("metrics: a scrape has the same lines however many clients and names came", async () => {
  await using registry = await startRegistry({ ...LOOPBACK, metrics: LOOPBACK });
  const before = (await get(registry.metricsAddress!, "/metrics")).text;
  for (let i = 0; i < 20; i++) {
    await using client = await RawClient.connect(registry.port);
    await client.request(`J:room${i}:user${i}:127.0.0.1:${40000 + i}::\r\n`);
  }
  const after = (await get(registry.metricsAddress!, "/metrics")).text;
  assert.deepEqual(names(after), names(before));
  assert.equal(sample(after, 'ringchat_registry_requests_total{type="J"}'), 20);
});

Deno.test("metrics: /healthz is 503 when the store does not answer, fails or the registry closes", async () => {
  const metrics = new RegistryMetrics([]);
  const stats = () => ({ connections: 0, rooms: 0, members: 0 });
  let serving = true;
  let store: StoreHealth = { healthy: () => Promise.resolve(true) };
  const stores: [StoreHealth, number, RegExp][] = [
    [{ healthy: () => Promise.resolve(true) }, 200, /^ok$/],
    [{ healthy: () => false }, 503, /^store not answering$/],
    [{ healthy: () => Promise.reject(new Error("ECONNREFUSED")) }, 503, /failing: ECONNREFUSED/],
  ];
  await using server = await serveMetrics(LOOPBACK, {
    metrics,
    stats,
    serving: () => serving,
    get store() {
      return store;
    },
  });
  for (const [health, status, text] of stores) {
    store = health;
    const r = await get(server, "/healthz");
    assert.equal(r.status, status);
    assert.match(r.text.trim(), text);
  }
  // A store that never answers: 503 after the health timeout.
  let timer: ReturnType<typeof setTimeout> | undefined;
  store = {
    healthy: () => new Promise((resolve) => timer = setTimeout(() => resolve(true), 1500)),
  };
  const hanging = await get(server, "/healthz");
  clearTimeout(timer);
  assert.equal(hanging.status, 503);
  assert.match(hanging.text, /within 1000 ms/);
  store = { healthy: () => true };
  serving = false;
  const closing = await get(server, "/healthz");
  assert.equal(closing.status, 503);
  assert.match(closing.text, /not serving/);
});

Deno.test("metrics: the metrics port is closed with the registry", async () => {
  const registry = await startRegistry({ ...LOOPBACK, metrics: LOOPBACK });
  const address = registry.metricsAddress!;
  assert.equal((await get(address, "/healthz")).status, 200);
  await registry.close();
  await assert.rejects(
    Deno.connect({ hostname: address.hostname, port: address.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("metrics: the registry program serves them with --metrics and prints where", async () => {
  await using registry = await RegistryProcess.start({
    logLevel: "warning",
    args: ["--metrics", "127.0.0.1:0"],
  });
  const line = await registry.process.waitForLine((l) => l.startsWith("metrics on "), 10_000);
  const m = /^metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics$/.exec(line);
  assert.ok(m !== null, line);
  const address = { hostname: "127.0.0.1", port: Number(m[1]) };
  await using client = await RawClient.connect(registry.port);
  await client.request("J:r:alice:127.0.0.1:50001::\r\n");
  const text = (await get(address, "/metrics")).text;
  assert.equal(sample(text, "ringchat_registry_members"), 1);
  assert.equal(sample(text, 'ringchat_registry_requests_total{type="J"}'), 1);
  assert.equal((await get(address, "/healthz")).status, 200);
});

Deno.test("metrics: a reply still being made is counted and timed when it is made", async () => {
  const metrics = new RegistryMetrics(["login"]);
  const bytes = new TextEncoder().encode('X:14:{"op":"login"}::\r\n');
  const reply = Promise.withResolvers<Uint8Array>();
  const answer = metrics.metered((_client: null, _frame) => reply.promise);
  const frame = new FrameReader({ maxFrameBytes: 4096 }).feed(bytes)[0]!;
  const answered = answer(null, frame);
  assert.equal(metrics.requests()["X:login"], 0);
  await new Promise((resolve) => setTimeout(resolve, 20));
  reply.resolve(new Uint8Array([0x4d]));
  await answered;
  await Promise.resolve();
  assert.equal(metrics.requests()["X:login"], 1);
  const text = metrics.render({ connections: 0, rooms: 0, members: 0 });
  assert.ok(sample(text, "ringchat_registry_request_duration_seconds_sum") >= 0.015);
  assert.equal(sample(text, 'ringchat_registry_request_duration_seconds_bucket{le="0.01"}'), 0);
});
