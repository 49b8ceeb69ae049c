import { equal, ok } from "node:assert/strict";
import type { Page } from "playwright-core";
import { Cluster } from "../tools/cluster/cluster.ts";
import { ClusterWeb } from "../tools/cluster/web.ts";
import { haveChromium, launchBrowser, noChromiumReason, screenshot } from "./support/browser.ts";

/** Polls the page until `check` holds (the picture has no event the test can await). */
async function until(page: Page, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`The cluster page never showed ${what}`);
    await page.waitForTimeout(50);
  }
}

Deno.test({
  name: `web cluster page: draws every peer's links, a killed peer and the repair${
    haveChromium ? "" : ` (ignored: ${noChromiumReason})`
  }`,
  ignore: !haveChromium,
  async fn() {
    await using cluster = await Cluster.start({
      peers: 4,
      keepaliveMs: 300,
      retryMs: 100,
      expiryMs: 2_000,
      sweepMs: 200,
    });
    await cluster.waitConnected(20_000);
    await using web = new ClusterWeb();
    for (const peer of cluster.peers.values()) web.watch(peer);
    const url = await web.serve({ hostname: "127.0.0.1", port: 0 });
    await using browser = await launchBrowser();
    const page = await browser.page();
    await page.goto(url);
    const overlay = page.getByRole("region", { name: "Overlay" });
    const nodes = overlay.locator("svg .node");
    const arrows = overlay.locator("svg path.link");
    const forwards = () => web.overlay().filter((p) => p.forward !== null).length;
    await until(page, "four peers", async () => (await nodes.count()) === 4);
    await until(page, "every forward link", async () => (await arrows.count()) === forwards());
    ok(forwards() >= 3, `at least three forward links, got ${forwards()}`);
    await screenshot(page, "web_cluster");

    const [victim] = cluster.mostLinked(await cluster.overlay());
    await cluster.kill(victim!);
    await until(
      page,
      `${victim} killed`,
      async () => (await overlay.locator(".node.dead").count()) === 1,
    );
    equal(await overlay.locator(".node.dead text").textContent(), victim);
    await cluster.waitConnected(20_000);
    await until(page, "the repaired ring", async () => (await arrows.count()) === forwards());
    await page.getByRole("region", { name: "Members" }).getByText("killed").waitFor();

    web.watch(await cluster.restart(victim!));
    await until(
      page,
      `${victim} back`,
      async () => (await overlay.locator(".node.dead").count()) === 0,
    );
  },
});
