import assert from "node:assert/strict";
import { runArgs, VERSION } from "../lib/flags.ts";
import { ProgramProcess } from "../tools/process/program_process.ts";
import type { PeerEvent } from "../peer/events.ts";
import { derivePrivateRoom } from "../peer/private_room.ts";
import { startRegistry } from "../registry/registry.ts";

/** Longest wait for one expected event: generous, the machine is shared. */
const TIMEOUT_MS = 30_000;

type EventOf<T extends PeerEvent["type"]> = Extract<PeerEvent, { type: T }>;

/** A peer process (tools/process) driven through stdin lines, every stdout line kept. */
class PeerProcess implements AsyncDisposable {
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  readonly #process: ProgramProcess;

  constructor(args: string[], options: { task?: boolean } = {}) {
    this.#process = ProgramProcess.spawn("peer", {
      // A key in memory: a test never writes into the user's data directory.
      args: ["--data-dir", "none", ...args],
      stdin: true,
      stderrLines: Infinity,
      ...(options.task ? { task: true } : {}),
    });
    this.#process.onLine("stdout", (line) => this.lines.push(line));
  }

  /** A peer in `--json` mode against `registryPort`. */
  static json(registryPort: number, ...args: string[]): PeerProcess {
    return new PeerProcess([
      "--json",
      "--registry",
      `127.0.0.1:${registryPort}`,
      "--advertise",
      "127.0.0.1",
      "--port",
      "0",
      ...args,
    ]);
  }

  /** The stdout lines parsed as events. */
  get events(): PeerEvent[] {
    return this.lines.map((line) => JSON.parse(line));
  }

  /** Everything on stderr, once the process has exited. */
  get stderr(): Promise<string> {
    return this.#process.stderr();
  }

  /** The first line (already seen or still to come) that `match` accepts. */
  async waitForLine(match: (line: string) => boolean, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find(match);
    if (seen !== undefined) return seen;
    try {
      return await this.#process.waitForLine(match, TIMEOUT_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nstdout:\n${this.lines.join("\n")}`);
    }
  }

  /**
   * The first event from the `from`-th line on with this type that `match`
   * accepts.
   */
  async waitFor<T extends PeerEvent["type"]>(
    type: T,
    match: (event: EventOf<T>) => boolean = () => true,
    from = 0,
  ): Promise<EventOf<T>> {
    const line = await this.waitForLine((line) => {
      const event = JSON.parse(line) as PeerEvent;
      return event.type === type && match(event as EventOf<T>);
    }, from);
    return JSON.parse(line);
  }

  /** Writes one command line, then waits for the next event of `type`. */
  async ask<T extends PeerEvent["type"]>(
    line: string,
    type: T,
    match?: (event: EventOf<T>) => boolean,
  ): Promise<EventOf<T>> {
    const from = this.lines.length;
    await this.write(line);
    return await this.waitFor(type, match, from);
  }

  write(line: string): Promise<void> {
    return this.#process.write(line);
  }

  closeStdin(): Promise<void> {
    return this.#process.closeStdin();
  }

  kill(signal: Deno.Signal): void {
    this.#process.signal(signal);
  }

  /** Waits for the exit, with stdout and stderr read to the end. */
  exited(): Promise<Deno.CommandStatus> {
    return this.#process.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#process.kill("SIGKILL");
  }
}

Deno.test("peer cli: --version prints the deno.json version", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: runArgs("peer", ["--version"]),
    stdin: "null",
  }).output();
  assert.equal(output.code, 0);
  assert.equal(new TextDecoder().decode(output.stdout).trim(), VERSION);
});

Deno.test("peer cli: bad flags exit 2 with a clear error", async () => {
  const cases: [string[], RegExp][] = [
    [["--port", "x"], /--port/],
    [["--port", "70000"], /--port/],
    [["--registry", "localhost"], /--registry/],
    [["--log-level", "loud"], /--log-level/],
    [["--advertise", "not-an-ip"], /--advertise/],
    [["--keepalive-ms", "0"], /--keepalive-ms/],
    [["--bogus"], /--bogus/],
    [["--room", "lobby"], /--room needs --name/],
    [["--name", "a:b"], /--name: User name must not contain ':'/],
    [["--name", "x".repeat(33)], /--name: User name must be at most 32/],
    [["127.0.0.1", "32340"], /MY_PORT/],
    [["127.0.0.1", "32340", "0", "--port", "0"], /REGISTRY_HOST REGISTRY_PORT MY_PORT or as flags/],
  ];
  const results = await Promise.all(
    cases.map(([args]) =>
      new Deno.Command(Deno.execPath(), { args: runArgs("peer", args), stdin: "null" }).output()
    ),
  );
  for (const [i, output] of results.entries()) {
    const [args, pattern] = cases[i]!;
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, pattern, args.join(" "));
    assert.equal(output.stdout.length, 0, args.join(" "));
  }
});

Deno.test("peer cli: --json follows every stage-1 rule through stdin", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peer = PeerProcess.json(registry.port);
  const ready = await peer.waitFor("ready");
  assert.ok(ready.port > 0);

  // User: empty, too long, with ':' are errors; renaming before joining is fine.
  await peer.ask("/user", "error", (e) => /empty/.test(e.message));
  await peer.ask(`/user ${"x".repeat(33)}`, "error", (e) => /32/.test(e.message));
  await peer.ask("/user a:b", "error", (e) => /':'/.test(e.message));
  await peer.ask("/poke bob", "error");
  await peer.ask("/send too early", "error");
  assert.equal((await peer.ask("/user alice", "named")).name, "alice");
  assert.equal((await peer.ask("/user alicia", "named")).name, "alicia");

  // List at any time; join creates the room.
  await peer.ask("/list", "rooms");
  const joined = await peer.ask("/join lobby", "joined");
  assert.equal(joined.room, "lobby");
  assert.deepEqual(joined.members.map((m) => m.name), ["alicia"]);
  assert.match(joined.members[0]!.hashId, /^\d+$/);
  assert.deepEqual((await peer.ask("/list", "rooms")).rooms, ["lobby"]);

  // After joining: no rename, no second join.
  await peer.ask("/user bob", "error");
  await peer.ask("/join other", "error");

  // Who and poke with no name list the members; poking myself or a stranger is an error.
  const who = await peer.ask("/who", "members");
  assert.deepEqual(who.members.map((m) => m.name), ["alicia"]);
  assert.match(who.msid, /^\d+$/);
  assert.deepEqual((await peer.ask("/poke", "members")).members.map((m) => m.name), ["alicia"]);
  await peer.ask("/poke alicia", "error");
  await peer.ask("/poke nobody", "error");

  // Send: empty is an error; text is kept verbatim, ':' and all.
  await peer.ask("/send ", "error");
  const sent = await peer.ask("/send a:b::c", "message");
  assert.equal(sent.text, "a:b::c");
  assert.equal(sent.self, true);
  assert.equal(sent.from, "alicia");
  assert.match(sent.msgId, /^\d+$/);
  assert.equal((await peer.ask("plain line: sent too", "message")).text, "plain line: sent too");
  assert.equal(
    (await peer.ask('{"command":"send","text":"x::\\r\\ny"}', "message")).text,
    "x::\r\ny",
  );

  const links = await peer.ask("/links", "links");
  assert.deepEqual(links, { type: "links", forward: null, backward: [] });
  assert.match((await peer.ask("/help", "info")).message, /\/poke \[NAME\]/);
  assert.match((await peer.ask("/nope", "error")).message, /\/help/);

  await peer.ask("/quit", "quit");
  const status = await peer.exited();
  assert.equal(status.code, 0, await peer.stderr);
  // Nothing but JSON on stdout, and quit is the last event.
  assert.equal(peer.events.at(-1)?.type, "quit");
  for (const line of peer.lines) assert.equal(typeof JSON.parse(line).type, "string", line);
});

Deno.test("peer cli: two peers see each other's messages exactly once, ':' and '::\\r\\n' kept", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using alice = PeerProcess.json(registry.port, "--name", "alice", "--room", "r");
  await alice.waitFor("joined");
  await using bob = PeerProcess.json(registry.port, "--name", "bob", "--room", "r");
  await bob.waitFor("joined");
  await alice.waitFor("link", (e) => e.state === "up" && e.peer.name === "bob");
  await bob.waitFor("link", (e) => e.state === "up" && e.peer.name === "alice");

  const texts = ["a:b", "colons::\r\nand a line break", ":::", "T:r:1:x:1:1:y::\r\n"];
  for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
    for (const text of texts) await from.write(JSON.stringify({ command: "send", text }));
    await from.write("/send verbatim: ::\\r\\n");
    await from.write("/send end");
    await to.waitFor("message", (e) => !e.self && e.text === "end");
  }
  await alice.ask("/quit", "quit");
  await bob.ask("/quit", "quit");
  assert.equal((await alice.exited()).code, 0);
  assert.equal((await bob.exited()).code, 0);

  for (const [peer, other] of [[alice, "bob"], [bob, "alice"]] as const) {
    const received = peer.events
      .filter((e): e is EventOf<"message"> => e.type === "message" && !e.self)
      .map((e) => `${e.from}> ${e.text}`);
    // Exactly once each (the order may differ if two paths carried them).
    const sent = [...texts, "verbatim: ::\\r\\n", "end"].map((text) => `${other}> ${text}`);
    assert.deepEqual(received.toSorted(), sent.toSorted());
  }
});

Deno.test("peer cli: on a pipe without --json, one plain line per event", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const script = ["/user bob", "/join r", "/who", "hello: there", "/links", "/nope", "/poke"];
  const runs: string[][] = [];
  for (const json of [true, false]) {
    await using peer = new PeerProcess([
      ...(json ? ["--json"] : []),
      "--registry",
      `127.0.0.1:${registry.port}`,
      "--port",
      "0",
    ]);
    await peer.waitForLine(() => true);
    for (const line of script) await peer.write(line);
    await peer.closeStdin(); // end of input quits
    const status = await peer.exited();
    assert.equal(status.code, 0, await peer.stderr);
    runs.push(peer.lines);
  }
  const [json, plain] = runs as [string[], string[]];
  // A member list can come once more when the registry's member-info (ringchat/2) arrives after
  // the reply it belongs to, which is a matter of timing in either run: count the others.
  const timed = (lines: string[], member: RegExp) => lines.filter((l) => !member.test(l));
  assert.equal(
    timed(plain, /^-- r: \d+ member/).length,
    timed(json, /^\{"type":"members"/).length,
    `${json.join("\n")}\n--\n${plain.join("\n")}`,
  );
  assert.match(plain.join("\n"), /\n-- r: 1 member: bob 127\.0\.0\.1:\d+ \[you\]\n/);
  for (const line of plain) {
    assert.match(line, /^(-- |!! |\d\d:\d\d <bob> )/, line);
    assert.throws(() => JSON.parse(line));
  }
  const text = plain.join("\n");
  assert.match(text, /^-- Listening on port \d+/);
  assert.match(text, /\n-- You are bob\n/);
  assert.match(text, /\n-- Joined r; 1 member: bob 127\.0\.0\.1:\d+ \[you\]\n/);
  assert.match(text, /\n\d\d:\d\d <bob> hello: there\n/);
  assert.match(text, /\n-- Links: forward none; backward none\n/);
  assert.match(text, /\n!! Unknown command \/nope: type \/help for the list\n/);
  assert.match(text, /\n-- Quit: every link and socket closed$/);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`peer cli: ${signal} quits, releasing the port, and exits 0`, async () => {
    await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    await using peer = PeerProcess.json(registry.port, "--name", "sig", "--room", "r");
    const { port } = await peer.waitFor("ready");
    await peer.waitFor("joined");
    peer.kill(signal);
    const status = await peer.exited();
    assert.equal(status.code, 0, await peer.stderr);
    assert.equal(peer.events.at(-1)?.type, "quit");
    // The TCP and UDP port are free again.
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port }).close();
  });
}

Deno.test("peer cli: `deno task peer --port 0 --name x --json` works", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peer = new PeerProcess(
    ["--port", "0", "--name", "x", "--json", "--registry", `127.0.0.1:${registry.port}`],
    { task: true },
  );
  await peer.waitFor("ready");
  assert.equal((await peer.waitFor("named")).name, "x");
  assert.equal((await peer.ask("/join r", "joined")).room, "r");
  await peer.closeStdin();
  assert.equal((await peer.exited()).code, 0, await peer.stderr);
  assert.equal(peer.events.at(-1)?.type, "quit");
});

Deno.test("peer cli: /join ROOM --password takes the next line as the password; --json takes it in the command", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const password = "s3cret horse";
  const wire = (await derivePrivateRoom("plans", password)).wireName;
  await using plain = new PeerProcess(["--registry", `127.0.0.1:${registry.port}`, "--port", "0"]);
  await plain.waitForLine(() => true);
  for (const line of ["/user bob", "/join plans --password", password, "hi", "/list"]) {
    await plain.write(line);
  }
  await plain.waitForLine((line) => line.startsWith("-- Rooms"));
  await plain.closeStdin();
  assert.equal((await plain.exited()).code, 0, await plain.stderr);
  const text = plain.lines.join("\n");
  assert.match(text, /\n-- Password for plans: the next line\n/);
  assert.match(text, /\n-- Joined plans; 1 member: bob /);
  assert.match(text, /\n\d\d:\d\d <bob> hi\n/);
  assert.match(text, new RegExp(`\\n-- Rooms \\(1\\): ${wire}\\n`));
  assert.ok(!text.includes(password), "the password is never printed");
  await using json = PeerProcess.json(registry.port, "--name", "carol");
  await json.waitFor("named");
  const joined = await json.ask(
    JSON.stringify({ command: "join", room: "plans", password }),
    "joined",
  );
  assert.equal(joined.room, "plans");
  assert.deepEqual(joined.members.map((m) => m.name), ["carol"], "bob has quit");
});
