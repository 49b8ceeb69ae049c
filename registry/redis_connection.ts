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

function newClient(url: string) {
  return createClient({ url, disableOfflineQueue: true });
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

  private constructor(client: Client, url: string) {
    this.#client = client;
    this.#url = url;
    client.on("error", (error: unknown) => {
      if (this.#down) return;
      this.#down = true;
      logger.error("Redis at {url} failed: {error}", { url, error });
    });
    client.on("ready", () => {
      if (!this.#down) return;
      this.#down = false;
      logger.info("Redis at {url} answers again", { url });
    });
  }

  /**
   * Connects to `url` (`redis://HOST:PORT[/DB]`).
   *
   * @throws {Error} when Redis does not answer
   */
  static async open(url: string): Promise<RedisConnection> {
    const client = newClient(url);
    const connection = new RedisConnection(client, url);
    await client.connect();
    return connection;
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

  /** Closes the connection (at once when Redis is unreachable). */
  async close(): Promise<void> {
    if (!this.#client.isOpen) return;
    if (this.#client.isReady) await this.#client.close();
    else this.#client.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
