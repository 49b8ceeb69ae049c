/**
 * {@linkcode PeopleStore} on Redis (issue 15): accounts, blocks and mail that
 * N registries share. Each check-and-write (a free name, a mailbox's bounds,
 * a block not yet made) is one command or one Lua script, so two registries
 * racing cannot both win. Durability is Redis' append-only file
 * (`appendonly yes`): a Redis killed with SIGKILL and restarted on its
 * directory has every account and mail it had acknowledged (the AOF is
 * written before the reply; `appendfsync always` also survives a power cut).
 *
 * The keyspace (prefix `P`, default `"ringchat:"`):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `P accounts` | hash | name → `{"password","createdAt"}` (JSON) |
 * | `P blocks` | hash | `["by","name"]` (JSON) → `[at, n]`, `n` from `P blocks:seq` (the order of equal `at`) |
 * | `P mail:seq` | string | the last mail id given |
 * | `P mail:box:NAME` | hash | id → `{"from","text","at"}` (JSON), NAME's mailbox |
 * | `P mail:bytes:NAME` | string | UTF-8 bytes of text in NAME's mailbox |
 * | `P people` | channel | the events of `registry/store_people_events.ts` (JSON) |
 * | `P people:ID` | channel | the `relay` events for registry ID alone |
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type LoadedScript, RedisConnection } from "./redis_connection.ts";
import type { PeopleEvent, PeopleEvents, RelayEvent } from "./store_people_events.ts";
import type {
  AccountRecord,
  BlockRecord,
  MailboxLimits,
  MailRecord,
  MailRefusal,
  NewMail,
  PeopleStore,
} from "./people_store.ts";

const encoder = new TextEncoder();
const logger = getLogger(["ringchat", "registry", "people_store"]);

const SCRIPTS = {
  /** ARGV: prefix, name, account JSON, event JSON. 1 when created (and published). */
  createAccount: `
if redis.call('HSETNX', ARGV[1] .. 'accounts', ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[1] .. 'people', ARGV[4])
return 1`,
  /** ARGV: prefix, block field, event JSON. 1 when removed (and published). */
  removeBlock: `
if redis.call('HDEL', ARGV[1] .. 'blocks', ARGV[2]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[1] .. 'people', ARGV[3])
return 1`,
  /** ARGV: prefix, name, password. 1 when the account existed. */
  setPassword: `
local key = ARGV[1] .. 'accounts'
local json = redis.call('HGET', key, ARGV[2])
if not json then return 0 end
local account = cjson.decode(json)
account.password = ARGV[3]
redis.call('HSET', key, ARGV[2], cjson.encode(account))
return 1`,
  /** ARGV: prefix, block field, at, event JSON. 1 when added (and published). */
  addBlock: `
local key = ARGV[1] .. 'blocks'
if redis.call('HEXISTS', key, ARGV[2]) == 1 then return 0 end
local n = redis.call('INCR', ARGV[1] .. 'blocks:seq')
redis.call('HSET', key, ARGV[2], '[' .. ARGV[3] .. ',' .. n .. ']')
redis.call('PUBLISH', ARGV[1] .. 'people', ARGV[4])
return 1`,
  /** ARGV: prefix, to, mail JSON, bytes, maxMessages, maxBytes. The id, or -1 when full. */
  deposit: `
local box, bytes = ARGV[1] .. 'mail:box:' .. ARGV[2], ARGV[1] .. 'mail:bytes:' .. ARGV[2]
local held = tonumber(redis.call('GET', bytes) or '0')
if redis.call('HLEN', box) + 1 > tonumber(ARGV[5]) or held + tonumber(ARGV[4]) > tonumber(ARGV[6]) then
  return -1
end
local id = redis.call('INCR', ARGV[1] .. 'mail:seq')
redis.call('HSET', box, id, ARGV[3])
redis.call('INCRBY', bytes, ARGV[4])
return id`,
  /** ARGV: prefix, to, ids…. How many were deleted. */
  deleteMail: `
local box, bytes = ARGV[1] .. 'mail:box:' .. ARGV[2], ARGV[1] .. 'mail:bytes:' .. ARGV[2]
local deleted = 0
for i = 3, #ARGV do
  local json = redis.call('HGET', box, ARGV[i])
  if json then
    redis.call('HDEL', box, ARGV[i])
    redis.call('DECRBY', bytes, cjson.decode(json).bytes)
    deleted = deleted + 1
  end
end
if redis.call('HLEN', box) == 0 then redis.call('DEL', bytes) end
return deleted`,
};

type Scripts = { [K in keyof typeof SCRIPTS]: LoadedScript };

/** Options of {@linkcode RedisPeopleStore.open}. */
export interface RedisPeopleStoreOptions {
  /** `redis://HOST:PORT[/DB]`. */
  url: string;
  /** Prefix of every key, so stores can share one database. Default `"ringchat:"`. */
  prefix?: string;
}

/** The Redis people store; see the module doc. */
export class RedisPeopleStore implements PeopleStore, PeopleEvents {
  readonly origin = crypto.randomUUID().slice(0, 8);
  readonly #redis: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #scripts: Scripts;
  readonly #prefix: string;
  readonly #listeners = new Set<(event: PeopleEvent) => void>();
  #closing: Promise<void> | null = null;

  private constructor(
    redis: RedisConnection,
    subscriber: RedisConnection,
    scripts: Scripts,
    prefix: string,
  ) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#scripts = scripts;
    this.#prefix = prefix;
  }

  /**
   * Connects (commands, and a subscriber to `P people`), loads the scripts.
   *
   * @throws {Error} when Redis does not answer
   */
  static async open(options: RedisPeopleStoreOptions): Promise<RedisPeopleStore> {
    const redis = await RedisConnection.open(options.url);
    let subscriber: RedisConnection | null = null;
    try {
      subscriber = await redis.duplicate();
      const entries = await Promise.all(
        Object.entries(SCRIPTS).map(async ([name, source]) => [name, await redis.load(source)]),
      );
      const store = new RedisPeopleStore(
        redis,
        subscriber,
        Object.fromEntries(entries) as Scripts,
        options.prefix ?? "ringchat:",
      );
      await subscriber.client.subscribe(
        [`${store.#prefix}people`, `${store.#prefix}people:${store.origin}`],
        (message: string) => store.#heard(message),
      );
      // The client subscribes again when it reconnects; what was published meanwhile is lost.
      subscriber.client.on("ready", () => store.#emit({ kind: "resync" }));
      return store;
    } catch (error) {
      await Promise.all([redis.close(), subscriber?.close()]);
      throw error;
    }
  }

  onPeopleEvent(listener: (event: PeopleEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async loggedIn(name: string, at: number, again = false): Promise<void> {
    const event: PeopleEvent = { kind: "login", name, origin: this.origin, at, again };
    await this.#command(["PUBLISH", this.#key("people"), JSON.stringify(event)]);
  }

  async publish(event: PeopleEvent & { kind: "presence" | "presence-ask" }): Promise<void> {
    await this.#command(["PUBLISH", this.#key("people"), JSON.stringify(event)]);
  }

  async send(registry: string, event: RelayEvent): Promise<void> {
    await this.#command(["PUBLISH", this.#key(`people:${registry}`), JSON.stringify(event)]);
  }

  async alive(registries: readonly string[]): Promise<Set<string>> {
    if (registries.length === 0) return new Set();
    const values = await this.#command(
      ["MGET", ...registries.map((id) => this.#key(`alive:${id}`))],
    ) as (string | null)[];
    return new Set(registries.filter((_, i) => values[i] !== null));
  }

  async createAccount(account: AccountRecord): Promise<boolean> {
    const json = JSON.stringify({ password: account.password, createdAt: account.createdAt });
    const event: PeopleEvent = { kind: "account", name: account.name };
    return await this.#script("createAccount", [account.name, json, JSON.stringify(event)]) === 1;
  }

  async account(name: string): Promise<AccountRecord | undefined> {
    const json = await this.#command(["HGET", this.#key("accounts"), name]) as string | null;
    if (json === null) return undefined;
    const { password, createdAt } = JSON.parse(json) as Omit<AccountRecord, "name">;
    return { name, password, createdAt };
  }

  async accountNames(): Promise<string[]> {
    const names = await this.#command(["HKEYS", this.#key("accounts")]) as string[];
    return names.sort(byCodePoint);
  }

  async setPassword(name: string, password: string): Promise<boolean> {
    return await this.#script("setPassword", [name, password]) === 1;
  }

  async addBlock(block: BlockRecord): Promise<boolean> {
    const event: PeopleEvent = { kind: "block", by: block.by, name: block.name, blocked: true };
    return await this.#script("addBlock", [
      blockField(block.by, block.name),
      String(block.at),
      JSON.stringify(event),
    ]) === 1;
  }

  async removeBlock(by: string, name: string): Promise<boolean> {
    const event: PeopleEvent = { kind: "block", by, name, blocked: false };
    return await this.#script("removeBlock", [blockField(by, name), JSON.stringify(event)]) === 1;
  }

  async blocks(): Promise<BlockRecord[]> {
    const flat = await this.#command(["HGETALL", this.#key("blocks")]) as
      | string[]
      | Record<string, string>;
    // RESP3 answers a map, RESP2 a flat list.
    const pairs = Array.isArray(flat) ? chunkPairs(flat) : Object.entries(flat);
    return pairs
      .map(([field, value]) => {
        const [by, name] = JSON.parse(field) as [string, string];
        const [at, n] = JSON.parse(value) as [number, number];
        return { by, name, at, n };
      })
      .sort((a, b) => a.at - b.at || a.n - b.n)
      .map(({ by, name, at }) => ({ by, name, at }));
  }

  async depositMail(mail: NewMail, limits: MailboxLimits): Promise<number | MailRefusal> {
    const bytes = encoder.encode(mail.text).length;
    const json = JSON.stringify({ from: mail.from, text: mail.text, at: mail.at, bytes });
    const id = await this.#script("deposit", [
      mail.to,
      json,
      String(bytes),
      String(limits.maxMessages),
      String(limits.maxBytes),
    ]) as number;
    return id === -1 ? "mailbox-full" : id;
  }

  async mailFor(to: string): Promise<MailRecord[]> {
    const flat = await this.#command(["HGETALL", this.#key(`mail:box:${to}`)]) as
      | string[]
      | Record<string, string>;
    const pairs = Array.isArray(flat) ? chunkPairs(flat) : Object.entries(flat);
    return pairs
      .map(([id, value]) => {
        const { from, text, at } = JSON.parse(value) as Omit<MailRecord, "id" | "to">;
        return { id: Number(id), to, from, text, at };
      })
      .sort((a, b) => a.id - b.id);
  }

  async deleteMail(to: string, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return await this.#script("deleteMail", [to, ...ids.map(String)]) as number;
  }

  /** Closes the connection; the contract's `close(): void` may await the promise (every call gets the same). */
  close(): Promise<void> {
    this.#listeners.clear();
    this.#closing ??= Promise.all([this.#subscriber.close(), this.#redis.close()]).then(() => {});
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  #heard(message: string): void {
    let event: PeopleEvent;
    try {
      event = JSON.parse(message);
    } catch {
      return;
    }
    if ((event as { kind?: unknown } | null)?.kind === "resync") return;
    this.#emit(event);
  }

  #emit(event: PeopleEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.error("A people event listener failed: {error}", { error });
      }
    }
  }

  #command(args: string[]): Promise<unknown> {
    if (this.#closing !== null) return Promise.reject(new TypeError("The people store is closed"));
    return this.#redis.client.sendCommand(args);
  }

  #script(name: keyof Scripts, args: string[]): Promise<unknown> {
    if (this.#closing !== null) return Promise.reject(new TypeError("The people store is closed"));
    return this.#redis.run(this.#scripts[name], [this.#prefix, ...args]);
  }
}

function blockField(by: string, name: string): string {
  return JSON.stringify([by, name]);
}

function chunkPairs(flat: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return pairs;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
