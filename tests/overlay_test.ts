/**
 * The overlay on its own, with a host made of the real membership, dedup
 * window and recent frames, and raw peers at the other end of its links.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import type { Member } from "../lib/frames.ts";
import { withHashIds } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { RecentFrames, SeenWindow } from "../peer/flood.ts";
import { Membership } from "../peer/membership.ts";
import { Overlay, type OverlayHost, type Place } from "../peer/overlay.ts";
import { TaskSet } from "../peer/tasks.ts";
import { RawLink, RawPeer } from "./support/raw_peer.ts";

const encoder = new TextEncoder();

class Fixture implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly tasks = new TaskSet();
  readonly events: PeerEvent[] = [];
  readonly members = new Membership(60_000);
  readonly place: Place;
  readonly overlay: Overlay;
  refreshes = 0;
  lookUps = 0;
  quitting = false;
  /** What a refresh sets as the member list (null: leave it). */
  nextList: Member[] | null = null;
  #msid = 1n;
  readonly #waiters = new Set<() => void>();

  constructor(retryMs = 5000, handshakeTimeoutMs = 1000) {
    const me = withHashIds([{ name: "me", ip: "127.0.0.1", port: this.listener.addr.port }])[0]!;
    this.place = { room: "room1", me };
    const host: OverlayHost = {
      place: () => this.quitting ? null : this.place,
      placeForHandshake: () => Promise.resolve(this.quitting ? "quitting" : this.place),
      quitting: () => this.quitting,
      members: this.members,
      seen: new SeenWindow(),
      recent: new RecentFrames(1000),
      lastMsgId: () => 7n,
      refresh: () => {
        this.refreshes++;
        if (this.nextList !== null) this.list(...this.nextList);
        return Promise.resolve();
      },
      lookUp: () => {
        this.lookUps++;
        if (this.nextList !== null) this.list(...this.nextList);
        return Promise.resolve();
      },
      onText: () => {},
      emit: (event) => this.#push(event),
      report: (_key, type, message) => this.#push({ type, message }),
      track: (promise) => this.tasks.track(promise),
    };
    this.overlay = new Overlay(host, {
      handshakeTimeoutMs,
      frameTimeoutMs: 1000,
      retryMs,
      maxTextBytes: 1000,
      maxQueuedBytes: 1 << 20,
      maxHandshakes: 4,
    });
    this.overlay.serve(this.listener);
  }

  list(...members: Member[]): void {
    this.listAt(0, ...members);
  }

  /** Sets the member list (me and `members`) as taken at `now`. */
  listAt(now: number, ...members: Member[]): void {
    this.members.set({ type: "M", msid: this.#msid++, members: [this.place.me, ...members] }, now);
  }

  #push(event: PeerEvent): void {
    this.events.push(event);
    for (const wake of [...this.#waiters]) wake();
  }

  async waitFor(predicate: (e: PeerEvent) => boolean, what: string): Promise<PeerEvent> {
    const timeout = AbortSignal.timeout(5000);
    for (;;) {
      const found = this.events.find(predicate);
      if (found !== undefined) return found;
      if (timeout.aborted) {
        throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(this.events)}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        this.#waiters.add(wake);
      });
    }
  }

  /** Runs `test` with bob listed and linked to me (backward), then closes bob. */
  async withBobLinked(test: (bob: RawPeer, link: RawLink) => Promise<void>): Promise<void> {
    const bob = new RawPeer("bob", "room1", "127.0.0.1");
    try {
      this.list({ name: "bob", ip: "127.0.0.1", port: bob.port });
      const link = await bob.dial(this.listener.addr.port);
      await this.waitFor((e) => e.type === "link" && e.direction === "backward", "bob's link");
      await test(bob, link);
    } finally {
      await bob.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.quitting = true;
    this.listener.close();
    const done = this.overlay.close();
    await this.tasks.drain();
    await done;
    this.overlay.stopRetrying();
  }
}

Deno.test("overlay: links forward to the member listed after me, with my P and msgID", async () => {
  await using f = new Fixture();
  using bob = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  f.list({ name: "bob", ip: "127.0.0.1", port: bob.addr.port });
  f.overlay.relink();
  const conn = await bob.accept();
  const link = new RawLink(conn);
  try {
    await link.until(() => link.frames.length > 0, "my P");
    deepEqual(link.frames, [`P:room1:me:127.0.0.1:${f.place.me.port}:7::\r\n`]);
    await link.write("S:0::\r\n");
    await f.waitFor((e) => e.type === "link" && e.state === "up", "the forward link");
    equal(f.overlay.forward?.peer.name, "bob");
    equal(f.overlay.count, 1);
    deepEqual(f.overlay.linksEvent(), {
      type: "links",
      forward: { name: "bob", ip: "127.0.0.1", port: bob.addr.port },
      backward: [],
    });
    equal(f.overlay.membersEvent().forward, "bob");
  } finally {
    await link.close();
  }
});

Deno.test("overlay: when no candidate answers, says so and retries after retryMs with a refresh", async () => {
  await using f = new Fixture(30);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  f.list({ name: "ghost", ip: "127.0.0.1", port });
  f.overlay.relink();
  const info = await f.waitFor((e) => e.type === "info", "the retry note");
  match((info as { message: string }).message, /^No forward link \(ghost .*\); retrying in 30 ms$/);
  // A live member turns up at the next refresh: the retry links to it.
  const bob = new RawPeer("bob", "room1", "127.0.0.1");
  try {
    f.nextList = [{ name: "bob", ip: "127.0.0.1", port: bob.port }];
    await f.waitFor((e) => e.type === "link" && e.state === "up", "the link after the retry");
    ok(f.refreshes >= 1);
    equal(f.overlay.forward?.peer.name, "bob");
  } finally {
    await bob.close();
  }
});

Deno.test("overlay: accepts a listed member's link with S, refuses a stranger after one look-up", async () => {
  await using f = new Fixture();
  await f.withBobLinked(async (bob) => {
    deepEqual(f.overlay.backward.map((l) => l.peer.name), ["bob"]);
    equal(f.lookUps, 0);

    const stranger = await RawLink.connect(f.listener.addr.port);
    await stranger.write(encoder.encode("P:room1:mallory:127.0.0.1:1234:0::\r\n"));
    await stranger.closed();
    deepEqual(stranger.frames, [], "no reply");
    equal(f.lookUps, 1, "looked up once before refusing");
    const refused = await f.waitFor((e) => e.type === "info", "the refusal");
    match((refused as { message: string }).message, /Refused a link from mallory .*not a member/);
    await stranger.close();

    const wrongRoom = await RawLink.connect(f.listener.addr.port);
    await wrongRoom.write(encoder.encode(`P:room2:bob:127.0.0.1:${bob.port}:0::\r\n`));
    await wrongRoom.closed();
    await wrongRoom.close();
    await f.waitFor((e) => e.type === "info" && /wrong room room2/.test(e.message), "wrong room");
  });
});

Deno.test("overlay: a dropped backward link is repaired: relink and a registry refresh", async () => {
  await using f = new Fixture();
  await f.withBobLinked(async (_bob, link) => {
    const before = f.refreshes;
    await link.close();
    await f.waitFor((e) => e.type === "link" && e.state === "down", "the link down");
    ok(f.refreshes > before, "a refresh after the loss");
    equal(f.overlay.backward.length, 0);
  });
});

Deno.test("overlay: closes the links of a member gone from the lists past the grace time", async () => {
  await using f = new Fixture();
  await f.withBobLinked(async () => {
    f.list();
    f.overlay.dropAbsent(0, "room1");
    equal(f.overlay.count, 1, "not at once");
    f.overlay.dropAbsent(60_000, "room1");
    const note = await f.waitFor((e) => e.type === "info", "the closing note");
    match(
      (note as { message: string }).message,
      /^Closing the link with bob .*no longer a member of room room1$/,
    );
    equal(f.overlay.count, 0);
  });
});

const HANDSHAKE_MS = 300;

/**
 * Runs `test` once bob, who joined after me, is listed (at `at`) and I look
 * for a forward link: with two of us my successor is bob and his is me, and a
 * pushed list tells me of him before his handshake can come.
 */
async function withNewcomerBob(test: (f: Fixture, bob: RawPeer, at: number) => Promise<void>) {
  await using f = new Fixture(5000, HANDSHAKE_MS);
  f.list();
  const bob = new RawPeer("bob", "room1", "127.0.0.1");
  try {
    const at = Date.now();
    f.listAt(at, { name: "bob", ip: "127.0.0.1", port: bob.port });
    f.overlay.relink();
    await test(f, bob, at);
  } finally {
    await bob.close();
  }
}

Deno.test("overlay: a member that joined after me and links to me is let link first, not dialled", async () => {
  await withNewcomerBob(async (f, bob) => {
    await bob.dial(f.listener.addr.port);
    await f.waitFor((e) => e.type === "link", "bob's link");
    // Past the time given to him, I look again: he links to me, so I do not dial him.
    await new Promise((resolve) => setTimeout(resolve, HANDSHAKE_MS + 100));
    equal(bob.links.length, 1, "only the link bob dialled, none from me");
    deepEqual(
      f.events.filter((e) => e.type === "link").map((e) => `${e.direction} ${e.state}`),
      ["backward up"],
    );
    equal(f.overlay.forward, null);
  });
});

Deno.test("overlay: a member that joined after me and has not linked in a handshake's time is dialled", async () => {
  await withNewcomerBob(async (f, _bob, at) => {
    await f.waitFor((e) => e.type === "link" && e.direction === "forward", "my link to bob");
    const waited = Date.now() - at;
    ok(waited >= HANDSHAKE_MS, `dialled ${waited} ms after bob was listed`);
    equal(f.overlay.forward?.peer.name, "bob");
  });
});
