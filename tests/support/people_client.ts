/**
 * A hello'd raw registry connection that speaks the people ops
 * (`registry/people_ops.ts`): `request` sends an op with a fresh `ref` and
 * returns the answer with that `ref`; every other `X` frame read meanwhile
 * (pushes) is kept for `push`, in order.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { decodeFrame, type ExtensionFrame } from "../../lib/frames.ts";
import { extension, type HelloClient, helloClient } from "./hello_client.ts";
import type { RawClient } from "./raw_client.ts";

const encoder = new TextEncoder();

/** An op as the test reads it: `op` and the body's fields together. */
export type Op = Record<string, unknown> & { op: string };

/** The `X` frame of `op` with `body`, its JSON ASCII as PROTOCOL.md §9 asks (`\uXXXX`). */
export function asciiXFrame(op: string, body: Record<string, unknown>): string {
  const json = JSON.stringify({ op, ...body }).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `X:${json.length}:${json}::\r\n`;
}

function asOp(frame: ExtensionFrame): Op {
  return { op: frame.op, ...frame.body };
}

/** A people-speaking test connection; see the module doc. */
export class PeopleClient implements AsyncDisposable {
  readonly hello: HelloClient;
  /** Non-`X` frames read while waiting (an `M` after a JOIN), as text. */
  readonly others: string[] = [];
  readonly #pushes: Op[] = [];
  #next = 0;

  private constructor(hello: HelloClient) {
    this.hello = hello;
  }

  /** Connects to the registry at `port` and says hello. */
  static async connect(port: number): Promise<PeopleClient> {
    return new PeopleClient(await helloClient(port));
  }

  /** The raw connection. */
  get client(): RawClient {
    return this.hello.client;
  }

  /** Sends `op` with `body` and a fresh ref; returns the answer that carries it. */
  async request(op: string, body: Record<string, unknown> = {}): Promise<Op> {
    const ref = String(++this.#next);
    await this.client.write(asciiXFrame(op, { ref, ...body }));
    return await this.answer(ref);
  }

  /** Reads until the answer with `ref` comes, keeping pushes. */
  async answer(ref: string): Promise<Op> {
    for (;;) {
      const op = await this.#read();
      if (op === null) continue;
      if (op.ref === ref) return op;
      this.#pushes.push(op);
    }
  }

  /** The next push (an `X` without this client's pending ref), waiting for it if needed. */
  async push(timeoutMs?: number): Promise<Op> {
    const kept = this.#pushes.shift();
    if (kept !== undefined) return kept;
    for (;;) {
      const op = await this.#read(timeoutMs);
      if (op !== null) return op;
    }
  }

  /** The next push of kind `op`, skipping (and dropping) pushes of other kinds. */
  async pushOf(op: string, timeoutMs?: number): Promise<Op> {
    for (;;) {
      const push = await this.push(timeoutMs);
      if (push.op === op) return push;
    }
  }

  /** Pushes read and not yet taken. */
  get keptPushes(): readonly Op[] {
    return this.#pushes;
  }

  /** Sends a JOIN of `name` into `room` at 127.0.0.1:`port` and returns the `M` reply. */
  async join(room: string, name: string, port: number): Promise<string> {
    await this.client.write(`J:${room}:${name}:127.0.0.1:${port}::\r\n`);
    for (;;) {
      const text = await this.client.frame();
      if (text.startsWith("X:")) {
        this.#pushes.push(asOp(extension(text)));
        continue;
      }
      return text;
    }
  }

  /** Registers each of `names` (without logging in); asserts each succeeds. */
  async register(...names: string[]): Promise<void> {
    for (const name of names) {
      const registered = await this.request("register", { name, password: "correct horse" });
      equal(registered.op, "registered", JSON.stringify(registered));
    }
  }

  /** Logs in as `name`; asserts it succeeds and returns the `logged-in` answer. */
  async login(name: string, password = "correct horse"): Promise<Op> {
    const loggedIn = await this.request("login", { name, password });
    equal(loggedIn.op, "logged-in", JSON.stringify(loggedIn));
    return loggedIn;
  }

  /** Registers `name` and logs in as it; asserts both succeed. */
  async account(name: string, password = "correct horse"): Promise<Op> {
    const registered = await this.request("register", { name, password });
    equal(registered.op, "registered", JSON.stringify(registered));
    return await this.login(name, password);
  }

  async #read(timeoutMs?: number): Promise<Op | null> {
    const text = await this.client.frame(timeoutMs);
    const frame = decodeFrame(encoder.encode(text));
    if (frame.type !== "X") {
      this.others.push(text);
      return null;
    }
    return asOp(frame);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.hello[Symbol.asyncDispose]();
  }
}

/**
 * An invitation declined, then answered again (issue 12): `inviter` invites
 * `invitee` into room8, the invitee declines, the inviter hears it, and a
 * late accept finds no request.
 */
export async function declineInvitation(
  inviter: PeopleClient,
  inviterName: string,
  invitee: PeopleClient,
  inviteeName: string,
): Promise<void> {
  equal((await inviter.request("invite", { to: inviteeName, room: "room8" })).op, "invite-sent");
  await invitee.pushOf("invite");
  equal(
    (await invitee.request("invite-answer", { to: inviterName, room: "room8", accept: false }))
      .accept,
    false,
  );
  deepEqual(await inviter.pushOf("invite-declined"), {
    op: "invite-declined",
    by: inviteeName,
    room: "room8",
  });
  equal(
    (await invitee.request("invite-answer", { to: inviterName, room: "room8", accept: true }))
      .code,
    "no-request",
  );
}
