/**
 * Debian's Chromium driven by `npm:playwright-core`, for the web page tests:
 * headless, with the flags this machine needs (without the
 * background-networking ones it refuses Chromium's connections) and a fresh
 * `--user-data-dir` per browser, removed when it closes. When there is no
 * Chromium, {@linkcode haveChromium} is false and {@linkcode noChromiumReason}
 * says why: the tests are then reported ignored, never passed.
 *
 * @module
 */

import fs from "node:fs";
import type { BrowserContext, Page } from "playwright-core";

/** Where Debian puts Chromium (`apt-get install chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags every test browser runs with. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function chromiumProblem(): string | null {
  try {
    const info = Deno.statSync(CHROMIUM);
    return info.isFile || info.isSymlink ? null : `${CHROMIUM} is not a file`;
  } catch {
    return `no browser at ${CHROMIUM} (apt-get install chromium)`;
  }
}

/** Why the browser tests cannot run here, or null when they can. */
export const noChromiumReason: string | null = chromiumProblem();

/** Whether the browser tests can run. */
export const haveChromium: boolean = noChromiumReason === null;

if (!haveChromium) console.error(`web page tests ignored: ${noChromiumReason}`);

/** A running browser and the profile directory it owns. */
export interface TestBrowser extends AsyncDisposable {
  readonly context: BrowserContext;
  /** A new tab. */
  page(): Promise<Page>;
}

// playwright-core probes for WSL by reading /proc/sys, which Deno grants
// only with --allow-all; the answer on this machine is "not WSL".
const existsSync = fs.existsSync;
fs.existsSync =
  ((path: fs.PathLike) =>
    String(path).startsWith("/proc/sys/") ? false : existsSync(path)) as typeof fs.existsSync;

/** Starts a headless Chromium with a fresh profile. */
export async function launchBrowser(): Promise<TestBrowser> {
  const { chromium } = await import("playwright-core");
  const profile = await Deno.makeTempDir({ prefix: "ringchat-chromium-" });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS],
      viewport: { width: 1100, height: 720 },
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true });
    throw error;
  }
  return {
    context,
    page: () => context.newPage(),
    async [Symbol.asyncDispose]() {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}

/**
 * Saves a screenshot of `page` as `name`.png: into `docs/` when
 * `RINGCHAT_SCREENSHOTS=docs`, else into a temporary directory; returns the path.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = Deno.env.get("RINGCHAT_SCREENSHOTS") === "docs"
    ? new URL("../../docs/", import.meta.url).pathname
    : await screenshotDir();
  const path = `${dir}${name}.png`;
  await page.screenshot({ path });
  return path;
}

let tempDir: string | undefined;
async function screenshotDir(): Promise<string> {
  tempDir ??= `${await Deno.makeTempDir({ prefix: "ringchat-screenshots-" })}/`;
  return tempDir;
}
