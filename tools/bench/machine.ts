/**
 * The machine a benchmark ran on, recorded with every result: cores, CPU
 * model (from /proc/cpuinfo), Deno, V8 and TypeScript versions, the OS, the
 * date, and the load average when the figures were taken.
 *
 * @module
 */

import { readProc } from "../process/proc.ts";

/** Where and when figures were taken. */
export interface Machine {
  cores: number;
  cpuModel: string;
  memoryMiB: number | null;
  deno: string;
  v8: string;
  typescript: string;
  os: string;
  kernel: string | null;
  date: string;
  /** 1, 5 and 15 minute load averages (null when /proc/loadavg cannot be read). */
  loadAverage: [number, number, number] | null;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readProc(path);
  } catch {
    return null;
  }
}

/** The 1, 5 and 15 minute load averages from /proc/loadavg, or null. */
export async function loadAverage(): Promise<[number, number, number] | null> {
  const text = await readText("/proc/loadavg");
  if (text === null) return null;
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  return [a!, b!, c!];
}

/** Describes this machine now. */
export async function machine(): Promise<Machine> {
  const cpuinfo = await readText("/proc/cpuinfo");
  const model = cpuinfo?.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim();
  const meminfo = await readText("/proc/meminfo");
  const memKiB = meminfo?.match(/^MemTotal:\s*(\d+) kB/m)?.[1];
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel: model ?? "unknown",
    memoryMiB: memKiB === undefined ? null : Math.round(Number(memKiB) / 1024),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    kernel: (await readText("/proc/sys/kernel/osrelease"))?.trim() ?? null,
    date: new Date().toISOString(),
    loadAverage: await loadAverage(),
  };
}
