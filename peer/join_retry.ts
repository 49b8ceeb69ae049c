/**
 * The JOIN a peer makes at start (`--room`): while the registry cannot be
 * reached, it says so and tries again, the delay doubling from `retryMs` up
 * to a cap, until the registry answers, the user joins by hand, or the peer
 * quits. Any other failure is shown once, as for a typed `/join`.
 *
 * @module
 */

import { Backoff } from "./backoff.ts";
import { PeerError } from "./errors.ts";
import { RegistryUnreachable } from "./registry_client.ts";

/** The longest wait between two tries, in ms (unless `retryMs` is longer). */
export const JOIN_RETRY_CAP_MS = 30_000;

/** The delays of the retries: from `retryMs`, doubling up to {@linkcode JOIN_RETRY_CAP_MS}. */
export function joinBackoff(retryMs: number): Backoff {
  return new Backoff(retryMs, Math.max(retryMs, JOIN_RETRY_CAP_MS));
}

/** What the retries need from the peer. */
export interface JoinRetryHost {
  /** Tries the JOIN once. */
  join(): Promise<void>;
  /** True while a retry still makes sense (named, in no room, not quitting). */
  stillWanted(): boolean;
  /** Shows a retry notice. */
  info(message: string): void;
  /** Shows a failure that is not retried. */
  fail(error: unknown): void;
  /** Keeps a background wait and retry. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
}

/** Joins once now; on an unreachable registry, retries in the background (see the module doc). */
export async function joinRetrying(host: JoinRetryHost, backoff: Backoff): Promise<void> {
  try {
    return await host.join();
  } catch (error) {
    if (!(error instanceof PeerError) || error.code !== "registry-unreachable") {
      return host.fail(error);
    }
    const delayMs = backoff.next();
    const cause = error.cause;
    const why = cause instanceof RegistryUnreachable
      ? `Cannot reach the registry at ${cause.address} (${cause.reason})`
      : error.message;
    host.info(`${why}; trying again in ${delayMs / 1000} s`);
    host.track(
      sleep(delayMs, host.signal).then((awake) =>
        awake && host.stillWanted() ? joinRetrying(host, backoff) : undefined
      ),
    );
  }
}

/** Waits `ms`; false at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}
