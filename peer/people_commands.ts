/**
 * The people commands (issue 12) as typed and as JSON, and how they run on a
 * peer. `peer/commands.ts` hands the words and JSON commands it does not know
 * to {@linkcode parsePeopleCommand} and {@linkcode parsePeopleJson}.
 *
 * Text: `/register NAME`, `/login NAME` (the password is the next line, not
 * echoed on a terminal), `/online`, `/search NAME`, `/msg NAME TEXT`,
 * `/accept NAME [ROOM]`, `/reject NAME [ROOM]` (a request to talk, or with
 * ROOM, or when only an invitation from NAME waits, an invitation),
 * `/block NAME`, `/unblock NAME`, `/broadcast TEXT`, `/invite NAME [ROOM]`,
 * `/away [off]`.
 *
 * JSON (the contract): `register` and `login` (`name`, `password`),
 * `online`, `search` (`name`), `dm` (`to`, `text`), `dm-answer` (`to`,
 * `accept`), `block` / `unblock` (`name`), `broadcast` (`text`), `invite`
 * (`to`, `room`), `invite-answer` (`to`, `room`, `accept`), `away` (`on`).
 *
 * @module
 */

import { PeerError } from "./errors.ts";
import type { PeerHandle } from "./peer_handle.ts";

/** A people command. */
export type PeopleCommand =
  /** Register an account; without `password`, the UI asks for it. */
  | { type: "register"; name: string; password?: string }
  /** Log in; without `password`, the UI asks for it. */
  | { type: "login"; name: string; password?: string }
  | { type: "online" }
  | { type: "search"; name: string }
  | { type: "dm"; to: string; text: string }
  | { type: "dm-answer"; to: string; accept: boolean }
  /** `/accept`, `/reject`: a request to talk or an invitation, whichever waits. */
  | { type: "answer"; name: string; accept: boolean; room?: string }
  | { type: "block"; name: string }
  | { type: "unblock"; name: string }
  | { type: "broadcast"; text: string }
  | { type: "invite"; to: string; room?: string }
  | { type: "invite-answer"; to: string; room: string; accept: boolean }
  | { type: "away"; on: boolean };

/** The people command types of the JSON contract. */
export const PEOPLE_COMMAND_TYPES = [
  "register",
  "login",
  "online",
  "search",
  "dm",
  "dm-answer",
  "block",
  "unblock",
  "broadcast",
  "invite",
  "invite-answer",
  "away",
] as const;

/** `/help` lines of the people commands. */
export const PEOPLE_HELP: readonly { usage: string; description: string }[] = [
  { usage: "/register NAME", description: "register an account (the password is asked next)" },
  { usage: "/login NAME", description: "log in (the password is asked next, not shown)" },
  { usage: "/online", description: "who is online, away and offline" },
  { usage: "/search NAME", description: "find a user: online or not, and in which room" },
  { usage: "/msg NAME TEXT", description: "direct message (the first asks NAME's consent)" },
  { usage: "/accept NAME [ROOM]", description: "accept NAME's request to talk, or invitation" },
  { usage: "/reject NAME [ROOM]", description: "decline NAME's request to talk, or invitation" },
  { usage: "/block NAME", description: "block NAME: no DMs, invitations; their messages hidden" },
  { usage: "/unblock NAME", description: "unblock NAME" },
  { usage: "/broadcast TEXT", description: "send TEXT to every online user" },
  { usage: "/invite NAME [ROOM]", description: "invite NAME into ROOM (default: yours)" },
  { usage: "/away [off]", description: "say you are away (off: back)" },
];

type Invalid = { type: "invalid"; message: string };

/** A typed people command from its word and argument; undefined when the word is not one. */
export function parsePeopleCommand(
  word: string,
  argument: string | undefined,
): PeopleCommand | Invalid | undefined {
  const arg = argument ?? "";
  const [first, ...rest] = arg.trim().split(/\s+/);
  const name = first ?? "";
  switch (word) {
    case "register":
    case "login":
      // The password is never typed on this line: it would stay on the screen.
      if (name === "" || rest.length > 0) {
        return { type: "invalid", message: `Usage: /${word} NAME` };
      }
      return { type: word, name };
    case "online":
      if (arg.trim() !== "") return { type: "invalid", message: "/online takes no argument" };
      return { type: "online" };
    case "search":
    case "block":
    case "unblock":
      return { type: word, name: arg.trim() };
    case "msg": {
      const space = arg.indexOf(" ");
      if (space <= 0) return { type: "invalid", message: "Usage: /msg NAME TEXT" };
      return { type: "dm", to: arg.slice(0, space), text: arg.slice(space + 1) };
    }
    case "accept":
    case "reject":
      if (name === "") return { type: "invalid", message: `Usage: /${word} NAME [ROOM]` };
      return {
        type: "answer",
        name,
        accept: word === "accept",
        ...(rest.length > 0 ? { room: rest.join(" ") } : {}),
      };
    case "broadcast":
      return { type: "broadcast", text: arg };
    case "invite":
      if (name === "") return { type: "invalid", message: "Usage: /invite NAME [ROOM]" };
      return { type: "invite", to: name, ...(rest.length > 0 ? { room: rest.join(" ") } : {}) };
    case "away": {
      const on = arg.trim().toLowerCase();
      if (on !== "" && on !== "on" && on !== "off") {
        return { type: "invalid", message: "Usage: /away [on|off]" };
      }
      return { type: "away", on: on !== "off" };
    }
    default:
      return undefined;
  }
}

/** A JSON people command; undefined when `type` is not one. */
export function parsePeopleJson(
  type: unknown,
  o: Record<string, unknown>,
): PeopleCommand | Invalid | undefined {
  const bad = (what: string): Invalid => ({
    type: "invalid",
    message: `Invalid JSON command: ${String(type)} needs ${what}`,
  });
  const str = (field: string) => typeof o[field] === "string" ? o[field] as string : undefined;
  switch (type) {
    case "register":
    case "login": {
      const name = str("name");
      const password = str("password");
      if (name === undefined || password === undefined) {
        return bad('a string "name" and a string "password"');
      }
      return { type, name, password };
    }
    case "online":
      return { type };
    case "search":
    case "block":
    case "unblock": {
      const name = str("name");
      return name === undefined ? bad('a string "name"') : { type, name };
    }
    case "dm": {
      const to = str("to");
      const text = str("text");
      return to === undefined || text === undefined
        ? bad('a string "to" and a string "text"')
        : { type, to, text };
    }
    case "dm-answer": {
      const to = str("to");
      return to === undefined || typeof o.accept !== "boolean"
        ? bad('a string "to" and a boolean "accept"')
        : { type, to, accept: o.accept };
    }
    case "broadcast": {
      const text = str("text");
      return text === undefined ? bad('a string "text"') : { type, text };
    }
    case "invite": {
      const to = str("to");
      const room = str("room");
      if (to === undefined || (o.room !== undefined && o.room !== null && room === undefined)) {
        return bad('a string "to" (and a string "room")');
      }
      return { type, to, ...(room === undefined ? {} : { room }) };
    }
    case "invite-answer": {
      const to = str("to");
      const room = str("room");
      return to === undefined || room === undefined || typeof o.accept !== "boolean"
        ? bad('a string "to", a string "room" and a boolean "accept"')
        : { type, to, room, accept: o.accept };
    }
    case "away":
      return typeof o.on !== "boolean" ? bad('a boolean "on"') : { type, on: o.on };
    default:
      return undefined;
  }
}

/** The people methods of a peer handle. */
export type PeopleTarget = Pick<
  PeerHandle,
  | "register"
  | "login"
  | "online"
  | "search"
  | "dm"
  | "dmAnswer"
  | "answer"
  | "block"
  | "unblock"
  | "broadcast"
  | "invite"
  | "inviteAnswer"
  | "away"
>;

/**
 * Runs a people command (a missing password is the UI's to ask before) on
 * `target`; one without the people methods answers `not-supported`.
 */
export async function runPeopleCommand(
  partial: Partial<PeopleTarget>,
  c: PeopleCommand,
): Promise<void> {
  if (partial.register === undefined) {
    throw new PeerError("not-supported", `This peer has no ${c.type} command`);
  }
  const target = partial as PeopleTarget;
  switch (c.type) {
    case "register":
      return await target.register(c.name, c.password ?? "");
    case "login":
      return await target.login(c.name, c.password ?? "");
    case "online":
      return await target.online();
    case "search":
      return await target.search(c.name);
    case "dm":
      await target.dm(c.to, c.text);
      return;
    case "dm-answer":
      return await target.dmAnswer(c.to, c.accept);
    case "answer":
      return await target.answer(c.name, c.accept, c.room);
    case "block":
      return await target.block(c.name);
    case "unblock":
      return await target.unblock(c.name);
    case "broadcast":
      return await target.broadcast(c.text);
    case "invite":
      return await target.invite(c.to, c.room);
    case "invite-answer":
      return await target.inviteAnswer(c.to, c.room, c.accept);
    case "away":
      return await target.away(c.on);
  }
}

/** True for a `register` or `login` typed without its password: the UI asks for it next. */
export function needsPassword(
  command: { type: string },
): command is Extract<PeopleCommand, { type: "register" | "login" }> {
  return (command.type === "register" || command.type === "login") &&
    (command as { password?: string }).password === undefined;
}
