// How events become lines on a page. Any event with a string `from` and a
// string `text` is a chat line (messages, and direct messages when they come);
// every other event is one line in Commands: the known ones in words, the
// unknown ones as their type and fields. Text is only ever set with
// textContent, never parsed as HTML.

/** @typedef {{ [key: string]: unknown, type: string }} PeerEvent */

/**
 * The time of an event: its own `time` or `at` when it has one (ms since the
 * epoch, or an ISO string), else now.
 * @param {PeerEvent} event
 * @returns {Date}
 */
export function eventTime(event) {
  const given = event.time ?? event.at ?? event.timestamp;
  const date = typeof given === "number" || typeof given === "string" ? new Date(given) : null;
  return date !== null && !Number.isNaN(date.getTime()) ? date : new Date();
}

/** @param {Date} date */
export function clock(date) {
  return date.toTimeString().slice(0, 8);
}

/** @param {unknown} peer */
function peerName(peer) {
  if (typeof peer !== "object" || peer === null) return String(peer);
  const { name, ip, port } = /** @type {{ name?: string, ip?: string, port?: number }} */ (peer);
  return `${name} (${ip}:${port})`;
}

/**
 * Whether `event` is a chat line.
 * @param {PeerEvent} event
 */
export function isChat(event) {
  return typeof event.from === "string" && typeof event.text === "string";
}

/**
 * One Commands line for `event`: its text and how it looks.
 * @param {PeerEvent} event
 * @returns {{ text: string, kind: "system" | "alert" | "error" }}
 */
export function commandLine(event) {
  const e = /** @type {any} */ (event);
  switch (event.type) {
    case "ready":
      return system(`Listening on port ${e.port} (TCP and UDP)`);
    case "named":
      return system(`You are ${e.name}`);
    case "rooms":
      return system(e.rooms.length === 0 ? "No rooms yet" : `Rooms: ${e.rooms.join(", ")}`);
    case "joined":
      return system(`Joined ${e.room}; ${e.members.length} member(s)`);
    case "members":
      return system(
        `${e.members.length} member(s): ${
          e.members.map((/** @type {any} */ m) => m.name).join(", ")
        }`,
      );
    case "member-joined":
      return system(`${e.name} joined`);
    case "member-left":
      return system(`${e.name} left (${e.reason})`);
    case "nick":
      return system(e.self === true ? `You are now ${e.to}` : `${e.from} is now ${e.to}`);
    case "left":
      return system(`Left ${e.room}`);
    case "link":
      return system(
        e.direction === "forward"
          ? `Forward link to ${peerName(e.peer)} ${e.state}`
          : `Backward link from ${peerName(e.peer)} ${e.state}`,
      );
    case "links":
      return system(
        `Links: forward ${e.forward === null ? "none" : peerName(e.forward)}; backward ${
          e.backward.length === 0 ? "none" : e.backward.map(peerName).join(", ")
        }`,
      );
    case "poke":
      return { kind: "alert", text: `${e.from} poked you` };
    case "poke-ack":
      return system(`${e.to} got your poke`);
    case "poke-timeout":
      return { kind: "error", text: `${e.to} did not answer your poke in time` };
    case "info":
      return system(String(e.message));
    case "error":
      return { kind: "error", text: String(e.message) };
    case "history":
      return system(
        [
          `History of ${e.room}: ${e.messages.length} messages`,
          ...e.messages.map((/** @type {any} */ m) =>
            `${clock(new Date(m.at))} <${m.from}> ${m.text}`
          ),
        ].join(" · "),
      );
    case "web":
      return system(`web on ${e.url}`);
    case "quit":
      return system("Quit: every link and socket closed");
    default: {
      const { type, ...fields } = e;
      const parts = Object.entries(fields).map(([key, value]) =>
        `${key} ${typeof value === "string" ? value : JSON.stringify(value)}`
      );
      return system([type, ...parts].join(", "));
    }
  }
}

/** @param {string} text */
function system(text) {
  return { kind: /** @type {const} */ ("system"), text };
}

/**
 * Appends one line to a list and keeps the newest in view.
 * @param {HTMLElement} list
 * @param {Date} time
 * @param {string} kind
 * @param {(string | [string, string])[]} parts text, or [class, text]
 */
export function appendLine(list, time, kind, parts) {
  const item = document.createElement("li");
  item.className = kind;
  const stamp = document.createElement("time");
  stamp.dateTime = time.toISOString();
  stamp.textContent = clock(time);
  item.append(stamp);
  for (const part of parts) {
    const span = document.createElement("span");
    if (Array.isArray(part)) {
      span.className = part[0];
      span.textContent = part[1];
    } else {
      span.textContent = part;
    }
    item.append(span);
  }
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(item);
  while (list.children.length > 2000) list.firstElementChild?.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}
