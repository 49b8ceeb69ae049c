// The peer's page. It speaks the --json contract over one WebSocket: every
// message it sends is one command line as `peer --json` reads it on stdin,
// every message it receives is one event as `peer --json` prints it.

import { appendLine, commandLine, eventTime, isChat } from "./lines.js";
import { drawRing, hashOrder } from "./ring.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const messages = $("messages"), commands = $("commands"), members = $("members");
const input = /** @type {HTMLInputElement} */ ($("input"));
const ring = /** @type {SVGSVGElement} */ (/** @type {unknown} */ ($("ring")));
const status = $("status");

/** What the events have told so far. */
const state = {
  /** @type {string | null} */ name: null,
  /** @type {number | null} */ port: null,
  /** @type {string | null} */ room: null,
  /** @type {{ name: string, ip: string, port: number, hashId: string }[]} */ members: [],
  /** @type {string | null} */ forward: null,
  /** @type {Set<string>} */ backward: new Set(),
  quit: false,
};

const token = new URLSearchParams(location.search).get("token") ?? "";
const socket = new WebSocket(`ws://${location.host}/socket?token=${encodeURIComponent(token)}`);
socket.addEventListener("open", () => showStatus());
socket.addEventListener("close", () => {
  status.textContent = state.quit ? "the peer has quit" : "disconnected from the peer";
  status.className = "down";
});
socket.addEventListener("message", (message) => {
  /** @type {any} */
  let event;
  try {
    event = JSON.parse(String(message.data));
  } catch {
    return;
  }
  if (typeof event !== "object" || event === null || typeof event.type !== "string") return;
  handle(event);
});

/** @param {any} event */
function handle(event) {
  switch (event.type) {
    case "ready":
      state.port = event.port;
      break;
    case "named":
      state.name = event.name;
      break;
    case "joined":
      state.room = event.room;
      state.members = event.members;
      state.forward = null;
      state.backward.clear();
      break;
    case "left":
      state.room = null;
      state.members = [];
      state.forward = null;
      state.backward.clear();
      break;
    case "nick":
      if (event.self === true) state.name = event.to;
      break;
    case "members":
      state.members = event.members;
      if (event.forward !== undefined) state.forward = event.forward;
      if (event.backward !== undefined) state.backward = new Set(event.backward);
      break;
    case "link":
      if (event.direction === "forward") {
        if (event.state === "up") state.forward = event.peer.name;
        else if (state.forward === event.peer.name) state.forward = null;
      } else if (event.state === "up") state.backward.add(event.peer.name);
      else state.backward.delete(event.peer.name);
      break;
    case "links":
      state.forward = event.forward?.name ?? null;
      state.backward = new Set(event.backward.map((/** @type {any} */ p) => p.name));
      break;
    case "quit":
      state.quit = true;
      break;
  }
  if (isChat(event)) {
    const from = event.self ? "me" : "from";
    appendLine(messages, eventTime(event), event.self ? "chat self" : "chat", [
      [from, String(event.from)],
      ["text", String(event.text)],
    ]);
  } else {
    const line = commandLine(event);
    appendLine(commands, eventTime(event), line.kind, [line.text]);
  }
  if (
    ["ready", "named", "joined", "left", "nick", "members", "link", "links", "quit"].includes(
      event.type,
    )
  ) {
    redraw();
  }
}

function isMe(/** @type {{ name: string, port: number }} */ member) {
  return member.name === state.name && member.port === state.port;
}

function redraw() {
  showStatus();
  const sorted = hashOrder(state.members);
  members.replaceChildren(...sorted.map((member) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = member.name;
    const address = document.createElement("span");
    address.className = "address";
    address.textContent = `${member.ip}:${member.port}`;
    item.append(name, address);
    /** @type {string[]} */
    const marks = [];
    if (isMe(member)) marks.push("me");
    if (state.forward === member.name) marks.push("forward link");
    if (state.backward.has(member.name)) marks.push("backward link");
    for (const mark of marks) {
      const badge = document.createElement("span");
      badge.className = `mark ${mark.split(" ")[0]}`;
      badge.textContent = mark;
      item.append(badge);
    }
    if (isMe(member)) item.className = "me";
    return item;
  }));
  const me = state.name ?? "";
  const links = [
    ...(state.forward === null ? [] : [{ from: me, to: state.forward, mine: true }]),
    ...[...state.backward].map((name) => ({ from: name, to: me, mine: true })),
  ];
  drawRing(
    ring,
    state.quit ? [] : state.members.map((m) => ({ name: m.name, hashId: m.hashId, me: isMe(m) })),
    links,
  );
}

function showStatus() {
  if (state.quit) return;
  const parts = [
    state.name ?? "no name yet",
    state.room === null ? "in no room" : `in ${state.room}`,
  ];
  if (state.room !== null) {
    parts.push(state.forward === null ? "no forward link" : `forward link to ${state.forward}`);
  }
  status.textContent = parts.join(" · ");
  status.className = state.room !== null && state.forward === null && state.members.length > 1
    ? "warn"
    : "up";
}

/** @param {Record<string, unknown>} command */
function send(command) {
  if (socket.readyState !== WebSocket.OPEN) {
    appendLine(commands, new Date(), "error", ["Not connected to the peer"]);
    return;
  }
  socket.send(JSON.stringify(command));
}

/**
 * The command waiting for its password, asked in the Input field turned into
 * a password field: `/login NAME`, `/register NAME` and `/join ROOM
 * --password` as the terminal asks for them. The password goes out in the
 * command's JSON and nowhere else: never shown, never a line, never kept.
 * @type {{ command: string, name?: string, room?: string } | null}
 */
let asking = null;
const PLACEHOLDER = input.placeholder;

/** The command a typed line asks a password for, or null. */
function needsPassword(/** @type {string} */ line) {
  const account = /^\/(login|register)\s+(\S+)\s*$/.exec(line);
  if (account !== null) return { command: account[1] ?? "", name: account[2] ?? "" };
  const room = /^\/join\s+(\S+)\s+--password\s*$/.exec(line);
  return room === null ? null : { command: "join", room: room[1] ?? "" };
}

/** Turns Input into a password field for `command`, or back (null). */
function askPassword(/** @type {typeof asking} */ command) {
  asking = command;
  input.value = "";
  input.type = command === null ? "text" : "password";
  input.autocomplete = command === null ? "off" : "new-password";
  input.placeholder = command === null
    ? PLACEHOLDER
    : `password for ${
      command.name ?? `room ${command.room}`
    } (not shown); Enter sends, Escape cancels`;
  input.setAttribute("aria-label", command === null ? "Input" : "Password");
  if (command !== null) {
    const whose = command.name ?? `room ${command.room}`;
    appendLine(commands, new Date(), "system", [`Password for ${whose}: type it in Password`]);
  }
}

/** The six buttons, as the seed's window has them. */
function run(/** @type {string} */ command) {
  const value = input.value;
  if (asking !== null) {
    // Whatever was clicked, the field holds a password: it goes with its command only.
    if (command === "send") send({ ...asking, password: value });
    askPassword(null);
    input.focus();
    return;
  }
  const secret = command === "send" ? needsPassword(value) : null;
  if (secret !== null) {
    askPassword(secret);
    input.focus();
    return;
  }
  switch (command) {
    case "user":
      send({ command, name: value });
      break;
    case "join":
      send({ command, room: value });
      break;
    case "send":
      // A typed /command is a command line, as on the terminal.
      if (value.startsWith("/")) socket.send(value);
      else send({ command, text: value });
      break;
    case "poke":
      send(value === "" ? { command } : { command, name: value });
      break;
    default:
      send({ command });
  }
  if (command !== "list" && command !== "quit") input.value = "";
  input.focus();
}

for (const button of document.querySelectorAll("button[data-command]")) {
  button.addEventListener("click", (click) => {
    click.preventDefault();
    run(/** @type {HTMLElement} */ (button).dataset.command ?? "");
  });
}
$("controls").addEventListener("submit", (submit) => {
  submit.preventDefault();
  run("send");
});
input.addEventListener("keydown", (key) => {
  if (key.key === "Escape" && asking !== null) askPassword(null);
});
input.focus();
redraw();
