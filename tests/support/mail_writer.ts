/**
 * A process that stores one mail in the people database at `Deno.args[0]`,
 * prints `stored <id>`, and waits to be killed (the mailbox test SIGKILLs it
 * to prove a committed mail survives the registry dying).
 *
 * @module
 */

import { Mailbox } from "../../registry/mailbox.ts";
import { SqlitePeopleStore } from "../../registry/people_db.ts";

const store = SqlitePeopleStore.open(Deno.args[0]!);
const stored = await new Mailbox(store).deposit(
  { to: "bob", from: "alice", text: "before the crash" },
  Date.now(),
);
if (!stored.ok) throw new Error(`Not stored: ${stored.code}`);
console.log(`stored ${stored.id}`);
setInterval(() => {}, 60_000);
