/**
 * Big rooms: a room filled with 10, 100, 1,000 and 10,000 members (one
 * connection each, as every member of a P2PChat room keeps its registry
 * connection), then the time to answer one JOIN, the bytes of the reply, and
 * the registry's memory per member.
 *
 *     deno task bench:rooms --sizes 10,100,1000,10000
 *     deno task bench:rooms --port 32340 --pid 1234     # a server already running
 *
 * - JOIN of a new member: a probe connection JOINs (timed), then DEPARTs
 *   (not timed), repeatedly: each JOIN changes the membership, so the reply
 *   changes (registry/members_reply.ts updates it: O(log members) hashing
 *   and one copy of its bytes). Keepalive: the probe repeats its JOIN
 *   (membership unchanged, the cached reply). Both are timed as the client
 *   sees them: from the write of the JOIN to the last byte of the reply.
 * - Memory: VmRSS of the registry process (/proc/PID/status) before the
 *   room is filled and after; per member = the difference / members. It
 *   includes each member's connection, and whatever garbage the heap has not
 *   given back (VmHWM is printed too).
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption, optionalInteger, portOption, textOption } from "../tool_options.ts";
import { heapAfterGc } from "./inspector.ts";
import { machine } from "./machine.ts";
import { cpuTimeMs, memory } from "../process/proc.ts";
import { type BenchResult, printResult } from "./report.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { integerList, round, summarize, type Summary } from "./stats.ts";

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/** Figures for one room size. */
export interface RoomRow {
  members: number;
  fillMs: number;
  /** Registry CPU time spent filling the room (spawned registry only). */
  fillCpuMs: number | null;
  newJoinMs: Summary;
  keepaliveMs: Summary;
  replyBytes: number;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  hwmKiB: number | null;
  /** RSS difference per member. */
  bytesPerMember: number | null;
  /** V8 heap in use after a full GC, before and after filling. */
  heapBeforeBytes: number | null;
  heapAfterBytes: number | null;
  heapBytesPerMember: number | null;
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Reads one reply (bytes up to a read ending in a newline); returns its length. */
async function readReply(conn: Deno.TcpConn, buf: Uint8Array): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("The server closed the connection");
    total += n;
    if (buf[n - 1] === NEWLINE) return total;
  }
}

async function request(conn: Deno.TcpConn, frame: Uint8Array, buf: Uint8Array): Promise<number> {
  await writeAll(conn, frame);
  return await readReply(conn, buf);
}

function joinFrame(room: string, i: number): Uint8Array {
  return encoder.encode(`J:${room}:m${i}:127.0.0.1:${10_000 + (i % 50_000)}::\r\n`);
}

/** Fills one room on `port` and measures it. */
export async function measureRoom(
  members: number,
  server: { hostname: string; port: number; pid: number | null; inspector: string | null },
  options: { samples: number; concurrency: number; room: string },
): Promise<RoomRow> {
  const conns: Deno.TcpConn[] = [];
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    await settle();
    const heapBefore = server.inspector === null ? null : await heapAfterGc(server.inspector);
    const before = server.pid === null ? null : await memory(server.pid);
    const cpuBefore = server.pid === null ? null : await cpuTimeMs(server.pid);
    const started = performance.now();
    // The probe is the last member: a room may be capped at exactly `members`.
    const fill = members - 1;
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(options.concurrency, fill) }, async () => {
      const buf = new Uint8Array(256 * 1024);
      while (next < fill) {
        const i = next++;
        const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
        conn.setNoDelay(true);
        conns.push(conn);
        await request(conn, joinFrame(options.room, i), buf);
      }
    }));
    const fillMs = performance.now() - started;
    const cpuAfter = server.pid === null ? null : await cpuTimeMs(server.pid);
    await settle();
    const after = server.pid === null ? null : await memory(server.pid);
    const heapAfter = server.inspector === null ? null : await heapAfterGc(server.inspector);

    const probe = await Deno.connect({ hostname: server.hostname, port: server.port });
    conns.push(probe);
    probe.setNoDelay(true);
    const buf = new Uint8Array(1024 * 1024);
    const join = encoder.encode(`J:${options.room}:probe:127.0.0.1:9999::\r\n`);
    const depart = encoder.encode(`D:${options.room}:probe:127.0.0.1:9999::\r\n`);
    const fresh: number[] = [];
    let replyBytes = 0;
    for (let k = 0; k < options.samples; k++) {
      const t0 = performance.now();
      replyBytes = await request(probe, join, buf);
      fresh.push(performance.now() - t0);
      await request(probe, depart, buf);
    }
    await request(probe, join, buf);
    const keepalive: number[] = [];
    for (let k = 0; k < options.samples; k++) {
      const t0 = performance.now();
      await request(probe, join, buf);
      keepalive.push(performance.now() - t0);
    }
    return {
      members,
      fillMs: round(fillMs, 0),
      fillCpuMs: cpuBefore === null || cpuAfter === null ? null : round(cpuAfter - cpuBefore, 0),
      newJoinMs: summarize(fresh),
      keepaliveMs: summarize(keepalive),
      replyBytes,
      rssBeforeKiB: before?.rssKiB ?? null,
      rssAfterKiB: after?.rssKiB ?? null,
      hwmKiB: after?.hwmKiB ?? null,
      bytesPerMember: before === null || after === null
        ? null
        : Math.round(((after.rssKiB - before.rssKiB) * 1024) / members),
      heapBeforeBytes: heapBefore?.usedBytes ?? null,
      heapAfterBytes: heapAfter?.usedBytes ?? null,
      heapBytesPerMember: heapBefore === null || heapAfter === null
        ? null
        : Math.round((heapAfter.usedBytes - heapBefore.usedBytes) / members),
    };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
    }
  }
}

if (import.meta.main) {
  const args = run(
    object({
      host: textOption("--host", "ADDR", message`Room server address (with --port).`, "127.0.0.1"),
      port: portOption(message`Room server port; without it each size spawns our registry.`),
      pid: optionalInteger(
        "--pid",
        { min: 1, metavar: "PID" },
        message`With --port: the server's pid, to read its memory.`,
      ),
      sizes: textOption(
        "--sizes",
        "LIST",
        message`Room sizes, comma-separated.`,
        "10,100,1000,10000",
      ),
      samples: integerOption(
        "--samples",
        { min: 1, metavar: "K" },
        message`Timed JOINs of each kind per size.`,
        30,
      ),
      concurrency: integerOption(
        "--concurrency",
        { min: 1, metavar: "C" },
        message`Connections joining at once while filling.`,
        32,
      ),
      json: jsonOption(),
    }),
    { programName: "bench:rooms", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const rows: RoomRow[] = [];
  const failures: string[] = [];
  for (const [index, members] of integerList(args.sizes, "--sizes").entries()) {
    try {
      if (args.port === undefined) {
        await using registry = await RegistryProcess.start({
          logLevel: "warning",
          echoStderr: true,
          maxConnections: members + 200,
          inspect: true,
        });
        rows.push(
          await measureRoom(
            members,
            {
              hostname: "127.0.0.1",
              port: registry.port,
              pid: registry.pid,
              inspector: registry.inspector,
            },
            { samples: args.samples, concurrency: args.concurrency, room: "big" },
          ),
        );
      } else {
        rows.push(
          await measureRoom(
            members,
            { hostname: args.host, port: args.port, pid: args.pid ?? null, inspector: null },
            { samples: args.samples, concurrency: args.concurrency, room: `big${index}` },
          ),
        );
      }
    } catch (error) {
      failures.push(`${members} members: ${error instanceof Error ? error.message : error}`);
    }
  }
  const result: BenchResult = {
    name: "rooms",
    title: "Registry: big rooms",
    command: `deno task bench:rooms ${Deno.args.filter((a) => a !== "--json").join(" ")}`.trim(),
    machine: host,
    params: { ...args, json: undefined },
    tables: [{
      title: "one room of M members",
      columns: [
        "members",
        "new-member JOIN p50 ms",
        "p99 ms",
        "keepalive JOIN p50 ms",
        "p99 ms",
        "reply bytes",
        "fill s",
        "registry CPU to fill s",
        "heap/member B",
        "RSS before → after MiB",
        "RSS/member B",
      ],
      rows: rows.map((r) => [
        r.members,
        r.newJoinMs.p50,
        r.newJoinMs.p99,
        r.keepaliveMs.p50,
        r.keepaliveMs.p99,
        r.replyBytes,
        round(r.fillMs / 1000, 2),
        r.fillCpuMs === null ? null : round(r.fillCpuMs / 1000, 2),
        r.heapBytesPerMember,
        r.rssBeforeKiB === null || r.rssAfterKiB === null
          ? null
          : `${round(r.rssBeforeKiB / 1024, 1)} → ${round(r.rssAfterKiB / 1024, 1)}`,
        r.bytesPerMember,
      ]),
    }],
    targets: [],
    notes: [
      "New-member JOIN: the membership changed, so the registry updates the M reply (O(log " +
      "members) hashing and one copy of its bytes, registry/members_reply.ts); keepalive JOIN: " +
      "the cached reply. Times are as the client sees them, from the JOIN's write to the " +
      "reply's last byte.",
      "Filling a room costs O(members²) in all: every JOIN's reply lists every member so far.",
      "Heap per member: V8 heap in use after a full GC (through the spawned registry's " +
      "inspector, --inspect=127.0.0.1:0) after filling minus before, / members: the live " +
      "JavaScript data of a member and its connection (at 10 and 100 members the code compiled " +
      "on first use dominates; read the 1,000 and 10,000 rows).",
      "RSS per member: VmRSS difference of the registry process / members; it also holds the " +
      "runtime's per-connection memory and heap the GC has not given back, so small rooms are noise.",
      ...failures,
    ],
    data: rows,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
