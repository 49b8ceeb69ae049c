/**
 * The broadcast tree under a real kill (tools/bench/tree_kill.ts): peers as
 * processes in a room where every member speaks ringchat/2, so messages go
 * down the tree. A tree node hangs mid-stream (SIGSTOP: its links stay up,
 * the copies written to it go nowhere), so its subtree gets what it swallows
 * only by the repair path (digests on the ring links, pulls); then it is
 * SIGKILLed. Every message reaches every survivor exactly once. The recovery
 * time is printed; it is a figure, not an assertion.
 */

import assert from "node:assert/strict";
import { treeKill } from "../tools/bench/tree_kill.ts";

Deno.test("tree fault: a tree node that hangs and is killed mid-stream loses nothing, each message arrives once", async () => {
  const result = await treeKill(12);
  assert.equal(result.lost, 0, "every message reached every survivor");
  assert.equal(result.doubled, 0, "none twice");
  assert.ok(result.repaired > 0, "the lost copies came by the repair path");
  console.log(
    `tree node hung then killed mid-stream (${result.peers} peers, ${result.messages} messages, ` +
      `${result.subtree} below it): ${result.repaired} copies repaired by pulls; the slowest ` +
      `message reached the last survivor ${result.recoveryMs} ms after it was sent ` +
      `(all of the hang's in ${result.hungMs} ms)`,
  );
});
