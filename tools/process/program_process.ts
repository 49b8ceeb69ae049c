/**
 * One ringchat program (registry or peer) running as its own process, with
 * exactly the flags and environment of its compiled binary
 * (`runArgs()` and `programEnv()` of lib/flags.ts), or a compiled binary
 * itself. Its stdout and stderr are read as lines and handed to listeners;
 * it can be written to, signalled, killed and disposed. The registry and
 * peer processes (./registry_process.ts, ./peer_process.ts) are built on it;
 * the cluster tool, the benchmarks and the tests use those.
 *
 * @example
 * ```ts
 * import { ProgramProcess } from "./program_process.ts";
 * await using registry = ProgramProcess.spawn("registry", { args: ["--port", "0"] });
 * const line = await registry.waitForLine((l) => l.startsWith("listening on "), 30_000);
 * ```
 *
 * @module
 */

import { type Program, programEnv, runArgs } from "../../lib/flags.ts";
import { forEachLine } from "./lines.ts";

/** How many of a program's first stdout lines are kept ({@linkcode ProgramProcess.firstLines}). */
const FIRST_LINES = 64;

/** How to spawn a program. */
export interface SpawnOptions {
  /** The program's own arguments. */
  args?: readonly string[];
  /** A compiled binary to run instead of the sources. */
  binary?: string;
  /**
   * Run the program's task (`deno task --quiet registry|peer …` in the
   * repository), as a user running it from source does, instead of
   * `deno run` with the binary's flags.
   */
  task?: boolean;
  /** The environment (default: `programEnv(program)`, as users run it). */
  env?: Record<string, string>;
  /** Pipe stdin so lines can be written (default: stdin is /dev/null). */
  stdin?: boolean;
  /** Run Deno's inspector on an ephemeral port (sources only; see `inspector`). */
  inspect?: boolean;
  /** Also copy every stderr line to this process's stderr. */
  echoStderr?: boolean;
  /** How many of the last stderr lines to keep (default 50). */
  stderrLines?: number;
}

/** Which output a line came from. */
export type Stream = "stdout" | "stderr";

/** Called with each line (without its newline) and `performance.now()` as it was read. */
export type LineListener = (line: string, at: number) => void;

/** A spawned program. Disposing it stops it (SIGTERM, then SIGKILL after 5 s). */
export class ProgramProcess implements AsyncDisposable {
  /** Which program runs. */
  readonly program: Program;
  /** The process id. */
  readonly pid: number;
  /** The last stderr lines (`stderrLines` of them), for failure reports. */
  readonly stderrTail: string[] = [];
  /** Resolves with the exit status once the process has exited and its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Deno's inspector address (ws://…) when spawned with `inspect`, else null. */
  readonly inspector: Promise<string | null>;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly #firstLines: string[] = [];
  readonly #listeners: Record<Stream, Set<LineListener>> = {
    stdout: new Set(),
    stderr: new Set(),
  };
  #alive = true;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  private constructor(program: Program, child: Deno.ChildProcess, options: SpawnOptions) {
    this.program = program;
    this.#child = child;
    this.pid = child.pid;
    this.#stdin = options.stdin ? child.stdin.getWriter() : null;
    const keep = options.stderrLines ?? 50;
    const { promise: inspector, resolve: foundInspector } = Promise.withResolvers<
      string | null
    >();
    this.inspector = inspector;
    if (!options.inspect) foundInspector(null);
    const out = forEachLine(child.stdout, (line) => this.#emit("stdout", line));
    const err = forEachLine(child.stderr, (line) => {
      if (options.inspect) {
        const m = /^Debugger listening on (ws:\/\/\S+)/.exec(line);
        if (m !== null) return foundInspector(m[1]!);
        if (/^(Visit chrome:\/\/inspect|Debugger session)/.test(line)) return;
      }
      if (options.echoStderr) console.error(line);
      this.stderrTail.push(line);
      if (this.stderrTail.length > keep) this.stderrTail.shift();
      this.#emit("stderr", line);
    });
    this.exited = Promise.all([child.status, out, err]).then(async ([status]) => {
      this.#alive = false;
      foundInspector(null);
      await this.closeStdin();
      return status;
    });
  }

  /** Spawns `program` with the flags and environment of its compiled binary. */
  static spawn(program: Program, options: SpawnOptions = {}): ProgramProcess {
    const args = options.args ?? [];
    const io = {
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env ?? programEnv(program),
    } as const;
    let command: Deno.Command;
    if (options.inspect && (options.binary !== undefined || options.task)) {
      throw new TypeError("inspect needs `deno run` of the sources");
    }
    if (options.binary !== undefined) {
      command = new Deno.Command(options.binary, { args: [...args], ...io });
    } else if (options.task) {
      command = new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", program, ...args],
        cwd: new URL("../..", import.meta.url),
        ...io,
      });
    } else {
      const flags = runArgs(program, args);
      // A flag of Deno's, not of the program; `--quiet` would hide the inspector's address.
      if (options.inspect) flags.splice(flags.indexOf("--quiet"), 1, "--inspect=127.0.0.1:0");
      command = new Deno.Command(Deno.execPath(), { args: flags, ...io });
    }
    return new ProgramProcess(program, command.spawn(), options);
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return this.#alive;
  }

  /** The first lines the program wrote on stdout (at most {@linkcode FIRST_LINES}): its start-up lines. */
  get firstLines(): readonly string[] {
    return this.#firstLines;
  }

  #emit(stream: Stream, line: string): void {
    const at = performance.now();
    if (stream === "stdout" && this.#firstLines.length < FIRST_LINES) this.#firstLines.push(line);
    for (const listener of this.#listeners[stream]) listener(line, at);
  }

  /** Calls `listener` with every line of `stream` from now on; returns the unsubscriber. */
  onLine(stream: Stream, listener: LineListener): () => void {
    this.#listeners[stream].add(listener);
    return () => this.#listeners[stream].delete(listener);
  }

  /**
   * The next line of `stream` (stdout by default) that `match` accepts.
   * Rejects, with the stderr tail, when the process exits first or after
   * `timeoutMs`.
   */
  waitForLine(
    match: (line: string) => boolean,
    timeoutMs: number,
    stream: Stream = "stdout",
  ): Promise<string> {
    if (!this.#alive) return Promise.reject(this.#failure("is not running"));
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const done = () => {
      clearTimeout(timer);
      off();
    };
    const off = this.onLine(stream, (line) => {
      if (!match(line)) return;
      done();
      resolve(line);
    });
    const timer = setTimeout(() => {
      off();
      reject(this.#failure(`wrote no matching line within ${timeoutMs} ms`));
    }, timeoutMs);
    this.exited.then((status) => {
      done();
      reject(this.#failure(`exited (code ${status.code}) while waiting`));
    });
    return promise;
  }

  #failure(what: string): Error {
    return new Error(
      `The ${this.program} (pid ${this.pid}) ${what}\n${this.stderrTail.join("\n")}`,
    );
  }

  /** Writes one line to the process's stdin (spawned with `stdin: true`). */
  async write(line: string): Promise<void> {
    if (this.#stdin === null) throw new TypeError(`The ${this.program} has no stdin pipe`);
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes the process's stdin (its end of input); safe to call twice. */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /** Sends a signal without waiting (SIGSTOP, SIGCONT, …); nothing if it has exited. */
  signal(signal: Deno.Signal): void {
    if (!this.#alive) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the signal.
    }
  }

  /** Sends a signal (SIGKILL by default) and resolves with the exit status. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    this.signal(signal);
    return await this.exited;
  }

  /**
   * SIGTERM, then SIGKILL if the process is still running after `graceMs`;
   * resolves with the exit status. Idempotent.
   */
  stop(graceMs = 5_000): Promise<Deno.CommandStatus> {
    this.#stopped ??= (async () => {
      const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
      try {
        return await this.kill("SIGTERM");
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#stopped;
  }

  /** The kept stderr lines, once the process has exited. */
  async stderr(): Promise<string> {
    await this.exited;
    return this.stderrTail.join("\n");
  }

  /** Stops the process (see `stop`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
