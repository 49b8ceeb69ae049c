/**
 * What a peer's Ed25519 identity costs (peer/identity.ts): µs per signature
 * and per verification, one at a time and many in flight at once, for a
 * chat-sized text and the largest text a peer accepts, plus loading the key
 * file. Prints a Markdown table.
 *
 *     deno run --allow-read --allow-write tools/bench/identity.ts [--ops N]
 *
 * (--allow-read/--allow-write for a temporary data dir; /proc is read for
 * the machine line when allowed.)
 *
 * @module
 */

import { MAX_TEXT_BYTES } from "../../lib/limits.ts";
import { loadIdentity, textSigningInput, verify } from "../../peer/identity.ts";
import { machine } from "./machine.ts";
import { describeMachine } from "./report.ts";

const HID = "1419600254385803609";

function opsArgument(): number {
  const at = Deno.args.indexOf("--ops");
  const ops = at === -1 ? 2000 : Number(Deno.args[at + 1]);
  if (!Number.isInteger(ops) || ops < 1) throw new RangeError("--ops takes a positive integer");
  return ops;
}

async function timed(ops: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(ops, 100); i++) await op(i); // warm up
  const start = performance.now();
  for (let i = 0; i < ops; i++) await op(i);
  return (performance.now() - start) * 1000 / ops;
}

async function timedParallel(ops: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: ops }, (_, i) => op(i)));
  return (performance.now() - start) * 1000 / ops;
}

const ops = opsArgument();
const me = await loadIdentity(null);
const rows: string[] = [];
for (const size of [100, MAX_TEXT_BYTES]) {
  const input = textSigningInput("room1", HID, 1_700_000_000_000_000n, new Uint8Array(size));
  const signature = await me.sign(input);
  if (!(await verify(me.publicKey, input, signature))) throw new Error("Verification failed");
  const n = size > 1000 ? Math.max(1, Math.floor(ops / 20)) : ops;
  const sign = await timed(n, () => me.sign(input));
  const check = await timed(n, () => verify(me.publicKey, input, signature));
  const signMany = await timedParallel(n, () => me.sign(input));
  const checkMany = await timedParallel(n, () => verify(me.publicKey, input, signature));
  rows.push(
    `| ${size} | ${n} | ${sign.toFixed(1)} | ${check.toFixed(1)} | ${signMany.toFixed(1)} | ${
      checkMany.toFixed(1)
    } |`,
  );
}

const dir = await Deno.makeTempDir({ prefix: "ringchat_bench_identity_" });
let create: number, load: number;
try {
  let start = performance.now();
  await loadIdentity(dir);
  create = performance.now() - start;
  start = performance.now();
  const loads = 50;
  for (let i = 0; i < loads; i++) await loadIdentity(dir);
  load = (performance.now() - start) / loads;
} finally {
  await Deno.remove(dir, { recursive: true });
}

console.log(`Machine: ${describeMachine(await machine())}\n`);
console.log(
  "| content bytes | ops | sign µs/op | verify µs/op | sign µs/op, all in flight | verify µs/op, all in flight |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
console.log(`\nKey file: created in ${create.toFixed(1)} ms, loaded in ${load.toFixed(2)} ms.`);
