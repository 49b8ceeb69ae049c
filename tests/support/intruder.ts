/**
 * An intruder for abuse tests: a listed member of `room1` whose advertised
 * port has no listener (so the well-behaved peers never route through it),
 * that dials peers and writes raw frames, as an attacker with one
 * registration and a few TCP links would.
 *
 * @module
 */

import { match } from "node:assert/strict";
import { RawClient } from "./raw_client.ts";
import { RawLink } from "./raw_peer.ts";

const encoder = new TextEncoder();

/** A `T` frame as a seed-style client writes it (msgLength in bytes). */
export function text(
  room: string,
  hid: string,
  name: string,
  id: number | bigint,
  content: string,
): string {
  return `T:${room}:${hid}:${name}:${id}:${encoder.encode(content).length}:${content}::\r\n`;
}

/** A port nobody listens on (bound, then released). */
export function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** A listed member of the room that accepts no links and dials with raw bytes. */
export class Intruder implements AsyncDisposable {
  readonly name: string;
  readonly port = deadPort();
  readonly links: RawLink[] = [];
  #registry: RawClient | null = null;

  constructor(name = "mallory") {
    this.name = name;
  }

  /** Joins `room1` through its own registry connection. */
  async join(registryPort: number): Promise<void> {
    this.#registry = await RawClient.connect(registryPort);
    await this.#registry.write(`J:room1:${this.name}:127.0.0.1:${this.port}::\r\n`);
    match(await this.#registry.frame(), /^M:/);
  }

  /** Links to a peer: `P`, then waits for `S`. */
  async dial(port: number): Promise<RawLink> {
    const link = await RawLink.connect(port);
    this.links.push(link);
    await link.write(`P:room1:${this.name}:127.0.0.1:${this.port}:0::\r\n`);
    await link.until(() => link.frames.length > 0, "the S reply");
    match(link.frames.shift()!, /^S:\d+::\r\n$/);
    return link;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.links.map((link) => link.close()));
    await this.#registry?.[Symbol.asyncDispose]();
  }
}
