/**
 * Pulling a text's signature from its origin (peer/sig_fetch.ts): the
 * origin's store of its own signatures answers a probe; the asking side
 * tells a signature, none, and no answer apart.
 */

import { deepEqual, equal } from "node:assert/strict";
import { greet } from "../peer/links.ts";
import { MAX_OWN_SIGNATURES, OwnSignatures, SigFetcher } from "../peer/sig_fetch.ts";

/** An origin on a port of its own that answers probes from `own` as member `hid` of room1. */
function origin(own: OwnSignatures, hid: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      const first = await greet(conn, 1000, undefined, 4096, true).catch(() => null);
      if (first !== null && "probe" in first) await own.answer(first, "room1", hid);
    }
  })();
  return {
    member: { name: "carol", ip: "127.0.0.1", port: listener.addr.port },
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("sig fetch: the origin gives the signature it made, none for another msgID or origin", async () => {
  const own = new OwnSignatures();
  const sig = new Uint8Array(64).fill(7);
  own.add(5n, sig);
  await using carol = origin(own, "42");
  const fetcher = new SigFetcher(1000, AbortSignal.timeout(5000));
  deepEqual(await fetcher.fetch(carol.member, "room1", "42", 5n), sig);
  equal(await fetcher.fetch(carol.member, "room1", "42", 6n), "none");
  // Another origin or room: closed unanswered.
  equal(await fetcher.fetch(carol.member, "room1", "43", 5n), "unreachable");
  equal(await fetcher.fetch(carol.member, "room2", "42", 5n), "unreachable");
  equal(fetcher.pending, 0);
});

Deno.test("sig fetch: nobody listening is unreachable; the store keeps the newest signatures", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const fetcher = new SigFetcher(500, AbortSignal.timeout(5000));
  const member = { name: "gone", ip: "127.0.0.1", port };
  equal(await fetcher.fetch(member, "room1", "1", 1n), "unreachable");
  const own = new OwnSignatures();
  for (let i = 0; i <= MAX_OWN_SIGNATURES; i++) own.add(BigInt(i), new Uint8Array(64));
  await using carol = origin(own, "1");
  const asked = new SigFetcher(1000, AbortSignal.timeout(5000));
  equal(await asked.fetch(carol.member, "room1", "1", 0n), "none");
  deepEqual(await asked.fetch(carol.member, "room1", "1", 1n), new Uint8Array(64));
});
