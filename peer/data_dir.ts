/**
 * Where a peer keeps what outlives it (the room history): `--data-dir`, or
 * a per-user default that follows each system's convention.
 *
 * | system | default |
 * | --- | --- |
 * | Linux and other Unix | `$XDG_DATA_HOME/ringchat`, else `$HOME/.local/share/ringchat` |
 * | macOS | `$HOME/Library/Application Support/ringchat` |
 * | Windows | `%LOCALAPPDATA%\ringchat`, else `%USERPROFILE%\AppData\Local\ringchat` |
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { defaultDataDir } from "./data_dir.ts";
 * const env = (name: string) => ({ HOME: "/home/alice" } as Record<string, string>)[name];
 * equal(defaultDataDir("linux", env), "/home/alice/.local/share/ringchat");
 * ```
 *
 * @module
 */

/** The file of the room history inside a data directory. */
export const HISTORY_FILE = "history.sqlite";

/**
 * The per-user data directory of ringchat on `os`, reading the environment
 * through `env`; null when the variables it needs are unset (then keep the
 * history in memory, and say so).
 */
export function defaultDataDir(
  os: typeof Deno.build.os,
  env: (name: string) => string | undefined,
): string | null {
  const set = (name: string) => {
    const value = env(name);
    return value === undefined || value === "" ? null : value;
  };
  if (os === "windows") {
    const local = set("LOCALAPPDATA");
    if (local !== null) return `${local}\\ringchat`;
    const profile = set("USERPROFILE");
    return profile === null ? null : `${profile}\\AppData\\Local\\ringchat`;
  }
  const home = set("HOME");
  if (os === "darwin") return home === null ? null : `${home}/Library/Application Support/ringchat`;
  const xdg = set("XDG_DATA_HOME");
  if (xdg !== null && xdg.startsWith("/")) return `${xdg}/ringchat`;
  return home === null ? null : `${home}/.local/share/ringchat`;
}

/**
 * Creates `dir` if needed (readable by its owner only, as it holds what was
 * said) and returns the path of the history file in it.
 */
export function prepareDataDir(dir: string): string {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return dir.endsWith(separator) ? dir + HISTORY_FILE : dir + separator + HISTORY_FILE;
}
