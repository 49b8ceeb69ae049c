import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { startPeer } from "../peer/peer.ts";
import { webFlagArgs } from "../peer/web/flag.ts";
import { hostProblem, newToken, originProblem, tokenMatches } from "../peer/web/guard.ts";
import { EventHistory } from "../peer/web/history.ts";
import { haveChromium, launchBrowser, noChromiumReason } from "./support/browser.ts";

Deno.test("web guard: Host must be an IP literal or localhost with the server's port", () => {
  equal(hostProblem("127.0.0.1:8080", 8080), null);
  equal(hostProblem("localhost:8080", 8080), null);
  equal(hostProblem("[::1]:8080", 8080), null);
  notEqual(hostProblem("evil.example:8080", 8080), null);
  notEqual(hostProblem("127.0.0.1.nip.io:8080", 8080), null);
  notEqual(hostProblem("127.0.0.1:8081", 8080), null);
  notEqual(hostProblem("127.0.0.1", 8080), null);
  notEqual(hostProblem("999.0.0.1:8080", 8080), null);
  notEqual(hostProblem(null, 8080), null);
});

Deno.test("web guard: Origin must be the page's own; the socket requires one", () => {
  equal(originProblem("http://127.0.0.1:8080", "127.0.0.1:8080"), null);
  notEqual(originProblem("http://evil.example", "127.0.0.1:8080"), null);
  notEqual(originProblem("http://127.0.0.1:9999", "127.0.0.1:8080"), null);
  notEqual(originProblem("null", "127.0.0.1:8080"), null);
  notEqual(originProblem(null, "127.0.0.1:8080"), null);
  equal(originProblem(null, "127.0.0.1:8080", false), null);
});

Deno.test("web guard: tokens are random and compared whole", () => {
  const token = newToken();
  match(token, /^[A-Za-z0-9_-]{43}$/);
  notEqual(newToken(), token);
  ok(tokenMatches(token, token));
  ok(!tokenMatches(token.slice(0, -1), token));
  const last = token.at(-1) === "A" ? "B" : "A";
  ok(!tokenMatches(`${token.slice(0, -1)}${last}`, token));
  ok(!tokenMatches(null, token));
  ok(!tokenMatches("", token));
});

Deno.test("web flag: a bare --web gets 127.0.0.1:0, a HOST:PORT is kept", () => {
  deepEqual(webFlagArgs(["--web"]), ["--web", "127.0.0.1:0"]);
  deepEqual(webFlagArgs(["--web", "--json"]), ["--web", "127.0.0.1:0", "--json"]);
  deepEqual(webFlagArgs(["--web", "0.0.0.0:8080"]), ["--web", "0.0.0.0:8080"]);
  deepEqual(webFlagArgs(["--web", "localhost", "32340", "5000"]), [
    "--web",
    "127.0.0.1:0",
    "localhost",
    "32340",
    "5000",
  ]);
  deepEqual(webFlagArgs(["--json"]), ["--json"]);
});

Deno.test("web history: replays recent events, and the state that fell out of the window", () => {
  const history = new EventHistory(2);
  const peer = { name: "bob", ip: "127.0.0.1", port: 2 };
  history.record({ type: "named", name: "alice" });
  history.record({ type: "link", direction: "backward", state: "up", peer });
  history.record({ type: "link", direction: "forward", state: "up", peer });
  history.record({ type: "info", message: "one" });
  history.record({ type: "info", message: "two" });
  deepEqual(history.replay().map((e) => e.type === "link" ? e.direction : e.type), [
    "named",
    "backward",
    "forward",
    "info",
    "info",
  ]);
  history.record({ type: "link", direction: "forward", state: "down", peer });
  history.record({ type: "info", message: "three" });
  deepEqual(history.replay().map((e) => e.type === "link" ? `${e.direction} ${e.state}` : e.type), [
    "named",
    "backward up",
    "forward down",
    "info",
  ]);
});

Deno.test("web history: a link that went down after the last member list is replayed down", () => {
  const history = new EventHistory(1);
  const bob = { name: "bob", ip: "127.0.0.1", port: 2 };
  const members = [{ name: "bob", ip: "127.0.0.1", port: 2, hashId: "7" }];
  history.record({ type: "joined", room: "lobby", members });
  history.record({ type: "link", direction: "backward", state: "up", peer: bob });
  history.record({ type: "members", msid: "1", members, forward: null, backward: ["bob"] });
  history.record({ type: "link", direction: "backward", state: "down", peer: bob });
  history.record({ type: "info", message: "one" });
  history.record({ type: "info", message: "two" });
  // A page replaying only the list would show bob's backward link, gone since.
  deepEqual(history.replay().map((e) => e.type === "link" ? `link ${e.state}` : e.type), [
    "joined",
    "members",
    "link down",
    "info",
  ]);
});

/** One raw HTTP request; returns the status line. */
async function rawRequest(port: number, lines: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode([...lines, "", ""].join("\r\n")));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

Deno.test("web server: the page and the socket need the token, the Host and the Origin", async () => {
  await using peer = await startPeer({
    registry: { hostname: "127.0.0.1", port: 9 },
    hostname: "127.0.0.1",
    web: { hostname: "127.0.0.1", port: 0 },
  });
  const url = new URL(peer.webUrl!);
  const port = Number(url.port);
  const token = url.searchParams.get("token")!;
  const get = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    await response.body?.cancel();
    return response.status;
  };
  equal(await get(`/?token=${token}`), 200);
  equal(await get("/"), 403);
  equal(await get(`/?token=${token.slice(1)}x`), 403);
  equal(await get("/app.js"), 200);
  equal(await get("/nothing"), 404);
  const page = await fetch(url);
  equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  match(page.headers.get("content-security-policy")!, /default-src 'none'/);
  match(await page.text(), /<button type="button" data-command="user">User<\/button>/);

  const host = `127.0.0.1:${port}`;
  equal(
    await rawRequest(port, [`GET /?token=${token} HTTP/1.1`, `Host: evil.example:${port}`]),
    "HTTP/1.1 403 Forbidden",
  );
  const upgrade = (origin: string, withToken = token) => [
    `GET /socket?token=${withToken} HTTP/1.1`,
    `Host: ${host}`,
    `Origin: ${origin}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  ];
  equal(await rawRequest(port, upgrade(`http://${host}`)), "HTTP/1.1 101 Switching Protocols");
  equal(await rawRequest(port, upgrade("http://evil.example")), "HTTP/1.1 403 Forbidden");
  equal(await rawRequest(port, upgrade(`http://${host}`, "wrong")), "HTTP/1.1 403 Forbidden");
});

Deno.test({
  name: `web server: a foreign page cannot open the peer's socket nor read its page${
    haveChromium ? "" : ` (ignored: ${noChromiumReason})`
  }`,
  ignore: !haveChromium,
  async fn() {
    await using peer = await startPeer({
      registry: { hostname: "127.0.0.1", port: 9 },
      hostname: "127.0.0.1",
      name: "alice",
      web: { hostname: "127.0.0.1", port: 0 },
    });
    const target = new URL(peer.webUrl!);
    const socketUrl = `ws://${target.host}/socket${target.search}`;
    // The attacker's page, on another origin, even knowing the token.
    await using foreign = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          `<!doctype html><script>
            window.result = new Promise((resolve) => {
              const socket = new WebSocket(${JSON.stringify(socketUrl)});
              socket.onmessage = (m) => resolve("got " + m.data);
              socket.onclose = () => resolve("refused");
            });
          </script>`,
          { headers: { "content-type": "text/html" } },
        ),
    );
    await using browser = await launchBrowser();
    const page = await browser.page();
    await page.goto(`http://127.0.0.1:${foreign.addr.port}/`);
    equal(await page.evaluate("window.result"), "refused");
    // Without the token, the page itself is refused.
    const response = await page.goto(`http://${target.host}/`);
    equal(response?.status(), 403);
    // With it, the same browser gets the page and the peer's events.
    await page.goto(peer.webUrl!);
    await page.getByRole("region", { name: "Commands" }).getByText("You are alice").waitFor({
      timeout: 15_000,
    });
  },
});
