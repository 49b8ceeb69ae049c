/**
 * The HTTP side of a web page served from a ringchat process (`Deno.serve`):
 * `/?token=…` is the page, `/socket?token=…` its WebSocket, and the scripts
 * and style sheet of `assets.ts` beside them. Every request passes the
 * checks of `guard.ts` first; a refused one gets `403` and a one-line reason.
 * Both the peer's page and the cluster's overlay page are served by it.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type Asset, STATIC_ASSETS } from "./assets.ts";
import { hostProblem, newToken, originProblem, tokenMatches } from "./guard.ts";

const logger = getLogger(["ringchat", "peer", "web"]);

/** Where to listen. */
export interface WebAddress {
  /** Listen address; `127.0.0.1` keeps the page to this machine. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
}

/** What {@linkcode serveGuarded} serves. */
export interface GuardedSite extends WebAddress {
  /** The page at `/`. */
  page: Asset;
  /** Called with each accepted WebSocket, once it is open. */
  onSocket(socket: WebSocket): void;
  /** The token; default a fresh random one. */
  token?: string;
}

/** A running web server. */
export interface WebServer extends AsyncDisposable {
  /** The page's address with its token: what the user opens. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Closes every socket and stops listening. Idempotent. */
  close(): Promise<void>;
}

const HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** Serves `site` on its address; see the module doc. */
export async function serveGuarded(site: GuardedSite): Promise<WebServer> {
  const token = site.token ?? newToken();
  const sockets = new Set<WebSocket>();
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: site.hostname,
    port: site.port,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (error) => {
      logger.error("Web request failed: {error}", { error });
      return new Response("Internal error", { status: 500 });
    },
  }, (request): Response => answer(request, server.addr.port));

  function answer(request: Request, port: number): Response {
    const url = new URL(request.url);
    const host = request.headers.get("host");
    const isSocket = url.pathname === "/socket";
    const problem = hostProblem(host, port) ??
      originProblem(request.headers.get("origin"), host, isSocket) ??
      (request.method === "GET" ? null : "only GET") ??
      (isSocket || url.pathname === "/"
        ? (tokenMatches(url.searchParams.get("token"), token) ? null : "wrong or missing token")
        : null);
    if (problem !== null) {
      logger.warn("Refused a web request for {path}: {problem}", { path: url.pathname, problem });
      return new Response(`Refused: ${problem}\n`, {
        status: 403,
        headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (isSocket) return upgrade(request);
    const asset = url.pathname === "/" ? site.page : STATIC_ASSETS[url.pathname];
    if (asset === undefined) {
      return new Response("Not found\n", { status: 404, headers: HEADERS });
    }
    return new Response(asset.body, { headers: { ...HEADERS, "content-type": asset.type } });
  }

  function upgrade(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket\n", { status: 426, headers: HEADERS });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    sockets.add(socket);
    socket.addEventListener("close", () => sockets.delete(socket));
    socket.addEventListener("open", () => site.onSocket(socket));
    return response;
  }

  let closing: Promise<void> | null = null;
  async function close(): Promise<void> {
    for (const socket of sockets) {
      const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
      try {
        socket.close(1001, "The server is going away");
      } catch {
        // Already closing.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([closed, new Promise((resolve) => timer = setTimeout(resolve, 1000))]);
      clearTimeout(timer);
    }
    await server.shutdown();
  }

  const addr = await listening.promise;
  const shown = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  return {
    url: `http://${shown.includes(":") ? `[${shown}]` : shown}:${addr.port}/?token=${token}`,
    port: addr.port,
    close: () => closing ??= close(),
    [Symbol.asyncDispose]: () => closing ??= close(),
  };
}
