/**
 * The parts of a peer, built and wired to each other from its resolved
 * options: the registry client, the membership view and its updates, the
 * dedup window, the member look-ups, the text guard, the relay, the overlay,
 * and the TCP listener with the poke socket on one port. The peer's state
 * machine is reached only through a {@linkcode PeerHost}.
 *
 * @module
 */

import type { PeerEvent } from "./events.ts";
import { RecentFrames, SeenWindow, textContent } from "./flood.ts";
import type { Identity } from "./identity.ts";
import { type Link, linkMaxFrameBytes } from "./links.ts";
import { MemberLookup } from "./member_lookup.ts";
import { MemberUpdates } from "./member_updates.ts";
import { Membership } from "./membership.ts";
import { bindPeerPort } from "./one_port.ts";
import type { ResolvedOptions } from "./options.ts";
import { Overlay, type Place } from "./overlay.ts";
import type { PokeSocket } from "./poke.ts";
import { type Refreshed, RegistryClient } from "./registry_client.ts";
import { PrivateSession } from "./private_session.ts";
import { Relay } from "./relay.ts";
import { RoomLife } from "./room_life.ts";
import { People, type PeopleHost } from "./people.ts";
import { PARTS_OP, RoomTexts } from "./room_texts.ts";
import { OwnSignatures, SigFetcher } from "./sig_fetch.ts";
import { TEXT_OP } from "./signed_text.ts";
import { TextGuard } from "./text_guard.ts";
import { openPeerHistory } from "./history_wiring.ts";
import { registryList } from "./registry_addresses.ts";
import type { HistorySync } from "./history_sync.ts";
import { TreeRouter } from "./tree.ts";
import { countsInOrder, type OrderedText, OriginOrder } from "./origin_order.ts";

/** What the parts ask of the peer that owns them. */
export interface PeerHost {
  /** My place in the ring while joined. */
  place(): Place | null;
  /** My place once a JOIN under way is answered, or why a handshake finds none. */
  placeForHandshake(): Promise<Place | string>;
  /** The room I am in (or joining), if any. */
  room(): string | undefined;
  quitting(): boolean;
  emit(event: PeerEvent): void;
  /** Reports misbehaviour of one kind (`key`) without flooding the user. */
  report(key: string, type: "info" | "error", message: string): void;
  /** Keeps background work until it settles. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
  /** What the people ops need of the peer's state (`peer/people.ts`). */
  people: Pick<PeopleHost, "joinedName" | "loggedIn" | "kicked" | "switchRoom">;
}

/** A peer's parts; see the module doc. */
export interface PeerParts {
  registry: RegistryClient;
  members: Membership;
  updates: MemberUpdates;
  seen: SeenWindow;
  /** The frames of the last moments, sent to each new link. */
  recent: RecentFrames;
  lookup: MemberLookup<Refreshed>;
  relay: Relay;
  overlay: Overlay;
  /** Long texts and private rooms (room_texts.ts). */
  texts: RoomTexts;
  privacy: PrivateSession;
  listener: Deno.TcpListener;
  poker: PokeSocket;
  people: People;
  /** The room history: store, `/history`, answers and catch-up. */
  history: HistorySync;
  /** The broadcast tree and its repair path (docs/overlay.md). */
  tree: TreeRouter;
  /** Each ringchat origin's texts in msgID order (origin_order.ts). */
  order: OriginOrder<OrderedText>;
}

/**
 * Builds the parts of a peer with `opts` and `identity` (null when plain).
 *
 * @throws when the port cannot be bound
 */
export function wirePeer(
  opts: ResolvedOptions,
  identity: Identity | null,
  host: PeerHost,
): PeerParts {
  const members = new Membership(opts.keepaliveMs);
  // A member that drops off the lists stays one for a keepalive: its last
  // messages still circulate, and a restarted registry lists members again
  // only as they re-register.
  const seen = new SeenWindow({ departedMs: opts.keepaliveMs });
  const own = new OwnSignatures();
  const people = new People({
    ...host.people,
    op: (frame) => registry.op(frame),
    emit: host.emit,
    track: host.track,
    signal: host.signal,
    room: host.room,
    port: () => listener.addr.port,
    ping: () => registry.list(),
    keepaliveMs: opts.keepaliveMs,
  }, {
    maxTextBytes: opts.maxTextBytes,
    connectTimeoutMs: opts.handshakeTimeoutMs,
    consentTimeoutMs: opts.dmConsentTimeoutMs,
    maxQueued: opts.dmMaxQueued,
    maxLinks: opts.dmMaxLinks,
    maxLinksPerToken: opts.dmMaxLinksPerConsent,
    link: {
      ratePerSecond: opts.dmLinkRate,
      burst: opts.dmLinkBurst,
      maxFrameBytes: linkMaxFrameBytes(opts.maxTextBytes),
    },
  });
  const registry: RegistryClient = new RegistryClient({
    ...registryList(opts.registry)[0]!,
    fallbacks: registryList(opts.registry).slice(1),
    keepaliveMs: opts.keepaliveMs,
    reconnectMs: opts.retryMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    maxFrameBytes: opts.maxRegistryFrameBytes,
    onMembers: (frame) => updates.onMembers(frame),
    onFailure: (message) => host.emit({ type: "error", message: `Registry: ${message}` }),
    onStatus: (status, detail) =>
      host.emit({
        type: "info",
        message: status === "lost"
          ? `Lost the registry connection (${detail}); chat continues over the links`
          : detail,
      }),
    hello: opts.plain ? undefined : {
      identity,
      onMemberInfo: (info) => {
        updates.onMemberInfo(info);
        history.membersChanged();
      },
      onMembersDelta: (delta) => {
        const taken = updates.onMembersDelta(delta);
        if (taken) history.membersChanged();
        return taken;
      },
      onUnavailable: (message) => host.emit({ type: "info", message }),
    },
    ops: opts.plain ? undefined : people.registryHooks,
  });
  const lookup = new MemberLookup<Refreshed>(
    opts.refreshIntervalMs,
    () => host.track(registry.refreshMembers()),
  );
  // Shorter than keepaliveMs: a departed origin is forgotten only after that.
  const recent = new RecentFrames(Math.min(2000, opts.keepaliveMs / 2));
  const shared = {
    place: host.place,
    quitting: host.quitting,
    members,
    seen,
    recent,
    lookUp: () => lookup.lookUp(),
    // A room message or a poke of a user I block is not shown (a message is still forwarded).
    emit: (event: PeerEvent) => {
      if (people.shows(event)) host.emit(event);
    },
    report: host.report,
    track: host.track,
  };
  const privacy = new PrivateSession();
  const guard: TextGuard = new TextGuard({
    ...shared,
    identity,
    plain: opts.plain ?? false,
    fetcher: new SigFetcher(opts.handshakeTimeoutMs, host.signal),
    own,
    relay: (from, frame, raw) => relay.receive(from, frame, raw),
    refused: () => void relay.counts.refused++,
    maxTextBytes: opts.maxTextBytes,
  });
  const history: HistorySync = openPeerHistory(opts, {
    ...shared,
    // A text the history shows is one the order no longer waits for.
    emit: (event) => {
      shared.emit(event);
      if (event.type === "message" && event.history) {
        order.passed(event.originHid, BigInt(event.msgId));
      }
    },
    links: () => overlay.all(),
    textLinks: () => [...overlay.all(), ...overlay.fingers],
    speaksRingchat: (link) => guard.speaksRingchat(link),
    signal: host.signal,
    // A private room's stored and caught-up texts are its ciphertexts (private_session.ts).
    decodeText: (originHid, originName, msgId, wireText) => {
      const room = host.place()?.room;
      if (room === undefined) return null;
      return privacy.decryptSync(room, wireText, { originHid, originName, msgId });
    },
    shownRoom: (wireRoom) => privacy.shown(wireRoom),
  });
  const encodings = {
    bytesFor: (link: Link, raw: Uint8Array) => guard.bytesFor(link, raw),
  };
  const tree = new TreeRouter({
    place: host.place,
    members,
    ringOnly: (opts.plain ?? false) || opts.overlay === "ring",
    ringLinks: () => overlay.all(),
    linkTo: (member) => overlay.treeLinkTo(member, (link) => guard.speaksRingchat(link)),
    speaksRingchat: (link) => guard.speaksRingchat(link),
    bytesFor: (link, raw) => guard.bytesFor(link, raw),
    isMember: (originHid) => seen.isMember(originHid),
    report: host.report,
  });
  host.signal.addEventListener("abort", () => tree.close(), { once: true });
  // A ringchat origin's text waits here for an earlier one still on another path.
  const inOrder = countsInOrder(members);
  const order = new OriginOrder<OrderedText>(
    ({ event, frame }) => texts.deliver(event, frame),
    { waitMs: opts.orderWaitMs, maxHeld: opts.orderMaxHeld },
  );
  host.signal.addEventListener("abort", () => order.close(), { once: true });
  const relay: Relay = new Relay({
    ...shared,
    ...encodings,
    tree,
    links: () => overlay.all(),
    verified: (raw) => guard.verified(raw),
    sign: (frame, raw, content) => guard.own(frame, raw, content),
    deliver: (event, frame) => {
      if (event.self || !inOrder(frame.originHid)) return texts.deliver(event, frame);
      order.offer(frame.originHid, frame.msgId, { event, frame });
    },
    delivered: (frame, raw) => {
      const shown = history.record(frame, textContent(raw), guard.signatureOf(raw));
      // Shown before a restart: not shown again, and not waited for.
      if (!shown) order.passed(frame.originHid, frame.msgId);
      return shown;
    },
  }, opts);
  const texts: RoomTexts = new RoomTexts({
    ...shared,
    privacy,
    plain: opts.plain ?? false,
    links: () => overlay.all(),
    speaksRingchat: (link) => guard.speaksRingchat(link),
    relay,
    signal: host.signal,
    // Shown through the history: held back while a catch-up answer is awaited.
    emit: (event) => history.emitLive(event),
  }, opts);
  const overlay: Overlay = new Overlay({
    ...shared,
    ...encodings,
    identity,
    placeForHandshake: host.placeForHandshake,
    lastMsgId: () => relay.lastMsgId,
    refresh: () => registry.refresh(),
    onText: (link, frame, raw, content) => guard.onT(link, frame, raw, content),
    onExtension: (link, frame) => {
      if (frame.op === TEXT_OP) guard.onTextOp(link, frame);
      else if (frame.op === PARTS_OP) texts.onPartsOp(link, frame);
      else if (!tree.onOp(link, frame)) history.onOp(link, frame);
    },
    linkChanged: (link, down) => down ? history.linkDown(link) : history.linkUp(link),
    treeMode: () => tree.mode() === "tree",
    anyLinkChanged: (link, down, lost) => down ? tree.linkDown(link, lost) : tree.linkUp(link),
    probe: (probed) => {
      // A plain peer closes it, as a seed client does.
      if (opts.plain) return probed.conn.close();
      if (people.accept(probed)) return;
      const place = host.place();
      host.track(own.answer(probed, place?.room ?? null, place?.me.hashId.toString() ?? null));
    },
  }, opts);
  const updates = new MemberUpdates({
    members,
    life: new RoomLife(opts.keepaliveMs),
    seen,
    overlay,
    place: host.place,
    emit: host.emit,
    refresh: () => registry.resync(),
  });
  let bound;
  try {
    bound = bindPeerPort(opts, {
      emit: shared.emit,
      report: host.report,
      room: host.room,
      members: () => members.members,
    });
  } catch (error) {
    history.close();
    throw error;
  }
  const [listener, poker] = bound;
  return {
    registry,
    members,
    updates,
    seen,
    recent,
    lookup,
    relay,
    overlay,
    texts,
    privacy,
    listener,
    poker,
    people,
    history,
    tree,
    order,
  };
}
