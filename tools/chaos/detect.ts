/**
 * What a P2PChat target is, from how it treats `L::\r\n` as the first frame
 * of a connection: a registry answers it (`G`, or `F` when it refuses), a
 * peer closes the connection (its first frame must be a `P` handshake,
 * PROTOCOL.md §5).
 *
 * @example
 * ```ts
 * import { detectTarget } from "./detect.ts";
 * const seen = await detectTarget("127.0.0.1", 32340, 3000);
 * if (seen.kind === null) console.log(seen.detail);
 * ```
 *
 * @module
 */

import { Wire, WireError } from "../wire.ts";

/** What a target is. */
export type TargetKind = "registry" | "peer";

/** What {@linkcode detectTarget} saw: the kind (null when it cannot tell) and why. */
export interface Detection {
  kind: TargetKind | null;
  detail: string;
}

/** Sends `L::\r\n` on a new connection and tells a registry from a peer by the answer. */
export async function detectTarget(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<Detection> {
  let wire: Wire;
  try {
    wire = await Wire.connect(hostname, port, { timeoutMs, lenient: true });
  } catch (error) {
    return { kind: null, detail: `cannot connect: ${(error as Error).message}` };
  }
  try {
    if (!(await wire.write("L::\r\n"))) {
      return { kind: "peer", detail: "closed the connection before L::\\r\\n" };
    }
    const reply = await wire.next(timeoutMs);
    if (reply === null) return { kind: "peer", detail: "closed the connection after L::\\r\\n" };
    if (reply.startsWith("G:") || reply.startsWith("F:")) {
      return { kind: "registry", detail: `answered L::\\r\\n with ${reply[0]}` };
    }
    return { kind: null, detail: `answered L::\\r\\n with ${JSON.stringify(reply.slice(0, 40))}` };
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    return { kind: null, detail: `no answer and no close: ${error.message}` };
  } finally {
    wire.close();
  }
}
