import { deepEqual, equal, ok } from "node:assert/strict";
import type { Page } from "playwright-core";
import { startPeer } from "../peer/peer.ts";
import { startRegistry } from "../registry/registry.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { haveChromium, launchBrowser, noChromiumReason, screenshot } from "./support/browser.ts";

const WAIT = { timeout: 15_000 };

function region(page: Page, name: string) {
  return page.getByRole("region", { name });
}

/** Types `value` into Input and clicks the button `name`. */
async function click(page: Page, name: string, value?: string): Promise<void> {
  if (value !== undefined) await page.getByRole("textbox", { name: "Input" }).fill(value);
  await page.getByRole("button", { name, exact: true }).click();
}

/** Waits until region `name` of `page` shows a line containing `text`. */
async function shows(page: Page, name: string, text: string): Promise<void> {
  await region(page, name).getByText(text, { exact: false }).first().waitFor(WAIT);
}

/** The member names the Overlay picture shows, in its (hash) order. */
function ringNames(page: Page): Promise<string[]> {
  return region(page, "Overlay").locator("svg .node text").allTextContents();
}

/** Waits until the Overlay shows exactly `names` (in any order). */
async function ringShows(page: Page, names: string[]): Promise<void> {
  const expected = JSON.stringify([...names].sort());
  const deadline = Date.now() + WAIT.timeout;
  while (JSON.stringify((await ringNames(page)).sort()) !== expected) {
    if (Date.now() > deadline) {
      throw new Error(`The overlay shows ${await ringNames(page)}, not ${names}`);
    }
    await page.waitForTimeout(50);
  }
}

Deno.test({
  name: `web page: two pages chat, poke, list and watch a third peer join and die${
    haveChromium ? "" : ` (ignored: ${noChromiumReason})`
  }`,
  ignore: !haveChromium,
  async fn() {
    await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
    const registryAddress = { hostname: "127.0.0.1", port: registry.port };
    const options = {
      registry: registryAddress,
      hostname: "127.0.0.1",
      keepaliveMs: 300,
      retryMs: 100,
      web: { hostname: "127.0.0.1", port: 0 },
    };
    await using alice = await startPeer(options);
    await using bob = await startPeer(options);
    await using browser = await launchBrowser();
    const pageA = await browser.page();
    const pageB = await browser.page();
    await pageA.goto(alice.webUrl!);
    await pageB.goto(bob.webUrl!);
    await shows(pageA, "Commands", `Listening on port ${alice.port}`);

    // User → Join, on both pages.
    await click(pageA, "User", "alice");
    await shows(pageA, "Commands", "You are alice");
    await click(pageA, "Join", "lobby");
    await shows(pageA, "Commands", "Joined lobby");
    await click(pageB, "User", "bob");
    await click(pageB, "Join", "lobby");
    await shows(pageB, "Commands", "Joined lobby");
    await shows(pageA, "Members", "bob");
    await region(pageA, "Members").getByText("backward link").waitFor(WAIT);
    await region(pageB, "Members").getByText("forward link").waitFor(WAIT);
    await ringShows(pageA, ["alice", "bob"]);

    // Send, by Enter: `:` and HTML arrive as text.
    const text = 'a: b :: <script>window.pwned = 1</script> <b>bold</b> & "q"';
    const sentAt = performance.now();
    await pageA.getByRole("textbox", { name: "Input" }).fill(text);
    await pageA.getByRole("textbox", { name: "Input" }).press("Enter");
    await shows(pageB, "Messages", text);
    const deliveredMs = performance.now() - sentAt;
    const line = await region(pageB, "Messages").locator("li").last().evaluate((li) => ({
      text: li.querySelector(".text")?.textContent,
      from: li.querySelector(".from")?.textContent,
      elements: li.querySelectorAll("script, b").length,
    }));
    deepEqual(line, { text, from: "alice", elements: 0 });
    equal(await pageB.evaluate(() => "pwned" in globalThis), false);
    await shows(pageA, "Messages", text);
    equal(await pageA.getByRole("textbox", { name: "Input" }).inputValue(), "");

    // Poke and its ACK.
    await click(pageA, "Poke", "bob");
    await shows(pageA, "Commands", "bob got your poke");
    await shows(pageB, "Commands", "alice poked you");

    // List.
    await click(pageB, "List");
    await shows(pageB, "Commands", "Rooms: lobby");

    // A page opened now gets what happened: the time to its first message.
    const loadStart = performance.now();
    const late = await browser.page();
    await late.goto(bob.webUrl!);
    await shows(late, "Messages", text);
    const firstMessageMs = performance.now() - loadStart;
    await late.close();

    // A third peer, a process, joins: both pictures and member lists change.
    const before = await ringNames(pageA);
    {
      await using carol = await PeerProcess.start({
        name: "carol",
        room: "lobby",
        registryPort: registry.port,
        keepaliveMs: 300,
        retryMs: 100,
      });
      await shows(pageA, "Members", "carol");
      await shows(pageB, "Members", "carol");
      await shows(pageA, "Commands", "carol joined");
      await ringShows(pageA, ["alice", "bob", "carol"]);
      await ringShows(pageB, ["alice", "bob", "carol"]);
      ok((await ringNames(pageA)).length > before.length);
      await screenshot(pageA, "web_alice");
      await screenshot(pageB, "web_bob");

      // SIGKILLed: it leaves both lists and both pictures.
      await carol.kill("SIGKILL");
      await ringShows(pageA, ["alice", "bob"]);
      await ringShows(pageB, ["alice", "bob"]);
      equal(await region(pageA, "Members").getByText("carol").count(), 0);
      await shows(pageA, "Commands", "carol left (lost)");
    }
    // The ring is whole again: the two still chat.
    await click(pageB, "Send", "still here");
    await shows(pageA, "Messages", "still here");

    // /leave typed on the page: bob is in no room, alice sees him leave; then he joins again.
    await click(pageB, "Send", "/leave");
    await shows(pageB, "Commands", "Left lobby");
    await pageB.getByRole("status").getByText("in no room").waitFor(WAIT);
    equal(await region(pageB, "Members").locator("li").count(), 0);
    await shows(pageA, "Commands", "bob left (left)");
    await click(pageB, "Join", "lobby");
    await shows(pageA, "Commands", "bob joined");

    // Quit.
    await click(pageB, "Quit");
    await bob.closed;
    await shows(pageB, "Commands", "Quit: every link and socket closed");
    await pageB.getByRole("status").getByText("the peer has quit").waitFor(WAIT);
    equal(bob.state, "QUIT");
    console.log(
      `send to display on the other page: ${deliveredMs.toFixed(0)} ms; ` +
        `page load to first message shown: ${firstMessageMs.toFixed(0)} ms`,
    );
  },
});

Deno.test({
  name:
    `web page: /register, /login and /join ROOM --password ask the password in a password field${
      haveChromium ? "" : ` (ignored: ${noChromiumReason})`
    }`,
  ignore: !haveChromium,
  async fn() {
    await using registry = await startRegistry({
      hostname: "127.0.0.1",
      port: 0,
      passwordIterations: 1000,
    });
    await using alice = await startPeer({
      registry: { hostname: "127.0.0.1", port: registry.port },
      hostname: "127.0.0.1",
      web: { hostname: "127.0.0.1", port: 0 },
    });
    await using browser = await launchBrowser();
    const page = await browser.page();
    await page.goto(alice.webUrl!);
    await shows(page, "Commands", `Listening on port ${alice.port}`);
    const secret = "correct horse battery";
    const password = page.getByRole("textbox", { name: "Password" });
    const answer = async (line: string, password: string) => {
      await click(page, "Send", line);
      await shows(page, "Commands", "type it in Password");
      equal(await page.locator("#input").getAttribute("type"), "password");
      await page.locator("#input").fill(password);
      await page.locator("#input").press("Enter");
      equal(await page.getByRole("textbox", { name: "Input" }).inputValue(), "");
    };
    await answer("/register alice", secret);
    await shows(page, "Commands", "registered, name alice");
    // A wrong password is refused with what is left; the right one logs in.
    await answer("/login alice", "not the password");
    await shows(page, "Commands", "wrong password");
    await answer("/login alice", secret);
    await shows(page, "Commands", "logged-in, name alice");
    await answer("/join hideout --password", secret);
    await shows(page, "Commands", "Joined hideout");
    // Escape gives the field back without sending anything.
    await click(page, "Send", "/login alice");
    await password.waitFor(WAIT);
    await page.locator("#input").press("Escape");
    equal(await page.locator("#input").getAttribute("type"), "text");
    // The password is nowhere on the page, and was never a command line.
    const text = await page.locator("body").innerText();
    ok(!text.includes(secret) && !text.includes("not the password"), text);
  },
});
