/** The link acceptor on its own: raw connections in, adopted members or refusals out. */
import { deepEqual, equal, match } from "node:assert/strict";
import { withHashIds } from "../lib/ring.ts";
import { LinkAcceptor } from "../peer/link_acceptor.ts";
import type { Greeted } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import type { Place } from "../peer/state.ts";
import { TaskSet } from "../peer/tasks.ts";
import { RawLink } from "./support/raw_peer.ts";

const [me, bob] = withHashIds([
  { name: "me", ip: "127.0.0.1", port: 1 },
  { name: "bob", ip: "127.0.0.1", port: 2 },
]);

function fixture(place: Place | string, maxHandshakes = 8) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks = new TaskSet();
  const members = new Membership(1000);
  members.set({ type: "M", msid: 1n, members: [me!, bob!] }, 0);
  const reports: string[] = [];
  const adopted: Greeted[] = [];
  let refusals = 0;
  let lookUps = 0;
  const abort = new AbortController();
  const { promise: settled, resolve } = Promise.withResolvers<void>();
  const acceptor = new LinkAcceptor({
    placeForHandshake: () => Promise.resolve(place),
    quitting: () => abort.signal.aborted,
    members,
    lookUp: () => Promise.resolve(void lookUps++),
    report: (_key, _type, message) => (reports.push(message), resolve()),
    track: (p) => tasks.track(p),
    signal: abort.signal,
    adopt: (greeted, member) => {
      equal(member.name, "bob");
      adopted.push(greeted);
      resolve();
    },
    refused: () => void refusals++,
  }, { handshakeTimeoutMs: 1000, maxHandshakes, maxFrameBytes: 2048 });
  tasks.track(acceptor.serve(listener));
  return {
    port: listener.addr.port,
    acceptor,
    reports,
    adopted,
    settled,
    refusals: () => refusals,
    lookUps: () => lookUps,
    async close() {
      abort.abort();
      listener.close();
      for (const g of adopted) g.conn.close();
      await tasks.drain();
    },
  };
}

/** Runs `test` with a raw connection to the acceptor, then closes both. */
async function withLink(
  f: ReturnType<typeof fixture>,
  test: (link: RawLink) => Promise<void>,
): Promise<void> {
  const link = await RawLink.connect(f.port);
  try {
    await test(link);
  } finally {
    await link.close();
    await f.close();
  }
}

Deno.test("link acceptor: a listed member's P is adopted, not replied to by the acceptor itself", async () => {
  const f = fixture({ room: "room1", me: me! });
  await withLink(f, async (link) => {
    await link.write("P:room1:bob:127.0.0.1:2:5::\r\n");
    await f.settled;
    equal(f.adopted.length, 1);
    deepEqual(f.adopted[0]!.hello.msgId, 5n);
    equal(f.lookUps(), 0);
    equal(f.acceptor.greeting(bob!), false, "no longer being checked");
  });
});

Deno.test("link acceptor: a peer in no room refuses every link, closing it without a reply", async () => {
  const f = fixture("not in a room");
  await withLink(f, async (link) => {
    await link.write("P:room1:bob:127.0.0.1:2:0::\r\n");
    await link.closed();
    deepEqual(link.frames, []);
    await f.settled;
    match(f.reports[0]!, /^Refused a link from bob \(127\.0\.0\.1:2\): not in a room$/);
    equal(f.refusals(), 1);
  });
});

Deno.test("link acceptor: past maxHandshakes pending, a connection is closed at once and reported", async () => {
  const f = fixture({ room: "room1", me: me! }, 1);
  const pending = await RawLink.connect(f.port);
  const extra = await RawLink.connect(f.port);
  try {
    await extra.closed();
    await f.settled;
    match(f.reports[0]!, /1 handshakes are already pending$/);
  } finally {
    await pending.close();
    await extra.close();
    await f.close();
  }
});

Deno.test("link acceptor: a first frame that is not P is refused and reported", async () => {
  const f = fixture({ room: "room1", me: me! });
  await withLink(f, async (link) => {
    await link.write("S:1::\r\n");
    await link.closed();
    await f.settled;
    match(f.reports[0]!, /instead of a handshake/);
  });
});
