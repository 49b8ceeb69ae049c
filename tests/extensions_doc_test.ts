import { deepEqual, equal, ok } from "node:assert/strict";
import {
  historyRequestBody,
  historyResponseBodies,
  parseHistoryRequest,
  parseHistoryResponse,
} from "../peer/catch_up.ts";
import { DM_ACK_OP, DM_HELLO_OP, DM_OP, DM_WELCOME_OP } from "../peer/dm_link.ts";
import { HISTORY_OP, HISTORY_REQUEST_OP } from "../peer/history_sync.ts";
import { LINK_AUTH_OP, LINK_PROOF_OP } from "../peer/link_auth.ts";
import { parsePartsOp, partsOpBody } from "../peer/long_text.ts";
import { PARTS_OP } from "../peer/room_texts.ts";
import { SIG_OP, SIG_REQUEST_OP } from "../peer/sig_fetch.ts";
import { TEXT_OP } from "../peer/signed_text.ts";
import { RENAME_OP } from "../registry/hello.ts";
import { PEOPLE_OPS } from "../registry/people_ops.ts";

const doc = Deno.readTextFileSync(new URL("../docs/extensions.md", import.meta.url));

/** The indented example lines of the page holding the JSON of op `op`. */
function examples(op: string): string[] {
  return doc.split("\n").map((line) => line.trim()).filter((line) =>
    line.includes(`{"op":"${op}"`)
  );
}

function split(json: string): { op: unknown; body: Record<string, unknown> } {
  const { op, ...body } = JSON.parse(json);
  return { op, body };
}

Deno.test("extensions doc: the parts example is a frame as the code writes it", () => {
  const [line] = examples("parts");
  const match = /^X:(\d+):(.*)::\\r\\n$/.exec(line!);
  ok(match, line);
  equal(Number(match[1]), match[2]!.length, "the length field is the JSON's length");
  const { op, body } = split(match[2]!);
  equal(op, "parts");
  equal(JSON.stringify({ op, ...partsOpBody(parsePartsOp(body)) }), match[2]);
});

Deno.test("extensions doc: the history-request and history examples read, and write back the same", () => {
  const requests = examples("history-request");
  equal(requests.length, 2);
  for (const json of requests) {
    const { op, body } = split(json);
    equal(JSON.stringify({ op, ...historyRequestBody(parseHistoryRequest(body)) }), json);
  }
  const answers = examples("history");
  equal(answers.length, 2);
  const [first, last] = answers.map((json) => parseHistoryResponse(split(json).body));
  equal(first!.end, false);
  equal(last!.end, true);
  const written = historyResponseBodies("room1", "1", first!.messages);
  deepEqual(written.map((b) => JSON.stringify({ op: "history", ...b })), [
    answers[0]!.replace('"end":false', '"end":true,"truncated":false'),
  ]);
});

Deno.test("extensions doc: every op the programs speak has its section or example, and every status is wired", () => {
  const ops = [
    "hello",
    "prove",
    "proved",
    "error",
    "member-info",
    RENAME_OP,
    "renamed",
    LINK_AUTH_OP,
    LINK_PROOF_OP,
    TEXT_OP,
    SIG_REQUEST_OP,
    SIG_OP,
    PARTS_OP,
    HISTORY_REQUEST_OP,
    HISTORY_OP,
    DM_HELLO_OP,
    DM_WELCOME_OP,
    DM_OP,
    DM_ACK_OP,
    "presence",
    ...PEOPLE_OPS,
  ];
  for (const op of ops) {
    ok(
      doc.includes(`\`${op}\``) || doc.includes(`{"op":"${op}"`),
      `docs/extensions.md names ${op}`,
    );
  }
  const statuses = doc.split("\n").filter((line) => line.startsWith("**Status:"));
  ok(statuses.length >= 8, `${statuses.length} statuses`);
  for (const status of statuses) ok(status.startsWith("**Status: wired** ("), status);
});
