/**
 * Reads a byte stream as text lines, calling `onLine` for each complete line
 * (without its newline). Resolves when the stream ends.
 *
 * @module
 */

/** Feeds every line of `stream` to `onLine`; a final unterminated line is fed too. */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl).replace(/\r$/, ""));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending.length > 0) onLine(pending);
}
