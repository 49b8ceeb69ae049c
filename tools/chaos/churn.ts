/**
 * A JOIN-and-close churn into a room (doors-churn of ./attacks.ts), run in
 * a thread of its own (./churn_worker.ts): the attacker is another host,
 * so its connects do not delay what the attack times on the main thread
 * (a member's keepalive), only the registry they both reach.
 *
 * @module
 */

import { startThread } from "./thread.ts";

/** How a churn goes. */
export interface ChurnPlan {
  host: string;
  port: number;
  /** The room each churner JOINs. */
  room: string;
  /** JOIN-and-close started a second; 0: unpaced (as fast as 200 in flight go). */
  rate: number;
  /** The loopback source address the churners connect from; null: the system's choice. */
  from: string | null;
}

/** What the churn thread (./churn_worker.ts) is told. */
export type ChurnOrder = { type: "start"; plan: ChurnPlan } | { type: "stop" };

/** What the churn thread tells: it runs, or what it did once stopped. */
export type ChurnReport =
  | { type: "ready" }
  | {
    type: "churned";
    /** JOIN-and-close that connected and wrote their JOIN. */
    churned: number;
    /** From the churn's start to its stop, ms. */
    ms: number;
  };

/** A churn running; see {@linkcode startChurn}. */
export interface Churn extends AsyncDisposable {
  /** Stops the churn, waits for what is in flight, and says how many were churned in how long. */
  stop(): Promise<{ churned: number; ms: number }>;
}

/** Starts the churn `plan` in a thread of its own; resolves once it runs. */
export async function startChurn(plan: ChurnPlan): Promise<Churn> {
  const thread = await startThread<ChurnOrder, ChurnReport>(
    new URL("./churn_worker.ts", import.meta.url),
    "churn",
    { type: "start", plan },
  );
  const stop = async () => {
    const report = await thread.finish({ type: "stop" });
    if (report.type !== "churned") throw new Error("The churn thread sent no count");
    return { churned: report.churned, ms: report.ms };
  };
  return {
    stop,
    async [Symbol.asyncDispose]() {
      await stop().catch(() => undefined);
    },
  };
}
