/**
 * Test helpers for the ringchat/2 registry hello: a {@linkcode RawClient}
 * that says hello (with a key, proved or not), and readers of the `X` and
 * `M` frames it gets.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { decodeFrame, type ExtensionFrame, type MembersFrame } from "../../lib/frames.ts";
import {
  decodeBase64Url,
  encodeBase64Url,
  registrySigningInput,
} from "../../lib/registry_proof.ts";
import { type Identity, loadIdentity } from "../../peer/identity.ts";
import { RawClient } from "./raw_client.ts";

const encoder = new TextEncoder();

/** The reference's answer to an unknown request. */
export const UNKNOWN_REQUEST = "F:Unknown message - Unknown request!!::\r\n";

/** `text` (one whole frame) decoded. */
export function decoded(text: string): ReturnType<typeof decodeFrame> {
  return decodeFrame(encoder.encode(text));
}

/** `text` decoded as an `X` frame (asserting it is one). */
export function extension(text: string): ExtensionFrame {
  const frame = decoded(text);
  equal(frame.type, "X", `expected X, got ${text.slice(0, 80)}`);
  return frame as ExtensionFrame;
}

/** `text` decoded as an `M` frame's members as `name:ip:port` (asserting it is one). */
export function memberList(text: string): string[] {
  const frame = decoded(text);
  equal(frame.type, "M", `expected M, got ${text.slice(0, 80)}`);
  return (frame as MembersFrame).members.map((m) => `${m.name}:${m.ip}:${m.port}`);
}

/** The `X` frame of `op` with `body`, encoded as text. */
export function xFrame(op: string, body: Record<string, unknown>): string {
  const json = JSON.stringify({ op, ...body });
  return `X:${json.length}:${json}::\r\n`;
}

/** A hello'd test connection: its raw client, its identity and the registry's challenge. */
export interface HelloClient extends AsyncDisposable {
  client: RawClient;
  identity: Identity;
  challenge: Uint8Array;
  /** Sends a valid `prove` and returns the registry's answer. */
  prove(): Promise<string>;
}

/** Connects to the registry at `port` and says hello with a fresh key (or `identity`'s). */
export async function helloClient(port: number, identity?: Identity): Promise<HelloClient> {
  const me = identity ?? await loadIdentity(null);
  const client = await RawClient.connect(port);
  const reply = extension(
    await client.request(xFrame("hello", { version: "ringchat/2", key: me.publicKey })),
  );
  equal(reply.op, "hello");
  const challenge = decodeBase64Url(reply.body.challenge as string)!;
  return {
    client,
    identity: me,
    challenge,
    async prove() {
      const sig = await me.sign(registrySigningInput(challenge, me.publicKey));
      return await client.request(xFrame("prove", { sig: encodeBase64Url(sig) }));
    },
    [Symbol.asyncDispose]() {
      client.close();
      return Promise.resolve();
    },
  };
}
