import { equal } from "node:assert/strict";
import { defaultDataDir, HISTORY_FILE, prepareDataDir } from "../peer/data_dir.ts";
import { openHistory } from "../peer/history.ts";

function env(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

Deno.test("data dir: follows each system's convention for per-user data", () => {
  equal(defaultDataDir("linux", env({ HOME: "/home/a" })), "/home/a/.local/share/ringchat");
  equal(
    defaultDataDir("linux", env({ HOME: "/home/a", XDG_DATA_HOME: "/data" })),
    "/data/ringchat",
  );
  // XDG says a relative XDG_DATA_HOME is invalid and ignored.
  equal(
    defaultDataDir("linux", env({ HOME: "/home/a", XDG_DATA_HOME: "data" })),
    "/home/a/.local/share/ringchat",
  );
  equal(
    defaultDataDir("darwin", env({ HOME: "/Users/a", XDG_DATA_HOME: "/x" })),
    "/Users/a/Library/Application Support/ringchat",
  );
  equal(
    defaultDataDir("windows", env({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" })),
    "C:\\Users\\a\\AppData\\Local\\ringchat",
  );
  equal(
    defaultDataDir("windows", env({ USERPROFILE: "C:\\Users\\a" })),
    "C:\\Users\\a\\AppData\\Local\\ringchat",
  );
  equal(defaultDataDir("linux", env({ HOME: "" })), null);
  equal(defaultDataDir("windows", env({})), null);
});

Deno.test("data dir: is created for its owner only and holds the history file", async () => {
  const base = await Deno.makeTempDir({ prefix: "ringchat-data-" });
  try {
    const path = prepareDataDir(`${base}/deep/ringchat`);
    equal(path, `${base}/deep/ringchat/${HISTORY_FILE}`);
    equal(prepareDataDir(`${base}/deep/ringchat/`), path, "a trailing separator changes nothing");
    if (Deno.build.os !== "windows") {
      equal(Deno.statSync(`${base}/deep/ringchat`).mode! & 0o777, 0o700);
    }
    openHistory({ path }).close();
    equal(Deno.statSync(path).isFile, true);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
