/**
 * The options of the peer engine: what {@linkcode PeerOptions} holds, and
 * {@linkcode PEER_OPTION_TABLE}, the one place where each option's flag,
 * bounds, default, help line and docs row are written. The defaults, the
 * validation, the `peer` flags and help, and the tables of
 * `docs/peer_limits.md` and the README all come from it.
 *
 * @module
 */

import { map } from "@optique/core";
import { LOG_LEVELS } from "../lib/logging.ts";
import { OVERLAY_CHOICES, type OverlayChoice } from "../lib/overlay_mode.ts";
import { LOG_FILE_FLAGS } from "../lib/log_file.ts";
import { type RegistryChoice, registryChoiceKind } from "./registry_addresses.ts";
import { MAX_TEXT_BYTES, REGISTRY_REPLY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import type { DocsTable } from "../lib/option_docs.ts";
import {
  choiceKind,
  integerKind,
  ipv4Kind,
  type OptionKind,
  type OptionValues,
  portKind,
  rateKind,
  resolveOptions,
  type SameType,
  stringKind,
  switchKind,
} from "../lib/option_table.ts";
import type { PeerEvent } from "./events.ts";
import { listenAddressKind } from "./web/flag.ts";
import { FRAME_TIMEOUT_MS, MAX_QUEUED_BYTES } from "./links.ts";
import { SEED_TEXT_BYTES } from "./long_text.ts";

/**
 * Options of {@linkcode startPeer}. Each one's default, bounds and flag:
 * {@linkcode PEER_OPTION_TABLE} (the limits' reasons: `docs/peer_limits.md`).
 */
export interface PeerOptions {
  /**
   * Where the registry listens; a list: registries to fail over between, in
   * order (peer/registry_addresses.ts).
   */
  registry?: RegistryChoice;
  /** TCP and UDP listening port, one number; 0 = ephemeral. */
  port?: number;
  /** Listen address. */
  hostname?: string;
  /** The ip sent in `J` and `P` (default: the local address of the registry connection). */
  advertise?: string;
  /** Sets the user name at start. */
  name?: string;
  /** With `name`: joins this room at start. */
  room?: string;
  /** With `room`: joins it as a private room with this password (docs/extensions.md). */
  password?: string;
  /** Interval of the keepalive JOIN, in ms. */
  keepaliveMs?: number;
  /** Retry interval for the forward link and the registry reconnect, in ms. */
  retryMs?: number;
  /** How long a poke waits for its ACK, in ms. */
  pokeTimeoutMs?: number;
  /** How long a link handshake may take, in ms. */
  handshakeTimeoutMs?: number;
  /** How long a registry request may wait for its reply, in ms. */
  requestTimeoutMs?: number;
  /**
   * Longest chat text sent or accepted, in UTF-8 bytes. A link reads frames
   * of up to this plus 1 KiB; a longer frame drops the link, a longer text in
   * a shorter frame is dropped and reported.
   */
  maxTextBytes?: number;
  /**
   * Most content bytes of one `T` while the room may hold a seed client: a
   * longer text goes out as parts of at most this many bytes (room_texts.ts).
   */
  partBytes?: number;
  /**
   * How long a frame on a link may take from its first byte to its last, in
   * ms; a link stalled mid-frame is dropped after it.
   */
  frameTimeoutMs?: number;
  /** Accepted connections handshaking at once; more are closed at once. */
  maxHandshakes?: number;
  /** Bytes queued for writing on one link before it is dropped as too slow. */
  maxQueuedBytes?: number;
  /** Largest registry reply accepted, in bytes. */
  maxRegistryFrameBytes?: number;
  /**
   * Messages per second accepted from one origin (originHID); past it and
   * `textBurst`, its messages are dropped (not shown, not forwarded) and the
   * drop reported once per burst. `Infinity`: no limit.
   */
  maxTextRate?: number;
  /** Messages accepted at once from one origin above `maxTextRate`. */
  textBurst?: number;
  /**
   * Messages per second accepted over one link, whatever their origins
   * (copies of messages already seen are free); past it and `linkTextBurst`
   * they are dropped, and a link that goes on past it by `linkTextBurst`
   * more is closed. Checked before anything is stored. `Infinity`: no limit.
   */
  maxLinkTextRate?: number;
  /** Messages accepted at once over one link above `maxLinkTextRate`. */
  linkTextBurst?: number;
  /**
   * Longest a ringchat member's text waits for an earlier one of its origin
   * that is still on another path (origin_order.ts), in ms; 0: none waits.
   */
  orderWaitMs?: number;
  /** Texts waiting for an earlier one of their origin, at most, over all origins. */
  orderMaxHeld?: number;
  /** Pokes answered (and shown) per second from one address. `Infinity`: no limit. */
  maxPokeRate?: number;
  /** Pokes answered at once from one address above `maxPokeRate`. */
  pokeBurst?: number;
  /**
   * Pokes answered per second from the addresses that are not a member's,
   * together (burst twice that); members' pokes skip this cap. `Infinity`: no
   * limit.
   */
  maxStrangerPokeRate?: number;
  /**
   * Least time between two re-JOINs made to look up a member I do not know
   * (a handshake or a message from it), in ms; handshakes arriving meanwhile
   * wait for the next one.
   */
  refreshIntervalMs?: number;
  /**
   * Serves the web page (`peer/web/`) on this address; its URL comes in a
   * "web" event and as `webUrl`. Default: no page.
   */
  web?: { hostname: string; port: number };
  /**
   * Where the peer keeps its identity key (`identity.json`, peer/identity.ts);
   * null: a fresh key in memory, new at every start. Default for
   * `startPeer`: null; the `peer` program's default is the per-user data
   * directory of peer/data_dir.ts.
   */
  dataDir?: string | null;
  /** Messages of the room history kept (per room; peer/history.ts). */
  historyMaxMessages?: number;
  /** How long a message of the room history is kept, in ms. */
  historyMaxAgeMs?: number;
  /** How long my request to talk (`/msg`) waits for consent before it is given up, in ms. */
  dmConsentTimeoutMs?: number;
  /** Direct messages to one user waiting for consent or for their receipt, at most. */
  dmMaxQueued?: number;
  /** Direct-message connections open at once, in all. */
  dmMaxLinks?: number;
  /** Direct-message connections one consent (its token) may open at once. */
  dmMaxLinksPerConsent?: number;
  /** Ops per second one direct-message connection may send; past it and the burst it is closed. */
  dmLinkRate?: number;
  /** Ops one direct-message connection may send at once above `dmLinkRate`. */
  dmLinkBurst?: number;
  /** Receives every event, from the very first ("ready"). */
  onEvent?: (event: PeerEvent) => void;
  /**
   * Speak plain P2PChat only, as a seed client does: no registry hello, no
   * key, no `X` frame on any link, every text sent as a `T` (interop checks
   * and tests). Default false.
   */
  plain?: boolean;
  /**
   * How my messages travel: `"auto"` (the default) sends them down the
   * broadcast tree while every member speaks ringchat/2 and floods the ring
   * otherwise (docs/overlay.md); `"ring"` always floods the ring, as a
   * seed client does (benchmarks compare the two). `--overlay`.
   */
  overlay?: OverlayChoice;
}

/** The sections of `peer --help` after the first. */
export const PEER_OPTION_GROUPS = Object.freeze(
  {
    timings: "Timings",
    limits: "Limits (why each default: docs/peer_limits.md)",
  } as const,
);
const TIMINGS = PEER_OPTION_GROUPS.timings;
const LIMITS = PEER_OPTION_GROUPS.limits;

/**
 * Every option of {@linkcode PeerOptions} but `onEvent`: flag, bounds,
 * default, help line and docs row.
 */
export const PEER_OPTION_TABLE = Object.freeze(
  {
    registry: {
      kind: registryChoiceKind(),
      flag: "--registry",
      default: { hostname: "127.0.0.1", port: 32340 },
      help:
        "Address of the registry (a host name, an IPv4 address or [IPv6]); several, comma separated: the next one is used when one dies.",
    },
    port: {
      kind: portKind(),
      flag: "--port",
      default: 0,
      help: "TCP and UDP listening port; 0 picks a free one.",
    },
    hostname: {
      kind: stringKind("ADDR"),
      default: "0.0.0.0",
      help: "Address to listen on.",
    },
    advertise: {
      kind: ipv4Kind(),
      flag: "--advertise",
      default: undefined,
      defaultText: "the local address of the registry connection",
      help: "IP sent to the registry and in handshakes.",
    },
    name: {
      kind: stringKind("NAME"),
      flag: "--name",
      default: undefined,
      help: "User name to take at start.",
    },
    room: {
      kind: stringKind("ROOM"),
      flag: "--room",
      default: undefined,
      help: "Room to join at start (needs --name).",
    },
    web: {
      kind: listenAddressKind(),
      flag: "--web",
      default: undefined,
      defaultText: "no page; `--web` alone: 127.0.0.1:0",
      help: "Serve the web page on HOST:PORT and print its URL (token included).",
    },
    dataDir: {
      kind: pathOrNoneKind(),
      flag: "--data-dir",
      default: undefined,
      defaultText: "the per-user data directory (startPeer: none)",
      help:
        "Where to keep the identity key and the room history; none: a new key and the history in memory.",
    },
    overlay: {
      kind: choiceKind(OVERLAY_CHOICES, "MODE"),
      flag: "--overlay",
      default: "auto",
      help:
        "How my messages travel: auto, down the broadcast tree while every member speaks ringchat/2 (else flooded on the ring); ring, always flooded on the ring, as a plain P2PChat client does (docs/overlay.md).",
    },
    keepaliveMs: {
      kind: integerKind(1),
      flag: "--keepalive-ms",
      metavar: "MS",
      unit: "ms",
      default: 20_000,
      group: TIMINGS,
      help: "How often to renew the membership (a JOIN).",
      docs: {
        limit: "Keepalive JOIN interval",
        details: "PROTOCOL.md §6: JOIN every 20 s (the registry expires members after 60 s).",
      },
    },
    retryMs: {
      kind: integerKind(1),
      flag: "--retry-ms",
      metavar: "MS",
      unit: "ms",
      default: 5_000,
      group: TIMINGS,
      help: "How soon to retry a forward link or the registry after a failure.",
      docs: {
        limit: "Retry after no forward link, and registry reconnects",
        short: "Retry of the forward link and the registry",
        details:
          "Quick enough to repair the ring, slow enough not to hammer a member that is down.",
      },
    },
    pokeTimeoutMs: {
      kind: integerKind(1),
      flag: "--poke-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 2_000,
      group: TIMINGS,
      help: "How long to wait for a poke's ACK.",
      docs: { limit: "Wait for a poke's ACK", details: "PROTOCOL.md §6: 2 s." },
    },
    handshakeTimeoutMs: {
      kind: integerKind(1),
      flag: "--handshake-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 3_000,
      group: TIMINGS,
      help: "How long a link handshake may take, from connecting to its first frame.",
      docs: {
        limit:
          "Time before the first frame (the `P` handshake) on an accepted connection, and for the whole handshake",
        short: "Handshake",
        details:
          "A real peer writes `P` right after connecting; 3 s forgives a slow network. Silent or garbage-only connections are closed after it (or at once, for garbage). Also bounds our own dials and how long a retired link may take to finish.",
      },
    },
    requestTimeoutMs: {
      kind: integerKind(1),
      flag: "--request-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 10_000,
      group: TIMINGS,
      help: "How long a registry request may wait for its reply.",
      docs: {
        limit: "Time for a registry reply",
        details:
          "A registry that stops answering is dropped and reconnected to; chat goes on over the links meanwhile.",
      },
    },
    frameTimeoutMs: {
      kind: integerKind(1),
      flag: "--frame-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: FRAME_TIMEOUT_MS,
      group: TIMINGS,
      help: "Drop a link whose frame does not complete within this.",
      docs: {
        limit: "Time for a frame, first byte to last",
        short: "One frame, first byte to last",
        details:
          "A whole 66.5 KB frame takes about 8 s at 64 kbit/s. A link stalled mid-frame (half a `T`, a `msgLength` larger than what follows, a frame trickled a byte at a time) holds a buffer for at most this, then is dropped. An idle link (no frame started) is never dropped for it.",
      },
    },
    refreshIntervalMs: {
      kind: integerKind(1),
      flag: "--refresh-interval-ms",
      metavar: "MS",
      unit: "ms",
      default: 100,
      group: TIMINGS,
      help: "Least time between two re-JOINs that look up an unknown member.",
      docs: {
        limit: "Least time between two re-JOINs that look up an unknown member",
        short: "Re-JOINs to look up unknown members",
        details:
          "A handshake from a member I do not know (or a message from an unknown origin) makes me ask the registry again (PROTOCOL.md §6). Strangers can ask for that as often as they connect, so the lookups are at most 10 a second, and everyone asking meanwhile waits for the same one: a new member waits at most 100 ms more, and a storm of strangers cannot flood the registry with my JOINs (nor get my connection throttled by its request rate).",
      },
    },
    maxTextBytes: {
      kind: integerKind(1),
      flag: "--max-text-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: MAX_TEXT_BYTES,
      group: LIMITS,
      help: "Longest chat text sent or accepted; a link frame may be 1 KiB longer.",
      docs: {
        limit: "Longest chat text, sent or accepted",
        short: "Chat text",
        details:
          "Far above any chat line (the reference clients use buffers of about 1 KiB), small enough that a frame is read whole into memory. A longer text in a well-formed frame is dropped and reported (`Dropped a message of N bytes …`), the link stays; `/send` refuses it.",
      },
    },
    partBytes: {
      kind: integerKind(128),
      flag: "--part-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: SEED_TEXT_BYTES,
      group: LIMITS,
      help: "Longest text in one frame while the room may hold plain P2PChat clients; " +
        "longer ones go in parts.",
      docs: {
        limit: "Longest `T` content sent while the room may hold a seed client",
        short: "Text part for seed clients",
        details:
          "A seed client reads one frame per `recv()` of 1,024 bytes, so a longer text goes out as parts of at most 500 content bytes, cut at UTF-8 character boundaries; ringchat peers show them as one message (`parts`, docs/extensions.md). In a private room each part holds what fits once encrypted (319 bytes of text for 500). When every member speaks ringchat/2 a text is one frame of up to `maxTextBytes`.",
      },
    },
    maxHandshakes: {
      kind: integerKind(1),
      flag: "--max-handshakes",
      default: 64,
      group: LIMITS,
      help: "Accepted connections handshaking at once; more are closed.",
      docs: {
        limit: "Connections handshaking at once",
        details:
          "A ring member gets about one or two backward links, and even a room where everybody joins at once spreads its handshakes over time. Past it, new connections are closed at once: 64 pending connections hold at most 64 × 66.5 KB ≈ 4 MB of buffers, and a connection flood cannot exhaust file descriptors.",
      },
    },
    maxQueuedBytes: {
      kind: integerKind(1),
      flag: "--max-queued-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: MAX_QUEUED_BYTES,
      group: LIMITS,
      help: "Bytes waiting to be sent on one link before it is dropped as too slow.",
      docs: {
        limit: "Bytes queued to write on one link",
        short: "Bytes queued to one link",
        details:
          "256 largest texts. A link whose other side stops reading is dropped rather than letting the queue grow without end.",
      },
    },
    historyMaxMessages: {
      kind: integerKind(1, 100_000),
      flag: "--history-max-messages",
      metavar: "N",
      default: 1000,
      group: LIMITS,
      help: "Messages of the room history kept (shown by /history, answered to members).",
      docs: {
        limit: "Messages kept in the room history",
        short: "History messages",
        details:
          "Issue 11: the last 1,000 messages of the room, in `<data dir>/history.sqlite` (in memory with `--data-dir none`), at most 4 MiB of text per room and 16 rooms; pruned on every write, so the file stays small (about 1 MB for 1,000 messages of 100 bytes) whatever others send. A newcomer is sent the last 50, a member coming back what it missed, at most 1,000 per answer.",
      },
    },
    historyMaxAgeMs: {
      kind: integerKind(1),
      flag: "--history-max-age-ms",
      metavar: "MS",
      unit: "ms",
      default: 24 * 60 * 60_000,
      group: LIMITS,
      help: "How long a message of the room history is kept.",
      docs: {
        limit: "Age of the room history",
        short: "History age",
        details:
          "Issue 11: a member away for up to 24 h that comes back sees what it missed, as long as one member that saw it is online. Counted from the earlier of the message's time and its arrival, so a message passed around again does not live longer.",
      },
    },
    dmConsentTimeoutMs: {
      kind: integerKind(1),
      flag: "--dm-consent-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 60_000,
      group: TIMINGS,
      help: "How long a request to talk (/msg) waits for consent.",
      docs: {
        limit: "Wait for consent to a request to talk",
        short: "Consent to a request to talk",
        details:
          "Issue 12: the other side answers `/accept` or `/reject`; after it the messages waiting are dropped and `no-answer` reported. The registry forgets the request after its `requestTtlMs` (60 s) anyway, so a longer wait only holds the messages longer.",
      },
    },
    dmMaxQueued: {
      kind: integerKind(1),
      flag: "--dm-max-queued",
      metavar: "N",
      default: 64,
      group: LIMITS,
      help: "Direct messages to one user waiting for consent or a receipt.",
      docs: {
        limit: "Direct messages to one user waiting for consent or a receipt",
        short: "Direct messages waiting per user",
        details:
          "A person types a few while the other side decides; past it `/msg` is refused (`busy`) rather than letting a user that never answers hold a sender's memory.",
      },
    },
    dmMaxLinks: {
      kind: integerKind(1),
      flag: "--dm-max-links",
      metavar: "N",
      default: 32,
      group: LIMITS,
      help: "Direct-message connections open at once.",
      docs: {
        limit: "Direct-message connections at once, in all",
        short: "Direct-message connections",
        details:
          "One per person I talk to; a connection past it is closed at once, so consents given out cannot exhaust file descriptors.",
      },
    },
    dmMaxLinksPerConsent: {
      kind: integerKind(1),
      flag: "--dm-max-links-per-consent",
      metavar: "N",
      default: 2,
      group: LIMITS,
      help: "Direct-message connections one consent may open at once.",
      docs: {
        limit: "Direct-message connections per consent (its token)",
        short: "Connections per consent",
        details:
          "One, and one more while a reconnect overlaps the old connection. Only the user the token was given to may use it.",
      },
    },
    dmLinkRate: {
      kind: integerKind(1),
      flag: "--dm-link-rate",
      metavar: "N",
      default: 50,
      group: LIMITS,
      help: "Ops per second one direct-message connection may send; past it, it is closed.",
      docs: {
        limit: "Ops per second on one direct-message connection",
        short: "Ops per direct-message connection, per second",
        details:
          "Messages and their acknowledgements: far above typing, so only a flood meets it; the connection is closed, and the next message asks for consent again.",
      },
    },
    dmLinkBurst: {
      kind: integerKind(1),
      flag: "--dm-link-burst",
      metavar: "N",
      default: 100,
      group: LIMITS,
      help: "Ops one direct-message connection may send at once above its rate.",
      docs: {
        limit: "Ops at once on one direct-message connection above that rate",
        short: "Ops per direct-message connection at once",
        details:
          "Room for the messages queued while waiting for consent (`dmMaxQueued`) and their acknowledgements, sent together when the connection opens.",
      },
    },
    maxRegistryFrameBytes: {
      kind: integerKind(16),
      flag: "--max-registry-frame-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: REGISTRY_REPLY_MAX_FRAME_BYTES,
      group: LIMITS,
      help: "Largest registry reply accepted.",
      docs: {
        limit: "Largest registry reply",
        details:
          "An `M` for a room of 10,000 members with the longest fields is about 2.9 MB. A registry that sends more, or garbage, is dropped and reconnected to.",
      },
    },
    maxTextRate: {
      kind: rateKind(),
      flag: "--max-text-rate",
      default: 200,
      group: LIMITS,
      help: "Messages per second accepted from one origin; more are dropped. 0: no limit.",
      docs: {
        limit: "Messages per second from one origin (originHID)",
        short: "Messages per origin, per second",
        details:
          "A person types a few messages a second; pasting lines into a reference-style client that sends one message per line, bots and tests send bursts of hundreds. 200/s sustained keeps one origin from burying the rest of the room (and bounds it to 200 × 64 KiB ≈ 13 MB/s), while no legitimate sender ever meets it. Over it, the origin's messages are dropped at this peer: not shown and not forwarded, so the flood stops at the first hop. Counted after the duplicate check: copies from other paths cost nothing. Reported once per burst (`Dropping messages from NAME …`), and once more when the burst is over (`Dropped N messages from NAME …`).",
      },
    },
    textBurst: {
      kind: integerKind(1),
      flag: "--text-burst",
      default: 400,
      group: LIMITS,
      help: "Messages accepted at once from one origin above the rate.",
      docs: {
        limit: "Messages at once from one origin above that rate",
        short: "Messages per origin at once",
        details:
          "Twice the rate: a paste or a script's burst, and the catch-up a new link gets (at most 256 recent frames), go through whole.",
      },
    },
    maxLinkTextRate: {
      kind: rateKind(),
      flag: "--max-link-text-rate",
      default: 1000,
      group: LIMITS,
      help: "Messages per second accepted over one link; more are dropped. 0: no limit.",
      docs: {
        limit: "Messages per second over one link, all origins together",
        short: "Messages per link, per second",
        details:
          "A link carries the whole room's messages, so five times the per-origin rate; copies of messages already seen cost nothing. It stops a link that rotates forged origins to slip past the per-origin limit. Checked before the message is looked up or stored: over it, messages are dropped (not shown, not forwarded) and reported once per burst (`Dropping messages over the link with NAME …`); a link that goes on past it by as many messages again as its burst, in one burst of refusals, is closed and reported (`Link with NAME (IP:PORT) dropped: it sent more than …`).",
      },
    },
    linkTextBurst: {
      kind: integerKind(1),
      flag: "--link-text-burst",
      default: 2000,
      group: LIMITS,
      help: "Messages accepted at once over one link above its rate.",
      docs: {
        limit: "Messages at once over one link above that rate",
        short: "Messages per link at once",
        details:
          "Twice the rate: a new link's catch-up (at most 256 recent frames) and the bursts of several origins at once go through whole. Also the bound past which a link over its rate is closed.",
      },
    },
    orderWaitMs: {
      kind: integerKind(0, 60_000),
      flag: "--order-wait-ms",
      metavar: "MS",
      unit: "ms",
      default: 1000,
      group: LIMITS,
      help:
        "Longest a member's text waits for an earlier one of its origin still on its way. 0: none waits.",
      docs: {
        limit: "Wait of a text for an earlier one of its origin",
        short: "Wait for an earlier text",
        details:
          "A ringchat/2 member numbers its texts one after another, so a text that comes while an earlier msgID of its origin is missing waits for it: the earlier one is on another path (a pull of the tree's repair path, 300–500 ms after the send on a loaded machine, a catch-up answer, a new link's replay). Shown the moment the gap fills, else after this wait; a text with no gap before it never waits, nor do seed clients' texts (their msgIDs need not follow one another). Only msgIDs less than 64 ahead are held (the repair path's horizon), for at most 4,096 origins (docs/overlay.md §4).",
      },
    },
    orderMaxHeld: {
      kind: integerKind(0, 100_000),
      flag: "--order-max-held",
      metavar: "N",
      default: 256,
      group: LIMITS,
      help: "Texts waiting for an earlier one of their origin, at most (over all origins).",
      docs: {
        limit: "Texts waiting for an earlier one of their origin",
        short: "Texts waiting for order",
        details:
          "Each held text is at most `maxTextBytes`, so this bounds the memory (256 × 64 KiB = 16 MiB at the most, a few KiB in practice). One more shows, in order, what the origin that has waited longest holds, at once. A member that leaves gaps in its msgIDs on purpose delays only its own texts, each by the wait at most; filling this bound it can make other origins' waiting texts show early (so perhaps out of order), never later or twice.",
      },
    },
    maxPokeRate: {
      kind: rateKind(),
      flag: "--max-poke-rate",
      default: 10,
      group: LIMITS,
      help: "Pokes answered per second from one address; more are ignored. 0: no limit.",
      docs: {
        limit: "Pokes answered per second from one address (ip:port)",
        short: "Pokes answered per address, per second",
        details:
          "A poke is a command a person types; even a script poking every member pokes each once.",
      },
    },
    pokeBurst: {
      kind: integerKind(1),
      flag: "--poke-burst",
      default: 20,
      group: LIMITS,
      help: "Pokes answered at once from one address above the rate.",
      docs: {
        limit: "Pokes answered at once from one address above that rate",
        short: "Pokes answered per address at once",
        details: "A few quick pokes in a row always get their `A`.",
      },
    },
    maxStrangerPokeRate: {
      kind: rateKind(),
      flag: "--max-stranger-poke-rate",
      default: 100,
      group: LIMITS,
      help: "Pokes answered per second from all non-member addresses together. 0: no limit.",
      docs: {
        limit: "Pokes answered per second from all addresses that are not a member's, together",
        short: "Pokes answered to non-members, all together",
        details:
          "Bursts of twice the rate. Bounds the answers to a flood from many (forged) addresses to 100 small datagrams a second in all. A member's address (the ip and port of its entry in my member list) skips this cap, so members are still answered during such a flood.",
      },
    },
  } as const,
);

/** Flags of the program that are not options of the peer engine. */
export const PEER_PROGRAM_FLAGS = Object.freeze(
  {
    ...LOG_FILE_FLAGS,
    json: {
      kind: switchKind(),
      flag: "--json",
      default: false,
      help: "One JSON object per event on stdout; logs as JSON lines on stderr.",
    },
    logLevel: {
      kind: choiceKind(LOG_LEVELS, "LEVEL"),
      flag: "--log-level",
      default: "warning",
      help: `Lowest level of log records written (to stderr or --log-file): ${
        LOG_LEVELS.join(", ")
      }.`,
    },
  } as const,
);

// The table and the interface hold the same options with the same types.
const _tableMatchesInterface: SameType<
  OptionValues<typeof PEER_OPTION_TABLE>,
  Required<Omit<PeerOptions, "onEvent" | "plain" | "password">>
> = true;

type Limit = {
  [K in keyof typeof PEER_OPTION_TABLE]: (typeof PEER_OPTION_TABLE)[K] extends { docs: object } ? K
    : never;
}[keyof typeof PEER_OPTION_TABLE];

/**
 * The defaults of the timings and limits of {@linkcode PeerOptions}; why each
 * limit is what it is: `docs/peer_limits.md`. In short, every limit is far
 * above what a peer following PROTOCOL.md (or a person typing) ever needs,
 * and low enough that one misbehaving client cannot take the peer's memory,
 * its event loop, its registry connection or its user's screen.
 */
export const PEER_DEFAULTS: Readonly<{ [K in Limit]: number }> = Object.freeze(
  Object.fromEntries(
    Object.entries(PEER_OPTION_TABLE).filter(([, row]) => "docs" in row).map((
      [key, row],
    ) => [key, row.default]),
  ) as { [K in Limit]: number },
);

/** Options with every default applied. */
export type ResolvedOptions =
  & Required<
    Omit<
      PeerOptions,
      | "advertise"
      | "name"
      | "room"
      | "password"
      | "web"
      | "dataDir"
      | "onEvent"
      | "plain"
    >
  >
  & Pick<
    PeerOptions,
    "advertise" | "name" | "room" | "password" | "web" | "dataDir" | "plain"
  >;

/**
 * Applies the defaults to `options` and checks them.
 *
 * @throws {RangeError} when an option is out of range
 */
export function resolvePeerOptions(options: PeerOptions): ResolvedOptions {
  return resolveOptions(PEER_OPTION_TABLE, options) as ResolvedOptions;
}

/** A directory path, or `none` (null): where a peer keeps what outlives it. */
function pathOrNoneKind(): OptionKind<string | null> {
  const path = stringKind("PATH");
  return {
    metavar: "PATH",
    problem: (value) => value === null || value.length > 0 ? null : "must be a path or none",
    flag: (name, metavar, description) =>
      map(
        path.flag(name, metavar ?? "PATH", description),
        (value) => value === "none" ? null : value,
      ),
    format: (value) => value ?? "none",
  };
}

const HEADER = ["Limit", "Option", "Flag", "Default", "Why"];

/** The peer's tables in `docs/peer_limits.md`, each between its marker comments. */
export const PEER_DOCS_TABLES: readonly DocsTable[] = [
  {
    marker: "peer-links",
    header: HEADER,
    rows: [
      "maxTextBytes",
      "partBytes",
      [
        "Largest frame read on a link",
        "(derived)",
        "(`--max-text-bytes`)",
        "66560: `maxTextBytes` + 1 KiB",
        "Room for the header (room, originHID, name, msgID, length: under 140 bytes with the longest fields) and the terminator. A `T` whose declared length passes it drops the link as soon as its header is read, before any content is buffered; so does a non-`T` frame that reaches it without a newline.",
      ],
      "frameTimeoutMs",
      "handshakeTimeoutMs",
      "maxHandshakes",
      "maxQueuedBytes",
      "refreshIntervalMs",
      [
        "Names and room names",
        "(fixed)",
        "(`--name`, `--room`)",
        "1–32 printable ASCII characters, no `:`",
        "PROTOCOL.md §6. My own name and room are checked by `/user` and `/join`. A handshake must name a member of my room as the registry lists it, which applies the registry's rules; a `T` must be for my room. Names that arrive in frames are shown with their control characters escaped, so a peer cannot drive the reader's terminal.",
      ],
    ],
  },
  {
    marker: "peer-flooding",
    header: HEADER,
    rows: [
      "maxTextRate",
      "textBurst",
      "maxLinkTextRate",
      "linkTextBurst",
      "orderWaitMs",
      "orderMaxHeld",
      [
        "Messages remembered to drop copies",
        "(fixed)",
        "",
        "2048 per member origin, each for 120 s, none pushed out before 5 s",
        "The dedup window (`SeenWindow`, docs/security.md) keeps state only for the HashIDs and names of listed members (and, for a keepalive interval, of those that left the list): a text from any other origin stores nothing. 2048 ≥ `textBurst` + `maxTextRate` × 5 s, so a member within its rate is never refused; a window full of entries younger than 5 s (a flood under one origin with the rate raised) refuses new texts of that origin only, which is what makes every storm die out.",
      ],
      [
        "Texts from unknown origins waiting for a member look-up",
        "(fixed)",
        "",
        "256",
        "A text from an origin that is not in my member list waits for one re-JOIN (PROTOCOL.md §6: the sender may have joined after my last list), then is shown if the registry lists it, else dropped and reported (`Dropped a message from NAME (originHID …): not a member …`). More waiting at once are dropped at once.",
      ],
      [
        "Origins admitted provisionally while the registry is unreachable",
        "(fixed)",
        "",
        "64",
        "When that re-JOIN cannot be made because the registry is unreachable (and only then), an unknown origin is admitted until the next member list, each with the normal window, so members that joined after my last list are still heard while the registry is down. A full set takes a new origin only once its oldest is 5 s old, so a storm of ever new origins is shown at most 64 times per peer and dies out. The next member list makes them members, or departed members (kept for a keepalive interval, like a member that left the list) if it does not list them.",
      ],
    ],
  },
  {
    marker: "peer-pokes",
    header: HEADER,
    rows: [
      "maxPokeRate",
      "pokeBurst",
      "maxStrangerPokeRate",
      [
        "Largest datagram read",
        "(fixed)",
        "",
        "2048 bytes",
        "The longest `K` is under 80 bytes; a longer datagram is cut and ignored as junk. Junk datagrams (anything but a well-formed `K` or an awaited `A`) are ignored and reported like every other abuse: a few at once, then one every 5 s.",
      ],
    ],
  },
  {
    marker: "peer-history",
    header: HEADER,
    rows: [
      "historyMaxMessages",
      "historyMaxAgeMs",
      [
        "Catch-up answers",
        "(fixed)",
        "",
        "1 per link at a time, 4 per link then 1 per 15 s, 4 at once, written as the link drains",
        "A member that asks again and again gets `busy`; a requester that does not read is dropped by the link's queue bound, never by the answer (each frame waits until fewer than 256 KiB are queued). So a million requests cost a million small refusals, not a million answers.",
      ],
      [
        "Catch-up answers taken",
        "(fixed)",
        "",
        "the open request's, up to its limit (1,000), 10 s idle and 60 s in all",
        "Only the frames of the request open on that link are read; entries over the text limit, with empty or over-long names, or with a current member's HashID under another name are dropped; what is left passes the store's bounds. Live messages held back while an answer is awaited: at most 2,048, at most an idle time without a request.",
      ],
    ],
  },
  {
    marker: "peer-dm",
    header: HEADER,
    rows: [
      "dmConsentTimeoutMs",
      "dmMaxQueued",
      "dmMaxLinks",
      "dmMaxLinksPerConsent",
      "dmLinkRate",
      "dmLinkBurst",
      [
        "Time to open a direct-message connection",
        "(derived)",
        "(`--handshake-timeout-ms`)",
        "3000 ms: `handshakeTimeoutMs`",
        "From dialling the address the registry gave after consent to the other side's `dm-welcome`; after it the messages go as a new request.",
      ],
      [
        "Longest direct message",
        "(derived)",
        "(`--max-text-bytes`)",
        "`maxTextBytes`; a frame may be 1 KiB longer",
        "A longer text is refused by `/msg` (`text-too-long`) and dropped when received; a longer frame closes the connection.",
      ],
      [
        "Message ids remembered per sender",
        "(fixed)",
        "",
        "1024",
        "Each direct message (and mail) is shown once even when it comes again over a new connection or as mail.",
      ],
    ],
  },
  {
    marker: "peer-registry",
    header: HEADER,
    rows: ["maxRegistryFrameBytes", "requestTimeoutMs"],
  },
  {
    marker: "peer-timings",
    header: ["Timing", ...HEADER.slice(1)],
    rows: ["keepaliveMs", "retryMs", "pokeTimeoutMs"],
  },
];
