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
import { REGISTRY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import type { DocsTable } from "../lib/option_docs.ts";
import { AddressList } from "./source_address.ts";
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
      help: "Address to listen on.",
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
  } as const,
);

/** Flags of the program that are not options of the registry. */
export const REGISTRY_PROGRAM_FLAGS = Object.freeze(
  {
    logLevel: {
      kind: choiceKind(LOG_LEVELS, "LEVEL"),
      flag: "--log-level",
      default: "info",
      help: `Lowest level of log records written to stderr: ${LOG_LEVELS.join(", ")}.`,
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
];
