/**
 * The options of the registry: what {@linkcode RegistryOptions} holds, and
 * {@linkcode REGISTRY_OPTION_TABLE}, the one place where each option's flag,
 * bounds, default, help line and docs row are written. The defaults, the
 * validation, the `registry` flags and help, and the tables of
 * `docs/limits.md` and the README all come from it.
 *
 * @module
 */

import { LOG_LEVELS } from "../lib/logging.ts";
import { LOG_FILE_FLAGS } from "../lib/log_file.ts";
import { REGISTRY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import type { DocsTable } from "../lib/option_docs.ts";
import { AddressList } from "./source_address.ts";
import { listenAddressKind } from "../peer/web/flag.ts";
import {
  atLeastKind,
  choiceKind,
  defaultsOf,
  integerKind,
  type OptionValues,
  portKind,
  positiveKind,
  rateKind,
  resolveOptions,
  type SameType,
  stringKind,
  switchKind,
} from "../lib/option_table.ts";

/**
 * Options of {@linkcode startRegistry}; every one has a default. Each one's
 * default, bounds and flag: {@linkcode REGISTRY_OPTION_TABLE}; the limits and
 * why their defaults are what they are: `docs/limits.md`.
 */
export interface RegistryOptions {
  /** Address to listen on. */
  hostname?: string;
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** A member not heard from for more than this, in ms, is removed. */
  expiryMs?: number;
  /** How often the monitor looks for expired members, in ms. */
  sweepMs?: number;
  /** Connections served at once; more are answered `F:Server busy…` and closed. */
  maxConnections?: number;
  /** A connection that sends no valid frame within this, in ms, is closed. */
  firstFrameTimeoutMs?: number;
  /**
   * Largest frame accepted from a client; also the bound of each connection's
   * frame reader (the most it holds of an unfinished frame).
   */
  maxFrameBytes?: number;
  /** Rooms at once; a JOIN that would create one more is answered `F:…Too many chatrooms!!`. */
  maxRooms?: number;
  /** Members in one room; a JOIN that would add one more is answered `F:…Chatroom is full!!`. */
  maxMembersPerRoom?: number;
  /**
   * Requests each connection may make per second, sustained; past it (and
   * past `requestBurst`) the registry stops reading that connection until it
   * is back under the rate. Nothing is refused: the client is slowed by TCP
   * backpressure. `Infinity` turns the limit off.
   */
  requestsPerSecond?: number;
  /** Requests a connection may make at once above the sustained rate. */
  requestBurst?: number;
  /**
   * Let a JOIN take a name that another member of the room holds at another
   * ip:port, as the reference server does. When false, such a JOIN is
   * answered `F:JOIN message - Name already in use in this chatroom!!`. (The
   * same name, ip and port from another connection is refused either way
   * while its holder lives: registry/ownership.ts.)
   */
  allowDuplicateNames?: boolean;
  /**
   * A connection that has sent a valid frame, is in no room and sends
   * nothing for this long, in ms, is closed (one in a room is in none once
   * its member expires).
   */
  idleTimeoutMs?: number;
  /**
   * Connections open at once from one source address; more are answered
   * `F:Server busy - too many connections from this address!!` and closed.
   */
  maxConnectionsPerSource?: number;
  /**
   * New connections one source address may open per second, sustained; one
   * over it (and over `connectBurst`) is closed as soon as it is accepted,
   * nothing read and nothing written (the cheapest refusal: a storm of them
   * must cost less than serving). `Infinity` turns the limit off.
   */
  connectsPerSecond?: number;
  /** New connections one source address may open at once above that rate. */
  connectBurst?: number;
  /**
   * Members of one room whose connections come from one source address; a
   * JOIN adding one more is answered `F:JOIN message - Too many members from
   * this address!!`.
   */
  maxMembersPerSource?: number;
  /**
   * Rooms a source address may have members in and still create a room; a
   * JOIN creating one more is answered `F:JOIN message - Too many chatrooms
   * from this address!!`.
   */
  maxRoomsPerSource?: number;
  /**
   * Source addresses that no per-source limit and no JOIN ip check apply to:
   * addresses and IPv4 prefixes, comma separated; `""` or `"none"`: none.
   */
  trustedSources?: string;
  /**
   * Believe the ip of every JOIN (setups behind NAT, where members advertise
   * an address the registry does not see them come from). When false, a
   * JOIN from an untrusted source must advertise its own address (a loopback
   * source: any loopback address or `localhost`), or is answered
   * `F:JOIN message - IP address is not this connection's address!!`.
   */
  allowAnyIp?: boolean;
  /**
   * Where the people database (`people.db`: accounts, blocks, mail) is
   * kept; `":memory:"` keeps it in memory (lost at exit). Default for
   * {@linkcode startRegistry}: `":memory:"`; the `registry` program's
   * default is the per-user data directory's `registry` folder.
   */
  dataDir?: string;
  /**
   * `redis://HOST:PORT[/DB]`: rooms, accounts, blocks and mail live in this
   * Redis, which several registries share (`docs/scale-out.md`); `dataDir`
   * is then unused. Default: none (the rooms in memory, the people in
   * `dataDir`).
   */
  store?: string;
  /** Every name in a JOIN needs an account the connection is logged in as. */
  requireLogin?: boolean;
  /** Wrong passwords in a row that lock an account. */
  maxLoginFailures?: number;
  /** How long a locked account takes no password, in ms. */
  lockoutMs?: number;
  /** What wrong passwords count against: the account, or the account and the source address. */
  lockoutScope?: "account" | "account-and-source";
  /** Accounts at most. */
  maxAccounts?: number;
  /** Registrations one source address may make per `registrationWindowMs`. */
  maxRegistrationsPerSource?: number;
  /** The window of `maxRegistrationsPerSource`, in ms. */
  registrationWindowMs?: number;
  /** PBKDF2-HMAC-SHA-256 iterations of new password hashes. */
  passwordIterations?: number;
  /** Password hashes computed at once; default: cores − 1, at least 1. */
  hashConcurrency?: number;
  /** Password hashes waiting for a slot; one more login or register is answered `busy`. */
  maxQueuedHashes?: number;
  /** Mail messages kept for one recipient. */
  maxMailMessages?: number;
  /** UTF-8 bytes of mail text kept for one recipient. */
  maxMailBytes?: number;
  /** Mail messages one account may send per minute (burst: the same number). */
  mailPerMinute?: number;
  /** Broadcasts one sender (and one source address) may make per minute, sustained. */
  broadcastPerMinute?: number;
  /** Broadcasts one sender may make at once. */
  broadcastBurst?: number;
  /** People ops (`register`, `login`, `online`, `search`, …) per connection per second. */
  peopleRequestsPerSecond?: number;
  /** People ops a connection may make at once above that rate. */
  peopleRequestBurst?: number;
  /** DM requests and invitations one sender may have waiting for an answer. */
  maxPendingRequests?: number;
  /** A DM request or invitation not answered within this, in ms, is forgotten. */
  requestTtlMs?: number;
  /** Pushes (presence, mail, broadcast, …) queued for one connection; past it the connection is closed. */
  maxQueuedPushes?: number;
  /** Names one account may block. */
  maxBlocksPerUser?: number;
  /**
   * Where to serve Prometheus `/metrics` and `/healthz` over HTTP
   * (registry/metrics_server.ts); absent: nowhere, and requests are not
   * counted.
   */
  metrics?: { hostname: string; port: number };
  /** Presence changes are pushed this long after the first, coalesced, in ms. */
  presenceFlushMs?: number;
  /** Names whose presence changes one push round carries at most; more wait for the next. */
  maxPresenceBatch?: number;
  /**
   * Presence writes per second, to all listeners together: a round that
   * wrote to N listeners delays the next by N / this seconds (at least
   * `presenceFlushMs`).
   */
  presenceWritesPerSecond?: number;
}

/**
 * Every option of {@linkcode RegistryOptions}: flag, bounds, default, help
 * line and docs row. The defaults are chosen so that the reference server's
 * clients, rooms of 10,000 members and `deno task bench:registry` are never
 * limited, while one client cannot exhaust memory or the event loop; the
 * measurements behind each are in `docs/limits.md`.
 */
export const REGISTRY_OPTION_TABLE = Object.freeze(
  {
    port: {
      kind: portKind(),
      flag: "--port",
      default: 32340,
      help: "Port to listen on; 0 picks a free one.",
    },
    hostname: {
      kind: stringKind("ADDR"),
      flag: "--host",
      default: "0.0.0.0",
      help: "Address to listen on (:: listens on IPv6 and IPv4).",
    },
    metrics: {
      kind: listenAddressKind(),
      flag: "--metrics",
      default: undefined,
      defaultText: "off",
      help:
        "Serve Prometheus /metrics and /healthz over HTTP on this address (e.g. 127.0.0.1:9340).",
    },
    expiryMs: {
      kind: positiveKind(),
      flag: "--expiry-ms",
      metavar: "MS",
      unit: "ms",
      default: 60_000,
      help: "Remove a member not heard from for longer than this.",
      docs: {
        limit: "Members not heard from",
        details: "Removed from their room (looked for every `sweepMs`).",
      },
    },
    sweepMs: {
      kind: positiveKind(),
      flag: "--sweep-ms",
      metavar: "MS",
      unit: "ms",
      default: 20_000,
      help: "How often to look for expired members.",
      docs: {
        limit: "Time between two looks for expired members",
        details: "A member may stay listed up to this long after `expiryMs`.",
      },
    },
    maxConnections: {
      kind: positiveKind(),
      flag: "--max-connections",
      default: 10_000,
      help: "Client connections served at once; more are refused.",
      docs: {
        limit: "Connections",
        details: "`F:Server busy - too many connections!!`, then close",
      },
    },
    firstFrameTimeoutMs: {
      kind: positiveKind(),
      flag: "--first-frame-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 10_000,
      help: "Close a connection that sends no valid frame within this.",
      docs: { limit: "Time to a first valid frame", details: "Close, without a reply" },
    },
    maxFrameBytes: {
      kind: integerKind(16),
      flag: "--max-frame-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: REGISTRY_MAX_FRAME_BYTES,
      help: "Largest frame accepted, and the most held of an unfinished frame per connection.",
      docs: {
        limit: "Frame size",
        details:
          "`F:Message too long - Closing connection!!`, then close (a bad `T` header: `F:Unknown message - Unknown request!!`, close)",
      },
    },
    maxRooms: {
      kind: atLeastKind(1),
      flag: "--max-rooms",
      default: 1_000,
      help: "Rooms at once; a JOIN creating one more is refused.",
      docs: {
        limit: "Rooms",
        details: "A JOIN that would create a room: `F:JOIN message - Too many chatrooms!!`",
      },
    },
    maxMembersPerRoom: {
      kind: atLeastKind(1),
      flag: "--max-members",
      default: 10_000,
      help: "Members in one room; a JOIN adding one more is refused.",
      docs: {
        limit: "Members per room",
        details: "A JOIN that would add a member: `F:JOIN message - Chatroom is full!!`",
      },
    },
    requestsPerSecond: {
      kind: rateKind(),
      flag: "--request-rate",
      default: 1_000,
      help:
        "Requests per second per connection; over it, reading that connection pauses. 0: no limit.",
      docs: {
        limit: "Requests per connection, per second",
        short: "Requests per connection",
        details:
          "Nothing is refused: the registry stops reading that connection until it is back under the rate (`--request-rate 0`: no limit)",
      },
    },
    requestBurst: {
      kind: atLeastKind(1),
      flag: "--request-burst",
      default: 2_000,
      help: "Requests a connection may make at once above the rate.",
      docs: { limit: "Requests at once above that rate", details: "As for the rate" },
    },
    allowDuplicateNames: {
      kind: switchKind(),
      flag: "--allow-duplicate-names",
      default: false,
      help:
        "Let a JOIN take a name that another member of the room holds at another ip:port, as the reference server does.",
    },
    idleTimeoutMs: {
      kind: positiveKind(),
      flag: "--idle-timeout-ms",
      metavar: "MS",
      unit: "ms",
      default: 30_000,
      help: "Close a connection in no room that sends nothing for this long after its first frame.",
      docs: {
        limit: "Silence of a connection after its first frame",
        short: "Idle connection",
        details:
          "Closed, without a reply, when in no room; a member that stops renewing is expired after `expiryMs`, then its connection is in no room and closed too. One `L` no longer holds a connection for good; a client that lists, then JOINs within 30 s is served as before",
      },
    },
    maxConnectionsPerSource: {
      kind: atLeastKind(1),
      flag: "--max-connections-per-source",
      default: 64,
      help: "Connections open at once from one source address; more are refused.",
      docs: {
        limit: "Connections from one source address",
        short: "Connections per source",
        details:
          "`F:Server busy - too many connections from this address!!`, then close. One host cannot take the `maxConnections` (10,000 idle connections in 5 s did, issue 16); a NAT of up to 64 users fits. Not for `trustedSources`",
      },
    },
    connectsPerSecond: {
      kind: rateKind(),
      flag: "--connect-rate",
      default: 20,
      help:
        "New connections per second from one source address; one over it is refused at accept. 0: no limit.",
      docs: {
        limit: "New connections from one source address, per second",
        short: "Connect rate per source",
        details:
          "Closed at accept: nothing read, nothing written. A host that opens and closes connections as fast as it can holds few open, yet filled the listen queue and made newcomers wait 1 s for a dropped SYN (docs/security.md, connection storm). The rates of 16,384 addresses are remembered, the least recently seen forgotten first. Not for `trustedSources`",
      },
    },
    connectBurst: {
      kind: atLeastKind(1),
      flag: "--connect-burst",
      default: 128,
      help: "New connections one source address may open at once above the connect rate.",
      docs: {
        limit: "New connections at once above that rate",
        details:
          "As for the rate. A NAT of 64 users all reconnecting at once (a registry restart), two connections each, fits",
      },
    },
    maxMembersPerSource: {
      kind: atLeastKind(1),
      flag: "--max-members-per-source",
      default: 4,
      help: "Members of one room from one source address; a JOIN adding one more is refused.",
      docs: {
        limit: "Members of one room from one source address",
        short: "Members per room per source",
        details:
          "A JOIN that would add a member: `F:JOIN message - Too many members from this address!!`. A host cannot fill a room with fakes (eclipse) or churn thousands of members; a few people sharing an address still fit (behind a bigger NAT: raise it, or list it in `trustedSources`)",
      },
    },
    maxRoomsPerSource: {
      kind: atLeastKind(1),
      flag: "--max-rooms-per-source",
      default: 16,
      help: "Rooms a source address may be in and still create another; one more is refused.",
      docs: {
        limit: "Rooms created from one source address",
        short: "Rooms per source",
        details:
          "A JOIN that would create a room while the address has members in this many: `F:JOIN message - Too many chatrooms from this address!!` (joining an existing room is not limited). One host cannot create the `maxRooms` and lock room creation",
      },
    },
    trustedSources: {
      kind: { ...stringKind("LIST"), problem: (list: string) => AddressList.problem(list) },
      flag: "--trusted-sources",
      default: "127.0.0.1,::1",
      help:
        "Source addresses (and IPv4 prefixes such as 10.0.0.0/8), comma separated, that no per-source limit and no JOIN ip check apply to; none: every address is limited.",
      docs: {
        limit: "Sources exempt from the per-source limits and the ip check",
        short: "Trusted sources",
        details:
          "The loopback addresses tests, `deno task cluster` and the fault scenarios run many peers from; other loopback addresses (127.0.0.4) are limited, so the attack tests can use them. `--trusted-sources none` limits loopback too",
      },
    },
    allowAnyIp: {
      kind: switchKind(),
      flag: "--allow-any-ip",
      default: false,
      help:
        "Accept any ip in a JOIN (behind NAT); otherwise it must be the connection's source address.",
      docs: {
        limit: "The `ip` a JOIN advertises",
        short: "JOIN ip check",
        details:
          "Must be the connection's source address (from a loopback source: any loopback address or `localhost`), else `F:JOIN message - IP address is not this connection's address!!`. `--allow-any-ip` turns the check off (members behind NAT); `trustedSources` are not checked",
      },
    },
    dataDir: {
      kind: stringKind("DIR"),
      flag: "--data-dir",
      default: undefined,
      defaultText: "the per-user data directory's `registry` folder (startRegistry: `:memory:`)",
      help:
        "Where to keep the people database (accounts, blocks, mail); :memory: keeps it in memory.",
    },
    store: {
      kind: { ...stringKind("URL"), problem: storeUrlProblem },
      flag: "--store",
      default: undefined,
      defaultText: "none: the rooms in memory, the people in `dataDir`",
      help:
        "Keep rooms, accounts, blocks and mail in this Redis (redis://HOST:PORT[/DB]), shared by every registry given it.",
    },
    requireLogin: {
      kind: switchKind(),
      flag: "--require-login",
      default: false,
      help: "Every name in a JOIN needs an account the connection is logged in as.",
      docs: {
        limit: "Names in a JOIN",
        details:
          "A registered name needs a login as it: `F:JOIN message - Name registered, log in first!!`; with `--require-login` every name does: `F:JOIN message - Log in first!!`. A name nobody registered stays free, so seed clients see no difference unless the operator asks",
      },
    },
    maxLoginFailures: {
      kind: atLeastKind(1),
      flag: "--max-login-failures",
      default: 3,
      help: "Wrong passwords in a row that lock an account.",
      docs: {
        limit: "Wrong passwords in a row",
        details:
          "The account is locked for `lockoutMs` (the last wrong answer is already `locked`); no hash is spent on it meanwhile; tries being checked count, so 100 parallel guesses get 3 tries",
      },
    },
    lockoutMs: {
      kind: positiveKind(),
      flag: "--lockout-ms",
      metavar: "MS",
      unit: "ms",
      default: 60_000,
      help: "How long a locked account takes no password.",
      docs: { limit: "Lockout", details: "`locked` with `retryAfterMs`; then fresh tries" },
    },
    lockoutScope: {
      kind: choiceKind(["account", "account-and-source"] as const, "SCOPE"),
      flag: "--lockout-scope",
      default: "account",
      help:
        "What wrong passwords count against: the account, or the account and the source address.",
      docs: {
        limit: "What a lockout locks",
        details:
          "`account` (the issue's rule: anyone can keep an account locked by guessing); `account-and-source`: the owner's address keeps its tries",
      },
    },
    maxAccounts: {
      kind: integerKind(0),
      flag: "--max-accounts",
      default: 100_000,
      help: "Accounts at most; one more registration is refused.",
      docs: { limit: "Accounts", details: "`too-many-accounts`" },
    },
    maxRegistrationsPerSource: {
      kind: atLeastKind(1),
      flag: "--max-registrations-per-source",
      default: 5,
      help: "Registrations one source address may make per registrationWindowMs.",
      docs: {
        limit: "Registrations per source address",
        short: "Registrations per source",
        details:
          "`rate-limited` with `retryAfterMs`; registrations in flight count, a refused one costs no storage. Applies to `trustedSources` too",
      },
    },
    registrationWindowMs: {
      kind: positiveKind(),
      flag: "--registration-window-ms",
      metavar: "MS",
      unit: "ms",
      default: 3_600_000,
      help: "The window of maxRegistrationsPerSource.",
      docs: { limit: "Window of the registrations per source", details: "As above" },
    },
    passwordIterations: {
      kind: integerKind(1),
      flag: "--password-iterations",
      default: 600_000,
      help: "PBKDF2-HMAC-SHA-256 iterations of new password hashes (OWASP 2023: 600000).",
      docs: {
        limit: "Cost of a password hash",
        details:
          "90–340 ms of one core per login on the 2-core test machine (`docs/people.md`); a login with an older, lower count stores a new hash",
      },
    },
    hashConcurrency: {
      kind: atLeastKind(1),
      flag: "--hash-concurrency",
      default: undefined,
      defaultText: "cores − 1, at least 1",
      help: "Password hashes computed at once (off the event loop).",
      docs: {
        limit: "Password hashes at once",
        details: "One core is left to JOINs and the rest; more wait in the queue",
      },
    },
    maxQueuedHashes: {
      kind: integerKind(0),
      flag: "--max-queued-hashes",
      default: 64,
      help: "Password hashes waiting for a slot; one more login or register is answered busy.",
      docs: {
        limit: "Password hashes waiting",
        details: "`busy` at once: a login storm cannot queue unbounded work",
      },
    },
    maxMailMessages: {
      kind: atLeastKind(1),
      flag: "--max-mail-messages",
      default: 100,
      help: "Mail messages kept for one recipient.",
      docs: { limit: "Mail per recipient", details: "`mailbox-full`" },
    },
    maxMailBytes: {
      kind: atLeastKind(1),
      flag: "--max-mail-bytes",
      metavar: "BYTES",
      unit: "bytes",
      default: 65_536,
      help: "UTF-8 bytes of mail text kept for one recipient.",
      docs: {
        limit: "Mail bytes per recipient",
        details: "`mailbox-full`; one text is at most 1,024 bytes (`too-long`)",
      },
    },
    mailPerMinute: {
      kind: atLeastKind(1),
      flag: "--mail-per-minute",
      default: 10,
      help: "Mail messages one account may send per minute.",
      docs: {
        limit: "Mail sent per account",
        details:
          "`rate-limited` with `retryAfterMs`; the disk one account can fill is this per minute, each mailbox still bounded",
      },
    },
    broadcastPerMinute: {
      kind: atLeastKind(1),
      flag: "--broadcast-per-minute",
      default: 6,
      help: "Broadcasts one sender (and one source address) may make per minute.",
      docs: {
        limit: "Broadcasts per sender",
        details:
          "`rate-limited` with `retryAfterMs`; counted per name and per source address, so fresh names do not buy more",
      },
    },
    broadcastBurst: {
      kind: atLeastKind(1),
      flag: "--broadcast-burst",
      default: 3,
      help: "Broadcasts one sender may make at once.",
      docs: { limit: "Broadcasts at once", details: "As above" },
    },
    peopleRequestsPerSecond: {
      kind: positiveKind(),
      flag: "--people-request-rate",
      default: 20,
      help: "People ops (login, online, search, mail, …) per connection per second.",
      docs: {
        limit: "People ops per connection",
        details:
          "`rate-limited` with `retryAfterMs` (beside the request rate, which slows every frame): a search or online list costs more than a JOIN",
      },
    },
    peopleRequestBurst: {
      kind: atLeastKind(1),
      flag: "--people-request-burst",
      default: 40,
      help: "People ops a connection may make at once above that rate.",
      docs: { limit: "People ops at once", details: "As above" },
    },
    maxPendingRequests: {
      kind: atLeastKind(1),
      flag: "--max-pending-requests",
      default: 16,
      help: "DM requests and invitations one sender may have waiting for an answer.",
      docs: {
        limit: "Requests waiting per sender",
        details: "`rate-limited` until the oldest is answered or forgotten",
      },
    },
    requestTtlMs: {
      kind: positiveKind(),
      flag: "--request-ttl-ms",
      metavar: "MS",
      unit: "ms",
      default: 60_000,
      help: "Forget a DM request or invitation not answered within this.",
      docs: { limit: "Unanswered requests", details: "Forgotten; an answer then is `no-request`" },
    },
    maxQueuedPushes: {
      kind: atLeastKind(1),
      flag: "--max-queued-pushes",
      default: 256,
      help: "Pushes queued for one connection that is not reading them; past it, it is closed.",
      docs: {
        limit: "Pushes waiting for one connection",
        details:
          "The connection is closed (a slow reader cannot make the registry hold its presence, mail and broadcast pushes without end); 100 mails at login fit",
      },
    },
    maxBlocksPerUser: {
      kind: atLeastKind(1),
      flag: "--max-blocks",
      default: 1_000,
      help: "Names one account may block.",
      docs: { limit: "Blocks per account", details: "`too-many-blocks`" },
    },
    presenceFlushMs: {
      kind: positiveKind(),
      flag: "--presence-flush-ms",
      metavar: "MS",
      unit: "ms",
      default: 100,
      help: "Push presence changes this long after the first one, coalesced per name.",
      docs: {
        limit: "Delay of presence pushes",
        details:
          "Changes within it are pushed together, the latest state per name: a name that joins and leaves 1,000 times a second costs each listener one push per round",
      },
    },
    maxPresenceBatch: {
      kind: atLeastKind(1),
      flag: "--max-presence-batch",
      default: 64,
      help: "Names one round of presence pushes carries at most; more wait for the next round.",
      docs: {
        limit: "Presence pushes per round",
        details:
          "The rest wait for the next round (oldest first): however many connections churn, each listener gets at most this many `presence` frames per `presenceFlushMs`",
      },
    },
    presenceWritesPerSecond: {
      kind: atLeastKind(1),
      flag: "--presence-writes-per-second",
      default: 100_000,
      help:
        "Presence pushes written per second to all listeners together; rounds space out past it.",
      docs: {
        limit: "Presence writes per second, all listeners together",
        details:
          "Every hello'd connection with a name listens, so a round costs one write per listener: a round that wrote to N delays the next by N / 100,000 s (a million listeners: a round every 10 s, each carrying up to `maxPresenceBatch` names, the latest state of each)",
      },
    },
  } as const,
);

/** Flags of the program that are not options of the registry. */
export const REGISTRY_PROGRAM_FLAGS = Object.freeze(
  {
    ...LOG_FILE_FLAGS,
    logLevel: {
      kind: choiceKind(LOG_LEVELS, "LEVEL"),
      flag: "--log-level",
      default: "info",
      help: `Lowest level of log records written (to stderr or --log-file): ${
        LOG_LEVELS.join(", ")
      }.`,
    },
    json: {
      kind: switchKind(),
      flag: "--json",
      default: false,
      help: "Write log records as JSON lines.",
    },
  } as const,
);

// The table and the interface hold the same options with the same types.
const _tableMatchesInterface: SameType<
  OptionValues<typeof REGISTRY_OPTION_TABLE>,
  Required<RegistryOptions>
> = true;

/**
 * The defaults of {@linkcode RegistryOptions}, from
 * {@linkcode REGISTRY_OPTION_TABLE}. The full table, with what happens past
 * each limit and why: `docs/limits.md`.
 */
export const REGISTRY_DEFAULTS: Readonly<Required<RegistryOptions>> = Object.freeze(
  defaultsOf(REGISTRY_OPTION_TABLE) as Required<RegistryOptions>,
);

/**
 * Applies the defaults to `options` and checks them.
 *
 * @throws {RangeError} on an option out of range
 */
/** Why `url` is not a store `--store` takes, or null. */
export function storeUrlProblem(url: string): string | null {
  return /^rediss?:\/\/[^/\s]+(\/\d+)?\/?$/.test(url)
    ? null
    : "must be redis://HOST:PORT or redis://HOST:PORT/DB";
}

export function resolveRegistryOptions(options: RegistryOptions): Required<RegistryOptions> {
  return resolveOptions(REGISTRY_OPTION_TABLE, options) as Required<RegistryOptions>;
}

/** The registry's table in `docs/limits.md`, between its marker comments. */
export const REGISTRY_DOCS_TABLES: readonly DocsTable[] = [
  {
    marker: "registry",
    header: ["Limit", "Option", "Flag", "Default", "Past it"],
    rows: [
      "maxFrameBytes",
      [
        "Per-connection input buffer",
        "(derived)",
        "(`--max-frame-bytes`)",
        "2 KiB read buffer + ≤ 6 KiB reader",
        "Cannot be passed: the frame size is refused first",
      ],
      "maxConnections",
      "firstFrameTimeoutMs",
      "maxConnectionsPerSource",
      "connectsPerSecond",
      "connectBurst",
      "idleTimeoutMs",
      "maxRooms",
      "maxMembersPerRoom",
      "maxRoomsPerSource",
      "maxMembersPerSource",
      "trustedSources",
      "allowAnyIp",
      [
        "Room and user names",
        "(fixed: `MAX_NAME_BYTES`, `lib/limits.ts`)",
        "",
        "1–32 bytes, no control character",
        "`F:JOIN message - Room name longer than 32 bytes!!` (or `User name`), `F:JOIN message - Wrong format!!`",
      ],
      [
        "`ip` field",
        "(fixed: `MAX_IP_BYTES`)",
        "",
        "253 bytes",
        "`F:JOIN message - IP address longer than 253 bytes!!`",
      ],
      "requestsPerSecond",
      "requestBurst",
      "expiryMs",
      "sweepMs",
    ],
  },
  {
    marker: "registry-people",
    header: ["Limit", "Option", "Flag", "Default", "Past it"],
    rows: [
      "requireLogin",
      "maxLoginFailures",
      "lockoutMs",
      "lockoutScope",
      "maxAccounts",
      "maxRegistrationsPerSource",
      "registrationWindowMs",
      "passwordIterations",
      "hashConcurrency",
      "maxQueuedHashes",
      "peopleRequestsPerSecond",
      "peopleRequestBurst",
      "maxMailMessages",
      "maxMailBytes",
      "mailPerMinute",
      "broadcastPerMinute",
      "broadcastBurst",
      "maxPendingRequests",
      "requestTtlMs",
      "maxQueuedPushes",
      "presenceFlushMs",
      "maxPresenceBatch",
      "presenceWritesPerSecond",
      "maxBlocksPerUser",
    ],
  },
];
