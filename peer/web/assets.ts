/**
 * The files of the web pages, imported as text so they are part of the
 * module graph: served from the sources, and embedded in a compiled binary
 * by `deno compile` like any module (no CDN, no font, nothing fetched).
 *
 * @module
 */

import indexHtml from "./assets/index.html" with { type: "text" };
import clusterHtml from "./assets/cluster.html" with { type: "text" };
import appJs from "./assets/app.js" with { type: "text" };
import clusterJs from "./assets/cluster.js" with { type: "text" };
import ringJs from "./assets/ring.js" with { type: "text" };
import linesJs from "./assets/lines.js" with { type: "text" };
import styleCss from "./assets/style.css" with { type: "text" };

/** A file served as it is. */
export interface Asset {
  /** Its `Content-Type`. */
  readonly type: string;
  /** Its text. */
  readonly body: string;
}

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** The scripts and the style sheet, by path; the same for every page. */
export const STATIC_ASSETS: Readonly<Record<string, Asset>> = Object.freeze({
  "/app.js": { type: JS, body: appJs },
  "/cluster.js": { type: JS, body: clusterJs },
  "/ring.js": { type: JS, body: ringJs },
  "/lines.js": { type: JS, body: linesJs },
  "/style.css": { type: CSS, body: styleCss },
});

/** The peer's page. */
export const PEER_PAGE: Asset = { type: HTML, body: indexHtml };

/** The cluster's overlay page (`deno task cluster --web`). */
export const CLUSTER_PAGE: Asset = { type: HTML, body: clusterHtml };
