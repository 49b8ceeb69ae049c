// The ring as an SVG picture: members on a circle in ascending HashID order
// (clockwise from the top), and every known link as an arrow from the member
// that linked to the member it linked to. Names are set with textContent.

const SVG = "http://www.w3.org/2000/svg";
const SIZE = 400;
const CENTER = SIZE / 2;
const RADIUS = 130;

/**
 * @typedef {{ name: string, hashId: string, me?: boolean, dead?: boolean }} RingNode
 * @typedef {{ from: string, to: string, mine?: boolean }} RingLink
 */

/**
 * Orders nodes by HashID (decimal strings of 64-bit numbers).
 * @template {{ hashId: string }} T
 * @param {T[]} nodes
 * @returns {T[]}
 */
export function hashOrder(nodes) {
  return [...nodes].sort((a, b) => {
    const x = BigInt(a.hashId), y = BigInt(b.hashId);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * @param {string} name
 * @param {Record<string, string | number>} attributes
 */
function element(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/**
 * Redraws `svg` with `nodes` and `links`.
 * @param {SVGSVGElement} svg
 * @param {RingNode[]} nodes
 * @param {RingLink[]} links
 */
export function drawRing(svg, nodes, links) {
  svg.replaceChildren();
  const defs = element("defs", {});
  for (const [id, cls] of [["arrow", "head"], ["arrow-mine", "head mine"]]) {
    const marker = element("marker", {
      id,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 4.5,
      markerHeight: 4.5,
      orient: "auto-start-reverse",
    });
    const head = element("path", { d: "M 0 0 L 10 5 L 0 10 z", class: cls });
    marker.append(head);
    defs.append(marker);
  }
  svg.append(defs);
  svg.append(element("circle", { cx: CENTER, cy: CENTER, r: RADIUS, class: "rim" }));
  const ordered = hashOrder(nodes);
  if (ordered.length === 0) {
    const empty = element("text", { x: CENTER, y: CENTER, class: "empty" });
    empty.textContent = "not in a room";
    svg.append(empty);
    return;
  }
  const nodeRadius = Math.max(6, Math.min(18, 320 / ordered.length));
  /** @type {Map<string, { x: number, y: number, angle: number }>} */
  const at = new Map();
  ordered.forEach((node, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / ordered.length;
    at.set(node.name, {
      x: CENTER + RADIUS * Math.cos(angle),
      y: CENTER + RADIUS * Math.sin(angle),
      angle,
    });
  });
  const group = element("g", { class: "links" });
  for (const link of links) {
    const a = at.get(link.from), b = at.get(link.to);
    if (a === undefined || b === undefined || a === b) continue;
    // A curve bent towards the centre, cut short at both nodes.
    const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
    const cx = mx + (CENTER - mx) * 0.35, cy = my + (CENTER - my) * 0.35;
    const start = toward(a, { x: cx, y: cy }, nodeRadius + 2);
    const end = toward(b, { x: cx, y: cy }, nodeRadius + 3);
    const path = element("path", {
      d: `M ${start.x} ${start.y} Q ${cx} ${cy} ${end.x} ${end.y}`,
      class: link.mine ? "link mine" : "link",
      "marker-end": link.mine ? "url(#arrow-mine)" : "url(#arrow)",
    });
    const title = element("title", {});
    title.textContent = `${link.from} → ${link.to}`;
    path.append(title);
    group.append(path);
  }
  svg.append(group);
  for (const node of ordered) {
    const p = at.get(node.name);
    if (p === undefined) continue;
    const g = element("g", {
      class: `node${node.me ? " me" : ""}${node.dead ? " dead" : ""}`,
    });
    g.append(element("circle", { cx: p.x, cy: p.y, r: nodeRadius }));
    const lx = CENTER + (RADIUS + nodeRadius + 8) * Math.cos(p.angle);
    const ly = CENTER + (RADIUS + nodeRadius + 8) * Math.sin(p.angle);
    const label = element("text", {
      x: lx,
      y: ly,
      "text-anchor": Math.abs(Math.cos(p.angle)) < 0.3
        ? "middle"
        : Math.cos(p.angle) > 0
        ? "start"
        : "end",
      "dominant-baseline": "middle",
    });
    label.textContent = node.name.length > 14 ? `${node.name.slice(0, 13)}…` : node.name;
    const title = element("title", {});
    title.textContent = `${node.name}, HashID ${node.hashId}`;
    g.append(label, title);
    svg.append(g);
  }
}

/**
 * The point `distance` from `from` on the way to `to`.
 * @param {{ x: number, y: number }} from
 * @param {{ x: number, y: number }} to
 * @param {number} distance
 */
function toward(from, to, distance) {
  const dx = to.x - from.x, dy = to.y - from.y;
  const length = Math.hypot(dx, dy) || 1;
  return { x: from.x + (dx / length) * distance, y: from.y + (dy / length) * distance };
}
