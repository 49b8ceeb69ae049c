/**
 * `deno task bench`: the quick suite. Runs every benchmark as its own process
 * with small parameters (about 2½ minutes on a quiet 2-core machine), each
 * bounded in time, and writes `bench/results.json` (every result, raw
 * figures included) and `bench/results.md` (the tables), printing the
 * markdown too. Each benchmark also runs alone, with more figures, as
 * `deno task bench:<name>`.
 *
 *     deno task bench
 *     deno task bench --only propagation,repair
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { optionalText, textOption } from "../tool_options.ts";
import { fileURLToPath } from "node:url";
import { programEnv } from "../../lib/flags.ts";
import { unstableFlags } from "../../lib/flags.ts";
import { loadAverage, machine } from "./machine.ts";
import { descendants, machineTicks, treeTicks } from "../process/proc.ts";
import {
  type BenchResult,
  describeMachine,
  markdownSection,
  markdownTable,
  targetsTable,
} from "./report.ts";

/** One benchmark of the suite and its quick parameters. */
interface Step {
  name: string;
  args: string[];
  timeoutMs: number;
}

/** The quick suite, in order. */
export const QUICK: readonly Step[] = [
  {
    name: "registry_sweep",
    args: ["--clients", "1,20,200,1000", "--duration-ms", "1000", "--warmup-ms", "300"],
    timeoutMs: 40_000,
  },
  { name: "rooms", args: ["--sizes", "10,100,1000,10000", "--samples", "20"], timeoutMs: 70_000 },
  {
    name: "propagation",
    args: [
      "--peers",
      "10,50,200,1000",
      "--processes",
      "10",
      "--messages",
      "15",
      "--warmup",
      "2",
      "--budget-ms",
      "40000",
    ],
    // Each in-process size runs the ring and the tree, then the tree kill (bench:propagation).
    timeoutMs: 240_000,
  },
  {
    name: "repair",
    args: ["--peers", "10,50", "--repetitions", "5", "--budget-ms", "40000"],
    timeoutMs: 90_000,
  },
  { name: "sustained", args: ["--duration-ms", "3000", "--drain-ms", "5000"], timeoutMs: 40_000 },
  {
    name: "peer_cost",
    args: ["--members", "200", "--idle-ms", "3000", "--chat-ms", "4000", "--rate", "40"],
    timeoutMs: 60_000,
  },
];

/** The flags every benchmark runs with (those of the `bench:<name>` tasks). */
export const BENCH_FLAGS: readonly string[] = [
  ...unstableFlags(),
  "--allow-net",
  "--allow-run",
  "--allow-read",
  "--allow-env",
];

async function killTree(pid: number): Promise<void> {
  const all = [pid, ...await descendants(pid)];
  for (const p of all) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** CPU the rest of the machine used meanwhile, from one {@linkcode otherLoad} call to the next. */
interface LoadMark {
  machine: { busy: number; total: number };
  mine: number;
}

async function loadMark(): Promise<LoadMark> {
  return { machine: await machineTicks(), mine: await treeTicks(Deno.pid) };
}

/**
 * Percent of the machine's CPU (all cores) that processes other than this
 * suite and the benchmarks it ran used between two marks: the machine's busy
 * ticks less this process tree's.
 */
function otherLoad(from: LoadMark, to: LoadMark): number {
  const total = to.machine.total - from.machine.total;
  const others = (to.machine.busy - from.machine.busy) - (to.mine - from.mine);
  return total <= 0 ? 0 : Math.max(0, Math.round((others / total) * 1000) / 10);
}

/** Runs one benchmark with `--json`; its stderr passes through. */
async function runStep(step: Step): Promise<BenchResult> {
  const file = fileURLToPath(new URL(`./${step.name}.ts`, import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", ...BENCH_FLAGS, file, ...step.args, "--json"],
    // In-process benchmarks run the engine as ringchat's programs run it.
    env: programEnv("peer"),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(child.pid).catch(() => {});
  }, step.timeoutMs);
  try {
    const [status, out] = await Promise.all([child.status, new Response(child.stdout).text()]);
    if (timedOut) throw new Error(`did not finish within ${step.timeoutMs / 1000} s`);
    const line = out.trim().split("\n").findLast((l) => l.startsWith("{"));
    if (!status.success || line === undefined) throw new Error(`exited with ${status.code}`);
    return JSON.parse(line) as BenchResult;
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) {
  const args = run(
    object({
      only: optionalText(
        "--only",
        "LIST",
        message`Run only these benchmarks (comma-separated names).`,
      ),
      outDir: textOption(
        "--out-dir",
        "DIR",
        message`Where results.json and results.md go.`,
        "bench",
      ),
    }),
    { programName: "bench", args: Deno.args, help: "option", colors: false },
  );
  const only = args.only?.split(",").map((s) => s.trim());
  const steps = QUICK.filter((s) => only === undefined || only.includes(s.name));
  if (steps.length === 0) throw new RangeError(`No benchmark called ${args.only}`);

  const began = performance.now();
  const host = await machine();
  const results: BenchResult[] = [];
  const failures: string[] = [];
  const runs: { name: string; seconds: number; otherLoadPercent: number; ok: boolean }[] = [];
  const first = await loadMark();
  for (const step of steps) {
    const t0 = performance.now();
    const mark = await loadMark();
    console.error(`bench: ${step.name} …`);
    let ok = true;
    try {
      results.push(await runStep(step));
    } catch (error) {
      ok = false;
      const why = error instanceof Error ? error.message : String(error);
      failures.push(`${step.name}: ${why}`);
      console.error(`bench: ${step.name} FAILED: ${why}`);
    }
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    const otherLoadPercent = otherLoad(mark, await loadMark());
    runs.push({ name: step.name, seconds, otherLoadPercent, ok });
    console.error(
      `bench: ${step.name} ${ok ? "done" : "failed"} in ${seconds} s ` +
        `(other processes: ${otherLoadPercent}% of the machine)`,
    );
  }
  const otherLoadPercent = otherLoad(first, await loadMark());
  const durationMs = Math.round(performance.now() - began);
  const loadAfter = await loadAverage();
  const command = `deno task bench${Deno.args.length > 0 ? ` ${Deno.args.join(" ")}` : ""}`;

  const targets = results.flatMap((r) => r.targets);
  const md = [
    "# ringchat benchmarks",
    "",
    `Produced by \`${command}\` in ${(durationMs / 1000).toFixed(0)} s.`,
    "",
    `Machine: ${describeMachine(host)} at the start; load average ${
      loadAfter?.join(" / ") ?? "unknown"
    } at the end. Processes other than the benchmarks used ${otherLoadPercent}% of the ` +
    "machine's CPU (all cores) meanwhile (/proc/stat busy time less the suite's own).",
    "",
    markdownTable({
      title: "runs",
      columns: ["benchmark", "seconds", "other processes' CPU %", "finished"],
      rows: runs.map((r) => [r.name, r.seconds, r.otherLoadPercent, r.ok ? "yes" : "NO"]),
    }),
    "",
    "## Targets",
    "",
    targetsTable(targets),
    "",
    ...results.map((r) => markdownSection(r)),
    ...(failures.length > 0 ? ["## Did not finish", "", ...failures.map((f) => `- ${f}`), ""] : []),
  ].join("\n");
  const json = {
    command,
    machine: host,
    loadAverageAfter: loadAfter,
    otherLoadPercent,
    runs,
    durationMs,
    results,
    failures,
  };
  await Deno.mkdir(args.outDir, { recursive: true });
  await Deno.writeTextFile(`${args.outDir}/results.json`, JSON.stringify(json, null, 2) + "\n");
  await Deno.writeTextFile(`${args.outDir}/results.md`, md);
  // In the repository's markdown style (tables aligned), so `deno fmt --check` passes.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", `${args.outDir}/results.md`],
    stdout: "null",
    stderr: "inherit",
  }).output();
  console.log(await Deno.readTextFile(`${args.outDir}/results.md`));
  console.error(`bench: wrote ${args.outDir}/results.json and ${args.outDir}/results.md`);
}
