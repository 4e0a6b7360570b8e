// The designer's model: pure functions over a workflow definition in the
// format of shared/spec/definition.md. Nothing here touches the DOM, so the
// rules (which edges are allowed, what a delete removes, where auto-layout
// puts a step) are unit-tested in node without a browser.

import { STEP_KINDS, STEP_STATUSES } from "../vocabulary.mjs";

// What a new step of each kind starts as: `prefix` names it (`http_1`, …)
// and `make` returns a fresh action.
const NEW_STEP = {
  http: { prefix: "http", make: () => ({ kind: "http", method: "GET", url: "https://example.com" }) },
  set: { prefix: "set", make: () => ({ kind: "set", values: { value: "" } }) },
  log: { prefix: "log", make: () => ({ kind: "log", message: "Hello from {{ run.template }}" }) },
  fail: { prefix: "fail", make: () => ({ kind: "fail", message: "Stopped on purpose" }) },
  subworkflow: { prefix: "sub", make: () => ({ kind: "subworkflow", template: "child-workflow" }) },
  condition: { prefix: "if", make: () => ({ expression: "true" }) },
  decision: { prefix: "decide", make: () => ({ cases: [{ when: "true", next: "" }, { when: "false", next: "" }], default: "" }) },
  foreach: { prefix: "each", make: () => ({ forEach: "[1, 2, 3]", as: "item", step: { kind: "log", message: "{{ item }}" } }) },
  wait: { prefix: "wait", make: () => ({ duration: 60000 }) },
  signal: { prefix: "signal", make: () => ({ signal: "approval", timeout: 86400000 }) },
};

/** Step kinds offered by the palette, in palette order: the shared
 * vocabulary's {kind, label, tag, type} with `prefix` and `make`. */
export const KINDS = STEP_KINDS.map((k) => ({ ...k, ...NEW_STEP[k.kind] }));

const byKind = new Map(KINDS.map((k) => [k.kind, k]));

/** Run statuses a node can show (shared/spec/definition.md, Statuses). */
export const STATUSES = STEP_STATUSES;

/** kindInfo returns the palette entry for a kind name, or undefined. */
export const kindInfo = (kind) => byKind.get(kind);

/** kindOf names the palette kind a step is drawn as. */
export function kindOf(step) {
  const a = step.action || {};
  switch (step.type) {
    case "condition": return Array.isArray(a.cases) ? "decision" : "condition";
    case "parallel": return "foreach";
    case "wait": return a.signal !== undefined ? "signal" : "wait";
    default: return byKind.has(a.kind) && byKind.get(a.kind).type === "command" ? a.kind : "command";
  }
}

/** ports lists a step's output ports. Each port is {name, label}; `out`
 * makes dependency edges, the others set a branch target. */
export function ports(step) {
  const kind = kindOf(step);
  if (kind === "condition") return [{ name: "true", label: "true" }, { name: "false", label: "false" }];
  if (kind === "decision") {
    const cases = step.action.cases.map((c, i) => ({ name: "case" + i, label: `${i + 1}: ${shorten(c.when || "?", 12)}` }));
    return [...cases, { name: "default", label: "default" }];
  }
  return [{ name: "out", label: "" }];
}

const shorten = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

// refs reads an onSuccess/onFailure value: a step id, or a list of them
// (a branch that fans out to several steps).
export const refs = (v) => (Array.isArray(v) ? v : v ? [v] : []);
// setRefs writes one back: a string for one step (the spec's form), a list
// for several, nothing for none.
function setRefs(step, field, list) {
  if (!list.length) delete step[field];
  else step[field] = list.length === 1 ? list[0] : list;
}

/** edges lists every edge of the graph as {key, from, to, port, kind}.
 * `port` is the source port it leaves from; `kind` is how it is stored:
 * dep (target.dependencies), success/failure (source.onSuccess/onFailure),
 * case (source.action.cases[i].next) or default (source.action.default).
 * `key` is unique and is what the canvas names the edge by. */
export function edges(def) {
  const out = [];
  const seen = new Map();
  const push = (from, to, port, kind, index) => {
    if (!to) return;
    let key = from + "-" + to;
    const n = (seen.get(key) || 0) + 1;
    seen.set(key, n);
    if (n > 1) key += "-" + n;
    out.push({ key, from, to, port, kind, index });
  };
  for (const s of def.steps) {
    (s.dependencies || []).forEach((d, i) => push(d, s.id, "out", "dep", i));
  }
  for (const s of def.steps) {
    const k = kindOf(s);
    const cond = k === "condition";
    refs(s.onSuccess).forEach((to, i) => push(s.id, to, cond ? "true" : "out", "success", i));
    refs(s.onFailure).forEach((to, i) => push(s.id, to, cond ? "false" : "out", "failure", i));
    if (k === "decision") {
      s.action.cases.forEach((c, i) => push(s.id, c.next, "case" + i, "case", i));
      push(s.id, s.action.default, "default", "default");
    }
  }
  return out;
}

/** stepById finds a step, or undefined. */
export const stepById = (def, id) => def.steps.find((s) => s.id === id);

/** uniqueId returns `<prefix>_<n>` with the smallest n not yet used. */
export function uniqueId(def, prefix) {
  const used = new Set(def.steps.map((s) => s.id));
  for (let n = 1; ; n++) if (!used.has(prefix + "_" + n)) return prefix + "_" + n;
}

/** newStep builds a step of a palette kind with a unique id at a point. */
export function newStep(def, kind, x, y) {
  const info = byKind.get(kind);
  if (!info) throw new Error(`unknown step kind "${kind}"`);
  return { id: uniqueId(def, info.prefix), type: info.type, action: info.make(), position: { x: Math.round(x), y: Math.round(y) } };
}

// reaches says whether `to` can be reached from `from` along the edges.
function path(def, from, to) {
  const next = new Map();
  for (const e of edges(def)) {
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from).push(e.to);
  }
  const prev = new Map([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const cur = queue.shift();
    if (cur === to) {
      const p = [];
      for (let c = to; c !== null; c = prev.get(c)) p.unshift(c);
      return p;
    }
    for (const n of next.get(cur) || []) if (!prev.has(n)) { prev.set(n, cur); queue.push(n); }
  }
  return null;
}

/** connect adds an edge from a step's port to another step, changing def in
 * place. It returns "" on success or the reason it refused, for the user. */
export function connect(def, from, port, to) {
  const src = stepById(def, from);
  const dst = stepById(def, to);
  if (!src || !dst) return `unknown step "${!src ? from : to}"`;
  if (from === to) return "A step cannot connect to itself.";
  if (edges(def).some((e) => e.from === from && e.to === to)) {
    return `${from} is already connected to ${to}.`;
  }
  const back = path(def, to, from);
  if (back) return `That would make a cycle: ${[...back, to].join(" → ")}.`;
  if (port === "out") {
    dst.dependencies = [...(dst.dependencies || []), from];
  } else if (port === "true") {
    // A branch may fan out: another step joins the ones it starts.
    setRefs(src, "onSuccess", [...refs(src.onSuccess), to]);
  } else if (port === "false") {
    setRefs(src, "onFailure", [...refs(src.onFailure), to]);
  } else if (port === "default") {
    src.action.default = to;
  } else if (/^case\d+$/.test(port) && src.action.cases?.[+port.slice(4)]) {
    src.action.cases[+port.slice(4)].next = to;
  } else {
    return `${from} has no port "${port}".`;
  }
  return "";
}

/** describeConnect says what connect(def, from, port, to) would do,
 * without doing it: {verdict, text}, verdict one of "connects", "adds" (a
 * port that already feeds a step feeds one more), "replaces" (a port with
 * one target moves to another) or "refused" (text says why). */
export function describeConnect(def, from, port, to) {
  const trial = JSON.parse(JSON.stringify(def));
  const src = stepById(def, from);
  const label = src && ports(src).find((p) => p.name === port)?.label;
  const what = port === "out" || !label ? from : `${from} ${label}`;
  const refused = connect(trial, from, port, to);
  if (refused) return { verdict: "refused", text: `Not allowed: ${refused.charAt(0).toLowerCase()}${refused.slice(1)}` };
  const was = edges(def).filter((e) => e.from === from && e.port === port).map((e) => e.to);
  const now = edges(trial).filter((e) => e.from === from && e.port === port).map((e) => e.to);
  const gone = was.filter((id) => !now.includes(id));
  const head = `Connect ${what} → ${to}`;
  if (gone.length) return { verdict: "replaces", text: `${head} (replaces ${what} → ${gone.join(", ")})` };
  if (now.length > 1) {
    const feeds = port === "out" ? `${from} now feeds ${now.length} steps` : `adds a branch; the ${label} port now feeds ${now.length} steps`;
    return { verdict: "adds", text: `${head} (${feeds})` };
  }
  return { verdict: "connects", text: head };
}

/** disconnect removes one edge (as listed by edges) from def in place. */
export function disconnect(def, edge) {
  const src = stepById(def, edge.from);
  const dst = stepById(def, edge.to);
  switch (edge.kind) {
    case "dep":
      if (!dst?.dependencies) return;
      dst.dependencies = dst.dependencies.filter((d) => d !== edge.from);
      if (!dst.dependencies.length) delete dst.dependencies;
      return;
    case "success": if (src) setRefs(src, "onSuccess", refs(src.onSuccess).filter((id) => id !== edge.to)); return;
    case "failure": if (src) setRefs(src, "onFailure", refs(src.onFailure).filter((id) => id !== edge.to)); return;
    // A case without a target is kept (its `when` is still the user's
    // work); the server reports the empty `next` until it is connected.
    case "case": if (src?.action.cases[edge.index]) src.action.cases[edge.index].next = ""; return;
    case "default": if (src) src.action.default = ""; return;
  }
}

/** removeSteps deletes steps and every reference to them, in place. */
export function removeSteps(def, ids) {
  const gone = new Set(ids);
  def.steps = def.steps.filter((s) => !gone.has(s.id));
  for (const s of def.steps) {
    if (s.dependencies) {
      s.dependencies = s.dependencies.filter((d) => !gone.has(d));
      if (!s.dependencies.length) delete s.dependencies;
    }
    if (s.onSuccess) setRefs(s, "onSuccess", refs(s.onSuccess).filter((id) => !gone.has(id)));
    if (s.onFailure) setRefs(s, "onFailure", refs(s.onFailure).filter((id) => !gone.has(id)));
    if (Array.isArray(s.action?.cases)) {
      for (const c of s.action.cases) if (gone.has(c.next)) c.next = "";
      if (gone.has(s.action.default)) s.action.default = "";
    }
  }
  if (def.parallelGroups) {
    def.parallelGroups = def.parallelGroups
      .map((g) => ({ ...g, steps: g.steps.filter((id) => !gone.has(id)) }))
      .filter((g) => g.steps.length);
    if (!def.parallelGroups.length) delete def.parallelGroups;
  }
}

/** Layout geometry shared by auto-layout and the canvas. */
export const NODE_W = 200;
export const GAP_X = 90;
export const GAP_Y = 36;
/** BAND_GAP is the space between wrapped bands of layers (see layout). */
export const BAND_GAP = 64;

/** nodeHeight is a step's drawn height: taller when it has many ports. */
export const nodeHeight = (step) => Math.max(hasBadges(step) ? 78 : 64, ports(step).length * 24 + 16);

/** hasBadges says whether a node shows a row of badges (compensation,
 * guard, retries, trigger rule), which makes it taller. */
export const hasBadges = (step) =>
  !!(step.compensate || step.when || step.retryPolicy?.maxAttempts > 1 || (step.trigger && step.trigger !== "none_failed"));

/** layout places steps in layers left to right by dependency depth (the
 * longest path from a start step), ordering each layer by the mean row of
 * its predecessors so branches stay apart and edges rarely cross. It
 * returns a Map id → {x, y} and does not change def.
 *
 * With maxWidth (world units), layers that would run past it wrap into a
 * new band below, like lines of text, so a long draft stays readable in a
 * narrow canvas instead of being zoomed out until its labels shrink
 * (ui-anchor behaviour 13). The canvas routes the wrapping edges round. */
export function layout(def, origin = { x: 40, y: 40 }, { maxWidth = Infinity } = {}) {
  const preds = new Map(def.steps.map((s) => [s.id, []]));
  for (const e of edges(def)) if (preds.has(e.to) && preds.has(e.from)) preds.get(e.to).push(e.from);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle the server will report; lay it out anyway
    visiting.add(id);
    const d = preds.get(id).reduce((m, p) => Math.max(m, depthOf(p) + 1), 0);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const layers = [];
  def.steps.forEach((s) => (layers[depthOf(s.id)] ||= []).push(s));
  const row = new Map();
  const placed = [];
  for (const layer of layers) {
    if (!layer) continue;
    const order = layer.map((s, i) => {
      const ps = preds.get(s.id).filter((p) => row.has(p));
      return { s, i, key: ps.length ? ps.reduce((a, p) => a + row.get(p), 0) / ps.length : i };
    });
    order.sort((a, b) => a.key - b.key || a.i - b.i);
    order.forEach(({ s }, i) => row.set(s.id, i));
    placed.push(order.map((o) => o.s));
  }
  // Centre each layer on the tallest one, so a fan-out and its join line up.
  const height = (layer) => layer.reduce((h, s) => h + nodeHeight(s) + GAP_Y, -GAP_Y);
  const perBand = Math.max(1, Math.floor((maxWidth + GAP_X) / (NODE_W + GAP_X)));
  const bands = [];
  for (let i = 0; i < placed.length; i += perBand) bands.push(placed.slice(i, i + perBand));
  const at = new Map();
  let top = origin.y;
  for (const band of bands) {
    const tallest = Math.max(0, ...band.map(height));
    band.forEach((layer, col) => {
      let y = top + Math.round((tallest - height(layer)) / 2);
      for (const s of layer) {
        at.set(s.id, { x: origin.x + col * (NODE_W + GAP_X), y });
        y += nodeHeight(s) + GAP_Y;
      }
    });
    // Room between bands for the edges that wrap round to the next one.
    top += tallest + BAND_GAP;
  }
  return at;
}

/** NodeIndex is a uniform grid over node boxes ({id, x, y, w, h}, world
 * units), so the edge router asks only for the nodes near the part of the
 * canvas it is looking at instead of testing every node of the draft. A
 * box is listed in every cell it covers; queries visit only the cells of
 * the region asked about. */
export class NodeIndex {
  /** cell is the grid's cell size: a little more than a node's width, so
   * a node covers at most a few cells and a query visits few of them. */
  constructor(cell = 256) {
    this.cell = cell;
    this.columns = new Map(); // cell column → Map(cell row → Set of boxes)
    this.boxes = new Map(); // id → box
    this.stamp = 0;
  }

  get size() { return this.boxes.size; }

  /** get returns the box stored for an id, or undefined. */
  get(id) { return this.boxes.get(id); }

  /** set adds a node's box, or moves it if the id is already there. */
  set(box) {
    this.delete(box.id);
    const b = { id: box.id, x: box.x, y: box.y, w: box.w, h: box.h, seen: 0 };
    this.boxes.set(b.id, b);
    eachCell(this, b, (col, cy) => {
      let row = col.get(cy);
      if (!row) col.set(cy, (row = new Set()));
      row.add(b);
    }, true);
  }

  /** delete removes a node's box; unknown ids are ignored. */
  delete(id) {
    const b = this.boxes.get(id);
    if (!b) return;
    this.boxes.delete(id);
    eachCell(this, b, (col, cy) => {
      const row = col.get(cy);
      row?.delete(b);
      if (row && !row.size) col.delete(cy);
    }, false);
  }

  /** query lists the boxes overlapping the open region x0 < x < x1,
   * y0 < y < y1 (touching edges do not count), each once, that keep
   * (when given) accepts. With first, it stops at the first one. The
   * boxes are the index's own: read them, do not change them. */
  query(x0, y0, x1, y1, keep, first = false) {
    const out = [];
    const stamp = ++this.stamp;
    const c = this.cell;
    const cx0 = Math.floor(x0 / c), cx1 = Math.floor(x1 / c);
    const cy0 = Math.floor(y0 / c), cy1 = Math.floor(y1 / c);
    const scan = (row) => {
      for (const b of row) {
        if (b.seen === stamp) continue;
        b.seen = stamp;
        if (b.x < x1 && b.x + b.w > x0 && b.y < y1 && b.y + b.h > y0 && (!keep || keep(b))) out.push(b);
      }
      return first && out.length > 0;
    };
    const column = (col) => {
      // Walk the rows asked about, or, when fewer, the rows in use.
      if (cy1 - cy0 < col.size) {
        for (let cy = cy0; cy <= cy1; cy++) { const row = col.get(cy); if (row && scan(row)) return true; }
      } else {
        for (const [cy, row] of col) if (cy >= cy0 && cy <= cy1 && scan(row)) return true;
      }
      return false;
    };
    if (cx1 - cx0 < this.columns.size) {
      for (let cx = cx0; cx <= cx1; cx++) { const col = this.columns.get(cx); if (col && column(col)) break; }
    } else {
      for (const [cx, col] of this.columns) if (cx >= cx0 && cx <= cx1 && column(col)) break;
    }
    return out;
  }
}

// eachCell calls fn(column, row) for every grid cell a box covers; with
// create, missing columns are made, and columns left empty are dropped.
function eachCell(index, b, fn, create) {
  const c = index.cell;
  const cx0 = Math.floor(b.x / c), cx1 = Math.floor((b.x + b.w) / c);
  const cy0 = Math.floor(b.y / c), cy1 = Math.floor((b.y + b.h) / c);
  for (let cx = cx0; cx <= cx1; cx++) {
    let col = index.columns.get(cx);
    if (!col) {
      if (!create) continue;
      index.columns.set(cx, (col = new Map()));
    }
    for (let cy = cy0; cy <= cy1; cy++) fn(col, cy);
    if (!col.size) index.columns.delete(cx);
  }
}

/** boxesMeet says whether two regions {x0, y0, x1, y1} overlap or touch. */
export const boxesMeet = (a, b) => a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;

/** routeEdge draws a source→target curve (s: the source port, t: the
 * target's in port, world units) around the node boxes in index, ignoring
 * the ids in skip (the edge's own ends). When the plain curve would pass
 * under another node it detours through a horizontal lane above or below
 * the nodes in the way, so no edge is ever hidden (ui-anchor behaviour 5).
 * Every candidate path is sampled against the node boxes and the first
 * clear one wins; the lanes tried widen from the nodes hit to the whole
 * span, so an edge drawn by hand across a row still finds a way round.
 *
 * It returns {d, box, looked}: the SVG path, the path's bounding box, and
 * the bounding box of every region whose nodes the choice depended on. A
 * node moving from or to a place outside `looked` cannot change the route,
 * which is how a drop knows which edges to route again. */
export function routeEdge(s, t, skip, index) {
  const dx = Math.max(40, Math.abs(t.x - s.x) / 2);
  const cubic = (a, b, d) => ({ a, c1: { x: a.x + d, y: a.y }, c2: { x: b.x - d, y: b.y }, b });
  const line = (a, b) => ({ a, b });
  const plain = [cubic(s, t, dx)];
  // Only nodes near the edge's horizontal span can be in its way.
  const sx0 = Math.min(s.x, t.x) - dx - 60, sx1 = Math.max(s.x, t.x) + dx + 60;
  const looked = { x0: Math.min(s.x, t.x), y0: Math.min(s.y, t.y), x1: Math.max(s.x, t.x), y1: Math.max(s.y, t.y) };
  const inSpan = (r) => !skip.has(r.id) && r.x < sx1 && r.x + r.w > sx0;
  const near = (x0, y0, x1, y1, first = false) => {
    looked.x0 = Math.min(looked.x0, x0); looked.y0 = Math.min(looked.y0, y0);
    looked.x1 = Math.max(looked.x1, x1); looked.y1 = Math.max(looked.y1, y1);
    return index.query(x0, y0, x1, y1, inSpan, first);
  };
  const done = (segs) => {
    const d = `M${s.x},${s.y} ` + segs.map((g) => g.c1
      ? `C${g.c1.x},${g.c1.y} ${g.c2.x},${g.c2.y} ${g.b.x},${g.b.y}` : `L${g.b.x},${g.b.y}`).join(" ");
    const box = { x0: s.x, y0: s.y, x1: s.x, y1: s.y };
    for (const g of segs) {
      for (const p of g.c1 ? [g.c1, g.c2, g.b] : [g.b]) {
        box.x0 = Math.min(box.x0, p.x); box.y0 = Math.min(box.y0, p.y);
        box.x1 = Math.max(box.x1, p.x); box.y1 = Math.max(box.y1, p.y);
      }
    }
    return { d, box, looked };
  };
  const fwd = t.x - s.x > 80;
  // A back edge with no node anywhere in its columns is drawn plain. (A
  // forward one is too when nothing is hit, checked below.) This looks at
  // the whole height of the columns.
  if (!fwd) {
    looked.x0 = Math.min(looked.x0, sx0); looked.x1 = Math.max(looked.x1, sx1);
    looked.y0 = -Infinity; looked.y1 = Infinity;
    if (!near(sx0, -Infinity, sx1, Infinity, true).length) return done(plain);
  }
  const point = (g, u) => {
    if (!g.c1) return { x: g.a.x + (g.b.x - g.a.x) * u, y: g.a.y + (g.b.y - g.a.y) * u };
    const v = 1 - u;
    return {
      x: v ** 3 * g.a.x + 3 * v * v * u * g.c1.x + 3 * v * u * u * g.c2.x + u ** 3 * g.b.x,
      y: v ** 3 * g.a.y + 3 * v * v * u * g.c1.y + 3 * v * u * u * g.c2.y + u ** 3 * g.b.y,
    };
  };
  const hitsOf = (segs) => {
    const hits = new Set();
    for (const g of segs) {
      // A curve lies inside its control points' box: only nodes
      // overlapping that box need sampling against.
      const xs = g.c1 ? [g.a.x, g.c1.x, g.c2.x, g.b.x] : [g.a.x, g.b.x];
      const ys = g.c1 ? [g.a.y, g.c1.y, g.c2.y, g.b.y] : [g.a.y, g.b.y];
      const found = near(Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys));
      if (!found.length) continue;
      const n = g.c1 ? 32 : Math.max(2, Math.ceil(Math.abs(g.b.x - g.a.x) / 12));
      for (let i = 0; i <= n; i++) {
        const p = point(g, i / n);
        for (const r of found) if (p.x > r.x && p.x < r.x + r.w && p.y > r.y && p.y < r.y + r.h) hits.add(r);
      }
    }
    return hits;
  };
  const first = hitsOf(plain);
  // A back edge (a wrapped layout's next band, a loop drawn by hand) is
  // clearer along a lane than as a long diagonal, even when nothing is hit.
  if (!first.size && fwd) return done(plain);
  const hit = first.size ? [...first] : [{ x: Math.min(s.x, t.x), y: Math.min(s.y, t.y), w: Math.abs(t.x - s.x), h: Math.abs(t.y - s.y) }];
  const mid = (s.y + t.y) / 2;
  // A lane is a y with nothing on it between x0 and x1.
  const clearLane = (y, x0, x1, dir) => {
    for (let i = 0; i < 40; i++) {
      const on = near(x0, y - 6, x1, y + 6);
      if (!on.length) return y;
      y = dir < 0 ? Math.min(...on.map((r) => r.y)) - 16 : Math.max(...on.map((r) => r.y + r.h)) + 16;
    }
    return y;
  };
  const via = (lane, x0, x1) => {
    const a = { x: x0, y: lane }, b = { x: x1, y: lane };
    const d0 = Math.max(20, Math.abs(a.x - s.x) / 2), d1 = Math.max(20, Math.abs(t.x - b.x) / 2);
    return [cubic(s, a, d0), line(a, b), cubic(b, t, d1)];
  };
  const spans = [];
  const hx0 = Math.min(...hit.map((r) => r.x)) - 24, hx1 = Math.max(...hit.map((r) => r.x + r.w)) + 24;
  if (fwd) {
    spans.push([Math.max(hx0, s.x + 20), Math.min(Math.max(hx1, hx0), t.x - 20)]);
    spans.push([s.x + 30, t.x - 30]);
  } else {
    // A back edge leaves rightwards and enters from the left.
    spans.push([s.x + 40, t.x - 40]);
  }
  const candidates = [];
  for (const [x0, x1raw] of spans) {
    const x1 = fwd ? Math.max(x0, x1raw) : x1raw;
    const lo = Math.min(x0, x1), hi = Math.max(x0, x1);
    const top = Math.min(...hit.map((r) => r.y), s.y, t.y) - 16;
    const bottom = Math.max(...hit.map((r) => r.y + r.h), s.y, t.y) + 16;
    const lanes = [clearLane(top, lo, hi, -1), clearLane(bottom, lo, hi, 1)];
    // Between the two ends' rows (the gap between wrapped bands).
    if (!fwd) lanes.push(clearLane(mid, lo, hi, -1), clearLane(mid, lo, hi, 1));
    for (const lane of lanes) candidates.push(via(lane, x0, x1));
  }
  candidates.sort((p, q) => Math.abs(p[1].a.y - mid) - Math.abs(q[1].a.y - mid));
  let best = plain, fewest = first.size;
  for (const c of candidates) {
    const n = hitsOf(c).size;
    if (!n) return done(c);
    if (n < fewest) { best = c; fewest = n; }
  }
  return done(best);
}
