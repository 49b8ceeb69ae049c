/** The registry client against a real registry and a scripted one, in-process. */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { MembersFrame } from "../lib/frames.ts";
import {
  RegistryClient,
  type RegistryClientOptions,
  RegistryFailure,
  RegistryUnreachable,
} from "../peer/registry_client.ts";
import { startRegistry } from "../registry/registry.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface Heard {
  members: MembersFrame[];
  failures: string[];
  status: string[];
  wake: () => void;
}

function client(port: number, options: Partial<RegistryClientOptions> = {}) {
  const heard: Heard = { members: [], failures: [], status: [], wake: () => {} };
  const wakeAll = () => heard.wake();
  const registry = new RegistryClient({
    hostname: "127.0.0.1",
    port,
    keepaliveMs: 60_000,
    reconnectMs: 20,
    requestTimeoutMs: 2000,
    onMembers: (frame) => (heard.members.push(frame), wakeAll()),
    onFailure: (message) => (heard.failures.push(message), wakeAll()),
    onStatus: (status, detail) => (heard.status.push(`${status}: ${detail}`), wakeAll()),
    ...options,
  });
  return { registry, heard };
}

async function until(heard: Heard, condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 100);
      heard.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function join(port: number, name = "alice") {
  return { type: "J" as const, room: "room1", name, ip: "127.0.0.1", port };
}

Deno.test("registry client: lists rooms and joins, keeping the member list", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { registry } = client(reg.port);
  try {
    deepEqual(await registry.list(), []);
    const members = await registry.join(join(5001));
    deepEqual(members.members, [{ name: "alice", ip: "127.0.0.1", port: 5001 }]);
    equal(registry.connected, true);
    equal(registry.localAddress, "127.0.0.1");
    deepEqual(await registry.list(), ["room1"]);
    equal(reg.stats().members, 1);
  } finally {
    await registry.close();
  }
});

Deno.test("registry client: a registry that is down is RegistryUnreachable with its address", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { registry } = client(port);
  try {
    const error = await registry.list().catch((e) => e);
    ok(error instanceof RegistryUnreachable);
    equal(error.address, `127.0.0.1:${port}`);
    match(error.message, new RegExp(`^Cannot reach the registry at 127\\.0\\.0\\.1:${port}: `));
  } finally {
    await registry.close();
  }
});

Deno.test("registry client: an F reply is a RegistryFailure with the registry's text", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { registry } = client(listener.addr.port);
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    match(decoder.decode(buf.subarray(0, n!)), /^J:room1:alice:127\.0\.0\.1:5001::\r\n$/);
    await conn.write(
      encoder.encode("F:JOIN message - Name already in use in this chatroom!!::\r\n"),
    );
    await conn.read(buf).catch(() => null);
    conn.close();
  })();
  try {
    await rejects(registry.join(join(5001)), (error: unknown) => {
      ok(error instanceof RegistryFailure);
      equal(error.message, "JOIN message - Name already in use in this chatroom!!");
      return true;
    });
  } finally {
    await registry.close();
    await serving;
  }
});

Deno.test("registry client: after losing the registry it reconnects and re-registers", async () => {
  const first = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const port = first.port;
  const { registry, heard } = client(port);
  try {
    await registry.join(join(5001));
    await first.close();
    await until(heard, () => heard.status.some((s) => s.startsWith("lost")), "lost");
    await using second = await startRegistry({ hostname: "127.0.0.1", port });
    await until(heard, () => heard.status.some((s) => s.startsWith("restored")), "restored");
    equal(second.stats().members, 1);
    ok(heard.members.length >= 1, "the new member list");
  } finally {
    await registry.close();
  }
});

Deno.test("registry client: refresh re-sends the JOIN and delivers the list; false before joining", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { registry, heard } = client(reg.port);
  const other = client(reg.port);
  try {
    equal(await registry.refresh(), false);
    await registry.join(join(5001));
    await other.registry.join(join(5002, "bob"));
    equal(await registry.refresh(), true);
    deepEqual(heard.members.at(-1)!.members.map((m) => m.name), ["bob", "alice"]);
  } finally {
    await registry.close();
    await other.registry.close();
  }
  equal(await registry.refresh(), false, "false once closed");
  await rejects(registry.list(), /closed/);
});
