/**
 * `deno task cluster --web`: one page showing the whole cluster's overlay,
 * every peer's links, redrawn live as peers are killed and restarted. The
 * links come from the peers' own `--json` events (`link` up and down), so
 * the picture is what the peers believe, not what the cluster assumes. It
 * is served like a peer's page (`peer/web/http.ts`: token, Host and Origin
 * checks); each socket message is `{"type":"overlay","peers":[…]}` or
 * `{"type":"line","text":…}`.
 *
 * @module
 */

import { hashId } from "../../lib/sdbm.ts";
import type { PeerEvent } from "../../peer/events.ts";
import { CLUSTER_PAGE } from "../../peer/web/assets.ts";
import { serveGuarded, type WebAddress, type WebServer } from "../../peer/web/http.ts";
import type { PeerProcess } from "../process/peer_process.ts";

/** One peer as the page draws it. */
export interface OverlayPeer {
  name: string;
  hashId: string;
  alive: boolean;
  forward: string | null;
  backward: string[];
}

interface Watched {
  process: PeerProcess;
  forward: string | null;
  backward: Set<string>;
}

/** The cluster's overlay, kept from the peers' events, and the page that shows it. */
export class ClusterWeb implements AsyncDisposable {
  readonly #peers = new Map<string, Watched>();
  readonly #sockets = new Set<WebSocket>();
  #server: WebServer | null = null;

  /** Follows `peer` (a new process under an old name replaces the old one). */
  watch(peer: PeerProcess): void {
    const watched: Watched = { process: peer, forward: null, backward: new Set() };
    this.#peers.set(peer.name, watched);
    const apply = (event: PeerEvent) => {
      if (this.#peers.get(peer.name) !== watched || event.type !== "link") return;
      const name = event.peer.name;
      if (event.direction === "forward") {
        if (event.state === "up") watched.forward = name;
        else if (watched.forward === name) watched.forward = null;
      } else if (event.state === "up") watched.backward.add(name);
      else watched.backward.delete(name);
      this.#publish();
    };
    for (const event of peer.events) apply(event);
    peer.on(apply);
    peer.exited.then(() => this.#publish(), () => this.#publish());
    this.#publish();
  }

  /** The overlay now, in the order the peers were started. */
  overlay(): OverlayPeer[] {
    return [...this.#peers.values()].map(({ process, forward, backward }) => ({
      name: process.name,
      hashId: hashId(process.name, "127.0.0.1", process.port).toString(),
      alive: process.alive,
      forward: process.alive ? forward : null,
      backward: process.alive ? [...backward] : [],
    }));
  }

  /** Shows a log line on the page. */
  line(text: string): void {
    this.#broadcast({ type: "line", text });
  }

  /** Serves the page; resolves with its URL (token included). */
  async serve(address: WebAddress): Promise<string> {
    this.#server = await serveGuarded({
      ...address,
      page: CLUSTER_PAGE,
      onSocket: (socket) => {
        this.#sockets.add(socket);
        socket.addEventListener("close", () => this.#sockets.delete(socket));
        socket.send(JSON.stringify({ type: "overlay", peers: this.overlay() }));
      },
    });
    return this.#server.url;
  }

  #publish(): void {
    this.#broadcast({ type: "overlay", peers: this.overlay() });
  }

  #broadcast(message: unknown): void {
    const text = JSON.stringify(message);
    for (const socket of this.#sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.send(text);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server?.close();
  }
}
