/**
 * The peer's web page: {@linkcode serveWeb} serves it from the peer process
 * and speaks the `--json` contract over a WebSocket. Each message the page
 * sends is one input line exactly as `--json` reads it on stdin (a JSON
 * command such as `{"command":"send","text":"a:b"}`, or a text command such
 * as `/join room1`), parsed by `../commands.ts`; each message the page
 * receives is one {@linkcode PeerEvent}, the same object `--json` prints.
 * A page that opens gets the recent events first (`history.ts`), then every
 * event as it happens. `/help` answers that page alone, with an `info` event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startPeer } from "../peer.ts";
 * import { serveWeb } from "./server.ts";
 *
 * await using peer = await startPeer({ registry: { hostname: "127.0.0.1", port: 9 } });
 * await using web = await serveWeb(peer, { hostname: "127.0.0.1", port: 0 });
 * assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { executeCommand, helpText, parseInputLine } from "../commands.ts";
import type { PeerEvent } from "../events.ts";
import type { PeerHandle } from "../peer_handle.ts";
import { PEER_PAGE } from "./assets.ts";
import { EventHistory } from "./history.ts";
import { serveGuarded, type WebAddress, type WebServer } from "./http.ts";

export type { WebAddress, WebServer } from "./http.ts";

const logger = getLogger(["ringchat", "peer", "web"]);

/** Options of {@linkcode serveWeb}. */
export interface WebOptions extends WebAddress {
  /**
   * The events so far, replayed to each page that opens; default: a history
   * that starts now. `startPeer` records one from the peer's first event.
   */
  history?: EventHistory;
  /** The token in the page's URL; default a fresh random one. */
  token?: string;
}

/** Keeps `history` up to date with `peer`'s events; returns it. */
export function recordHistory(
  peer: Pick<PeerHandle, "on">,
  history = new EventHistory(),
): EventHistory {
  peer.on((event) => history.record(event));
  return history;
}

/**
 * Serves `peer`'s page on `options`' address until closed (the peer does not
 * close it: dispose of both, or let `startPeer({ web })` own it).
 */
export function serveWeb(peer: PeerHandle, options: WebOptions): Promise<WebServer> {
  const history = options.history ?? recordHistory(peer);
  return serveGuarded({
    hostname: options.hostname,
    port: options.port,
    page: PEER_PAGE,
    ...(options.token === undefined ? {} : { token: options.token }),
    onSocket: (socket) => attach(peer, history, socket),
  });
}

/** Speaks the contract with one page. */
function attach(peer: PeerHandle, history: EventHistory, socket: WebSocket): void {
  const send = (event: PeerEvent) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(event));
  };
  for (const event of history.replay()) send(event);
  const off = peer.on(send);
  socket.addEventListener("close", off);
  let queue = Promise.resolve();
  socket.addEventListener("message", (message) => {
    // One command at a time, in order, as stdin runs them.
    queue = queue.then(() => run(peer, String(message.data), send));
  });
}

async function run(peer: PeerHandle, line: string, send: (event: PeerEvent) => void) {
  const command = parseInputLine(line, true);
  if (command === null) return;
  if (command.type === "invalid") return send({ type: "error", message: command.message });
  try {
    await executeCommand(peer, command, () => send({ type: "info", message: helpText() }));
  } catch (error) {
    logger.error("Command {command} failed: {error}", { command: command.type, error });
    send({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
}
