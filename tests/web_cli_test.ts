import { equal, match } from "node:assert/strict";
import { ProgramProcess } from "../tools/process/program_process.ts";
import { PeerProcess } from "../tools/process/peer_process.ts";
import { startRegistry } from "../registry/registry.ts";

/** Fetches `url` and returns its status and the start of its text. */
async function get(url: string): Promise<[number, string]> {
  const response = await fetch(url);
  return [response.status, (await response.text()).slice(0, 15)];
}

Deno.test("web cli: peer --web prints `web on URL` and serves the page beside the prompt", async () => {
  await using peer = ProgramProcess.spawn("peer", {
    args: ["--data-dir", "none", "--registry", "127.0.0.1:9", "--web", "--name", "alice"],
    stdin: true,
  });
  const line = await peer.waitForLine((l) => l.includes("web on "), 30_000);
  const url = line.match(/web on (\S+)/)?.[1] ?? "";
  match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
  deepStart(await get(url), 200, "<!doctype html>");
  equal((await get(url.replace(/\?token=.*/, "")))[0], 403);
  // The terminal side still answers.
  await peer.write("/links");
  await peer.waitForLine((l) => l.includes("Links: forward none"), 10_000);
  await peer.write("/quit");
  equal((await peer.exited).code, 0);
});

Deno.test("web cli: with --json the URL is a web event and the page serves the same peer", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using peer = await PeerProcess.start({
    name: "bob",
    room: "lobby",
    registryPort: registry.port,
    args: ["--web", "127.0.0.1:0"],
  });
  const event = await peer.waitFor((e) => e.type === "web", 10_000, true);
  const url = event.type === "web" ? event.url : "";
  deepStart(await get(url), 200, "<!doctype html>");
  const socket = new WebSocket(url.replace("http:", "ws:").replace("/?", "/socket?"), {
    headers: { origin: new URL(url).origin },
  });
  const joined = Promise.withResolvers<string>();
  socket.onmessage = (message) => {
    const seen = JSON.parse(String(message.data));
    if (seen.type === "joined") joined.resolve(seen.room);
  };
  const closed = new Promise((resolve) => socket.onclose = resolve);
  equal(await joined.promise, "lobby");
  socket.send('{"command":"quit"}');
  await closed;
  equal((await peer.exited).code, 0);
});

function deepStart([status, text]: [number, string], wantStatus: number, wantStart: string) {
  equal(status, wantStatus);
  equal(text.toLowerCase(), wantStart.toLowerCase());
}
