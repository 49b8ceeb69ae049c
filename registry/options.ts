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
      "maxRooms",
      "maxMembersPerRoom",
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
