/**
 * Who may talk to a peer's web page: the checks every request passes before
 * it is answered. A request must carry the page's random token (the page and
 * the socket; the static assets hold nothing secret), name the server by an
 * IP literal or `localhost` with the server's own port in `Host` (a DNS
 * rebinding attack names its own domain there), and, when the browser sends
 * an `Origin` (always for a WebSocket), come from the page's own origin (a
 * cross-site page names its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostProblem, originProblem } from "./guard.ts";
 * assert.equal(hostProblem("127.0.0.1:8080", 8080), null);
 * assert.notEqual(hostProblem("evil.example:8080", 8080), null);
 * assert.equal(originProblem("http://127.0.0.1:8080", "127.0.0.1:8080"), null);
 * assert.notEqual(originProblem("http://evil.example", "127.0.0.1:8080"), null);
 * ```
 *
 * @module
 */

/** A fresh random token: 32 bytes, base64url. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** Whether `given` is `token`, compared in time independent of where they differ. */
export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null || given.length !== token.length) return false;
  let difference = 0;
  for (let i = 0; i < token.length; i++) difference |= given.charCodeAt(i) ^ token.charCodeAt(i);
  return difference === 0;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6 = /^\[[0-9a-fA-F:.]+\]$/;

/**
 * Why a `Host` header does not name this server (listening on `port`), or
 * null when it does: an IPv4 literal, a bracketed IPv6 literal or
 * `localhost`, with `port`. A name that DNS resolves is refused, whatever
 * address it resolves to.
 */
export function hostProblem(host: string | null, port: number): string | null {
  if (host === null) return "no Host header";
  const colon = host.lastIndexOf(":");
  if (colon === -1 || host.slice(colon + 1) !== String(port)) return "Host names another port";
  const name = host.slice(0, colon).toLowerCase();
  if (name === "localhost" || IPV6.test(name)) return null;
  const octets = IPV4.exec(name);
  if (octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255)) return null;
  return "Host is not an IP address or localhost";
}

/**
 * Why an `Origin` header is not the page's own (`http://` and the request's
 * `Host`), or null when it is, or when there is none and `required` is false.
 */
export function originProblem(
  origin: string | null,
  host: string | null,
  required = true,
): string | null {
  if (origin === null) return required ? "no Origin header" : null;
  return origin.toLowerCase() === `http://${host ?? ""}`.toLowerCase()
    ? null
    : "Origin is another site";
}
