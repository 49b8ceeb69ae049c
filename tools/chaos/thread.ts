/**
 * A worker thread of the attacks spoken to in typed messages: orders one
 * way, reports the other, each report taken in the order it came. The
 * attacks run in their own threads what must not share one with what they
 * time (./newcomer_worker.ts, ./churn_worker.ts): a legitimate client is
 * another host, and an attacker's work delays nothing of the victim's but
 * the target's.
 *
 * @module
 */

/** The main thread's side of a {@linkcode startThread}. */
export interface Thread<Order, Report> {
  /** Posts `order` to the thread. */
  tell(order: Order): void;
  /** Posts `order`; resolves with the next report not yet taken (rejects once the thread failed). */
  ask(order: Order): Promise<Report>;
  /**
   * Asks `order` (its last), then ends the thread, failed or not; resolves
   * with the answer. Called again, the first call's answer.
   */
  finish(order: Order): Promise<Report>;
}

/**
 * Starts the module `url` in a worker thread of its own (`what` names it
 * in its failure), tells it `first` and resolves once it answered the last
 * of them (a thread that failed first is ended).
 */
export async function startThread<Order, Report>(
  url: URL,
  what: string,
  ...first: [...Order[], Order]
): Promise<Thread<Order, Report>> {
  const worker = new Worker(url.href, { type: "module" });
  const waiting: ((report: Report) => void)[] = [];
  const early: Report[] = [];
  const failed = Promise.withResolvers<never>();
  failed.promise.catch(() => {});
  worker.onmessage = (e: MessageEvent<Report>) => {
    const taker = waiting.shift();
    if (taker === undefined) early.push(e.data);
    else taker(e.data);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    failed.reject(new Error(`The ${what} thread failed: ${e.message}`));
  };
  const tell = (order: Order) => worker.postMessage(order);
  const ask = (order: Order) => {
    tell(order);
    const report = early.shift();
    if (report !== undefined) return Promise.resolve(report);
    return Promise.race([new Promise<Report>((resolve) => waiting.push(resolve)), failed.promise]);
  };
  let finished: Promise<Report> | null = null;
  const finish = (order: Order) => finished ??= ask(order).finally(() => worker.terminate());
  try {
    for (const order of first.slice(0, -1)) tell(order);
    await ask(first[first.length - 1] as Order);
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return { tell, ask, finish };
}

/** The worker's side: its orders come to `onOrder`; `report` posts back. */
export function serveThread<Order, Report>(
  onOrder: (order: Order, report: (report: Report) => void) => void,
): void {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<Order>) => void) | null;
    postMessage(report: Report): void;
  };
  const report = (r: Report) => scope.postMessage(r);
  scope.onmessage = (e) => onOrder(e.data, report);
}
