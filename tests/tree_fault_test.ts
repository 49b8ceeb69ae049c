/**
 * The broadcast tree under a real kill (tools/bench/tree_kill.ts): peers as
 * processes in a room where every member speaks ringchat/2, so messages go
 * down the tree. A tree node hangs mid-stream (SIGSTOP: its links stay up,
 * the copies written to it go nowhere); its parent finds it silent (it
 * confirms no copy, peer/child_watch.ts) and hands its part, with what it
 * swallowed, to the next member from the top; then it is SIGKILLed. Every
 * message reaches every survivor exactly once. The recovery time is printed
 * and asserted only loosely (the ≤ 1 s figure is the bench's, on a quiet
 * machine).
 */

import assert from "node:assert/strict";
import { treeKill } from "../tools/bench/tree_kill.ts";

async function scenario(peers: number, below: number): Promise<void> {
  const result = await treeKill(peers);
  assert.equal(result.subtree, below);
  assert.equal(result.lost, 0, "every message reached every survivor");
  assert.equal(result.doubled, 0, "none twice");
  assert.ok(result.silent >= 1, "the hung node was found silent");
  assert.ok(result.resent > 0, "what it swallowed was handed on again");
  assert.ok(result.recoveryMs < 5_000, `repaired in ${result.recoveryMs} ms`);
  console.log(
    `tree node hung then killed mid-stream (${result.peers} peers, ${result.messages} messages, ` +
      `${result.subtree} below it): ${result.resent} copies handed on again, ` +
      `${result.repaired} repaired by pulls, ${result.duplicates} duplicates; the slowest ` +
      `message reached the last survivor ${result.recoveryMs} ms after it was sent ` +
      `(all of the hang's in ${result.hungMs} ms)`,
  );
}

Deno.test("tree fault: a tree node that hangs and is killed mid-stream loses nothing, each message arrives once", async () => {
  await scenario(12, 3);
});

Deno.test("tree fault: a hung node's subtree of 7 is repaired from its top, nothing lost or doubled", async () => {
  await scenario(24, 7);
});
