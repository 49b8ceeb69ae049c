/**
 * `deno task compile`: the two single binaries, `dist/registry` and
 * `dist/peer`, for this machine. Each is `deno compile`d, type-checked, with
 * the permission and unstable flags of its program baked in (from
 * `lib/flags.ts`, which reads them from `deno.json`), then run with
 * `--version`, which must print the version in `deno.json`, then timed from
 * start to `listening` / `ready`.
 *
 * `deno compile` embeds the program in `denort`, Deno's base runtime for a
 * target, which it takes from `DENORT_BIN`, from its cache
 * (`$DENO_DIR/dl/release/v<deno>/denort-<target>.zip`) or from
 * `dl.deno.land`. When none of these works the task prints one sentence that
 * says so and how to fix it, builds nothing, and exits 0: a machine without a
 * base runtime is not a broken checkout. `deno task release` (in
 * `release.ts`) uses the same functions and fails in that case instead.
 *
 * @example Builds a binary (not run by `deno test --doc`: it takes a minute)
 * ```ts ignore
 * import { compileProgram, verifyVersion } from "./compile.ts";
 * await compileProgram("registry", { output: "/tmp/registry" });
 * await verifyVersion("/tmp/registry");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { entryPoint, type Program, programFlags, VERSION } from "../lib/flags.ts";

/** The programs ringchat ships, in build order. */
export const PROGRAMS: readonly Program[] = ["registry", "peer"];

/** Every target `deno compile --target` supports, in release order. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** A target of {@linkcode TARGETS}. */
export type Target = typeof TARGETS[number];

/** The target of the Deno running this module: what a build without `--target` makes. */
export const HOST_TARGET: string = Deno.build.target;

/** Where `deno task compile` writes the binaries. */
export const DIST_DIR: string = fileURLToPath(new URL("../dist/", import.meta.url));

/** The file name of a program's binary for a target (`peer.exe` on Windows). */
export function executableName(program: Program, target: string = HOST_TARGET): string {
  return target.includes("windows") ? `${program}.exe` : program;
}

/**
 * The `deno compile` arguments for a program: no prompts, the program's
 * unstable and permission flags (the same `runArgs` gives `deno run`), the
 * target and the output file, then the entry point.
 */
export function compileArgs(
  program: Program,
  options: { output: string; target?: string },
): string[] {
  const target = options.target === undefined ? [] : ["--target", options.target];
  return [
    "compile",
    "--no-prompt",
    ...programFlags(program),
    ...target,
    "--output",
    options.output,
    entryPoint(program),
  ];
}

/** Where the base runtime for one target comes from. */
export type BaseRuntime =
  /** A denort binary on disk, passed to `deno compile` as `DENORT_BIN`. */
  | { kind: "file"; path: string; from: "DENORT_BIN" | "DENORT_DIR" }
  /** The archive `deno compile` downloaded before, in its cache. */
  | { kind: "cache"; path: string }
  /** Nothing local: `deno compile` will download `url`. */
  | { kind: "download"; url: string };

/**
 * The base runtime of a target cannot be obtained: not on disk, not cached,
 * and `deno compile` could not download it. The message is the one sentence
 * the tasks print.
 */
export class BaseRuntimeUnavailableError extends Error {
  /** The target that has no base runtime. */
  readonly target: string;
  /** The last lines of `deno compile`'s own error, if it ran. */
  readonly detail: string;

  /** Creates the error for a target, with the sentence as its message. */
  constructor(target: string, detail = "") {
    super(unavailableSentence(target));
    this.name = "BaseRuntimeUnavailableError";
    this.target = target;
    this.detail = detail;
  }
}

/** The sentence the tasks print when a target has no base runtime. */
export function unavailableSentence(target: string): string {
  const exe = target.includes("windows") ? ".exe" : "";
  const fix = target === HOST_TARGET
    ? `set DENORT_BIN to a denort ${Deno.version.deno} binary for this platform`
    : `set DENORT_DIR to a directory holding denort-${target}${exe} from Deno ${Deno.version.deno}`;
  return `Cannot build for ${target}: deno compile needs its base runtime (denort), ` +
    `which it could not download from dl.deno.land and does not have cached, ` +
    `so connect to the internet once or ${fix}.`;
}

/**
 * Where the base runtime for `target` comes from, in the order used:
 * `DENORT_DIR/denort-<target>[.exe]`; `DENORT_BIN` (host target only:
 * `deno compile` embeds `DENORT_BIN` whatever `--target` says, so for any
 * other target it must not be set); the archive in Deno's cache; a download.
 *
 * Throws `Deno.errors.NotFound` when `DENORT_BIN` names a file that does not
 * exist.
 */
export async function resolveBaseRuntime(target: string = HOST_TARGET): Promise<BaseRuntime> {
  const dir = Deno.env.get("DENORT_DIR");
  if (dir) {
    const exe = target.includes("windows") ? ".exe" : "";
    const path = join(dir, `denort-${target}${exe}`);
    if (await isFile(path)) return { kind: "file", path, from: "DENORT_DIR" };
  }
  const bin = Deno.env.get("DENORT_BIN");
  if (bin && target === HOST_TARGET) {
    if (!await isFile(bin)) {
      throw new Deno.errors.NotFound(`DENORT_BIN is ${bin}, which is not a file`);
    }
    return { kind: "file", path: bin, from: "DENORT_BIN" };
  }
  const suffix = `release/v${Deno.version.deno}/denort-${target}.zip`;
  const cached = join(await denoDir(), "dl", ...suffix.split("/"));
  if (await isFile(cached)) return { kind: "cache", path: cached };
  return { kind: "download", url: `https://dl.deno.land/${suffix}` };
}

/**
 * Lines of `deno compile`'s error output that mean the base runtime could
 * not be had. Deno 2.9.6 with no network says:
 *
 * ```text
 * error: Writing deno compile executable to temporary file '…'
 * Caused by:
 *     0: Setting up base binary.
 *     1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: …
 * ```
 */
const BASE_RUNTIME_FAILURE = [
  /Setting up base binary/,
  /dl\.deno\.land\/\S*denort-/,
  /Could not find denort at/,
];

/** True when `deno compile`'s stderr says it could not get the base runtime. */
export function isBaseRuntimeFailure(stderr: string): boolean {
  return BASE_RUNTIME_FAILURE.some((pattern) => pattern.test(stderr));
}

/**
 * `deno compile`s a program into `output` for `target` (default: this
 * machine), type-checked, with its flags baked in. Throws
 * {@linkcode BaseRuntimeUnavailableError} when the base runtime cannot be
 * obtained, and an `Error` with `deno compile`'s output on any other failure.
 */
export async function compileProgram(
  program: Program,
  options: { output: string; target?: string },
): Promise<void> {
  const target = options.target ?? HOST_TARGET;
  const runtime = await resolveBaseRuntime(target);
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  if (runtime.kind === "file") env.DENORT_BIN = runtime.path;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(program, options),
    clearEnv: true,
    env: { ...env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code === 0) return;
  const text = new TextDecoder().decode(stderr).trim();
  if (runtime.kind !== "file" && isBaseRuntimeFailure(text)) {
    throw new BaseRuntimeUnavailableError(target, text);
  }
  throw new Error(`deno compile of ${program} for ${target} failed:\n${text}`);
}

/**
 * Runs a compiled binary with `--version` and checks it prints the version in
 * `deno.json`. A binary made from the wrong base runtime fails here: it does
 * not run ringchat at all. Returns what it printed.
 */
export async function verifyVersion(binary: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(binary, {
    args: ["--version"],
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const printed = new TextDecoder().decode(stdout).trim();
  if (code !== 0 || !printed.split(/\s+/).includes(VERSION)) {
    const err = new TextDecoder().decode(stderr).trim();
    throw new Error(
      `${binary} --version exited ${code} and printed "${printed}"${err ? ` (${err})` : ""}, ` +
        `expected the version ${VERSION}`,
    );
  }
  return printed;
}

/**
 * Whether a base runtime for this machine can be had, for callers that must
 * decide before building (the compile test). Cheap when `DENORT_BIN`,
 * `DENORT_DIR` or the cache answers; otherwise it `deno compile`s a one-line
 * module into a temporary directory, which downloads and caches the runtime
 * when the network allows.
 */
export async function probeBaseRuntime(): Promise<
  { available: true; runtime: BaseRuntime } | { available: false; reason: string }
> {
  let runtime: BaseRuntime;
  try {
    runtime = await resolveBaseRuntime();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { available: false, reason: error.message };
    throw error;
  }
  if (runtime.kind !== "download") return { available: true, runtime };
  const dir = await Deno.makeTempDir({ prefix: "ringchat-probe-" });
  try {
    const source = join(dir, "probe.ts");
    await Deno.writeTextFile(source, "console.log(1);\n");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["compile", "--quiet", "--no-config", "--output", join(dir, "probe"), source],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code === 0) return { available: true, runtime };
    const text = new TextDecoder().decode(stderr).trim();
    if (isBaseRuntimeFailure(text)) {
      return { available: false, reason: unavailableSentence(HOST_TARGET) };
    }
    return { available: false, reason: `deno compile of a one-line module failed: ${text}` };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Splits a byte stream into lines (without `\n` or `\r\n`). Leaving the loop
 * early cancels the stream.
 */
async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let newline = buffer.indexOf("\n"); newline !== -1; newline = buffer.indexOf("\n")) {
      yield buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/** A started program and the first stdout line that matched. */
interface Started {
  child: Deno.ChildProcess;
  line: string;
  ms: number;
}

/**
 * Starts `command args` and waits for a stdout line matching `pattern`;
 * returns the process (still running, stdout cancelled) and the time it took.
 */
async function startAndWait(command: string, args: string[], pattern: RegExp): Promise<Started> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  for await (const line of readLines(child.stdout)) {
    if (pattern.test(line)) return { child, line, ms: performance.now() - started };
  }
  const status = await child.status;
  throw new Error(`${command} exited ${status.code} before printing ${pattern}`);
}

/** Stops a process started by {@linkcode startAndWait}. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  await child.status;
}

/**
 * Time from spawn to the registry's `listening on HOST:PORT` and to the
 * peer's `{"type":"ready",…}` (with `--json`, joined to that registry), in
 * milliseconds. `launch` maps a program and its arguments to a command line,
 * so the same measurement runs compiled binaries or `deno run` from source.
 */
export async function measureStartup(
  launch: (program: Program, args: string[]) => [string, string[]],
): Promise<{ registryMs: number; peerMs: number }> {
  const registry = await startAndWait(
    ...launch("registry", ["--port", "0", "--host", "127.0.0.1"]),
    /^listening on \S+:\d+$/,
  );
  try {
    const port = registry.line.slice(registry.line.lastIndexOf(":") + 1);
    const peer = await startAndWait(
      ...launch("peer", ["--json", "--port", "0", "--registry", `127.0.0.1:${port}`]),
      /"type":"ready"/,
    );
    await stop(peer.child);
    return { registryMs: registry.ms, peerMs: peer.ms };
  } finally {
    await stop(registry.child);
  }
}

/** Whether `path` is an existing file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

let cachedDenoDir: string | undefined;

/** Deno's cache directory, as `deno info` reports it. */
async function denoDir(): Promise<string> {
  if (cachedDenoDir !== undefined) return cachedDenoDir;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-config"],
    stdin: "null",
    stderr: "null",
  }).output();
  cachedDenoDir = (JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string }).denoDir;
  return cachedDenoDir;
}

/** Formats a byte count as MB with one decimal. */
export function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

async function main(): Promise<number> {
  await Deno.mkdir(DIST_DIR, { recursive: true });
  const built: string[] = [];
  for (const program of PROGRAMS) {
    const output = join(DIST_DIR, executableName(program));
    try {
      await compileProgram(program, { output });
    } catch (error) {
      // No base runtime is a fact about this machine, not a failure of the checkout.
      if (error instanceof BaseRuntimeUnavailableError) {
        console.error(error.message);
        return 0;
      }
      throw error;
    }
    built.push(output);
  }
  for (const output of built) {
    const printed = await verifyVersion(output);
    const { size } = await Deno.stat(output);
    console.log(`${output}  ${megabytes(size)}  --version: ${printed}`);
  }
  const { registryMs, peerMs } = await measureStartup((program, args) => [
    join(DIST_DIR, executableName(program)),
    args,
  ]);
  console.log(
    `start to "listening": registry ${registryMs.toFixed(0)} ms; ` +
      `start to "ready": peer ${peerMs.toFixed(0)} ms`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
