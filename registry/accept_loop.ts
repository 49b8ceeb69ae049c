/**
 * The registry's accept loop: takes connections from a listener and hands
 * each to a callback. A failed `accept()` is one of two kinds:
 *
 * - **Per connection**: the client reset or aborted before it was accepted
 *   (`ECONNABORTED`, `ENOTCONN`, `ECONNRESET`, `EINTR`). Nothing is wrong
 *   with the listener: the loop goes on at once, so a storm of resets cannot
 *   stall newcomers (issue 16: a 50 ms sleep per reset did, at ~110 resets/s).
 * - **Resource** (anything else: `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`):
 *   accepting again at once would spin, so the loop waits
 *   {@linkcode ACCEPT_BACKOFF_MS} ms, doubling while the errors go on up to
 *   {@linkcode ACCEPT_BACKOFF_MAX_MS}, and back to the start after an accept
 *   succeeds. Each wait is logged (warning) and counted.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const logger = getLogger(["ringchat", "registry", "accept"]);

/** The first wait after a resource error of `accept()`, in ms. */
export const ACCEPT_BACKOFF_MS = 5;
/** The longest wait between two failing accepts, in ms. */
export const ACCEPT_BACKOFF_MAX_MS = 200;

/** What the loop accepts from: a `Deno.Listener` or anything with its `accept()`. */
export interface Acceptor<C> {
  accept(): Promise<C>;
}

/** What an accept loop has seen. */
export interface AcceptCounts {
  /** Connections accepted. */
  accepted: number;
  /** Failed accepts of a connection that went away first; the loop went on at once. */
  perConnectionErrors: number;
  /** Failed accepts for want of a resource; each was followed by a wait. */
  resourceErrors: number;
  /** All the waits after resource errors together, in ms. */
  backoffMs: number;
}

/**
 * True for an `accept()` error that concerns only the connection being
 * accepted (it was reset or aborted while queued), not the listener.
 */
export function isPerConnectionAcceptError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.Interrupted;
}

/**
 * Accepts from `listener` until `closing()` is true or the listener is
 * closed (`BadResource`), passing each connection to `onConnection`.
 * Resolves when it stops; `counts` is updated as it goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptLoop, type AcceptCounts } from "./accept_loop.ts";
 * let calls = 0;
 * const listener = {
 *   accept(): Promise<string> {
 *     calls++;
 *     if (calls <= 3) return Promise.reject(new Deno.errors.ConnectionAborted("reset"));
 *     if (calls === 4) return Promise.resolve("conn");
 *     return Promise.reject(new Deno.errors.BadResource("closed"));
 *   },
 * };
 * const counts: AcceptCounts = { accepted: 0, perConnectionErrors: 0, resourceErrors: 0, backoffMs: 0 };
 * const got: string[] = [];
 * await acceptLoop(listener, (c) => got.push(c), () => false, counts);
 * assert.deepEqual(got, ["conn"]);
 * assert.equal(counts.perConnectionErrors, 3);
 * assert.equal(counts.backoffMs, 0);
 * ```
 */
export async function acceptLoop<C>(
  listener: Acceptor<C>,
  onConnection: (conn: C) => void,
  closing: () => boolean,
  counts: AcceptCounts,
): Promise<void> {
  let backoff = ACCEPT_BACKOFF_MS;
  while (!closing()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (closing() || error instanceof Deno.errors.BadResource) return;
      if (isPerConnectionAcceptError(error)) {
        counts.perConnectionErrors++;
        logger.debug("Accept failed for one connection: {error}", { error });
        continue;
      }
      counts.resourceErrors++;
      counts.backoffMs += backoff;
      logger.warn("Accept failed: {error}; accepting again in {ms} ms", { error, ms: backoff });
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, ACCEPT_BACKOFF_MAX_MS);
      continue;
    }
    backoff = ACCEPT_BACKOFF_MS;
    counts.accepted++;
    onConnection(conn);
  }
}
