import assert from "node:assert/strict";
import {
  type Command,
  COMMANDS,
  type CommandTarget,
  executeCommand,
  helpText,
  parseCommand,
  parseInputLine,
  parseJsonCommand,
} from "../peer/commands.ts";
import { PeerError } from "../peer/errors.ts";
import { startRegistry } from "../registry/registry.ts";
import { testPeer } from "./support/peer_harness.ts";

Deno.test("commands: parse every command of /help", () => {
  assert.deepEqual(parseCommand("/user alice"), { type: "user", name: "alice" });
  assert.deepEqual(parseCommand("/list"), { type: "list" });
  assert.deepEqual(parseCommand("/join lobby"), { type: "join", room: "lobby" });
  assert.deepEqual(parseCommand("/send hello"), { type: "send", text: "hello" });
  assert.deepEqual(parseCommand("/poke bob"), { type: "poke", name: "bob" });
  assert.deepEqual(parseCommand("/poke"), { type: "poke" });
  assert.deepEqual(parseCommand("/who"), { type: "who" });
  assert.deepEqual(parseCommand("/links"), { type: "links" });
  assert.deepEqual(parseCommand("/quit"), { type: "quit" });
  assert.deepEqual(parseCommand("/help"), { type: "help" });
});

Deno.test("commands: /send keeps the text verbatim after the single space", () => {
  assert.deepEqual(parseCommand("/send a:b::c"), { type: "send", text: "a:b::c" });
  assert.deepEqual(parseCommand("/send  two spaces "), { type: "send", text: " two spaces " });
  assert.deepEqual(parseCommand("/send /not a command"), { type: "send", text: "/not a command" });
  assert.deepEqual(parseCommand("/send T:room:1:a:1:3:abc::"), {
    type: "send",
    text: "T:room:1:a:1:3:abc::",
  });
});

Deno.test("commands: a line without a leading / sends it as it is", () => {
  assert.deepEqual(parseCommand("hello: world::"), { type: "send", text: "hello: world::" });
  assert.deepEqual(parseCommand(" /who"), { type: "send", text: " /who" });
  assert.deepEqual(parseCommand("   "), { type: "send", text: "   " });
});

Deno.test("commands: //text sends /text", () => {
  assert.deepEqual(parseCommand("//who"), { type: "send", text: "/who" });
  assert.deepEqual(parseCommand("//"), { type: "send", text: "/" });
});

Deno.test("commands: an empty line is nothing to do", () => {
  assert.deepEqual(parseCommand(""), null);
});

Deno.test("commands: /send, /user and /join without an argument leave the judging to the peer", () => {
  assert.deepEqual(parseCommand("/send"), { type: "send", text: "" });
  assert.deepEqual(parseCommand("/send "), { type: "send", text: "" });
  assert.deepEqual(parseCommand("/user"), { type: "user", name: "" });
  assert.deepEqual(parseCommand("/user a:b"), { type: "user", name: "a:b" });
  assert.deepEqual(parseCommand("/join"), { type: "join", room: "" });
});

Deno.test("commands: /poke with only blanks means no name", () => {
  assert.deepEqual(parseCommand("/poke "), { type: "poke" });
  assert.deepEqual(parseCommand("/poke   "), { type: "poke" });
});

Deno.test("commands: command words are case-insensitive", () => {
  assert.deepEqual(parseCommand("/WHO"), { type: "who" });
  assert.deepEqual(parseCommand("/User Bob"), { type: "user", name: "Bob" });
});

Deno.test("commands: an unknown command is an error that points to /help", () => {
  const result = parseCommand("/frob bob");
  assert(result?.type === "invalid");
  assert(result.message.includes("/frob"), result.message);
  assert(result.message.includes("/help"), result.message);
  const bare = parseCommand("/");
  assert(bare?.type === "invalid");
  assert(bare.message.includes("/help"));
});

Deno.test("commands: an unknown command's word is shown without control characters", () => {
  const result = parseCommand("/\x1b[2Jboom");
  assert(result?.type === "invalid");
  assert(!result.message.includes("\x1b"), result.message);
  assert(result.message.includes("\\x1b"), result.message);
});

Deno.test("commands: commands without arguments refuse one, but not trailing blanks", () => {
  const result = parseCommand("/who alice");
  assert(result?.type === "invalid");
  assert(result.message.includes("/who"));
  assert.deepEqual(parseCommand("/quit "), { type: "quit" });
});

Deno.test("commands: JSON commands carry any text, line breaks included", () => {
  assert.deepEqual(parseJsonCommand('{"command":"send","text":"a::\\r\\nb"}'), {
    type: "send",
    text: "a::\r\nb",
  });
  assert.deepEqual(parseJsonCommand('{"command":"user","name":"alice"}'), {
    type: "user",
    name: "alice",
  });
  assert.deepEqual(parseJsonCommand('{"command":"join","room":"r"}'), { type: "join", room: "r" });
  assert.deepEqual(parseJsonCommand('{"command":"poke"}'), { type: "poke" });
  assert.deepEqual(parseJsonCommand('{"command":"poke","name":"bob"}'), {
    type: "poke",
    name: "bob",
  });
  assert.deepEqual(parseJsonCommand('{"command":"who"}'), { type: "who" });
  assert.deepEqual(parseJsonCommand('{"command":"quit"}'), { type: "quit" });
  assert.deepEqual(parseJsonCommand('{"type":"who"}'), { type: "who" });
});

Deno.test("commands: bad JSON commands are errors", () => {
  for (
    const line of [
      "{",
      "[1]",
      '{"command":"nope"}',
      "{}",
      '{"command":"send"}',
      '{"command":"send","text":1}',
      '{"command":"poke","name":2}',
    ]
  ) {
    const result = parseJsonCommand(line);
    assert.deepEqual(result.type, "invalid", line);
  }
});

Deno.test("commands: a { line is JSON only in JSON mode", () => {
  assert.deepEqual(parseInputLine('{"command":"who"}', true), { type: "who" });
  assert.deepEqual(parseInputLine('{"command":"who"}', false), {
    type: "send",
    text: '{"command":"who"}',
  });
  assert.deepEqual(parseInputLine("/who", true), { type: "who" });
  assert.deepEqual(parseInputLine("hi", true), { type: "send", text: "hi" });
});

Deno.test("commands: /help lists every command", () => {
  const help = helpText();
  for (const command of COMMANDS) assert(help.includes(command.usage), command.usage);
  for (const word of ["user", "list", "join", "send", "poke", "who", "links", "quit", "help"]) {
    const result = parseCommand(`/${word}`);
    assert(result !== null && result.type !== "invalid", word);
    assert(help.includes(`/${word}`), word);
  }
});

Deno.test("commands: execute calls the matching peer method", async () => {
  const calls: string[] = [];
  const target: CommandTarget = {
    user: (name) => void calls.push(`user ${name}`),
    list: () => Promise.resolve(void calls.push("list")),
    join: (room) => Promise.resolve(void calls.push(`join ${room}`)),
    send: (text) => Promise.resolve(void calls.push(`send ${text}`)),
    poke: (name) => Promise.resolve(void calls.push(`poke ${name ?? "-"}`)),
    who: () => void calls.push("who"),
    links: () => void calls.push("links"),
    leave: () => Promise.resolve(void calls.push("leave")),
    nick: (name) => Promise.resolve(void calls.push(`nick ${name}`)),
    history: (count) => void calls.push(`history ${count ?? "-"}`),
    showStats: () => void calls.push("stats"),
    showError: (error) => void calls.push(`error ${(error as Error).message}`),
    quit: () => Promise.resolve(void calls.push("quit")),
  };
  const commands: Command[] = [
    { type: "user", name: "a" },
    { type: "list" },
    { type: "join", room: "r" },
    { type: "send", text: "x:y" },
    { type: "poke" },
    { type: "poke", name: "b" },
    { type: "who" },
    { type: "links" },
    { type: "leave" },
    { type: "nick", name: "c" },
    { type: "history" },
    { type: "history", count: 20 },
    { type: "stats" },
    { type: "help" },
    { type: "quit" },
  ];
  for (const command of commands) {
    await executeCommand(target, command, () => void calls.push("help"));
  }
  assert.deepEqual(calls, [
    "user a",
    "list",
    "join r",
    "send x:y",
    "poke -",
    "poke b",
    "who",
    "links",
    "leave",
    "nick c",
    "history -",
    "history 20",
    "stats",
    "help",
    "quit",
  ]);
});

Deno.test("commands: execute shows a command's PeerError through showError, and throws anything else", async () => {
  const shown: unknown[] = [];
  const refused = new PeerError("not-joined", "Join a room before sending");
  const target: CommandTarget = {
    user: () => {
      throw new PeerError("bad-name", "User name must not be empty");
    },
    list: () => Promise.reject(new Error("A bug")),
    join: () => Promise.resolve(),
    send: () => Promise.reject(refused),
    poke: () => Promise.resolve(),
    who: () => {},
    links: () => {},
    leave: () => Promise.resolve(),
    nick: () => Promise.resolve(),
    history: () => {},
    showStats: () => {},
    showError: (error) => void shown.push(error),
    quit: () => Promise.resolve(),
  };
  await executeCommand(target, { type: "send", text: "x" }, () => {});
  await executeCommand(target, { type: "user", name: "" }, () => {});
  assert.equal(shown[0], refused);
  assert.equal((shown[1] as PeerError).code, "bad-name");
  await assert.rejects(executeCommand(target, { type: "list" }, () => {}), /A bug/);
  assert.equal(shown.length, 2);
});

Deno.test("commands: /stats and the JSON stats command parse, and take no argument", () => {
  assert.deepEqual(parseCommand("/stats"), { type: "stats" });
  assert.deepEqual(parseJsonCommand('{"command":"stats"}'), { type: "stats" });
  assert.equal(parseCommand("/stats now")?.type, "invalid");
  assert.match(helpText(), /\/stats/);
});

Deno.test("commands: through the dispatcher, a failed command of a real peer is an error event with its code", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const { peer, rec } = await testPeer(reg.port);
  try {
    await executeCommand(peer, { type: "send", text: "hi" }, () => {});
    await executeCommand(peer, { type: "join", room: "room1" }, () => {});
    await executeCommand(peer, { type: "user", name: "a:b" }, () => {});
    assert.deepEqual(rec.of("error").map((e) => e.code), ["not-joined", "no-name", "bad-name"]);
    assert.deepEqual(rec.of("error")[0], {
      type: "error",
      code: "not-joined",
      message: "Join a room before sending",
    });
  } finally {
    await peer.quit();
  }
});

Deno.test("commands: the people commands as typed", () => {
  assert.deepEqual(parseCommand("/register alice"), { type: "register", name: "alice" });
  assert.deepEqual(parseCommand("/login alice"), { type: "login", name: "alice" });
  assert.deepEqual(parseCommand("/login")?.type, "invalid");
  assert.deepEqual(parseCommand("/login alice hunter2")?.type, "invalid");
  assert.deepEqual(parseCommand("/online"), { type: "online" });
  assert.deepEqual(parseCommand("/search bob"), { type: "search", name: "bob" });
  assert.deepEqual(parseCommand("/msg bob hi: there  a"), {
    type: "dm",
    to: "bob",
    text: "hi: there  a",
  });
  assert.deepEqual(parseCommand("/msg bob")?.type, "invalid");
  assert.deepEqual(parseCommand("/accept bob"), { type: "answer", name: "bob", accept: true });
  assert.deepEqual(parseCommand("/reject bob room2"), {
    type: "answer",
    name: "bob",
    accept: false,
    room: "room2",
  });
  assert.deepEqual(parseCommand("/block mallory"), { type: "block", name: "mallory" });
  assert.deepEqual(parseCommand("/unblock mallory"), { type: "unblock", name: "mallory" });
  assert.deepEqual(parseCommand("/broadcast hi all"), { type: "broadcast", text: "hi all" });
  assert.deepEqual(parseCommand("/invite bob"), { type: "invite", to: "bob" });
  assert.deepEqual(parseCommand("/invite bob room2"), { type: "invite", to: "bob", room: "room2" });
  assert.deepEqual(parseCommand("/away"), { type: "away", on: true });
  assert.deepEqual(parseCommand("/away off"), { type: "away", on: false });
  assert.deepEqual(parseCommand("/away maybe")?.type, "invalid");
});

Deno.test("commands: the people commands of the JSON contract", () => {
  const cases: [Record<string, unknown>, unknown][] = [
    [{ command: "register", name: "a", password: "p" }, {
      type: "register",
      name: "a",
      password: "p",
    }],
    [{ command: "login", name: "a", password: "p" }, { type: "login", name: "a", password: "p" }],
    [{ command: "online" }, { type: "online" }],
    [{ command: "search", name: "b" }, { type: "search", name: "b" }],
    [{ command: "dm", to: "b", text: "x\ny" }, { type: "dm", to: "b", text: "x\ny" }],
    [{ command: "dm-answer", to: "b", accept: false }, {
      type: "dm-answer",
      to: "b",
      accept: false,
    }],
    [{ command: "block", name: "m" }, { type: "block", name: "m" }],
    [{ command: "unblock", name: "m" }, { type: "unblock", name: "m" }],
    [{ command: "broadcast", text: "hi" }, { type: "broadcast", text: "hi" }],
    [{ command: "invite", to: "b", room: "r" }, { type: "invite", to: "b", room: "r" }],
    [
      { command: "invite-answer", to: "b", room: "r", accept: true },
      { type: "invite-answer", to: "b", room: "r", accept: true },
    ],
    [{ command: "away", on: true }, { type: "away", on: true }],
  ];
  for (const [json, command] of cases) {
    assert.deepEqual(parseJsonCommand(JSON.stringify(json)), command);
  }
  assert.equal(parseJsonCommand('{"command":"login","name":"a"}').type, "invalid");
  assert.equal(parseJsonCommand('{"command":"dm-answer","to":"a","accept":"yes"}').type, "invalid");
  assert.equal(parseJsonCommand('{"command":"away"}').type, "invalid");
});

Deno.test("commands: /history takes an optional positive count, as text or JSON", () => {
  assert.deepEqual(parseCommand("/history"), { type: "history" });
  assert.deepEqual(parseCommand("/history 20"), { type: "history", count: 20 });
  for (const bad of ["/history 0", "/history -3", "/history two", "/history 1.5"]) {
    assert.equal(parseCommand(bad)?.type, "invalid", bad);
  }
  assert.deepEqual(parseJsonCommand('{"command":"history","count":7}'), {
    type: "history",
    count: 7,
  });
  assert.deepEqual(parseJsonCommand('{"command":"history"}'), { type: "history" });
  assert.equal(parseJsonCommand('{"command":"history","count":"7"}').type, "invalid");
});
