/**
 * `--json`: exactly one JSON object per line on stdout per event, and nothing
 * else on stdout (logs go to stderr). The objects are the {@linkcode PeerEvent}
 * values as they are: hash IDs, MSIDs and msgIDs are already decimal strings.
 * `/help` answers with an `info` event.
 *
 * Input is the same command lines as in the other modes; a line starting with
 * `{` is a JSON command (see `../commands.ts`).
 *
 * @module
 */

import type { PeerEvent } from "../events.ts";
import { helpText } from "../commands.ts";
import {
  type LineUiOptions,
  type PeerUi,
  type ReadlineLines,
  stdinLines,
  writeStdoutLine,
} from "./plain.ts";

/** JSON lines on stdout, command lines from stdin. */
export class JsonUi implements PeerUi {
  #write: (line: string) => void;
  #input: ReadlineLines | undefined;

  constructor(options: LineUiOptions = {}) {
    this.#write = options.write ?? writeStdoutLine;
  }

  render(event: PeerEvent): void {
    this.#write(JSON.stringify(event));
  }

  help(): void {
    this.render({ type: "info", message: helpText() });
  }

  lines(): AsyncIterable<string> {
    this.#input ??= stdinLines();
    return this.#input;
  }

  close(): void {
    this.#input?.close();
  }
}
