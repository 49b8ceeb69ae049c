import assert from "node:assert/strict";
import config from "../deno.json" with { type: "json" };
import {
  entryPoint,
  permissionSetFlags,
  programEnv,
  programFlags,
  runArgs,
  VERSION,
} from "../lib/flags.ts";

Deno.test("flags: programs get unstable net and network permission from deno.json", () => {
  for (const program of ["registry", "peer"] as const) {
    const flags = programFlags(program);
    assert.ok(flags.includes("--unstable-net"), flags.join(" "));
    assert.ok(flags.includes("--allow-net"), flags.join(" "));
    assert.ok(!flags.includes("--allow-all") && !flags.includes("-A"));
  }
});

Deno.test("flags: the tasks run each program with its own permission set and environment", () => {
  assert.match(config.tasks.registry, /-P=registry registry\/main\.ts/);
  assert.match(config.tasks.peer, /-P=peer peer\/main\.ts/);
  for (const program of ["registry", "peer"] as const) {
    for (const [name, value] of Object.entries(programEnv(program))) {
      assert.ok(config.tasks[program].startsWith(`${name}=${value} `), config.tasks[program]);
    }
  }
});

Deno.test("flags: permission sets become allow flags, lists joined by commas", () => {
  assert.deepEqual(
    permissionSetFlags({ net: true, env: ["NO_COLOR", "TERM"], read: false, write: [] }),
    [
      "--allow-net",
      "--allow-env=NO_COLOR,TERM",
    ],
  );
  assert.throws(() => permissionSetFlags({ teleport: true }), /Unknown permission teleport/);
});

Deno.test("flags: run arguments end with the entry point and the program's arguments", () => {
  const args = runArgs("peer", ["--port", "0"]);
  assert.equal(args[0], "run");
  assert.deepEqual(args.slice(-3), [entryPoint("peer"), "--port", "0"]);
  assert.match(entryPoint("registry"), /registry[\\/]main\.ts$/);
  assert.equal(VERSION, config.version);
});
