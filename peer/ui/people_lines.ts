/**
 * The people events (issue 12) as lines for the terminal and pipe UIs: who
 * is online, search results, direct messages and their receipts, requests
 * to talk, broadcasts, invitations, presence. Names and texts from the
 * network are escaped ({@linkcode printable}).
 *
 * @module
 */

import type { OnlineUser, PeopleEvent } from "../events.ts";
import { type EventLine, printable, SYSTEM_PREFIX } from "./plain.ts";

/** One people event as one line. */
export function describePeopleEvent(event: PeopleEvent): EventLine {
  switch (event.type) {
    case "registered":
      return system(
        `Registered ${printable(event.name)}; /login ${printable(event.name)} to use it`,
      );
    case "logged-in":
      return system(
        `Logged in as ${printable(event.name)}` +
          (event.mail ? `; ${event.mail} message(s) waited for you` : ""),
      );
    case "kicked":
      return alert(`Your session ended: ${printable(event.reason)}`);
    case "online":
      return system(
        event.users.length === 0
          ? "Nobody else is online"
          : `Users (${event.users.length}${event.truncated ? "+" : ""}): ${
            event.users.map(user).join(", ")
          }`,
      );
    case "search":
      return system(
        event.result === "self"
          ? `${printable(event.name)} is you`
          : event.result === "not-found"
          ? `${printable(event.name)} was not found`
          : `Found ${user({ name: event.name, state: event.state ?? "online", room: event.room })}`,
      );
    case "dm-request":
      return alert(
        `${printable(event.from)} asks to talk with you: /accept ${printable(event.from)} or ` +
          `/reject ${printable(event.from)}`,
      );
    case "dm-accepted":
      return system(`${printable(event.by)} accepted to talk with you`);
    case "dm-rejected":
      return system(`${printable(event.by)} declined to talk with you`);
    case "dm": {
      const from = `${printable(event.from)} → you${event.offline ? ", while you were away" : ""}`;
      const body = printable(event.text);
      return { kind: "chat", text: `[${from}] ${body}`, from: `[${from}]`, body, self: false };
    }
    case "dm-receipt":
      return system(`Message ${printable(event.id)} to ${printable(event.to)}: ${event.state}`);
    case "blocked":
      return system(`You block ${printable(event.name)}: you will not see their messages`);
    case "unblocked":
      return system(`You no longer block ${printable(event.name)}`);
    case "broadcast":
      return event.self
        ? system(`Broadcast to ${event.count ?? 0} user(s): ${printable(event.text)}`)
        : alert(`Broadcast from ${printable(event.from)}: ${printable(event.text)}`);
    case "invite":
      return alert(
        `${printable(event.from)} invites you to ${printable(event.room)}: /accept ` +
          `${printable(event.from)} ${printable(event.room)} or /reject ${printable(event.from)} ` +
          printable(event.room),
      );
    case "invite-accepted":
      return system(`${printable(event.by)} accepted your invitation to ${printable(event.room)}`);
    case "invite-declined":
      return system(`${printable(event.by)} declined your invitation to ${printable(event.room)}`);
    case "presence":
      return system(
        `${user({ name: event.name, state: event.state, room: event.room })}`,
      );
  }
}

function user(u: OnlineUser): string {
  return `${printable(u.name)} (${u.state}${
    u.room === undefined ? "" : ` in ${printable(u.room)}`
  })`;
}

function system(text: string): EventLine {
  return { kind: "system", text: SYSTEM_PREFIX + text };
}

function alert(text: string): EventLine {
  return { kind: "alert", text: SYSTEM_PREFIX + text };
}
