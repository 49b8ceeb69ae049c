/**
 * `deno task cluster --peers 8`: starts a local registry and N peers (all
 * processes, with the flags of the compiled binaries), prints the overlay in
 * hash order, and takes commands on stdin to send, kill, hang and restart
 * peers, so a person can watch the overlay repair itself. With `--web`, it
 * also serves a page that draws every peer's links live (`cluster/web.ts`).
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../lib/cli_options.ts";
import { optionalText, textOption } from "./tool_options.ts";
import { createInterface } from "node:readline";
import { hashId } from "../lib/sdbm.ts";
import { VERSION } from "../lib/flags.ts";
import { Cluster } from "./cluster/cluster.ts";
import { ClusterWeb } from "./cluster/web.ts";
import { option } from "@optique/core";
import { isConnected, type Overlay } from "./cluster/overlay.ts";
import type { PeerProcess } from "./process/peer_process.ts";

const HELP = `commands:
  overlay              the links, in hash order, and whether the overlay is connected
  send NAME TEXT       NAME sends TEXT to the room
  kill NAME            SIGKILL the peer, then watch the repair
  hang NAME / resume NAME   SIGSTOP / SIGCONT the peer
  restart NAME         start a killed peer again under the same name and port
  start NAME           start a new peer
  help                 this list
  quit                 stop everything`;

function describe(cluster: Cluster, overlay: Overlay): string {
  const rows = [...overlay.entries()].map(([name, links]) => {
    const peer = cluster.peer(name);
    return { name, links, hid: hashId(name, "127.0.0.1", peer.port) };
  }).sort((a, b) => (a.hid < b.hid ? -1 : a.hid > b.hid ? 1 : 0));
  const lines = rows.map(({ name, links, hid }) =>
    `  ${name.padEnd(6)} ${String(hid).padStart(20)}  -> ${
      (links.forward?.name ?? "(none)").padEnd(6)
    }  <- ${links.backward.map((b) => b.name).join(", ") || "(none)"}`
  );
  return [
    `overlay (hash order), ${isConnected(overlay) ? "connected" : "NOT connected"}:`,
    `  ${"peer".padEnd(6)} ${"HashID".padStart(20)}  -> forward  <- backward`,
    ...lines,
  ].join("\n");
}

function watch(peer: PeerProcess, log: (line: string) => void): void {
  peer.on((e) => {
    if (e.type === "link") log(`[${peer.name}] link ${e.direction} ${e.state}: ${e.peer.name}`);
    if (e.type === "message" && !e.self) {
      log(`[${peer.name}] <${e.from}> ${JSON.stringify(e.text)}`);
    }
    if (e.type === "error") log(`[${peer.name}] error: ${e.message}`);
  });
}

async function main(): Promise<void> {
  const config = run(
    object({
      peers: integerOption(
        "--peers",
        { min: 1, max: 64, metavar: "N" },
        message`Peer processes, named p1, p2, …`,
        8,
      ),
      room: textOption("--room", "ROOM", message`The room they join.`, "ringchat"),
      keepaliveMs: integerOption(
        "--keepalive-ms",
        { min: 50, metavar: "MS" },
        message`The peers' keepalive interval.`,
        2_000,
      ),
      retryMs: integerOption(
        "--retry-ms",
        { min: 10, metavar: "MS" },
        message`The peers' forward-link retry interval.`,
        200,
      ),
      expiryMs: integerOption(
        "--expiry-ms",
        { min: 100, metavar: "MS" },
        message`The registry's member expiry (it sweeps every quarter of it).`,
        6_000,
      ),
      peer: optionalText(
        "--peer-binary",
        "PATH",
        message`A compiled peer to run (with --registry-binary) instead of the sources.`,
      ),
      registry: optionalText(
        "--registry-binary",
        "PATH",
        message`A compiled registry to run (with --peer-binary) instead of the sources.`,
      ),
      web: option("--web", {
        description: message`Serve a page drawing the whole overlay live (on 127.0.0.1).`,
      }),
    }),
    {
      programName: "cluster",
      args: Deno.args,
      help: "option",
      version: VERSION,
      colors: false,
      showDefault: true,
    },
  );
  await using web = new ClusterWeb();
  const log = (line: string) => {
    console.log(line);
    web.line(line);
  };
  log(`starting a registry and ${config.peers} peers in room ${config.room}…`);
  const cluster = await Cluster.start({
    peers: config.peers,
    room: config.room,
    keepaliveMs: config.keepaliveMs,
    retryMs: config.retryMs,
    expiryMs: config.expiryMs,
    sweepMs: Math.max(10, Math.floor(config.expiryMs / 4)),
    ...(config.peer && config.registry
      ? { binaries: { peer: config.peer, registry: config.registry } }
      : {}),
  });
  for (const p of cluster.peers.values()) {
    watch(p, log);
    web.watch(p);
  }
  log(`registry on 127.0.0.1:${cluster.registryPort}`);
  if (config.web) log(`web on ${await web.serve({ hostname: "127.0.0.1", port: 0 })}`);
  log(describe(cluster, await cluster.waitConnected(30_000)));
  log(HELP);

  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) {
      const [cmd, name, ...rest] = line.trim().split(/\s+/);
      try {
        switch (cmd) {
          case undefined:
          case "":
            break;
          case "overlay":
            log(describe(cluster, await cluster.overlay()));
            break;
          case "send":
            await cluster.peer(name ?? "").send(
              line.trim().split(/\s+/).slice(2).join(" ") || "hello",
            );
            break;
          case "kill": {
            const start = performance.now();
            await cluster.kill(name ?? "");
            const overlay = await cluster.waitConnected(30_000);
            log(
              `${name} killed; survivors connected after ${
                (performance.now() - start).toFixed(1)
              } ms`,
            );
            log(describe(cluster, overlay));
            break;
          }
          case "hang":
            cluster.peer(name ?? "").signal("SIGSTOP");
            log(`${name} stopped (SIGSTOP)`);
            break;
          case "resume":
            cluster.peer(name ?? "").signal("SIGCONT");
            log(`${name} resumed (SIGCONT)`);
            break;
          case "restart":
          case "start": {
            const p = cmd === "restart"
              ? await cluster.restart(name ?? "")
              : await cluster.startPeer(name ?? "");
            watch(p, log);
            web.watch(p);
            log(describe(cluster, await cluster.waitConnected(30_000)));
            break;
          }
          case "help":
            log(HELP);
            break;
          case "quit":
            return;
          default:
            log(`unknown command ${JSON.stringify(cmd)}; try help`);
        }
        void rest;
      } catch (e) {
        log(`error: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    rl.close();
    await cluster[Symbol.asyncDispose]();
    log("cluster stopped");
  }
}

if (import.meta.main) await main();
