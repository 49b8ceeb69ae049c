/**
 * The shape of a benchmark's result and how it is printed: one JSON object
 * (`--json`, what the suite collects) or markdown tables for people.
 *
 * @module
 */

import type { Machine } from "./machine.ts";

/** A target from the issue and how the run compares to it. */
export interface Target {
  what: string;
  target: string;
  value: string;
  /** Null when the figure could not be taken. */
  met: boolean | null;
}

/** A table of figures. */
export interface Table {
  title: string;
  columns: string[];
  rows: (string | number | boolean | null)[][];
}

/** What one benchmark run produced. */
export interface BenchResult {
  /** The benchmark's name (`deno task bench:<name>`). */
  name: string;
  title: string;
  /** The command that runs it alone with these parameters. */
  command: string;
  machine: Machine;
  params: Record<string, unknown>;
  tables: Table[];
  targets: Target[];
  /** How the figures were measured, and what could not be. */
  notes: string[];
  /** Raw figures, for programs. */
  data: unknown;
  durationMs: number;
}

function cell(value: string | number | boolean | null): string {
  if (value === null) return "–";
  if (typeof value === "number") return value.toLocaleString("en-US", { maximumFractionDigits: 3 });
  return String(value);
}

/** A markdown table. */
export function markdownTable(table: Table): string {
  const lines = [
    `| ${table.columns.join(" | ")} |`,
    `| ${table.columns.map(() => "---").join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** The targets as a markdown table. */
export function targetsTable(targets: readonly Target[]): string {
  return markdownTable({
    title: "targets",
    columns: ["target", "wanted", "measured", "met"],
    rows: targets.map((
      t,
    ) => [t.what, t.target, t.value, t.met === null ? "n/a" : t.met ? "yes" : "NO"]),
  });
}

/** One benchmark's section of markdown: tables, targets, notes. */
export function markdownSection(result: BenchResult, level = 2): string {
  const h = "#".repeat(level);
  const parts = [`${h} ${result.title}`, "", `\`${result.command}\``, ""];
  for (const table of result.tables) {
    parts.push(`**${table.title}**`, "", markdownTable(table), "");
  }
  if (result.targets.length > 0) parts.push("**Targets**", "", targetsTable(result.targets), "");
  for (const note of result.notes) parts.push(`- ${note}`);
  if (result.notes.length > 0) parts.push("");
  return parts.join("\n");
}

/** The machine line printed above the figures. */
export function describeMachine(m: Machine): string {
  const load = m.loadAverage === null ? "unknown" : m.loadAverage.join(" / ");
  return `${m.cores} cores, ${m.cpuModel}, ${m.memoryMiB ?? "?"} MiB, ${m.os} ${
    m.kernel ?? ""
  }, Deno ${m.deno} (V8 ${m.v8}), ${m.date}, load average (1/5/15 min) ${load}`;
}

/** Prints a result: JSON with `json`, markdown otherwise. */
export function printResult(result: BenchResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`Machine: ${describeMachine(result.machine)}\n`);
  console.log(markdownSection(result));
}
