import { equal, match } from "node:assert/strict";
import { runArgs } from "../lib/flags.ts";
import { RawClient } from "./support/raw_client.ts";

/** Reads stdout until its first line, then keeps draining it so the child never blocks. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<{
  line: string;
  rest: Promise<string>;
}> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`registry stdout ended before a line: ${JSON.stringify(text)}`);
    text += value;
  }
  const newline = text.indexOf("\n");
  const rest = (async () => {
    let more = text.slice(newline + 1);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return more;
      more += value;
    }
  })();
  return { line: text.slice(0, newline), rest };
}

Deno.test("registry process: prints its address, answers a JOIN, exits 0 on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: runArgs("registry", ["--port", "0", "--host", "127.0.0.1"]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errors = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return text;
      text += value;
    }
  })();
  try {
    const { line, rest } = await firstLine(child.stdout);
    const m = line.match(/^listening on 127\.0\.0\.1:(\d+)$/);
    match(line, /^listening on 127\.0\.0\.1:\d+$/);
    const port = Number(m![1]);
    {
      await using client = await RawClient.connect(port);
      equal(
        await client.request("J:room1:alice:127.0.0.1:50001::\r\n"),
        "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
      );
    }
    child.kill("SIGTERM");
    const status = await child.status;
    equal(status.code, 0, `exit code (stderr: ${await errors})`);
    equal(await rest, "", "exactly one line on stdout");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await errors;
  }
});

Deno.test("registry process: a port in use is one line on stderr and exit code 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const output = await new Deno.Command(Deno.execPath(), {
    args: runArgs("registry", ["--host", "127.0.0.1", "--port", String(taken.addr.port)]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  equal(output.code, 1, stderr);
  equal(
    stderr,
    `registry: cannot listen on 127.0.0.1:${taken.addr.port}: address already in use\n`,
  );
  equal(output.stdout.length, 0);
});
