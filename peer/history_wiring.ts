/**
 * Opens a peer's room history from its options: the store in
 * `<dataDir>/history.sqlite` (peer/data_dir.ts), or in memory when the peer
 * has no data directory (`--data-dir none`), bounded by
 * `historyMaxMessages` and `historyMaxAgeMs`.
 *
 * @module
 */

import { prepareDataDir } from "./data_dir.ts";
import { openHistory } from "./history.ts";
import { HistorySync, type HistorySyncHost } from "./history_sync.ts";
import type { ResolvedOptions } from "./options.ts";

/** The history of a peer with options `opts`, for `host`. */
export function openPeerHistory(opts: ResolvedOptions, host: HistorySyncHost): HistorySync {
  const path = opts.dataDir === null || opts.dataDir === undefined
    ? ":memory:"
    : prepareDataDir(opts.dataDir);
  const store = openHistory({
    path,
    maxMessages: opts.historyMaxMessages,
    maxAgeMs: opts.historyMaxAgeMs,
  });
  return new HistorySync(host, store, {
    newest: Math.min(50, opts.historyMaxMessages),
    limit: Math.min(1000, opts.historyMaxMessages),
    maxTextBytes: opts.maxTextBytes,
  });
}
