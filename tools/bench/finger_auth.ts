/**
 * What link authentication adds to a finger link's setup (peer/fingers_links.ts,
 * docs/extensions.md `finger`): ms from dialling to the dialler holding the
 * accepting side's `ok`, over 127.0.0.1, with both keys known (a challenge
 * each way, a proof each way: two signatures, two verifications, one more
 * round trip) against a member the registry gives no key (hello, `ok`). The
 * two kinds alternate, so load on the machine hits both alike. Both sides
 * run the code the peer runs (`openWith`, `greet`, `authenticate`,
 * `LinkAuth`), in one process. Prints a Markdown table.
 *
 *     deno run --allow-net --allow-read tools/bench/finger_auth.ts [--links N]
 *
 * (--allow-read: /proc for the machine line.)
 *
 * @module
 */

import type { Member } from "../../lib/frames.ts";
import { LINK_MAX_FRAME_BYTES } from "../../lib/limits.ts";
import { loadIdentity } from "../../peer/identity.ts";
import { LinkAuth } from "../../peer/link_auth.ts";
import { authenticate, greet, openWith } from "../../peer/links.ts";
import { FINGER_OP, fingerHello, fingerOk } from "../../peer/tree_ops.ts";
import { machine } from "./machine.ts";
import { describeMachine } from "./report.ts";
import { quantile, round } from "./stats.ts";

const ROOM = "room1";
const TIMEOUT_MS = 5000;

function linksArgument(): number {
  const at = Deno.args.indexOf("--links");
  const links = at === -1 ? 500 : Number(Deno.args[at + 1]);
  if (!Number.isInteger(links) || links < 1) {
    throw new RangeError("--links takes a positive integer");
  }
  return links;
}

const dialler = await loadIdentity(null);
const acceptor = await loadIdentity(null);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const at: Member = { name: "acceptor", ip: "127.0.0.1", port: listener.addr.port };
const me: Member = { name: "dialler", ip: "127.0.0.1", port: 1 };
/** Whether the link being set up is keyed (the acceptor reads it before each dial). */
let keyed = true;

/** The auth of one side, as the overlay makes it: keys known only when `keyed`. */
function authOf(role: "link" | "accept"): LinkAuth {
  const link = role === "link";
  return new LinkAuth({
    identity: link ? dialler : acceptor,
    room: ROOM,
    me: link ? me : at,
    peer: link ? at : me,
    peerKey: keyed ? (link ? acceptor : dialler).publicKey : undefined,
    role,
  });
}

/** The accepting side: a finger hello, its proof when keyed, then `ok`. */
async function serve(): Promise<void> {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch {
      return;
    }
    const probed = await greet(conn, TIMEOUT_MS, undefined, LINK_MAX_FRAME_BYTES, true);
    if (!("probe" in probed)) throw new Error("Not a finger hello");
    const auth = authOf("accept");
    if (auth.required) await authenticate(probed, auth, TIMEOUT_MS);
    await conn.write(fingerOk(ROOM));
    // Closed by the dialler once it has the ok.
    await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
  }
}

/** One finger link's setup, in ms. */
async function setUp(): Promise<number> {
  const auth = authOf("link");
  const start = performance.now();
  const { opened, answer } = await openWith(
    at,
    fingerHello(ROOM, me),
    TIMEOUT_MS,
    undefined,
    LINK_MAX_FRAME_BYTES,
    auth,
  );
  const ms = performance.now() - start;
  opened.conn.close();
  const ok = answer.type === "X" && answer.op === FINGER_OP && answer.body.ok === true;
  if (!ok || auth.pending || auth.required !== auth.verified) {
    throw new Error("The finger link was not set up as it should");
  }
  return ms;
}

const links = linksArgument();
const serving = serve();
const samples = { keyed: [] as number[], keyless: [] as number[] };
for (let i = 0; i < 2 * (links + 20); i++) {
  keyed = i % 2 === 0;
  const ms = await setUp();
  if (i >= 40) (keyed ? samples.keyed : samples.keyless).push(ms); // the first 20 each warm up
}
listener.close();
await serving;

const row = (what: string, ms: number[]) => {
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const cells = [quantile(ms, 0.5)!, quantile(ms, 0.9)!, quantile(ms, 0.99)!, mean];
  return `| ${what} | ${ms.length} | ${cells.map((v) => round(v, 3)).join(" | ")} |`;
};
const median = (ms: number[]) => quantile(ms, 0.5)!;
console.log(`Machine: ${describeMachine(await machine())}\n`);
console.log("| finger link | links | p50 ms | p90 ms | p99 ms | mean ms |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
console.log(row("keys proved both ways", samples.keyed));
console.log(row("no key (no proof)", samples.keyless));
console.log(
  `\nThe proof adds ${round(median(samples.keyed) - median(samples.keyless), 3)} ms at the median.`,
);
