/**
 * What Linux tells about a process through /proc: resident memory
 * (`VmRSS`, `VmHWM` in /proc/PID/status), CPU time (`utime` + `stime` in
 * /proc/PID/stat, all threads), and the processes below a process.
 *
 * Deno refuses /proc to anything short of `--allow-all`, so `cat` and `ps`
 * (`--allow-run`) read it.
 *
 * @module
 */

const decoder = new TextDecoder();

/** The text of a /proc file (through `cat`). */
export async function readProc(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdin: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`Cannot read ${path}: ${decoder.decode(out.stderr).trim()}`);
  return decoder.decode(out.stdout);
}

/** Resident memory of a process, in KiB. */
export interface Memory {
  rssKiB: number;
  /** Peak resident memory. */
  hwmKiB: number;
}

/** VmRSS and VmHWM of `pid`. */
export async function memory(pid: number): Promise<Memory> {
  const status = await readProc(`/proc/${pid}/status`);
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\d+) kB`, "m").exec(status);
    if (m === null) throw new Error(`No ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`; 100 if unknown). */
let ticksPerSecond: number | null = null;

async function clockTicks(): Promise<number> {
  if (ticksPerSecond !== null) return ticksPerSecond;
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    ticksPerSecond = out.success && n > 0 ? n : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** CPU time (user + system, all threads) `pid` has used, in ms (resolution: one clock tick). */
export async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces: fields are counted after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / await clockTicks();
}

/** Every process as `ps` lists it: pid, parent pid, command line (arguments joined by spaces). */
async function processes(): Promise<{ pid: number; ppid: number; args: string }[]> {
  const out = await new Deno.Command("ps", {
    args: ["-eo", "pid=,ppid=,args="],
    stdin: "null",
    stderr: "null",
  }).output();
  const list = [];
  for (const line of decoder.decode(out.stdout).split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s(.*)$/.exec(line);
    if (m !== null) list.push({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! });
  }
  return list;
}

/** Every descendant of `pid` (children, their children, …). */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const p of await processes()) {
    const list = parents.get(p.ppid) ?? [];
    list.push(p.pid);
    parents.set(p.ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** CPU ticks of the whole machine so far (/proc/stat): busy and total, all cores. */
export async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readProc("/proc/stat")).split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) throw new Error("No cpu line in /proc/stat");
  // user nice system idle iowait irq softirq steal …
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
    .slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}

/**
 * CPU ticks used by `pid` and by the children it has waited for (utime,
 * stime, cutime, cstime of /proc/PID/stat).
 */
export async function treeTicks(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}
