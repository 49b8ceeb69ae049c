// The cluster's overlay page (`deno task cluster --web`): every peer's links,
// redrawn live. Each message is `{ type: "overlay", peers: [...] }` with every
// peer's name, HashID, whether it runs, and its forward and backward links, or
// `{ type: "line", text }` for the cluster's own log lines.

import { appendLine } from "./lines.js";
import { drawRing } from "./ring.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ring = /** @type {SVGSVGElement} */ (/** @type {unknown} */ ($("ring")));
const members = $("members"), commands = $("commands"), status = $("status");

const token = new URLSearchParams(location.search).get("token") ?? "";
const socket = new WebSocket(`ws://${location.host}/socket?token=${encodeURIComponent(token)}`);
socket.addEventListener("open", () => status.textContent = "watching the cluster");
socket.addEventListener("close", () => {
  status.textContent = "the cluster has stopped";
  status.className = "down";
});
socket.addEventListener("message", (message) => {
  const event = JSON.parse(String(message.data));
  if (event.type === "line") appendLine(commands, new Date(), "system", [String(event.text)]);
  if (event.type === "overlay") draw(event.peers);
});

/** @param {{ name: string, hashId: string, alive: boolean, forward: string | null, backward: string[] }[]} peers */
function draw(peers) {
  const alive = peers.filter((p) => p.alive).length;
  status.textContent = `${alive} of ${peers.length} peers running`;
  status.className = "up";
  drawRing(
    ring,
    peers.map((p) => ({ name: p.name, hashId: p.hashId, dead: !p.alive })),
    peers.flatMap((p) => p.forward === null || !p.alive ? [] : [{ from: p.name, to: p.forward }]),
  );
  members.replaceChildren(...peers.map((p) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name;
    const links = document.createElement("span");
    links.className = "address";
    links.textContent = p.alive
      ? `→ ${p.forward ?? "none"}  ← ${p.backward.join(", ") || "none"}`
      : "killed";
    item.append(name, links);
    if (!p.alive) item.className = "dead";
    return item;
  }));
}
