/**
 * One connection to Redis as the registry's stores use it (issue 15): the
 * pinned node-redis client (`@redis/client`), Lua scripts run by their SHA
 * (`EVALSHA`, one round trip; `EVAL` once after Redis lost its script cache),
 * commands that fail at once while Redis is unreachable instead of queueing,
 * and one log line per outage.
 *
 * @module
 */

import { createClient } from "@redis/client";
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["ringchat", "registry", "redis"]);

/** A raw Redis reply: what a Lua script returns, in RESP2. */
export type RedisReply = string | number | null | RedisReply[];

/**
 * Per Redis URL, how many of this process's connections to it are down: the
 * first to fail logs the outage, the last to come back logs its end (a
 * registry holds four connections; an outage is one error line).
 */
const downByUrl = new Map<string, number>();

/** The longest wait between two reconnection attempts, in ms. */
const MAX_RECONNECT_MS = 1000;

function newClient(url: string, reconnectStrategy: (retries: number) => number | Error) {
  return createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } });
}

type Client = ReturnType<typeof newClient>;

/** A Lua script and the SHA1 Redis knows it by. */
export interface LoadedScript {
  readonly source: string;
  readonly sha: string;
}

/** A connected client; see the module doc. */
export class RedisConnection {
  readonly #client: Client;
  readonly #url: string;
  #down = false;
  /** When the client's pending reconnection wait ends (its timer cannot be cancelled). */
  #waitEnds = 0;
  #opened = false;

  private constructor(url: string) {
    this.#url = url;
    const client = newClient(url, (retries) => {
      // Opening fails at once; an open connection keeps trying.
      if (!this.#opened) return new Error(`Redis at ${url} does not answer`);
      const ms = Math.min(25 * 2 ** retries, MAX_RECONNECT_MS);
      this.#waitEnds = Date.now() + ms;
      return ms;
    });
    this.#client = client;
    client.on("error", (error: unknown) => {
      if (this.#down) return;
      this.#down = true;
      const down = (downByUrl.get(url) ?? 0) + 1;
      downByUrl.set(url, down);
      if (down === 1) logger.error("Redis at {url} failed: {error}", { url, error });
    });
    client.on("ready", () => this.#up());
  }

  /**
   * Connects to `url` (`redis://HOST:PORT[/DB]`).
   *
   * @throws {Error} when Redis does not answer
   */
  static async open(url: string): Promise<RedisConnection> {
    const connection = new RedisConnection(url);
    try {
      await connection.#client.connect();
      connection.#opened = true;
    } catch (error) {
      await connection.close();
      throw error;
    }
    return connection;
  }

  /** True while Redis answers (false during an outage). */
  get up(): boolean {
    return !this.#down && this.#client.isReady;
  }

  /** True when Redis answers a PING within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<boolean> {
    if (!this.#client.isReady) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) =>
      timer = setTimeout(() => resolve(false), timeoutMs)
    );
    try {
      return await Promise.race([
        this.#client.sendCommand<string>(["PING"]).then((r) => r === "PONG", () => false),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** This connection answers again (or closed): the outage ends for it. */
  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    const down = (downByUrl.get(this.#url) ?? 1) - 1;
    if (down > 0) downByUrl.set(this.#url, down);
    else {
      downByUrl.delete(this.#url);
      logger.info("Redis at {url} answers again", { url: this.#url });
    }
  }

  /** A second connection to the same Redis (a subscriber cannot run commands). */
  duplicate(): Promise<RedisConnection> {
    return RedisConnection.open(this.#url);
  }

  /** The client itself, for subscribing and monitoring. */
  get client(): Client {
    return this.#client;
  }

  /** Loads `source` into Redis' script cache. */
  async load(source: string): Promise<LoadedScript> {
    const sha = await this.#client.sendCommand<string>(["SCRIPT", "LOAD", source]);
    return { source, sha };
  }

  /** Runs a loaded script with no KEYS and these ARGV: one round trip. */
  async run(script: LoadedScript, args: readonly string[]): Promise<RedisReply> {
    try {
      return await this.#client.sendCommand<RedisReply>(["EVALSHA", script.sha, "0", ...args]);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      // Redis restarted and forgot its scripts: EVAL runs and caches it again.
      return await this.#client.sendCommand<RedisReply>(["EVAL", script.source, "0", ...args]);
    }
  }

  /**
   * Closes the connection: politely when Redis answers, else at once, then
   * waits out a pending reconnection timer so that nothing outlives it.
   */
  async close(): Promise<void> {
    this.#up();
    if (this.#client.isOpen) {
      if (this.#client.isReady) await this.#client.close();
      else this.#client.destroy();
    }
    const wait = this.#waitEnds - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 5));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
