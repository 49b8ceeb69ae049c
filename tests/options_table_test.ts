import assert from "node:assert/strict";
import { object, parse } from "@optique/core";
import {
  atLeastKind,
  defaultsOf,
  docsDefault,
  helpText,
  integerKind,
  type OptionRow,
  positiveKind,
  rateKind,
  resolveOptions,
  tableParser,
} from "../lib/option_table.ts";
import {
  PEER_DEFAULTS,
  PEER_OPTION_TABLE,
  PEER_PROGRAM_FLAGS,
  resolvePeerOptions,
} from "../peer/options.ts";
import {
  REGISTRY_DEFAULTS,
  REGISTRY_OPTION_TABLE,
  REGISTRY_PROGRAM_FLAGS,
  resolveRegistryOptions,
} from "../registry/options.ts";

Deno.test("option table: the defaults are the ones the programs had", () => {
  assert.deepEqual(PEER_DEFAULTS, {
    keepaliveMs: 20_000,
    retryMs: 5_000,
    pokeTimeoutMs: 2_000,
    handshakeTimeoutMs: 3_000,
    requestTimeoutMs: 10_000,
    maxTextBytes: 65_536,
    partBytes: 500,
    frameTimeoutMs: 10_000,
    maxHandshakes: 64,
    maxQueuedBytes: 16 * 1024 * 1024,
    maxRegistryFrameBytes: 4 * 1024 * 1024,
    maxTextRate: 200,
    textBurst: 400,
    maxLinkTextRate: 1000,
    linkTextBurst: 2000,
    orderWaitMs: 1000,
    orderMaxHeld: 256,
    maxPokeRate: 10,
    pokeBurst: 20,
    maxStrangerPokeRate: 100,
    refreshIntervalMs: 100,
    // Issue 11: the room history's bounds.
    historyMaxMessages: 1000,
    historyMaxAgeMs: 24 * 60 * 60_000,
    // Issue 12: direct messages (they were DM_DEFAULTS in peer/dm.ts).
    dmConsentTimeoutMs: 60_000,
    dmMaxQueued: 64,
    dmMaxLinks: 32,
    dmMaxLinksPerConsent: 2,
    dmLinkRate: 50,
    dmLinkBurst: 100,
  });
  assert.deepEqual(REGISTRY_DEFAULTS, {
    hostname: "0.0.0.0",
    port: 32340,
    expiryMs: 60_000,
    sweepMs: 20_000,
    maxConnections: 10_000,
    firstFrameTimeoutMs: 10_000,
    maxFrameBytes: 4096,
    maxRooms: 1_000,
    maxMembersPerRoom: 10_000,
    requestsPerSecond: 1_000,
    requestBurst: 2_000,
    allowDuplicateNames: false,
    idleTimeoutMs: 30_000,
    maxConnectionsPerSource: 64,
    connectsPerSecond: 20,
    connectBurst: 128,
    maxMembersPerSource: 4,
    maxRoomsPerSource: 16,
    trustedSources: "127.0.0.1,::1",
    allowAnyIp: false,
    requireLogin: false,
    maxLoginFailures: 3,
    lockoutMs: 60_000,
    lockoutScope: "account",
    maxAccounts: 100_000,
    maxRegistrationsPerSource: 5,
    registrationWindowMs: 3_600_000,
    passwordIterations: 600_000,
    maxQueuedHashes: 64,
    maxMailMessages: 100,
    maxMailBytes: 65_536,
    mailPerMinute: 10,
    broadcastPerMinute: 6,
    broadcastBurst: 3,
    peopleRequestsPerSecond: 20,
    peopleRequestBurst: 40,
    maxPendingRequests: 16,
    requestTtlMs: 60_000,
    maxQueuedPushes: 256,
    maxBlocksPerUser: 1_000,
    presenceFlushMs: 100,
    maxPresenceBatch: 64,
    presenceWritesPerSecond: 100_000,
  });
  const peer = resolvePeerOptions({});
  assert.deepEqual(peer.registry, { hostname: "127.0.0.1", port: 32340 });
  assert.equal(peer.port, 0);
  assert.equal(peer.hostname, "0.0.0.0");
  assert.equal(peer.advertise, undefined);
});

Deno.test("option table: options out of bounds are refused with the option's name and value", () => {
  const cases: [() => unknown, string][] = [
    [
      () => resolvePeerOptions({ keepaliveMs: 0 }),
      "keepaliveMs must be an integer of at least 1, got 0",
    ],
    [
      () => resolvePeerOptions({ maxHandshakes: 1.5 }),
      "maxHandshakes must be an integer of at least 1, got 1.5",
    ],
    [
      () => resolvePeerOptions({ maxTextRate: 0 }),
      "maxTextRate must be positive (Infinity: no limit), got 0",
    ],
    [
      () => resolvePeerOptions({ maxRegistryFrameBytes: 15 }),
      "maxRegistryFrameBytes must be an integer of at least 16, got 15",
    ],
    [
      () => resolveRegistryOptions({ expiryMs: Infinity }),
      "expiryMs must be a positive number, got Infinity",
    ],
    [() => resolveRegistryOptions({ maxRooms: 0 }), "maxRooms must be at least 1, got 0"],
    [
      () => resolveRegistryOptions({ requestsPerSecond: -1 }),
      "requestsPerSecond must be positive (Infinity: no limit), got -1",
    ],
    [
      () => resolveRegistryOptions({ maxFrameBytes: 8 }),
      "maxFrameBytes must be an integer of at least 16, got 8",
    ],
    [
      () => resolveRegistryOptions({ trustedSources: "127.0.0.1,lan" }),
      'trustedSources must list IP addresses or IPv4 prefixes: "lan" is not one, got 127.0.0.1,lan',
    ],
    [
      () => resolveRegistryOptions({ maxMembersPerSource: 0 }),
      "maxMembersPerSource must be at least 1, got 0",
    ],
  ];
  for (const [resolve, message] of cases) assert.throws(resolve, new RangeError(message));
  // What was accepted stays accepted.
  assert.equal(resolvePeerOptions({ maxTextRate: Infinity }).maxTextRate, Infinity);
  assert.equal(resolveRegistryOptions({ expiryMs: 1.5 }).expiryMs, 1.5);
  assert.equal(resolveRegistryOptions({ maxRooms: Infinity }).maxRooms, Infinity);
  assert.equal(resolveRegistryOptions({ requestsPerSecond: Infinity }).requestsPerSecond, Infinity);
  assert.equal(resolveRegistryOptions({ allowDuplicateNames: true }).allowDuplicateNames, true);
  // An undefined option takes its default.
  assert.equal(resolvePeerOptions({ keepaliveMs: undefined }).keepaliveMs, 20_000);
});

Deno.test("option table: each kind checks its bounds", () => {
  assert.equal(integerKind(1, 3).problem(3), null);
  assert.equal(integerKind(1, 3).problem(4), "must be an integer from 1 to 3");
  assert.equal(positiveKind().problem(0.5), null);
  assert.equal(positiveKind().problem(0), "must be a positive number");
  assert.equal(atLeastKind(1).problem(Infinity), null);
  assert.equal(rateKind().problem(Infinity), null);
  assert.equal(rateKind().format(Infinity), "0");
});

Deno.test("option table: flags parse into options, 0 for a rate is no limit, absent is undefined", () => {
  const parser = object({
    peer: tableParser(PEER_OPTION_TABLE, "Limits (why each default: docs/peer_limits.md)"),
  });
  const parsed = parse(parser, ["--max-text-rate", "0", "--text-burst", "7"]);
  assert.ok(parsed.success);
  assert.equal(parsed.value.peer.maxTextRate, Infinity);
  assert.equal(parsed.value.peer.textBurst, 7);
  assert.equal(parsed.value.peer.maxPokeRate, undefined);
  const main = parse(tableParser(PEER_OPTION_TABLE), ["--registry", "example.org:1234"]);
  assert.ok(main.success);
  assert.deepEqual(main.value.registry, { hostname: "example.org", port: 1234 });
  const registry = parse(tableParser(REGISTRY_OPTION_TABLE), [
    "--host",
    "127.0.0.1",
    "--max-members",
    "5",
    "--allow-duplicate-names",
  ]);
  assert.ok(registry.success);
  assert.equal(registry.value.hostname, "127.0.0.1");
  assert.equal(registry.value.maxMembersPerRoom, 5);
  assert.equal(registry.value.allowDuplicateNames, true);
  assert.equal(registry.value.expiryMs, undefined);
  assert.ok(!parse(tableParser(REGISTRY_OPTION_TABLE), ["--max-rooms", "0"]).success);
});

Deno.test("option table: every row has a unique flag and a one-sentence help line", () => {
  for (
    const table of [
      { ...PEER_OPTION_TABLE, ...PEER_PROGRAM_FLAGS },
      { ...REGISTRY_OPTION_TABLE, ...REGISTRY_PROGRAM_FLAGS },
    ]
  ) {
    const rows = Object.entries(table) as [string, OptionRow<unknown>][];
    const flags = rows.map(([, row]) => row.flag).filter((flag) => flag !== undefined);
    assert.equal(new Set(flags).size, flags.length, flags.join(" "));
    for (const [key, row] of rows) {
      assert.match(row.help, /^[A-Z].*\.$/, key);
      if (row.default !== undefined) assert.equal(row.kind.problem(row.default), null, key);
    }
  }
});

Deno.test("option table: help and docs show a default one way", () => {
  const row = {
    kind: integerKind(1),
    default: 16 * 1024 * 1024,
    unit: "bytes",
    help: "Bytes.",
  } as const;
  assert.equal(helpText(row), "Bytes. Default: 16777216.");
  assert.equal(docsDefault(row), "16777216 (16 MiB)");
  assert.equal(docsDefault({ ...row, default: 60_000, unit: "ms" }), "60000 (60 s)");
  assert.equal(helpText({ ...row, default: undefined }), "Bytes.");
  assert.equal(
    helpText(PEER_OPTION_TABLE.advertise),
    "IP sent to the registry and in handshakes. Default: the local address of the registry connection.",
  );
  const table = { a: row, b: { ...row, default: undefined } };
  assert.deepEqual(defaultsOf(table), { a: 16 * 1024 * 1024 });
  assert.deepEqual(resolveOptions(table, { b: 3 }), { a: 16 * 1024 * 1024, b: 3 });
});
