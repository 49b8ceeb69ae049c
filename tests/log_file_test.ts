import assert from "node:assert/strict";
import { getLogger, reset } from "@logtape/logtape";
import { configureLogging } from "../lib/logging.ts";
import { RegistryProcess } from "../tools/process/registry_process.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { RawClient } from "./support/raw_client.ts";

/** The files in `dir`, by name, with their sizes. */
async function files(dir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for await (const entry of Deno.readDir(dir)) {
    found.set(entry.name, (await Deno.stat(`${dir}/${entry.name}`)).size);
  }
  return found;
}

Deno.test("log files: rotate at the size and keep the count, newest records in PATH", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/registry.log`;
    await configureLogging({
      level: "info",
      json: false,
      file: { path, maxBytes: 2048, maxFiles: 2 },
    });
    const logger = getLogger(["ringchat", "test"]);
    for (let i = 0; i < 200; i++) logger.info("Record {i} padded to a few dozen bytes", { i });
    await reset();
    const found = await files(dir);
    assert.deepEqual([...found.keys()].sort(), [
      "registry.log",
      "registry.log.1",
      "registry.log.2",
    ]);
    for (const [name, size] of found) assert.ok(size > 0 && size <= 2048, `${name}: ${size}`);
    // The kept records are the newest, in order: .2, .1, then the file itself.
    const numbers = (await Promise.all(
      [`${path}.2`, `${path}.1`, path].map((p) => Deno.readTextFile(p)),
    )).join("").trim().split("\n").map((line) => Number(/Record (\d+)/.exec(line)![1]));
    assert.equal(numbers.at(-1), 199);
    assert.deepEqual(numbers, numbers.map((_, k) => numbers[0]! + k));
    assert.ok(numbers[0]! > 0, "older records were dropped with the oldest file");
  } finally {
    await reset();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log files: --log-max-files 0 keeps only the current file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/only.log`;
    await configureLogging({
      level: "info",
      json: true,
      file: { path, maxBytes: 1024, maxFiles: 0 },
    });
    const logger = getLogger(["ringchat", "test"]);
    for (let i = 0; i < 100; i++) logger.info("Record {i}", { i });
    await reset();
    const found = await files(dir);
    assert.deepEqual([...found.keys()], ["only.log"]);
    assert.ok(found.get("only.log")! <= 1024);
    const last = (await Deno.readTextFile(path)).trim().split("\n").at(-1)!;
    assert.equal(JSON.parse(last).properties.i, 99);
  } finally {
    await reset();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log files: the registry program writes its records to the rotating file, not stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/registry.log`;
    const registry = await RegistryProcess.start({
      logLevel: "debug",
      args: ["--log-file", path, "--log-max-bytes", "1024", "--log-max-files", "1"],
    });
    for (let i = 0; i < 10; i++) {
      await using client = await RawClient.connect(registry.port);
      await client.request(`J:room:user${i}:127.0.0.1:${50000 + i}::\r\n`);
    }
    registry.process.signal("SIGTERM");
    assert.equal((await registry.process.exited).code, 0);
    const found = await files(dir);
    assert.deepEqual([...found.keys()].sort(), ["registry.log", "registry.log.1"]);
    assert.ok(found.get("registry.log")! <= 1024 && found.get("registry.log.1")! <= 1024);
    const text = await Deno.readTextFile(path);
    assert.match(text, /Closed; accepted 10/);
    assert.doesNotMatch(await registry.process.stderr(), /joined|Listening/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log files: the peer program takes --log-file too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/peer.log`;
    await using registry = await RegistryProcess.start({ logLevel: "warning" });
    const peer = await PeerProcess.start({
      name: "alice",
      room: "logs",
      registryPort: registry.port,
      args: ["--log-level", "debug", "--log-file", path],
    });
    await peer.quit();
    const text = await Deno.readTextFile(path);
    assert.match(text, /Connected to the registry/);
    assert.doesNotMatch(await peer.process.stderr(), /Connected to the registry/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
