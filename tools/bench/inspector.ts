/**
 * The V8 heap of another Deno process, through its inspector (the process
 * runs with `--inspect=127.0.0.1:0`): force a full garbage collection, then
 * read the heap in use. What RSS cannot tell: live data apart from garbage
 * the heap has not given back.
 *
 * @module
 */

/** V8 heap figures of a process after a full GC. */
export interface HeapUsage {
  usedBytes: number;
  totalBytes: number;
}

/** Collects garbage in the process behind `url` (ws://…) and returns its heap usage. */
export async function heapAfterGc(url: string, timeoutMs = 10_000): Promise<HeapUsage> {
  const ws = new WebSocket(url);
  const replies = new Map<number, (result: Record<string, unknown>) => void>();
  const failed = Promise.withResolvers<never>();
  ws.onmessage = (event) => {
    const data = JSON.parse(String(event.data));
    if (typeof data.id === "number") replies.get(data.id)?.(data.result ?? {});
  };
  ws.onerror = () => failed.reject(new Error(`Inspector ${url} failed`));
  const timer = setTimeout(() => failed.reject(new Error("Inspector timed out")), timeoutMs);
  let id = 0;
  const call = (method: string) => {
    const { promise, resolve } = Promise.withResolvers<Record<string, unknown>>();
    replies.set(++id, resolve);
    ws.send(JSON.stringify({ id, method }));
    return Promise.race([promise, failed.promise]);
  };
  try {
    await Promise.race([
      new Promise<void>((resolve) => ws.onopen = () => resolve()),
      failed.promise,
    ]);
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage");
    return { usedBytes: Number(usage.usedSize), totalBytes: Number(usage.totalSize) };
  } finally {
    clearTimeout(timer);
    failed.promise.catch(() => {});
    const closed = new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) resolve();
      else ws.onclose = () => resolve();
    });
    ws.close();
    await closed;
  }
}
