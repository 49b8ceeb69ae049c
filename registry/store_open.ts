/**
 * Opens the stores of `registry --store redis://HOST:PORT[/DB]` (issue 15):
 * the rooms ({@linkcode RedisRoomStore}) and the people
 * ({@linkcode RedisPeopleStore}) that several registries share. Without
 * `--store` there is nothing to open: the registry keeps its embedded rooms
 * and its `node:sqlite` people file.
 *
 * @module
 */

import { RedisPeopleStore } from "./people_store_redis.ts";
import { RedisRoomStore } from "./room_store_redis.ts";
import { storeUrlProblem } from "./options.ts";

/** The shared stores of one registry. */
export interface SharedStores {
  readonly rooms: RedisRoomStore;
  readonly people: RedisPeopleStore;
  /** True when the store answers now (`/healthz`). */
  healthy(): Promise<boolean>;
  /** Closes both (each close may be called again). */
  close(): Promise<void>;
}

/** The options {@linkcode openSharedStores} reads. */
export interface SharedStoreOptions {
  /** `redis://HOST:PORT[/DB]`, or undefined (or empty) for the embedded stores. */
  readonly store?: string | undefined;
  readonly maxRooms: number;
  readonly maxMembersPerRoom: number;
  readonly allowDuplicateNames: boolean;
  /** The per-source limits, counted in the store across registries (default: none). */
  readonly maxMembersPerSource?: number;
  readonly maxRoomsPerSource?: number;
}

/**
 * The shared stores of `options.store`, or null when it names none.
 *
 * @throws {RangeError} on a malformed URL
 * @throws {Error} when Redis does not answer
 */
export async function openSharedStores(
  options: SharedStoreOptions,
): Promise<SharedStores | null> {
  const url = options.store;
  if (url === undefined || url === "") return null;
  const problem = storeUrlProblem(url);
  if (problem !== null) throw new RangeError(`--store ${problem}, got ${url}`);
  const rooms = await RedisRoomStore.open({
    url,
    maxRooms: options.maxRooms,
    maxMembersPerRoom: options.maxMembersPerRoom,
    allowDuplicateNames: options.allowDuplicateNames,
    maxMembersPerSource: options.maxMembersPerSource,
    maxRoomsPerSource: options.maxRoomsPerSource,
  });
  let people;
  try {
    people = await RedisPeopleStore.open({ url });
  } catch (error) {
    await rooms.close();
    throw error;
  }
  return {
    rooms,
    people,
    healthy: () => rooms.healthy(),
    close: async () => void await Promise.all([rooms.close(), people.close()]),
  };
}
