/**
 * The cost of one peer in a room of N members: one peer process (the program
 * users run, `--json`) joins a room of N − 1 in-process peers; its memory
 * (VmRSS, /proc/PID/status) and CPU (utime + stime, /proc/PID/stat) are read
 * while the room is idle and while it chats (the in-process peers send
 * `--rate` messages a second between them, which the observed peer receives
 * and forwards like every member).
 *
 *     deno task bench:peer_cost --members 200 --idle-ms 5000 --chat-ms 5000 --rate 20
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption } from "../tool_options.ts";
import { PeerProcess } from "../process/peer_process.ts";
import { InProcessRoom } from "./in_process_room.ts";
import { machine } from "./machine.ts";
import { cpuTimeMs, memory } from "../process/proc.ts";
import { type BenchResult, printResult } from "./report.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { round } from "./stats.ts";

/** What was measured. */
export interface PeerCost {
  members: number;
  converged: boolean;
  rssStartKiB: number;
  idle: { ms: number; cpuMs: number; cpuPercent: number; rssKiB: number };
  chat: {
    ms: number;
    rate: number;
    sent: number;
    received: number;
    cpuMs: number;
    cpuPercent: number;
    cpuPerMessageUs: number | null;
    rssKiB: number;
    hwmKiB: number;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the measurement. */
export async function measurePeerCost(
  options: { members: number; idleMs: number; chatMs: number; rate: number },
): Promise<PeerCost> {
  await using registry = await RegistryProcess.start({
    logLevel: "warning",
    echoStderr: true,
    maxConnections: options.members * 2 + 100,
  });
  await using room = await InProcessRoom.start({
    peers: options.members - 1,
    registryPort: registry.port,
    keepaliveMs: 20_000,
    room: "cost",
  });
  const observed = await PeerProcess.start({
    name: "observed",
    room: "cost",
    registryPort: registry.port,
    keepaliveMs: 20_000,
  });
  try {
    await observed.waitFor((e) => e.type === "joined", 15_000, true);
    const pid = observed.pid;
    // It joined last: it speaks once so that every member that does not know it yet refreshes.
    const heard = room.peers.map((p) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        const off = p.handle.on((e) => {
          if (e.type === "message" && e.text === "hello") {
            clearTimeout(timer);
            off();
            resolve();
          }
        });
      })
    );
    await observed.send("hello");
    await Promise.all(heard);
    // The room then holds every member, the observed peer included.
    const { converged } = await room.waitConverged(15_000, 500, options.members);
    await sleep(500);

    const rssStart = await memory(pid);
    const idleCpu0 = await cpuTimeMs(pid);
    const idle0 = performance.now();
    await sleep(options.idleMs);
    const idleCpu1 = await cpuTimeMs(pid);
    const idleMs = performance.now() - idle0;
    const rssIdle = await memory(pid);

    const receivedBefore = observed.messages().length;
    const chat0 = performance.now();
    const interval = 1000 / options.rate;
    let sent = 0;
    while (performance.now() - chat0 < options.chatMs) {
      const sender = room.peers[(sent * 7) % room.peers.length]!;
      void sender.handle.send(`chat ${sent}`);
      sent++;
      const due = chat0 + sent * interval;
      await sleep(Math.max(0, due - performance.now()));
    }
    // The last messages reach the observed peer within a few ms.
    await sleep(200);
    const chatCpu = await cpuTimeMs(pid);
    const chatMs = performance.now() - chat0;
    const rssChat = await memory(pid);
    const received = observed.messages().length - receivedBefore;
    const cpuMs = chatCpu - idleCpu1;
    return {
      members: options.members,
      converged,
      rssStartKiB: rssStart.rssKiB,
      idle: {
        ms: Math.round(idleMs),
        cpuMs: round(idleCpu1 - idleCpu0, 0),
        cpuPercent: round(((idleCpu1 - idleCpu0) / idleMs) * 100, 2),
        rssKiB: rssIdle.rssKiB,
      },
      chat: {
        ms: Math.round(chatMs),
        rate: options.rate,
        sent,
        received,
        cpuMs: round(cpuMs, 0),
        cpuPercent: round((cpuMs / chatMs) * 100, 2),
        cpuPerMessageUs: received === 0 ? null : Math.round((cpuMs * 1000) / received),
        rssKiB: rssChat.rssKiB,
        hwmKiB: rssChat.hwmKiB,
      },
    };
  } finally {
    await observed.kill("SIGKILL");
  }
}

if (import.meta.main) {
  const args = run(
    object({
      members: integerOption(
        "--members",
        { min: 2, metavar: "N" },
        message`Members of the room, the observed peer included.`,
        200,
      ),
      idleMs: integerOption("--idle-ms", { min: 100, metavar: "MS" }, message`Idle window.`, 5000),
      chatMs: integerOption(
        "--chat-ms",
        { min: 100, metavar: "MS" },
        message`Chatting window.`,
        5000,
      ),
      rate: integerOption(
        "--rate",
        { min: 1, metavar: "R" },
        message`Messages a second the room sends while chatting.`,
        20,
      ),
      json: jsonOption(),
    }),
    { programName: "bench:peer_cost", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const r = await measurePeerCost(args);
  const mib = (kib: number) => round(kib / 1024, 1);
  const result: BenchResult = {
    name: "peer_cost",
    title: `Cost of one peer in a room of ${r.members}`,
    command: `deno task bench:peer_cost ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { ...args, json: undefined },
    tables: [{
      title: "one peer process (`peer --json`), the rest of the room in-process",
      columns: ["state", "window s", "CPU %", "CPU ms", "messages in", "CPU/message µs", "RSS MiB"],
      rows: [
        [
          "idle",
          round(r.idle.ms / 1000, 1),
          r.idle.cpuPercent,
          r.idle.cpuMs,
          0,
          null,
          mib(r.idle.rssKiB),
        ],
        [
          `chatting, ${r.chat.rate} msg/s`,
          round(r.chat.ms / 1000, 1),
          r.chat.cpuPercent,
          r.chat.cpuMs,
          r.chat.received,
          r.chat.cpuPerMessageUs,
          `${mib(r.chat.rssKiB)} (peak ${mib(r.chat.hwmKiB)})`,
        ],
      ],
    }],
    targets: [],
    notes: [
      `The room ${
        r.converged ? "had" : "had NOT"
      } converged (every member listing all ${r.members}) before the windows.`,
      "CPU: utime + stime of the process (/proc/PID/stat, all threads, 10 ms ticks); RSS: VmRSS " +
      "(/proc/PID/status). Idle includes the keepalive only if one falls in the window (every 20 s).",
      "Every message costs the observed peer a receipt, a JSON event line on stdout and, on the " +
      "ring, one forward (plus the occasional duplicate).",
    ],
    data: r,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
