/** The peer's hello over its registry connections (`peer/registry_hello.ts`: HelloSession). */
import { deepEqual, equal } from "node:assert/strict";
import type { Frame } from "../lib/frames.ts";
import {
  encodeBase64Url,
  REGISTRY_CHALLENGE_BYTES,
  registrySigningInput,
} from "../lib/registry_proof.ts";
import { type Identity, loadIdentity } from "../peer/identity.ts";
import {
  HELLO_VERSION,
  HelloSession,
  PLAIN_REGISTRY_NOTICE,
  type RegistryMemberInfo,
} from "../peer/registry_hello.ts";

const challenge = new Uint8Array(REGISTRY_CHALLENGE_BYTES).fill(7);
const helloReply: Frame = {
  type: "X",
  op: "hello",
  body: { version: HELLO_VERSION, features: ["push"], challenge: encodeBase64Url(challenge) },
};

function session(identity: Identity | null) {
  const said: string[] = [];
  const infos: RegistryMemberInfo[] = [];
  const hello = new HelloSession({
    identity,
    onMemberInfo: (info) => infos.push(info),
    onUnavailable: (message) => said.push(message),
  });
  return { hello, said, infos };
}

Deno.test("hello session: an F or a frame that is not a hello degrades to plain P2PChat, said once", () => {
  const { hello, said } = session(null);
  equal(hello.wanted, true);
  deepEqual(hello.answer({ type: "F", message: "bad request" }), { ringchat: false });
  equal(hello.wanted, false);
  deepEqual(hello.answer({ type: "M", msid: 1n, members: [] }), { ringchat: false });
  hello.degrade();
  deepEqual(said, [PLAIN_REGISTRY_NOTICE]);
});

Deno.test("hello session: a ringchat registry's hello is proved with my key; without one, not", async () => {
  const identity = await loadIdentity(null);
  const { hello } = session(identity);
  deepEqual(hello.hello().body, { version: HELLO_VERSION, key: identity.publicKey });
  const answer = hello.answer(helloReply);
  if (!answer.ringchat || answer.prove === null) throw new Error("expected a proof to send");
  deepEqual(answer.features, ["push"]);
  const sig = await identity.sign(registrySigningInput(challenge, identity.publicKey));
  deepEqual(await answer.prove, { type: "X", op: "prove", body: { sig: encodeBase64Url(sig) } });
  equal(hello.wanted, true);

  const keyless = session(null).hello;
  deepEqual(keyless.hello().body, { version: HELLO_VERSION });
  deepEqual(keyless.answer(helloReply), { ringchat: true, features: ["push"], prove: null });
});

Deno.test("hello session: a refused proof is said once; a proved one is not", async () => {
  const { hello, said } = session(await loadIdentity(null));
  hello.proved({ type: "X", op: "proved", body: {} });
  hello.proved({ type: "X", op: "error", body: { message: "bad signature" } });
  hello.proved({ type: "F", message: "no" });
  deepEqual(said, ["The registry did not take our key (bad signature): members will not see it"]);
  equal(hello.wanted, true, "a refused key still speaks ringchat/2");
});

Deno.test("hello session: member-info is joined from its parts and handed on", () => {
  const { hello, infos } = session(null);
  const part = (n: number, name: string): Frame & { type: "X" } => ({
    type: "X",
    op: "member-info",
    body: {
      room: "room1",
      msid: "5",
      part: n,
      parts: 2,
      members: [{ name, ip: "127.0.0.1", port: 5000 + n, ringchat: true }],
    },
  });
  equal(hello.feed(part(0, "alice")), null);
  const info = hello.feed(part(1, "bob"));
  if (info === null) throw new Error("expected the whole member-info");
  hello.memberInfo(info);
  deepEqual(infos.map((i) => [i.room, i.msid, i.members.map((m) => m.name)]), [
    ["room1", 5n, ["alice", "bob"]],
  ]);
});
