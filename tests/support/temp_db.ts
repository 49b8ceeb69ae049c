/**
 * A people database file in a fresh temporary directory, removed with the
 * directory when disposed: `await using db = await tempDbPath();`.
 *
 * @module
 */

import { join } from "node:path";

/** A temporary database path; disposing it removes its directory. */
export interface TempDb extends AsyncDisposable {
  /** The directory holding the file. */
  readonly dir: string;
  /** `people.db` in that directory (not created yet). */
  readonly path: string;
}

/** Makes a temporary directory and names a database file in it. */
export async function tempDbPath(): Promise<TempDb> {
  const dir = await Deno.makeTempDir({ prefix: "ringchat-people-test-" });
  return {
    dir,
    path: join(dir, "people.db"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
