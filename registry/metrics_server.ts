/**
 * The registry's operations endpoint (`registry --metrics HOST:PORT`), an
 * HTTP server apart from the P2PChat port and started only when asked for:
 *
 * - `GET /metrics`: the Prometheus text of `registry/metrics.ts`;
 * - `GET /healthz`: `200 ok` while the registry serves and its store
 *   answers ({@linkcode StoreHealth}) within {@linkcode HEALTH_TIMEOUT_MS},
 *   else `503` with the reason;
 * - anything else: `404`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { RegistryMetrics } from "./metrics.ts";
import type { RegistryStats } from "./registry.ts";

const logger = getLogger(["ringchat", "registry", "metrics"]);

/** How long `/healthz` waits for the store's answer, in ms. */
export const HEALTH_TIMEOUT_MS = 1_000;

/**
 * Whether the registry's store answers. The embedded store (in this
 * process's memory) always does; a shared one (Redis) implements it with one
 * round trip (e.g. `PING`).
 */
export interface StoreHealth {
  /** Resolves true when the store answers now; false (or a rejection) when not. */
  healthy(): boolean | Promise<boolean>;
}

/** The store kept in the registry's own memory: it answers as long as the registry runs. */
export const EMBEDDED_STORE_HEALTH: StoreHealth = Object.freeze({ healthy: () => true });

/** What the server reads from its registry. */
export interface MetricsSource {
  readonly metrics: RegistryMetrics;
  /** The gauges, read at each scrape. */
  stats(): RegistryStats | Promise<RegistryStats>;
  /** False once the registry is closing. */
  serving(): boolean;
  readonly store: StoreHealth;
}

/** A running metrics server. */
export interface MetricsServer extends AsyncDisposable {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the real one when started with port 0). */
  readonly port: number;
  /** Stops listening and waits for the requests being answered. */
  close(): Promise<void>;
}

/** Starts the metrics server on `address` for `source`. */
export function serveMetrics(
  address: { hostname: string; port: number },
  source: MetricsSource,
): Promise<MetricsServer> {
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: address.hostname,
    port: address.port,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (error) => {
      logger.error("Answering a metrics request failed: {error}", { error });
      return new Response("internal error\n", { status: 500 });
    },
  }, (request) => answer(request, source));
  server.finished.catch((error) => listening.reject(error));
  return listening.promise.then((addr) => {
    logger.info("Metrics on http://{hostname}:{port}/metrics", { ...addr });
    let closing: Promise<void> | null = null;
    const close = () => closing ??= server.shutdown().then(() => server.finished);
    return { hostname: addr.hostname, port: addr.port, close, [Symbol.asyncDispose]: close };
  });
}

async function answer(request: Request, source: MetricsSource): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  if (pathname === "/metrics") {
    return new Response(source.metrics.render(await source.stats()), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  if (pathname === "/healthz") {
    const problem = await healthProblem(source);
    return new Response(problem === null ? "ok\n" : `${problem}\n`, {
      status: problem === null ? 200 : 503,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return new Response("not found\n", { status: 404 });
}

/** Why the registry is not healthy, or null when it is. */
async function healthProblem(source: MetricsSource): Promise<string | null> {
  if (!source.serving()) return "not serving: the registry is closing";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), HEALTH_TIMEOUT_MS);
  });
  try {
    const answer = await Promise.race([Promise.resolve(source.store.healthy()), late]);
    if (answer === "late") return `store not answering within ${HEALTH_TIMEOUT_MS} ms`;
    return answer ? null : "store not answering";
  } catch (error) {
    return `store failing: ${error instanceof Error ? error.message : error}`;
  } finally {
    clearTimeout(timer);
  }
}
