/**
 * A peer listens for TCP links and UDP pokes on one port number
 * (PROTOCOL.md §6). With port 0 the system picks a TCP port that may be
 * taken for UDP: then another is tried, up to {@linkcode BIND_ATTEMPTS} times.
 *
 * @module
 */

/** Ephemeral ports tried before giving up. */
export const BIND_ATTEMPTS = 32;

/**
 * Binds TCP `hostname:port`, then UDP on the same number with `openUdp`.
 *
 * @throws the bind error when the port (or, for port 0, every port tried) is taken
 */
export function bindOnePort<U>(
  hostname: string,
  port: number,
  openUdp: (port: number) => U,
): [Deno.TcpListener, U] {
  for (let attempt = 0;; attempt++) {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    try {
      return [listener, openUdp(listener.addr.port)];
    } catch (error) {
      listener.close();
      if (port !== 0 || attempt + 1 >= BIND_ATTEMPTS) throw error;
    }
  }
}
