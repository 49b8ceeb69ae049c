/**
 * Whether a datagram came from a member's advertised address: the one test
 * that tells a member's poke or ACK from a forged one (UDP carries no other
 * proof). Members send both from their one UDP socket, bound on the port
 * they advertise (the seed's `myport`), so the port must be equal. The host
 * is compared liberally (PROTOCOL.md §8): clients advertise `localhost`,
 * `127.0.0.1` or another loopback address (`127.0.1.1` is what Debian's
 * host name resolves to) while the kernel sends loopback datagrams from
 * `127.0.0.1`, so every loopback spelling is one host; so is the unspecified
 * address (`0.0.0.0`, `::`), which a client advertising its bind address
 * gives, and which Linux delivers to this machine. Other host names are
 * compared as written, never resolved.
 *
 * @module
 */

/** A host in a comparable spelling: lower case, no brackets, IPv4-mapped IPv6 unwrapped. */
function normalHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped === null ? h : mapped[1]!;
}

/**
 * True when `host` names this machine's loopback interface (`localhost`,
 * 127.0.0.0/8, `::1`) or is the unspecified address (`0.0.0.0`, `::`).
 */
export function isLoopback(host: string): boolean {
  const h = normalHost(host);
  return h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1" || h === "0.0.0.0" ||
    h === "::" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** True when host `a` and host `b` are the same host (see the module doc). */
export function sameHost(a: string, b: string): boolean {
  const x = normalHost(a);
  const y = normalHost(b);
  return x === y || (isLoopback(x) && isLoopback(y));
}

/** True when a datagram from `from` came from `ip:port`, a member's advertised address. */
export function fromAddress(ip: string, port: number, from: Deno.NetAddr): boolean {
  return port === from.port && sameHost(ip, from.hostname);
}
