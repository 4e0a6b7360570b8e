// Layered layout for the designer canvas, with dagre (@dagrejs/dagre).
// index.js imports this module lazily (a separate chunk of the bundle), so
// a page that only shows saved positions never downloads dagre.
//
// dagre places steps in ranks left to right (ordering each rank to keep
// crossings few) and routes every long edge through a dummy node per rank
// it crosses, kept apart from the steps and from each other. The canvas
// draws an edge from those dummies: straight across a column of steps (at
// the dummy's height, which dagre keeps clear of every step), and as an
// S-curve in the empty gap between two columns, so an edge never passes
// under a step and never runs along another one.
import { Graph, layout as dagreLayout } from "@dagrejs/dagre";

/** RANK_SEP is the gap between two columns of steps, NODE_SEP the space
 * between two steps of a column and EDGE_SEP between two edges passing
 * through one. */
export const RANK_SEP = 90;
export const NODE_SEP = 36;
export const EDGE_SEP = 18;

/**
 * layered lays out nodes ([{id, w, h}]) joined by links ([{key, from, to, port}])
 * with their top-left corner at origin or below and right of it. It
 * returns {at: Map id → {x, y}} (top-left corners) and {runs: Map key →
 * [{x0, x1, y}]}: for each edge drawn left to right, the horizontal runs
 * it takes through the columns between its ends (none between neighbours).
 * An edge that would run right to left (a cycle) has no runs; the canvas
 * routes it round the steps itself.
 */
export function layered(nodes, links, origin = { x: 40, y: 40 }, groups = []) {
  const g = new Graph({ multigraph: true, compound: groups.length > 0 });
  g.setGraph({ rankdir: "LR", ranksep: RANK_SEP, nodesep: NODE_SEP, edgesep: EDGE_SEP, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set();
  for (const n of nodes) {
    g.setNode(n.id, { width: n.w, height: n.h });
    known.add(n.id);
  }
  // A parallel group is a cluster: dagre keeps its steps together, so the
  // frame the canvas draws round them holds no other step and meets no
  // other frame. (A step listed in two groups stays in the first.)
  const parent = new Map();
  for (const grp of groups) {
    const members = (grp.steps || []).filter((id) => known.has(id) && !parent.has(id));
    if (!members.length) continue;
    const cluster = "\u0000group:" + grp.id;
    g.setNode(cluster, {});
    for (const id of members) {
      g.setParent(id, cluster);
      parent.set(id, cluster);
    }
  }
  for (const l of links) if (known.has(l.from) && known.has(l.to) && l.from !== l.to) g.setEdge(l.from, l.to, { weight: 1 }, l.key);
  // A step's ports are drawn top to bottom (true above false, cases above
  // the default): their targets are ordered the same way, so the edges
  // leaving one step do not cross each other.
  const constraints = [];
  const firstByPort = new Map();
  for (const l of links) {
    if (!known.has(l.to) || !l.port || l.port === "out") continue;
    const list = firstByPort.get(l.from) || [];
    if (!list.some((x) => x.port === l.port)) list.push({ port: l.port, to: l.to });
    firstByPort.set(l.from, list);
  }
  for (const list of firstByPort.values()) {
    for (let i = 1; i < list.length; i++) {
      if (list[i - 1].to !== list[i].to) constraints.push({ left: list[i - 1].to, right: list[i].to });
    }
  }
  try {
    dagreLayout(g, { constraints });
  } catch {
    dagreLayout(g); // constraints that contradict each other
  }

  let minX = Infinity, minY = Infinity;
  for (const n of nodes) {
    const d = g.node(n.id);
    minX = Math.min(minX, d.x - n.w / 2);
    minY = Math.min(minY, d.y - n.h / 2);
  }
  const dx = origin.x - minX, dy = origin.y - minY;
  const at = new Map();
  // The columns of steps: [x0, x1] in world units.
  const columns = [];
  for (const n of nodes) {
    const d = g.node(n.id);
    const x = Math.round(d.x - n.w / 2 + dx), y = Math.round(d.y - n.h / 2 + dy);
    at.set(n.id, { x, y });
    if (!columns.some((c) => c[0] === x)) columns.push([x, x + n.w]);
  }
  const runs = new Map();
  for (const l of links) {
    const e = known.has(l.from) && known.has(l.to) && g.edge({ v: l.from, w: l.to, name: l.key });
    if (!e) continue;
    const a = at.get(l.from), b = at.get(l.to);
    if (b.x <= a.x) continue; // a cycle's back edge
    const through = [];
    // The first and last points lie on the ends' borders; the ones between
    // are dummies, either in a column of steps or in a gap between two.
    for (const p of (e.points || []).slice(1, -1)) {
      const x = p.x + dx, y = Math.round(p.y + dy);
      const col = columns.find((c) => x > c[0] && x < c[1]);
      if (col && col[0] > a.x && col[0] < b.x && !through.some((r) => r.x0 === col[0])) through.push({ x0: col[0], x1: col[1], y });
    }
    through.sort((p, q) => p.x0 - q.x0);
    runs.set(l.key, through);
  }
  return { at, runs };
}

/** pathThrough is the SVG path of an edge from s (a source port) to t (a
 * target's input) through runs ({x0, x1, y}): an S-curve across each gap,
 * with level ends so it meets ports and runs square on, and a straight
 * line along each run. */
export function pathThrough(s, t, runs) {
  const d = [`M${s.x},${s.y}`];
  let at = s;
  const curve = (to) => {
    const m = (to.x - at.x) / 2;
    d.push(`C${at.x + m},${at.y} ${to.x - m},${to.y} ${to.x},${to.y}`);
    at = to;
  };
  for (const r of runs) {
    curve({ x: r.x0, y: r.y });
    d.push(`L${r.x1},${r.y}`);
    at = { x: r.x1, y: r.y };
  }
  curve(t);
  return d.join(" ");
}
