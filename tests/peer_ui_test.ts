import assert from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import { JsonUi } from "../peer/ui/json.ts";
import { describeEvent, PlainUi, printable } from "../peer/ui/plain.ts";
import { CUT, displayWidth, inputView } from "../peer/ui/input_view.ts";
import { KeyDecoder, type KeyName } from "../peer/ui/keys.ts";
import { LineEditor } from "../peer/ui/line_editor.ts";
import { type TerminalIo, TerminalUi } from "../peer/ui/terminal.ts";

const ALICE = { name: "alice", ip: "127.0.0.1", port: 4001, hashId: "11" };
const BOB = { name: "bob", ip: "127.0.0.1", port: 4002, hashId: "22" };
const CAROL = { name: "carol", ip: "127.0.0.1", port: 4003, hashId: "33" };
/** When the messages of these tests came, and that time as chat lines show it (local time). */
const AT = "2026-12-01T23:15:02.123Z";
const HHMM = `${String(new Date(AT).getHours()).padStart(2, "0")}:${
  String(new Date(AT).getMinutes()).padStart(2, "0")
}`;

/** One of every kind of event. */
const EVERY_EVENT: PeerEvent[] = [
  { type: "ready", port: 4001 },
  { type: "named", name: "alice" },
  { type: "rooms", rooms: ["lobby", "games"] },
  { type: "joined", room: "lobby", members: [ALICE, BOB] },
  {
    type: "members",
    msid: "7",
    members: [ALICE, BOB, CAROL],
    forward: "bob",
    backward: ["carol"],
    asked: true,
  },
  { type: "link", direction: "forward", state: "up", peer: BOB },
  { type: "link", direction: "backward", state: "down", peer: CAROL },
  {
    type: "message",
    room: "lobby",
    from: "bob",
    originHid: "22",
    msgId: "1",
    text: "hi: there",
    self: false,
    verified: true,
    at: AT,
  },
  { type: "poke", from: "bob" },
  { type: "poke-ack", to: "bob" },
  { type: "poke-timeout", to: "carol" },
  { type: "links", forward: BOB, backward: [CAROL] },
  { type: "info", message: "Retrying the forward link" },
  { type: "error", message: "Join needs a name" },
  { type: "member-joined", name: "carol", at: AT },
  { type: "member-left", name: "carol", reason: "lost", at: AT },
  { type: "nick", from: "bob", to: "bobby", at: AT },
  { type: "left", room: "lobby" },
  { type: "quit" },
];

function capture(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line) };
}

Deno.test("json ui: one JSON object per event, the event as it is", () => {
  const out = capture();
  const ui = new JsonUi({ write: out.write });
  for (const event of EVERY_EVENT) ui.render(event);
  assert.deepEqual(out.lines.length, EVERY_EVENT.length);
  for (const [i, line] of out.lines.entries()) {
    assert(!line.includes("\n"));
    assert.deepEqual(JSON.parse(line), EVERY_EVENT[i]);
  }
});

Deno.test("json ui: a message with line breaks stays on one line", () => {
  const out = capture();
  const event: PeerEvent = {
    type: "message",
    room: "r",
    from: "a",
    originHid: "1",
    msgId: "2",
    text: "x::\r\ny",
    self: true,
    verified: true,
    at: AT,
  };
  new JsonUi({ write: out.write }).render(event);
  assert.deepEqual(out.lines.length, 1);
  assert.deepEqual(JSON.parse(out.lines[0]!), event);
});

Deno.test("json ui: /help is an info event listing the commands", () => {
  const out = capture();
  new JsonUi({ write: out.write }).help();
  assert.deepEqual(out.lines.length, 1);
  const event = JSON.parse(out.lines[0]!);
  assert.deepEqual(event.type, "info");
  for (const command of ["/user", "/join", "/send", "/poke", "/who", "/links", "/quit"]) {
    assert(event.message.includes(command), command);
  }
});

Deno.test("plain ui: one line per event, every kind rendered", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  for (const event of EVERY_EVENT) ui.render(event);
  assert.deepEqual(out.lines.length, EVERY_EVENT.length);
  for (const line of out.lines) {
    assert(line.length > 3 && !line.includes("\n"), line);
    assert.match(line, /^(-- |!! |\d\d:\d\d <)/);
  }
});

Deno.test("plain ui: a member list that changed is not a line, one asked for with /who is", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  const list: PeerEvent = { type: "members", msid: "7", members: [ALICE, BOB, CAROL] };
  ui.render(list);
  ui.render({ type: "member-joined", name: "carol", at: AT });
  assert.deepEqual(out.lines, ["-- carol joined"]);
  ui.render({ type: "members", msid: "7", members: [ALICE, BOB, CAROL], asked: true });
  assert.deepEqual(out.lines.length, 2);
  assert.match(out.lines[1]!, /3 members: /);
});

Deno.test("plain ui: presence that repeats a join or leave line of my room is not a line; elsewhere, away and offline are", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  ui.render({ type: "joined", room: "room1", members: [ALICE] });
  const from = out.lines.length;
  ui.render({ type: "member-joined", name: "carol", at: AT });
  ui.render({ type: "presence", name: "carol", state: "online", room: "room1" });
  ui.render({ type: "presence", name: "dave", state: "online", room: "room2" });
  ui.render({ type: "presence", name: "carol", state: "away", room: "room1" });
  ui.render({ type: "presence", name: "carol", state: "offline" });
  // Just after its leave line, an offline says nothing more; the next one does.
  ui.render({ type: "member-left", name: "carol", reason: "lost", at: AT });
  ui.render({ type: "presence", name: "carol", state: "offline" });
  ui.render({ type: "presence", name: "carol", state: "offline" });
  ui.render({ type: "nick", from: "bob", to: "robert", at: AT });
  ui.render({ type: "presence", name: "bob", state: "offline" });
  assert.deepEqual(out.lines.slice(from), [
    "-- carol joined",
    "-- dave (online in room2)",
    "-- carol (away in room1)",
    "-- carol (offline)",
    "-- carol left (lost)",
    "-- carol (offline)",
    "-- bob is now robert",
  ]);
});

Deno.test("plain ui: chat lines and system lines look different", () => {
  const chat = describeEvent(EVERY_EVENT[7]!);
  assert.deepEqual(chat.kind, "chat");
  assert.deepEqual(chat.text, `${HHMM} <bob> hi: there`);
  assert.deepEqual(describeEvent({ type: "named", name: "alice" }).text, "-- You are alice");
  assert.deepEqual(describeEvent({ type: "error", message: "Nope" }), {
    kind: "error",
    text: "!! Nope",
  });
});

Deno.test("plain ui: /who marks me and my forward and backward links", () => {
  const line = describeEvent(EVERY_EVENT[4]!, { name: "alice", room: "lobby" }).text;
  assert.match(line, /^-- lobby: 3 members: /);
  assert.match(line, /alice 127\.0\.0\.1:4001 \[you\]/);
  assert.match(line, /bob 127\.0\.0\.1:4002 \[forward\]/);
  assert.match(line, /carol 127\.0\.0\.1:4003 \[backward\]/);
});

Deno.test("plain ui: the name from a named event marks me in later lists", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  ui.render({ type: "named", name: "bob" });
  ui.render({ type: "joined", room: "lobby", members: [ALICE, BOB] });
  assert.match(out.lines[1]!, /^-- Joined lobby; 2 members: .*bob 127\.0\.0\.1:4002 \[you\]/);
});

Deno.test("plain ui: links, pokes and quit read as sentences", () => {
  const text = (event: PeerEvent) => describeEvent(event).text;
  assert.deepEqual(
    text({ type: "links", forward: null, backward: [] }),
    "-- Links: forward none; backward none",
  );
  assert.deepEqual(
    text(EVERY_EVENT[11]!),
    "-- Links: forward bob (127.0.0.1:4002); backward carol (127.0.0.1:4003)",
  );
  assert.deepEqual(text(EVERY_EVENT[5]!), "-- Forward link to bob (127.0.0.1:4002) up");
  assert.deepEqual(text({ type: "poke", from: "bob" }), "-- bob poked you");
  assert.deepEqual(
    text({ type: "poke", from: "127.0.0.1:9", claimed: "bob" }),
    "-- 127.0.0.1:9 poked you, as bob (not bob's address)",
  );
  assert.deepEqual(describeEvent({ type: "poke", from: "bob" }).kind, "alert");
  assert.deepEqual(text({ type: "poke-ack", to: "bob" }), "-- bob got your poke");
  assert.deepEqual(describeEvent({ type: "poke-timeout", to: "carol" }).kind, "error");
  assert.deepEqual(text({ type: "rooms", rooms: [] }), "-- No rooms yet");
  assert.match(text({ type: "quit" }), /^-- Quit/);
});

Deno.test("plain ui: control characters from the network are escaped", () => {
  assert.deepEqual(printable("a::\r\nb\x1b[2J"), "a::\\r\\nb\\x1b[2J");
  assert.deepEqual(printable("tab\tok: é"), "tab\tok: é");
  const line = describeEvent({
    type: "message",
    room: "r",
    from: "ev\x1bil",
    originHid: "1",
    msgId: "1",
    text: "x::\r\n",
    self: false,
    verified: true,
    at: AT,
  });
  assert.deepEqual(line.text, `${HHMM} <ev\\x1bil> x::\\r\\n`);
});

Deno.test("plain ui: /help lists the commands on system lines", () => {
  const out = capture();
  new PlainUi({ write: out.write }).help();
  assert(out.lines.length >= 9);
  for (const line of out.lines) assert(line.startsWith("-- "), line);
  assert(out.lines.some((line) => line.includes("/poke [NAME]")));
});

/** A terminal in memory: what is typed goes in with `type`, what is drawn is kept in `writes`. */
class FakeTerminal implements TerminalIo {
  readonly columns = 80;
  readonly rows = 24;
  readonly color = false;
  raw = false;
  /** Every write, in order. */
  writes: string[] = [];
  input: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #encoder = new TextEncoder();
  #waiters = new Set<() => void>();

  constructor() {
    this.input = new ReadableStream({
      start: (controller) => void (this.#controller = controller),
    });
  }

  setRaw(raw: boolean): void {
    this.raw = raw;
  }

  write(text: string): void {
    this.writes.push(text);
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves once the output (all writes joined) satisfies `done`. */
  async drawn(done: (output: string) => boolean): Promise<void> {
    while (!done(this.output)) {
      await new Promise<void>((resolve) => {
        const waiter = () => {
          this.#waiters.delete(waiter);
          resolve();
        };
        this.#waiters.add(waiter);
      });
    }
  }

  size(): { columns: number; rows: number } {
    return { columns: this.columns, rows: this.rows };
  }

  /** Types text (it arrives as one read, as a terminal delivers a paste in reads). */
  type(text: string): void {
    this.#controller.enqueue(this.#encoder.encode(text));
  }

  /** Ends the input (as a closed terminal). */
  end(): void {
    this.#controller.close();
  }

  get output(): string {
    return this.writes.join("");
  }
}

/** The next line a UI reads. */
async function nextLine(lines: AsyncIterable<string>): Promise<string | undefined> {
  for await (const line of lines) return line;
  return undefined;
}

/** The text of a paste: words with their positions, so a partial copy cannot pass for a whole one. */
function pasteText(bytes: number): string {
  let text = "";
  for (let i = 0; text.length < bytes; i++) text += `w${i} `;
  return text.slice(0, bytes);
}

Deno.test("terminal ui: a 64 KiB paste is one line, read within 100 ms, drawn whole once", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  ui.render({ type: "named", name: "alice" });
  const paste = pasteText(64 * 1024);
  const started = performance.now();
  // A terminal hands a paste over in reads of at most 4 KiB.
  for (let i = 0; i < paste.length; i += 4096) terminal.type(paste.slice(i, i + 4096));
  terminal.type("\r");
  const line = await nextLine(ui.lines());
  const elapsed = performance.now() - started;
  ui.close();
  await ui.done;
  assert.deepEqual(line, paste);
  assert(elapsed < 100, `read the paste in ${elapsed.toFixed(1)} ms`);
  const output = terminal.output;
  // The submitted line is on the screen once, whole, after the prompt.
  assert.deepEqual(output.split(`alice> ${paste}\r\n`).length, 2);
  // Everything else drawn while pasting fits on the screen, so it was erased:
  // no run of the paste longer than a screenful is left in the scrollback.
  const rest = output.replace(`alice> ${paste}\r\n`, "");
  // deno-lint-ignore no-control-regex
  const longest = Math.max(...rest.split(/[\x1b\r\n…]/).map((part) => part.length));
  assert(longest < terminal.columns * terminal.rows, `a run of ${longest} characters`);
  // deno-lint-ignore no-control-regex
  for (const [, rows] of output.matchAll(/\x1b\[(\d+)A/g)) {
    assert(Number(rows) < terminal.rows, `the cursor went up ${rows} rows`);
  }
  assert(!terminal.raw);
});

Deno.test("terminal ui: an event while typing is printed above, the input drawn again after it", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  ui.render({ type: "named", name: "bob" });
  terminal.type("hello");
  // Wait until the keys are drawn.
  await terminal.drawn((output) => output.endsWith("bob> hello\r\x1b[10C"));
  terminal.writes = [];
  ui.render(EVERY_EVENT[7]!);
  // Erase the input, print the line, draw the prompt and the input, cursor at its end.
  assert.deepEqual(
    terminal.output,
    `\r\x1b[J${HHMM} <bob> hi: there\r\nbob> hello\r\x1b[10C`,
  );
  terminal.end();
  await ui.done;
  assert.deepEqual(await nextLine(ui.lines()), undefined);
});

Deno.test("terminal ui: Ctrl-C ends the input, raw mode is left", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  assert(terminal.raw);
  terminal.type("/who\rtyped\x03");
  assert.deepEqual(await nextLine(ui.lines()), "/who");
  await ui.done;
  assert(!terminal.raw);
});

Deno.test("keys: a run of text is one key; controls and escape sequences are named", () => {
  const decoder = new KeyDecoder();
  assert.deepEqual(decoder.push("ab\tc\x1b[D\x7f\r\n\x1b[3~é\x9bq"), [
    { type: "text", text: "ab\tc" },
    { type: "key", name: "left" },
    { type: "key", name: "backspace" },
    { type: "key", name: "enter" },
    { type: "key", name: "delete" },
    { type: "text", text: "éq" },
  ]);
  // An escape sequence split across reads, and ones the editor ignores (bracketed paste marks).
  assert.deepEqual(decoder.push("x\x1b["), [{ type: "text", text: "x" }]);
  assert.deepEqual(decoder.push("A\x1b[200~y\x1b[201~\x03"), [
    { type: "key", name: "up" },
    { type: "text", text: "y" },
    { type: "key", name: "interrupt" },
  ]);
});

Deno.test("line editor: inserts at the cursor, deletes, recalls history, submits", () => {
  const editor = new LineEditor(2);
  const text = (text: string) => editor.apply({ type: "text", text });
  const key = (name: KeyName) => editor.apply({ type: "key", name });
  text("helo");
  key("left");
  text("l");
  assert.deepEqual([editor.line, editor.cursor], ["hello", 4]);
  key("end");
  text(" world");
  key("kill-word");
  assert.deepEqual(editor.line, "hello ");
  key("backspace");
  assert.deepEqual(key("enter"), { type: "submit", line: "hello" });
  text("second");
  key("enter");
  text("draft");
  key("up");
  assert.deepEqual(editor.line, "second");
  key("up");
  assert.deepEqual(editor.line, "hello");
  assert.deepEqual(key("up"), { type: "none" });
  key("down");
  key("down");
  assert.deepEqual(editor.line, "draft");
  key("home");
  key("kill-end");
  assert.deepEqual(key("eof"), { type: "end" });
  // The cursor never splits a surrogate pair.
  text("a😀");
  key("left");
  assert.deepEqual(editor.cursor, 1);
  key("delete");
  assert.deepEqual(editor.line, "a");
});

Deno.test("input view: a short line is shown whole, wrapped at the margin", () => {
  const view = inputView("a> ", "x".repeat(77), 77, 80, 23);
  assert.deepEqual(view.text, `a> ${"x".repeat(77)}`);
  assert.deepEqual([view.cursorRow, view.cursorColumn], [1, 0]);
  assert.deepEqual([view.endRow, view.endColumn, view.endsAtMargin], [1, 0, true]);
  // A wide character that does not fit in the last column goes to the next row.
  const wide = inputView("> ", "x".repeat(77) + "漢", 78, 80, 23);
  assert.deepEqual([wide.cursorRow, wide.cursorColumn, wide.endRow, wide.endColumn], [1, 2, 1, 2]);
  assert.deepEqual(displayWidth("漢字 ok"), 7);
});

Deno.test("input view: a line longer than the screen is a window around the cursor", () => {
  const line = pasteText(10_000);
  const atEnd = inputView("a> ", line, line.length, 80, 23);
  assert(atEnd.text.startsWith(`a> ${CUT}`) && atEnd.text.endsWith(line.slice(-100)));
  assert(atEnd.endRow < 23, `${atEnd.endRow} rows`);
  const middle = inputView("a> ", line, 5000, 80, 23);
  assert(middle.text.includes(CUT) && middle.text.endsWith(CUT));
  assert(middle.text.includes(line.slice(4900, 5100)));
  assert(middle.endRow < 23);
});

Deno.test("plain ui: a backslash is shown as typed, in my own echo too", () => {
  assert.deepEqual(printable("C:\\Users\\bob"), "C:\\Users\\bob");
  for (const self of [true, false]) {
    const line = describeEvent({
      type: "message",
      room: "r",
      from: "bob",
      originHid: "1",
      msgId: "1",
      text: "C:\\Users\\bob \\n\r",
      self,
      verified: true,
      at: AT,
    });
    assert.deepEqual(line.text, `${HHMM} <bob> C:\\Users\\bob \\n\\r`);
    assert.deepEqual(line.body, "C:\\Users\\bob \\n\\r");
  }
});

Deno.test("terminal ui: a backslash in a message is drawn once", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  ui.render({ ...(EVERY_EVENT[7] as PeerEvent & { type: "message" }), text: "C:\\Users\\bob" });
  assert(
    terminal.output.includes(`${HHMM} <bob> C:\\Users\\bob\r\n`),
    JSON.stringify(terminal.output),
  );
  terminal.end();
  await ui.done;
});

Deno.test("plain ui: a text whose signature did not verify says (unverified) after the name", () => {
  const message = {
    type: "message",
    room: "r",
    from: "sam",
    originHid: "1",
    msgId: "1",
    text: "hi",
    self: false,
    verified: false,
    at: AT,
  } as const;
  assert.deepEqual(describeEvent(message).text, `${HHMM} <sam (unverified)> hi`);
  assert.deepEqual(describeEvent({ ...message, verified: true }).text, `${HHMM} <sam> hi`);
  // My own texts are mine, signed or not.
  assert.deepEqual(describeEvent({ ...message, self: true }).text, `${HHMM} <sam> hi`);
});

Deno.test("terminal ui: the prompt follows a nick and a leave", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  ui.render({ type: "named", name: "bob" });
  ui.render({ type: "joined", room: "lobby", members: [BOB] });
  assert(terminal.output.endsWith("\r\nbob@lobby> \r\x1b[11C"), JSON.stringify(terminal.output));
  ui.render({ type: "nick", from: "bob", to: "robert", at: AT, self: true });
  assert(
    terminal.output.endsWith("\r\nrobert@lobby> \r\x1b[14C"),
    JSON.stringify(terminal.output),
  );
  ui.render({ type: "left", room: "lobby" });
  assert(terminal.output.endsWith("\r\nrobert> \r\x1b[8C"), JSON.stringify(terminal.output));
  terminal.end();
  await ui.done;
});

Deno.test("plain ui: join, leave and nick lines", () => {
  assert.deepEqual(
    describeEvent({ type: "member-joined", name: "carol", at: AT }).text,
    "-- carol joined",
  );
  for (const reason of ["left", "lost", "expired"] as const) {
    assert.deepEqual(
      describeEvent({ type: "member-left", name: "carol", reason, at: AT }).text,
      `-- carol left (${reason})`,
    );
  }
  assert.deepEqual(
    describeEvent({ type: "nick", from: "alice", to: "alicia", at: AT }).text,
    "-- alice is now alicia",
  );
  assert.deepEqual(
    describeEvent({ type: "nick", from: "alice", to: "al\x1bx", at: AT, self: true }).text,
    "-- You are now al\\x1bx (were alice)",
  );
});

Deno.test("terminal: a secret line (a password) is neither echoed nor kept for up", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  const lines = ui.lines()[Symbol.asyncIterator]();
  terminal.type("/login alice\r");
  assert.deepEqual((await lines.next()).value, "/login alice");
  ui.askSecret("Password for alice: ");
  await terminal.drawn((output) => output.includes("Password for alice: "));
  terminal.type("hunter2 horse\r");
  assert.deepEqual((await lines.next()).value, "hunter2 horse");
  // Up recalls the line before the password, not the password.
  terminal.type("\x1b[A\r");
  assert.deepEqual((await lines.next()).value, "/login alice");
  ui.close();
  await ui.done;
  assert(!terminal.output.includes("hunter2"), "the password was drawn");
  assert(terminal.output.includes("Password for alice: \r\n"));
});

Deno.test("lines: the people events read as one line each, network text escaped", () => {
  const lines = [
    describeEvent({ type: "dm-request", from: "bob" }),
    describeEvent({
      type: "dm",
      id: "1",
      from: "bob",
      text: "hi\x1b[2J",
      at: "2026-12-01T23:00:00.000Z",
    }),
    describeEvent({ type: "dm-receipt", id: "a-1", to: "bob", state: "delivered" }),
    describeEvent({ type: "online", users: [{ name: "bob", state: "away", room: "r" }] }),
    describeEvent({ type: "search", name: "zed", result: "not-found" }),
    describeEvent({ type: "invite", from: "bob", room: "r2" }),
    describeEvent({ type: "kicked", reason: "logged-in-elsewhere" }),
  ].map((line) => line.text);
  assert.deepEqual(lines, [
    "-- bob asks to talk with you: /accept bob or /reject bob",
    "[bob → you] hi\\x1b[2J",
    "-- Message a-1 to bob: delivered",
    "-- Users (1): bob (away in r)",
    "-- zed was not found",
    "-- bob invites you to r2: /accept bob r2 or /reject bob r2",
    "-- Your session ended: logged-in-elsewhere",
  ]);
});

Deno.test("terminal ui: a password asked for is not echoed, nor kept for up and down", async () => {
  const terminal = new FakeTerminal();
  const ui = new TerminalUi({ io: terminal });
  ui.render({ type: "named", name: "bob" });
  const lines = ui.lines()[Symbol.asyncIterator]();
  terminal.type("/join plans --password\r");
  assert.deepEqual((await lines.next()).value, "/join plans --password");
  ui.askSecret("Password for plans: ");
  await terminal.drawn((output) => output.endsWith("Password for plans: \r\x1b[20C"));
  terminal.type("hunter2");
  terminal.type("\x7f2\r");
  assert.deepEqual((await lines.next()).value, "hunter2");
  // Up recalls the command before it, never the password.
  terminal.type("\x1b[A");
  await terminal.drawn((output) => output.endsWith("bob> /join plans --password\r\x1b[27C"));
  terminal.end();
  await ui.done;
  assert(!terminal.output.includes("hunter"), terminal.output);
  assert.match(terminal.output, /Password for plans: \r\n/);
});

Deno.test("ui: a history message says it was missed; /history lists the messages with their times", () => {
  const missed: PeerEvent = {
    type: "message",
    room: "lobby",
    from: "bob",
    originHid: "2",
    msgId: "5",
    text: "while you were away",
    self: false,
    verified: false,
    history: true,
    at: "2026-12-01T23:15:02.123Z",
  };
  assert.equal(
    describeEvent(missed).text,
    `${HHMM} <bob (missed, unverified)> while you were away`,
  );
  const history: PeerEvent = {
    type: "history",
    room: "lobby",
    messages: [
      {
        from: "bob",
        originHid: "2",
        msgId: "5",
        text: "hi\x1b",
        at: "2026-12-01T23:15:02.123Z",
        self: false,
      },
      {
        from: "alice",
        originHid: "1",
        msgId: "9",
        text: "yo",
        at: "2026-12-01T23:16:00.000Z",
        self: true,
      },
    ],
  };
  assert.equal(
    describeEvent(history).text,
    "-- History of lobby: 2 messages\n  23:15 <bob> hi\\x1b\n  23:16 <alice> yo",
  );
});
