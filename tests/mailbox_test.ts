import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { tempDbPath } from "./support/temp_db.ts";
import { REGISTRY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import { MAIL_MAX_TEXT_BYTES, Mailbox, routeDm } from "../registry/mailbox.ts";
import { SqlitePeopleStore } from "../registry/people_db.ts";

Deno.test("mailbox: mail for bob is bounded by count and by bytes, others' boxes apart", async () => {
  using store = SqlitePeopleStore.open(":memory:");
  const mailbox = new Mailbox(store, { maxMessages: 2, maxBytes: 8, maxTextBytes: 5 });
  equal((await mailbox.deposit({ to: "bob", from: "alice", text: "one" }, 1)).ok, true);
  deepEqual(await mailbox.deposit({ to: "bob", from: "alice", text: "sixsix" }, 2), {
    ok: false,
    code: "too-long",
  });
  deepEqual(await mailbox.deposit({ to: "bob", from: "alice", text: "" }, 2), {
    ok: false,
    code: "empty",
  });
  // 3 + 5 = 8 bytes: fits; the next one is over the count.
  equal((await mailbox.deposit({ to: "bob", from: "carol", text: "fives" }, 3)).ok, true);
  deepEqual(await mailbox.deposit({ to: "bob", from: "carol", text: "x" }, 4), {
    ok: false,
    code: "mailbox-full",
  });
  equal((await mailbox.deposit({ to: "dave", from: "carol", text: "x" }, 4)).ok, true);
  deepEqual((await mailbox.pending("bob")).map((m) => [m.from, m.text, m.at]), [
    ["alice", "one", 1],
    ["carol", "fives", 3],
  ]);
});

Deno.test("mailbox: mail stays until acknowledged (at least once), then is deleted", async () => {
  using store = SqlitePeopleStore.open(":memory:");
  const mailbox = new Mailbox(store);
  const a = await mailbox.deposit({ to: "bob", from: "alice", text: "first" }, 1);
  const b = await mailbox.deposit({ to: "bob", from: "alice", text: "second" }, 2);
  if (!a.ok || !b.ok) throw new Error("not stored");
  // Delivered on a login that dropped before acknowledging: delivered again, same ids.
  deepEqual((await mailbox.pending("bob")).map((m) => m.id), [a.id, b.id]);
  deepEqual((await mailbox.pending("bob")).map((m) => m.id), [a.id, b.id]);
  // Only bob's own mail can be acknowledged; junk ids are ignored.
  equal(await mailbox.ack("carol", [a.id]), 0);
  equal(await mailbox.ack("bob", [a.id, "1", 1.5, null]), 1);
  deepEqual((await mailbox.pending("bob")).map((m) => m.text), ["second"]);
  equal(await mailbox.ack("bob", [b.id, b.id]), 1);
  deepEqual(await mailbox.pending("bob"), []);
  // Room again, and a new id, never a reused one.
  const c = await mailbox.deposit({ to: "bob", from: "alice", text: "third" }, 3);
  equal(c.ok && c.id > b.id, true);
});

Deno.test("mailbox: mail survives a registry restart (reopening the file)", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  {
    using store = SqlitePeopleStore.open(path);
    await new Mailbox(store).deposit(
      { to: "bob", from: "alice", text: "while you were away" },
      7,
    );
  }
  using store = SqlitePeopleStore.open(path);
  const mailbox = new Mailbox(store);
  const mail = await mailbox.pending("bob");
  deepEqual(mail.map((m) => [m.to, m.from, m.text, m.at]), [[
    "bob",
    "alice",
    "while you were away",
    7,
  ]]);
  equal(await mailbox.ack("bob", mail.map((m) => m.id)), 1);
});

Deno.test("mailbox: a DM goes direct to the online, to the mailbox for the registered offline, nowhere else", () => {
  const people = {
    isRegistered: (name: string) => ["bob", "dave"].includes(name),
    isOnline: (name: string) => ["bob", "carol"].includes(name),
    blocks: { has: (by: string, name: string) => by === "dave" && name === "mallory" },
  };
  deepEqual(routeDm("alice", "bob", people), { route: "direct" });
  deepEqual(routeDm("alice", "carol", people), { route: "direct" }); // an unregistered name in a room
  deepEqual(routeDm("alice", "dave", people), { route: "mailbox" });
  deepEqual(routeDm("alice", "zed", people), { route: "refused", code: "unknown-user" });
  deepEqual(routeDm("mallory", "dave", people), { route: "refused", code: "blocked" });
});

Deno.test("mailbox: bad bounds are refused", () => {
  using store = SqlitePeopleStore.open(":memory:");
  throws(() => new Mailbox(store, { maxMessages: 0 }), RangeError);
  throws(() => new Mailbox(store, { maxBytes: 0 }), RangeError);
});

Deno.test("mailbox: a stored mail survives the process being SIGKILLed", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  const writer = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-read=${db.dir}`,
      `--allow-write=${db.dir}`,
      new URL("./support/mail_writer.ts", import.meta.url).pathname,
      path,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = writer.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    out += value;
  }
  writer.kill("SIGKILL");
  await lines.cancel();
  equal((await writer.status).signal, "SIGKILL");
  const id = Number(/^stored (\d+)/.exec(out)?.[1]);
  using store = SqlitePeopleStore.open(path);
  deepEqual((await new Mailbox(store).pending("bob")).map((m) => [m.id, m.text]), [
    [id, "before the crash"],
  ]);
});

Deno.test("mailbox: the longest mail, escaped to ASCII JSON, fits a registry frame", async () => {
  equal(REGISTRY_MAX_FRAME_BYTES, 4096);
  using store = SqlitePeopleStore.open(":memory:");
  const mailbox = new Mailbox(store);
  // The worst cases per UTF-8 byte: 2-, 3- and 4-byte characters, escaped as \uXXXX.
  for (const char of ["é", "€", "😀"]) {
    const text = char.repeat(MAIL_MAX_TEXT_BYTES / new TextEncoder().encode(char).length);
    equal((await mailbox.deposit({ to: "bob", from: "alice", text }, 0)).ok, true);
    await mailbox.ack("bob", (await mailbox.pending("bob")).map((m) => m.id));
    const json = JSON.stringify({ op: "mail", ref: "4294967295", to: "x".repeat(32), text })
      .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    const frame = `X:${json.length}:${json}::\r\n`;
    ok(frame.length <= REGISTRY_MAX_FRAME_BYTES, `${char}: ${frame.length} bytes`);
  }
  const tooLong = "x".repeat(MAIL_MAX_TEXT_BYTES + 1);
  equal((await mailbox.deposit({ to: "bob", from: "alice", text: tooLong }, 0)).ok, false);
});
