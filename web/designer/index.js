// Baton's visual designer canvas: the one stateful piece of JavaScript in
// the app. It owns the workflow graph while a draft is edited, draws steps
// as HTML nodes and edges as SVG paths in one transformed "world" layer,
// and reads and writes the definition format of shared/spec/definition.md
// (node positions in each step's `position`). Everything else on the page
// (the step's side panel, saving, validation) is server-rendered; the
// canvas talks to it through onChange, setProblems and its events.
//
// CSP note: the app's policy has `style-src 'self'`, so this file never
// writes style attributes or inline <style>; it sets CSSOM properties
// (el.style.transform), which the policy allows.
import {
  KINDS, STATUSES, kindInfo, kindOf, ports, edges, stepById, newStep, connect, disconnect,
  removeSteps, layout, NODE_W, GAP_X, GAP_Y, nodeHeight, NodeIndex, routeEdge, boxesMeet, describeConnect,
} from "./model.mjs";
import { statusLabel } from "../vocabulary.mjs";
import { createKeysHelp } from "./keys.mjs";

export { KINDS, STATUSES };

const SVG = "http://www.w3.org/2000/svg";
const MIN_ZOOM = 0.2;
const MAX_ZOOM = 2;
// The smallest text on a node is 12 px; fitting never zooms below 11 px
// text (ui-anchor behaviour 13): below that it stops zooming out and shows
// the start, and the canvas scrolls.
const READABLE_ZOOM = 0.92;
const DRAG_SLOP = 4;
const HISTORY_LIMIT = 300;

const STATUS_ICON = {
  pending: "…", running: "▶", retrying: "↻", waiting: "◷", succeeded: "✓", failed: "✕",
  skipped: "↷", cancelled: "⊘", timed_out: "⧗", compensated: "↺",
};

// el builds an element: el("div", {class: "x", "data-testid": "y"}, child…).
function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const clone = (v) => JSON.parse(JSON.stringify(v));

function checkDefinition(def) {
  if (!def || typeof def !== "object" || !Array.isArray(def.steps)) {
    throw new TypeError("designer: definition must be an object with a steps array");
  }
  def.steps.forEach((s, i) => {
    if (!s || typeof s !== "object" || typeof s.id !== "string" || !s.id) {
      throw new TypeError(`designer: steps[${i}] must be an object with a string id`);
    }
  });
}

function describe(step) {
  const a = step.action || {};
  switch (kindOf(step)) {
    case "http": return `${a.method || "GET"} ${a.url || ""}`;
    case "set": return Object.keys(a.values || {}).join(", ") || "no values";
    case "log": case "fail": return a.message || "";
    case "subworkflow": return a.template ? `runs ${a.template}` : "no template";
    case "condition": return a.condition ? `condition ${a.condition}` : a.expression || "";
    case "decision": return `${a.cases.length} case${a.cases.length === 1 ? "" : "s"} + default`;
    case "foreach": return `for each in ${a.forEach || "?"}`;
    case "wait": return `wait ${duration(a.duration)}`;
    case "signal": return `until signal “${a.signal}”`;
    default: return a.kind ? `kind ${a.kind}` : step.type;
  }
}

function duration(v) {
  if (typeof v === "string") return v;
  const ms = Number(v) || 0;
  if (ms % 3600000 === 0 && ms) return ms / 3600000 + " h";
  if (ms % 60000 === 0 && ms) return ms / 60000 + " min";
  return ms % 1000 === 0 ? ms / 1000 + " s" : ms + " ms";
}

// portY is the vertical offset of output port i on a node of height h.
function portY(step, i, h) {
  const n = ports(step).length;
  return n === 1 ? h / 2 : (h - n * 24) / 2 + 24 * i + 12;
}

let instances = 0;

// The layered layout (layout.js, with dagre) is a separate chunk, loaded
// the first time a graph needs placing: a page showing saved positions
// never downloads it. Until it is there, or if it cannot be loaded, steps
// are placed by the simple layout in model.mjs.
let layered = null;
let layeredLoading = null;
// Above this many steps dagre takes too long for a click (about half a
// second for 300 on a quiet machine, seconds on a busy one): larger drafts
// are placed by the simple layout, and their edges routed round the nodes.
const LAYERED_MAX = 150;
let layeredFailed = false;
function loadLayered() {
  layeredLoading ||= import("./layout.js").then((m) => { layered = m; }, () => { layeredFailed = true; });
  return layeredLoading;
}

/**
 * mountDesigner draws a workflow definition in container and lets the user
 * edit it. Options: definition (required), problems ([{path, message}]),
 * onChange(definition) called after every change, readOnly.
 * Events (api.on(name, fn), and DOM events "designer:<name>" bubbling from
 * the canvas): change(definition), select(stepIds), open(stepId), close(),
 * edit(stepId) (Enter on a step already open: the keyboard goes into its
 * fields), rename(stepId) (F2: to its Name).
 */
export function mountDesigner(container, options = {}) {
  if (!(container instanceof Element)) throw new TypeError("designer: container must be an element");
  checkDefinition(options.definition);
  const instance = ++instances;
  const readOnly = !!options.readOnly;
  let def = clone(options.definition);
  let view = { x: 0, y: 0, k: 1 };
  let selected = new Set();
  let selectedEdge = null;
  let problems = { steps: new Map(), edges: new Map(), other: [] };
  let rawProblems = [];
  const statuses = new Map();
  // items: stepId → {succeeded, failed} of a parallel (forEach) step's run.
  const items = new Map();
  const undoStack = [];
  const redoStack = [];
  const listeners = new Map();
  let autoPos = new Map();
  // laid is the last layered layout ({at, runs}, see layout.js): while the
  // steps stand where it put them, edges follow its routes.
  let laid = null;
  let placing = null; // a promise while the layered layout loads for this graph
  let drag = null;
  let spaceHeld = false;
  let keyConnect = null; // {from, port} while connecting with the keyboard
  let searchAnchor = null; // the step the palette search adds after (a, Alt+A; kept by Shift+Enter)
  let opened = null; // the step whose panel the canvas last opened (Enter again: into its fields)
  let toastTimer = 0;

  // ---- DOM skeleton -------------------------------------------------------
  // The keyboard help (keys.mjs): its button ends the toolbar.
  const help = createKeysHelp(el, () => viewport.focus({ preventScroll: true }));
  const button = (id, label, text, key) =>
    el("button", { type: "button", class: "bd-tool", "data-testid": "tool-" + id, "aria-label": label, title: key ? `${label} (${key})` : label }, text);
  const tools = {
    undo: button("undo", "Undo", "↶", "Ctrl+Z"),
    redo: button("redo", "Redo", "↷", "Ctrl+Shift+Z"),
    zoomOut: button("zoom-out", "Zoom out", "−", "-"),
    zoomIn: button("zoom-in", "Zoom in", "+", "+"),
    fit: button("fit", "Fit to screen", "Fit", "1"),
    layout: button("layout", "Auto-layout", "Layout", "Shift+Alt+T"),
    del: button("delete", "Delete selection", "Delete", "Del"),
  };
  // Its name starts with the text it shows (WCAG 2.5.3, label in name): a
  // speech user says "click 100%".
  const zoomLabel = el("button", { type: "button", class: "bd-tool bd-zoom", "data-testid": "zoom-level", title: "Reset zoom to 100% (0)", "aria-label": "100%, reset zoom" }, "100%");
  const toolbar = el("div", { class: "bd-toolbar", role: "toolbar", "aria-label": "Canvas tools" },
    ...(readOnly ? [] : [tools.undo, tools.redo, el("span", { class: "bd-sep" })]),
    tools.zoomOut, zoomLabel, tools.zoomIn, tools.fit,
    ...(readOnly ? [] : [tools.layout, el("span", { class: "bd-sep" }), tools.del]), help.button);

  const search = el("input", { type: "search", class: "bd-search", placeholder: "Search steps", title: "Search step kinds (/)", "aria-label": "Search step kinds", "data-testid": "palette-search" });
  // Shown while the search adds after a given step (a, Alt+A): which one.
  const searchFor = el("p", { class: "bd-search-for", "data-testid": "palette-adding-after", hidden: true });
  const paletteList = el("ul", { class: "bd-items" }, ...KINDS.map((k) =>
    el("li", {}, el("button", { type: "button", class: "bd-item k-" + k.kind, "data-kind": k.kind, "data-testid": "palette-" + k.kind, title: `${k.label}: drag onto the canvas, or click to add after the selected step` },
      el("span", { class: "bd-tag" }, k.tag), el("span", { class: "bd-label" }, k.label)))));
  const paletteEmpty = el("p", { class: "bd-hint", hidden: true }, "No step kind matches.");
  const palette = readOnly ? null : el("aside", { class: "bd-palette", "data-testid": "palette", "aria-label": "Step kinds" },
    searchFor, search, paletteList, paletteEmpty, el("p", { class: "bd-hint" }, "Drag a step onto the canvas, or click it to add it after the selected step."));

  const frames = el("div", { class: "bd-frames" });
  const svg = el("svg:svg", { class: "bd-edges", "aria-hidden": "true" });
  const nodes = el("div", { class: "bd-nodes" });
  const world = el("div", { class: "bd-world" }, frames, svg, nodes);
  const band = el("div", { class: "bd-band", hidden: true });
  const toast = el("div", { class: "bd-toast", role: "status", "aria-live": "polite", "data-testid": "designer-message" });
  // What each action did, said to screen readers (present from the start,
  // so the first message is read); the toast above is for what everyone
  // should see.
  const announcer = el("div", { class: "bd-sr", role: "status", "aria-live": "polite", "data-testid": "designer-announce" });
  const problemList = el("div", { class: "bd-problems", "data-testid": "problems", hidden: true });
  const empty = el("div", { class: "bd-empty", "data-testid": "canvas-empty", hidden: true },
    readOnly ? "This workflow has no steps." : "Drag a step from the palette onto the canvas to start.");
  const viewport = el("div", { class: "bd-viewport", tabindex: 0, "data-testid": "canvas", role: "application", "aria-label": "Workflow canvas. Arrow keys move the selected steps, Enter opens one, Delete removes them." },
    world, band, empty, problemList, toast);
  const root = el("div", { class: "bd" + (readOnly ? " bd-readonly" : ""), "data-testid": "designer" },
    toolbar, el("div", { class: "bd-body" }, ...(palette ? [palette] : []), viewport), announcer, help.dialog);
  container.append(root);

  // ---- events -------------------------------------------------------------
  function emit(name, detail) {
    for (const fn of listeners.get(name) || []) fn(detail);
    viewport.dispatchEvent(new CustomEvent("designer:" + name, { detail, bubbles: true }));
  }
  function changed() {
    const copy = clone(def);
    if (options.onChange) options.onChange(copy);
    emit("change", copy);
  }
  function say(message) {
    toast.textContent = message;
    toast.classList.add("bd-show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toast.classList.remove("bd-show"), 4000);
  }
  // announce tells screen readers what an action did: with visible, in the
  // toast (which is a live region too), else only in the announcer. The
  // same words twice in a row (two arrow presses) differ by a trailing
  // space, so they are read again.
  function announce(message, visible = false) {
    if (visible) return say(message);
    announcer.textContent = message === announcer.textContent.trim() ? message + "\u00a0" : message;
  }

  // ---- history --------------------------------------------------------------
  // Every change goes through change() (or commit() after a drag), which
  // keeps a JSON snapshot of the definition before it: undo covers adds,
  // connections, deletions, moves and layouts alike.
  // Each entry is {json, label}: label says what the change was ("move
  // notify"), so undo and redo can say what they undid.
  function record(before, label = "a change") {
    if (before === JSON.stringify(def)) return false;
    undoStack.push({ json: before, label });
    if (undoStack.length > HISTORY_LIMIT) undoStack.shift();
    redoStack.length = 0;
    return true;
  }
  function commit(before, label) {
    if (!record(before, label)) return false;
    render();
    changed();
    return true;
  }
  function change(fn, label) {
    const before = JSON.stringify(def);
    const result = fn();
    commit(before, label);
    return result;
  }
  function travel(from, to) {
    if (readOnly || !from.length) return;
    const entry = from.pop();
    to.push({ json: JSON.stringify(def), label: entry.label });
    def = JSON.parse(entry.json);
    announce(`${from === undoStack ? "Undone" : "Redone"}: ${entry.label}.`);
    selected = new Set([...selected].filter((id) => stepById(def, id)));
    selectedEdge = null;
    render();
    changed();
  }
  const undo = () => travel(undoStack, redoStack);
  const redo = () => travel(redoStack, undoStack);

  // ---- geometry -------------------------------------------------------------
  const pos = (s) => s.position || autoPos.get(s.id) || { x: 0, y: 0 };
  const rectOf = (s) => ({ x: pos(s).x, y: pos(s).y, w: NODE_W, h: nodeHeight(s) });
  const toWorld = (cx, cy) => {
    const r = viewport.getBoundingClientRect();
    return { x: (cx - r.left - view.x) / view.k, y: (cy - r.top - view.y) / view.k };
  };
  function bounds(steps) {
    if (!steps.length) return null;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const s of steps) {
      const r = rectOf(s);
      x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y);
      x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
    }
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  function applyView() {
    world.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.k})`;
    zoomLabel.textContent = Math.round(view.k * 100) + "%";
    zoomLabel.setAttribute("aria-label", zoomLabel.textContent + ", reset zoom");
  }
  function zoomAt(k, cx, cy) {
    k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
    const r = viewport.getBoundingClientRect();
    const px = cx === undefined ? r.width / 2 : cx - r.left;
    const py = cy === undefined ? r.height / 2 : cy - r.top;
    view = { x: px - ((px - view.x) / view.k) * k, y: py - ((py - view.y) / view.k) * k, k };
    applyView();
  }
  // drawnBounds is the box of every node and every drawn edge (a route
  // round the nodes can pass above or below them all).
  function drawnBounds() {
    const b = bounds(def.steps);
    if (!b) return null;
    let x0 = b.x, y0 = b.y, x1 = b.x + b.w, y1 = b.y + b.h;
    for (const one of drawn.values()) {
      const e = one.routed.box;
      if (!e) continue;
      x0 = Math.min(x0, e.x0); y0 = Math.min(y0, e.y0); x1 = Math.max(x1, e.x1); y1 = Math.max(y1, e.y1);
    }
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  // fit shows the whole graph with a margin (the Fit button, the "1" key,
  // and the read-only graphs of the run and review pages). Opening a draft
  // to edit (whole = false) keeps labels readable instead: a graph too big
  // for that opens at the readable zoom, showing its start.
  function fit(tell = false, whole = tell || readOnly) {
    const b = drawnBounds();
    const r = viewport.getBoundingClientRect();
    if (!b || !r.width) return;
    const pad = 40;
    // Below the zoom buttons' floor if that is what showing it all takes.
    let k = Math.max(0.05, Math.min(1, (r.width - 2 * pad) / b.w, (r.height - 2 * pad) / b.h));
    if (k >= READABLE_ZOOM || whole) {
      view = { k, x: (r.width - b.w * k) / 2 - b.x * k, y: (r.height - b.h * k) / 2 - b.y * k };
      if (tell && k < READABLE_ZOOM) say(`The whole workflow at ${Math.round(k * 100)}%: zoom in (+) or press 0 to read the labels.`);
    } else {
      k = READABLE_ZOOM;
      view = { k, x: pad - b.x * k, y: Math.max(pad - b.y * k, (r.height - b.h * k) / 2 - b.y * k) };
    }
    applyView();
  }
  function reveal(id) {
    const s = stepById(def, id);
    const r = viewport.getBoundingClientRect();
    if (!s || !r.width) return;
    const p = pos(s);
    const sx = p.x * view.k + view.x, sy = p.y * view.k + view.y;
    if (sx < 0 || sy < 0 || sx + NODE_W * view.k > r.width || sy + nodeHeight(s) * view.k > r.height) {
      view.x = r.width / 2 - (p.x + NODE_W / 2) * view.k;
      view.y = r.height / 2 - (p.y + nodeHeight(s) / 2) * view.k;
      applyView();
    }
  }

  // freeSpot moves a proposed position down until it overlaps no node.
  function freeSpot(x, y, h = 64) {
    for (let i = 0; i < 200; i++) {
      const hit = def.steps.some((s) => {
        const r = rectOf(s);
        return x < r.x + r.w + 20 && x + NODE_W + 20 > r.x && y < r.y + r.h + 20 && y + h + 20 > r.y;
      });
      if (!hit) break;
      y += GAP_Y;
    }
    return { x: Math.round(x), y: Math.round(y) };
  }

  // ---- edges ----------------------------------------------------------------
  // Edges are routed round the nodes by routeEdge (model.mjs), which asks
  // a grid of the node boxes (with an 8 px margin) for the nodes near each
  // part of a path. `obstacles` holds the boxes as the edges were last
  // routed; `drawn` holds, per edge key, its element, ends and route, so a
  // drop re-routes only the edges whose route looked where a node moved.
  let obstacles = new NodeIndex();
  let drawn = new Map();
  const obstacleOf = (st) => {
    const r = rectOf(st);
    return { id: st.id, x: r.x - 8, y: r.y - 8, w: r.w + 16, h: r.h + 16 };
  };
  const route = (e, ends, byId) => laidRoute(e, ends, byId) || routeEdge(ends.s, ends.t, new Set([e.from, e.to]), obstacles);
  // offLaid lists the boxes of the steps not where the last layered layout
  // put them (moved, or added since), refreshed before edges are routed.
  let offLaid = [];
  function refreshOffLaid() {
    offLaid = !laid ? [] : def.steps.filter((st) => {
      const q = laid.at.get(st.id), p = pos(st);
      return !q || q.x !== p.x || q.y !== p.y;
    }).map(obstacleOf);
  }
  // laidRoute draws an edge along the layered layout's route while both
  // its ends stand where the layout put them and no other step has moved
  // into its way; otherwise (null) the edge is routed round the nodes.
  function laidRoute(e, ends, byId) {
    const runs = laid?.runs.get(e.key);
    if (!runs || !layered) return null;
    for (const id of [e.from, e.to]) {
      const q = laid.at.get(id), p = pos(byId ? byId.get(id) : stepById(def, id));
      if (!q || q.x !== p.x || q.y !== p.y) return null;
    }
    const ys = [ends.s.y, ends.t.y, ...runs.map((r) => r.y)];
    const box = { x0: ends.s.x, y0: Math.min(...ys), x1: ends.t.x, y1: Math.max(...ys) };
    if (offLaid.some((o) => o.id !== e.from && o.id !== e.to && boxesMeet(box, { x0: o.x, y0: o.y, x1: o.x + o.w, y1: o.y + o.h }))) return null;
    return { d: layered.pathThrough(ends.s, ends.t, runs), box, looked: box };
  }

  function edgeEnds(e, byId) {
    const a = byId ? byId.get(e.from) : stepById(def, e.from);
    const b = byId ? byId.get(e.to) : stepById(def, e.to);
    if (!a || !b) return null;
    const pa = pos(a), pb = pos(b);
    const i = Math.max(0, ports(a).findIndex((p) => p.name === e.port));
    return { s: { x: pa.x + NODE_W, y: pa.y + portY(a, i, nodeHeight(a)) }, t: { x: pb.x, y: pb.y + nodeHeight(b) / 2 } };
  }

  // renderEdges draws every edge. With reuse (a selection or run status
  // changed, no node moved) an edge whose ends are where they were keeps
  // its route; otherwise every edge is routed again.
  function renderEdges(reuse = false) {
    const status = (id) => statuses.get(id);
    const parts = [];
    if (!reuse) {
      obstacles = new NodeIndex();
      for (const st of def.steps) obstacles.set(obstacleOf(st));
      refreshOffLaid();
    }
    const byId = new Map(def.steps.map((st) => [st.id, st]));
    const before = drawn;
    drawn = new Map();
    for (const e of edges(def)) {
      const ends = edgeEnds(e, byId);
      if (!ends) continue;
      const old = reuse && before.get(e.key);
      const same = old && old.e.from === e.from && old.e.to === e.to &&
        old.ends.s.x === ends.s.x && old.ends.s.y === ends.s.y && old.ends.t.x === ends.t.x && old.ends.t.y === ends.t.y;
      const routed = same ? old.routed : route(e, ends, byId);
      const d = routed.d;
      const classes = ["bd-edge", "e-" + e.kind, "p-" + (e.port.startsWith("case") ? "case" : e.port)];
      if (selectedEdge === e.key) classes.push("bd-selected");
      if (problems.edges.has(e.key)) classes.push("bd-bad");
      const from = status(e.from), to = status(e.to);
      // The path a run took is drawn bold green; a branch not taken is
      // faded and dotted, so it never looks like "not reached yet".
      if (to === "skipped" || from === "skipped") classes.push("bd-nottaken");
      else if (from && from !== "pending" && from !== "running" && to && to !== "pending") classes.push("bd-taken");
      const title = problems.edges.get(e.key)?.join("\n") || `${e.from} → ${e.to}` + (e.kind === "failure" ? " (on failure)" : e.kind === "success" ? " (on success)" : "");
      const g = el("svg:g", { class: classes.join(" "), "data-testid": "edge-" + e.key, "data-key": e.key },
        el("svg:title", {}, title),
        el("svg:path", { class: "bd-hit", d }),
        el("svg:path", { class: "bd-line", d }),
        el("svg:circle", { class: "bd-tip", cx: ends.t.x, cy: ends.t.y, r: 3.5 }));
      parts.push(g);
      drawn.set(e.key, { e, g, ends, routed, label: null });
    }
    // A forEach step's item counts ride on its outgoing edges, next to the
    // source port, like n8n's "1 item" labels.
    for (const e of edges(def)) {
      const n = items.get(e.from);
      const ends = n && edgeEnds(e, byId);
      if (!ends) continue;
      const text = n.failed ? `${n.succeeded} ✓ ${n.failed} ✕` : `${n.succeeded} item${n.succeeded === 1 ? "" : "s"}`;
      const label = el("svg:text", { class: "bd-items-label" + (n.failed ? " bd-items-bad" : ""), x: ends.s.x + 8, y: ends.s.y - 6, "data-testid": "items-" + e.key }, text);
      parts.push(label);
      if (drawn.has(e.key)) drawn.get(e.key).label = label;
    }
    svg.replaceChildren(...parts);
  }

  // reroute routes one drawn edge again and updates its path, arrow tip
  // and item-count label in place.
  function reroute(one, byId) {
    const ends = edgeEnds(one.e, byId);
    if (!ends) return;
    const routed = route(one.e, ends, byId);
    for (const line of one.g.querySelectorAll("path")) line.setAttribute("d", routed.d);
    const tip = one.g.querySelector("circle");
    if (tip) { tip.setAttribute("cx", ends.t.x); tip.setAttribute("cy", ends.t.y); }
    if (one.label) { one.label.setAttribute("x", ends.s.x + 8); one.label.setAttribute("y", ends.s.y - 6); }
    one.ends = ends;
    one.routed = routed;
  }

  function renderFrames() {
    frames.replaceChildren(...(def.parallelGroups || []).map((g) => {
      const b = bounds(g.steps.map((id) => stepById(def, id)).filter(Boolean));
      if (!b) return null;
      const label = `parallel ${g.id}` + (g.maxConcurrency ? ` · max ${g.maxConcurrency}` : "") + (g.failFast ? " · fail fast" : "");
      const f = el("div", { class: "bd-frame", "data-testid": "group-" + g.id }, el("span", { class: "bd-frame-label" }, label));
      f.style.transform = `translate(${b.x - 16}px, ${b.y - 28}px)`;
      f.style.width = b.w + 32 + "px";
      f.style.height = b.h + 44 + "px";
      return f;
    }).filter(Boolean));
  }

  // ---- nodes ----------------------------------------------------------------
  function nodeEl(s) {
    const kind = kindOf(s);
    const info = kindInfo(kind);
    const h = nodeHeight(s);
    const bad = problems.steps.get(s.id);
    const st = statuses.get(s.id);
    const classes = ["bd-node", "k-" + kind];
    if (selected.has(s.id)) classes.push("bd-selected");
    if (bad) classes.push("bd-bad");
    if (st) classes.push("st-" + st);
    // A word apart each (the node's name is read from its text).
    const badges = el("div", { class: "bd-badges" }, ...[
      s.compensate && el("span", { class: "bd-badge bd-comp", "data-testid": `badge-${s.id}-compensate`, title: "Has a compensate action: it runs on rollback" }, "↺ compensate"),
      s.when && el("span", { class: "bd-badge", title: "Guard: " + s.when }, "when"),
      s.retryPolicy?.maxAttempts > 1 && el("span", { class: "bd-badge", title: "Retries" }, "×" + s.retryPolicy.maxAttempts),
      s.trigger && s.trigger !== "none_failed" && el("span", { class: "bd-badge", title: "Trigger rule" }, s.trigger.replace("_", " ")),
    ].filter(Boolean).flatMap((b) => [b, " "]));
    const node = el("div", {
      class: classes.join(" "), "data-testid": "node-" + s.id, "data-id": s.id, tabindex: 0, role: "button",
      "aria-pressed": selected.has(s.id) ? "true" : "false",
      "data-problems": bad ? bad.map((p) => p.field).filter(Boolean).join(" ") : null,
      "data-status": st,
    },
    el("span", { class: "bd-port bd-in", "data-testid": `port-${s.id}-in` }),
    // The node's name is its text (WCAG 2.5.3, label in name): the tag,
    // the kind in words (hidden), name, description, badges, problems and
    // status, each a word apart; what only colour says is said in words.
    el("span", { class: "bd-tag" }, info ? info.tag : "?"),
    info && el("span", { class: "bd-sr" }, ` (${info.label})`),
    " ",
    el("div", { class: "bd-text" },
      // Long names and descriptions are cut with an ellipsis; the whole
      // text is the tooltip.
      el("div", { class: "bd-name", title: s.name && s.name !== s.id ? `${s.name} (${s.id})` : s.id }, s.name || s.id),
      " ",
      el("div", { class: "bd-sub", title: describe(s) }, describe(s)),
      " ",
      badges),
    " ",
    bad && el("span", { class: "bd-flag", "data-testid": `problem-${s.id}`, title: bad.map((p) => (p.field ? p.field + ": " : "") + p.message).join("\n") },
      "! " + bad.length, el("span", { class: "bd-sr" }, ` problem${bad.length > 1 ? "s" : ""}`)),
    " ",
    st && el("span", { class: "bd-status", "data-testid": `status-${s.id}` }, el("span", { "aria-hidden": "true" }, STATUS_ICON[st] + " "), statusLabel(st)),
    ...ports(s).map((p, i) => {
      const port = el("span", { class: "bd-port bd-out p-" + (p.name.startsWith("case") ? "case" : p.name), "data-port": p.name, "data-testid": `port-${s.id}-${p.name}`, title: readOnly ? p.label : `Drag to connect${p.label ? " (" + p.label + ")" : ""}` },
        p.label && el("span", { class: "bd-port-label" }, " " + p.label));
      port.style.top = portY(s, i, h) + "px";
      return port;
    }));
    const p = pos(s);
    node.style.transform = `translate(${p.x}px, ${p.y}px)`;
    node.style.width = NODE_W + "px";
    node.style.height = h + "px";
    return node;
  }

  // placeAll lays out every step with the layered layout, or with the
  // simple one while that loads (the canvas stays hidden meanwhile, then
  // draws and fits again) or if it cannot load.
  function placeAll() {
    if (def.steps.length > LAYERED_MAX) {
      laid = null;
      return layout(def);
    }
    if (layered) {
      laid = layered.layered(def.steps.map((st) => ({ id: st.id, w: NODE_W, h: nodeHeight(st) })), edges(def), undefined, def.parallelGroups || []);
      return laid.at;
    }
    if (!placing && !layeredFailed) {
      root.classList.add("bd-placing");
      placing = loadLayered().then(() => {
        placing = null;
        root.classList.remove("bd-placing");
        if (!root.isConnected || !layered || !def.steps.some((s) => !s.position)) return;
        render();
        fit();
      });
    }
    return layout(def);
  }

  function render() {
    if (def.steps.some((s) => !s.position)) {
      const placed = placeAll();
      autoPos = new Map([...placed].filter(([id]) => !stepById(def, id).position));
    } else {
      autoPos = new Map();
    }
    const focused = document.activeElement?.closest?.(".bd-node")?.dataset.id;
    nodes.replaceChildren(...def.steps.map(nodeEl));
    if (focused) nodes.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
    renderEdges();
    renderFrames();
    empty.hidden = def.steps.length > 0;
    renderProblems();
    tools.undo.disabled = !undoStack.length;
    tools.redo.disabled = !redoStack.length;
    tools.del.disabled = !selected.size && !selectedEdge;
  }

  // moveRender updates only what a drag changes: rebuilding the nodes on
  // every pointer move would drop pointer capture, and re-routing every
  // edge around every node cost ~400 ms per move on a 300-step draft.
  // Moves are coalesced into one frame; only the dragged nodes move and
  // only their own edges are re-routed (other edges may briefly pass under
  // a dragged node). The drop (settleMove) re-routes every edge the move
  // can have changed, so what is drawn at rest (no edge under a node) is
  // what a full redraw would draw.
  let moveFrame = 0;
  function moveRender() {
    if (moveFrame) return;
    moveFrame = requestAnimationFrame(() => {
      moveFrame = 0;
      if (drag && drag.mode === "move") moveDragged(drag);
    });
  }
  function moveDragged(d) {
    if (!d.els) {
      d.els = new Map([...nodes.children].filter((n) => d.orig.has(n.dataset.id)).map((n) => [n.dataset.id, n]));
      d.touching = [...drawn.values()].filter((one) => d.orig.has(one.e.from) || d.orig.has(one.e.to));
    }
    const byId = new Map(def.steps.map((st) => [st.id, st]));
    for (const [id, n] of d.els) {
      const st = byId.get(id);
      const p = pos(st);
      n.style.transform = `translate(${p.x}px, ${p.y}px)`;
      obstacles.set(obstacleOf(st));
    }
    refreshOffLaid();
    for (const one of d.touching) reroute(one, byId);
    if (def.parallelGroups?.length) renderFrames();
  }

  // settleMove ends a move of the steps in orig (id → position before the
  // move: a drop, or arrow keys). Instead of a full redraw it moves those
  // nodes and re-routes only the edges that can have changed: their own,
  // and those whose route looked at a place a moved node left or took
  // (routeEdge's `looked`); every other edge's route would come out the
  // same. It records the move for undo and reports the change.
  function settleMove(before, orig) {
    if (moveFrame) { cancelAnimationFrame(moveFrame); moveFrame = 0; }
    const ids = [...orig.keys()].join(", ");
    const did = record(before, "move " + ids);
    if (did) announce(`Moved ${ids}.`);
    const byId = new Map(def.steps.map((st) => [st.id, st]));
    const places = [];
    const place = (r) => places.push({ x0: r.x, y0: r.y, x1: r.x + r.w, y1: r.y + r.h });
    for (const [id, was] of orig) {
      const st = byId.get(id);
      if (!st) continue;
      place({ x: was.x - 8, y: was.y - 8, w: NODE_W + 16, h: nodeHeight(st) + 16 });
      const now = obstacleOf(st);
      place(now);
      obstacles.set(now);
    }
    refreshOffLaid();
    for (const n of nodes.children) {
      if (!orig.has(n.dataset.id)) continue;
      const p = pos(byId.get(n.dataset.id));
      n.style.transform = `translate(${p.x}px, ${p.y}px)`;
    }
    for (const one of drawn.values()) {
      if (orig.has(one.e.from) || orig.has(one.e.to) || places.some((b) => boxesMeet(one.routed.looked, b))) reroute(one, byId);
    }
    if (def.parallelGroups?.length) renderFrames();
    tools.undo.disabled = !undoStack.length;
    tools.redo.disabled = !redoStack.length;
    if (did) changed();
    return did;
  }

  function renderProblems() {
    const items = [];
    for (const [id, list] of problems.steps) for (const p of list) items.push({ id, text: `${id}${p.field ? "." + p.field : ""}: ${p.message}` });
    for (const text of problems.other) items.push({ id: null, text });
    problemList.hidden = !items.length;
    if (!items.length) return problemList.replaceChildren();
    problemList.replaceChildren(
      el("div", { class: "bd-problems-head" }, `${items.length} problem${items.length > 1 ? "s" : ""}`),
      el("ul", {}, ...items.map((it, i) => el("li", {}, it.id
        ? el("button", { type: "button", "data-step": it.id, "data-testid": "problem-item-" + i }, it.text)
        : el("span", { "data-testid": "problem-item-" + i }, it.text)))));
  }

  // ---- selection --------------------------------------------------------------
  function setSelection(ids, edgeKey = null) {
    selected = new Set(ids);
    selectedEdge = edgeKey;
    for (const n of nodes.children) {
      const on = selected.has(n.dataset.id);
      n.classList.toggle("bd-selected", on);
      n.setAttribute("aria-pressed", on ? "true" : "false");
    }
    renderEdges(true);
    tools.del.disabled = readOnly || (!selected.size && !selectedEdge);
    emit("select", [...selected]);
  }

  function deleteSelection() {
    if (readOnly) return;
    if (selectedEdge) {
      const e = edges(def).find((x) => x.key === selectedEdge);
      selectedEdge = null;
      if (e) {
        const what = `${e.from} → ${e.to}`;
        change(() => disconnect(def, e), "disconnect " + what);
        say(`Disconnected ${what}. Ctrl+Z brings it back.`);
      }
      // The keyboard stays on the step it picked the connection from,
      // which is selected again.
      const on = document.activeElement?.closest?.(".bd-node")?.dataset.id;
      if (on && stepById(def, on)) setSelection([on]);
      else viewport.focus();
      return;
    }
    if (!selected.size) return;
    const ids = [...selected];
    selected = new Set();
    const what = `${ids.length > 1 ? "steps" : "step"} ${ids.join(", ")}`;
    change(() => removeSteps(def, ids), "delete " + what);
    say(`Deleted ${what}. Ctrl+Z brings ${ids.length > 1 ? "them" : "it"} back.`);
    viewport.focus();
    emit("select", []);
  }

  // tryConnect links from's port to a step and says so (visible: in the
  // toast, for the keyboard's connections, whose result is not drawn
  // where the user's eyes are).
  function tryConnect(from, port, to, visible = false) {
    let refused = "";
    const what = `${from}${port === "out" ? "" : " (" + port + ")"} → ${to}`;
    change(() => { refused = connect(def, from, port, to); }, "connect " + what);
    if (refused) say(refused);
    else announce(`Connected ${what}.`, visible);
    return !refused;
  }

  // anchorId, when given, is the step to add after instead of the selection.
  // note is said after what was added.
  function addStep(kind, at, anchorId, note = "") {
    let x, y;
    const anchor = anchorId ? stepById(def, anchorId) : selected.size === 1 ? stepById(def, [...selected][0]) : null;
    if (at) {
      ({ x, y } = { x: at.x - NODE_W / 2, y: at.y - 32 });
    } else if (anchor) {
      ({ x, y } = freeSpot(pos(anchor).x + NODE_W + GAP_X, pos(anchor).y));
    } else {
      const r = viewport.getBoundingClientRect();
      ({ x, y } = freeSpot((r.width / 2 - view.x) / view.k - NODE_W / 2, (r.height / 3 - view.y) / view.k));
    }
    const step = newStep(def, kind, x, y);
    let after = "";
    change(() => {
      def.steps.push(step);
      // A click adds the step after the selected one, on its first free port.
      if (!at && anchor) {
        const free = ports(anchor).find((p) => !edges(def).some((e) => e.from === anchor.id && e.port === p.name && p.name !== "out"));
        if (free && !connect(def, anchor.id, free.name, step.id)) after = ` after ${anchor.id}${free.name === "out" ? "" : " (" + free.name + ")"}`;
      }
    }, "add " + step.id);
    announce(`Added ${kindInfo(kind).label} step ${step.id}${after}.${note}`);
    setSelection([step.id]);
    reveal(step.id);
    // The new step is what the user works on next: its panel opens (the
    // previous step's would otherwise take the typing).
    open(step.id);
    return step.id;
  }

  // focusStep puts the keyboard on a step just added from the keyboard:
  // the work continues there (Enter opens it, c connects it), not on the
  // palette button, which would leave every node to Tab through.
  function focusStep(id) {
    const node = id && nodes.querySelector(`[data-id="${CSS.escape(id)}"]`);
    if (node) node.focus({ preventScroll: true });
  }
  // keyboardAdded: after a keyboard add, the keyboard goes to the new step;
  // a condition's, straight into its expression (what a new condition is
  // for; Escape comes back to the step).
  function keyboardAdded(id) {
    focusStep(id);
    const step = id && stepById(def, id);
    if (step && kindOf(step) === "condition") emit("edit", id);
  }

  // addAfter opens the palette search to add a step after step id (by
  // default the step with the keyboard, else the one selected or open,
  // else the draft's last): Enter adds the match connected from that
  // step's next free port.
  function addAfter(id) {
    if (readOnly || !palette) return false;
    const active = document.activeElement?.closest?.(".bd-node")?.dataset.id;
    const last = def.steps.length ? def.steps[def.steps.length - 1].id : null;
    const at = [id, active, selected.size === 1 ? [...selected][0] : null, opened, last].find((x) => x && stepById(def, x));
    if (!at) return focusSearch();
    anchorSearch(at);
    focusSearch();
    announce(`Add a step after ${at}: type its kind, Enter adds it.`);
    return true;
  }
  function anchorSearch(id) {
    searchAnchor = id;
    searchFor.textContent = `Adding after ${id}`;
    searchFor.hidden = false;
    search.setAttribute("aria-label", `Search step kinds to add after ${id}`);
  }
  // The anchor lasts while the keyboard is in the palette.
  function onPaletteFocusOut(e) {
    if (!searchAnchor || palette.contains(e.relatedTarget)) return;
    searchAnchor = null;
    searchFor.hidden = true;
    search.setAttribute("aria-label", "Search step kinds");
  }

  // autoLayout places every step with the layered layout (loading it the
  // first time) and fits the whole graph; it resolves once drawn.
  async function autoLayout() {
    if (readOnly) return;
    if (def.steps.length <= LAYERED_MAX) await loadLayered();
    change(() => {
      for (const [id, p] of placeAll()) stepById(def, id).position = { ...p };
    }, "layout");
    announce(`Laid out ${def.steps.length} step${def.steps.length === 1 ? "" : "s"}.`);
    fit(false, true);
  }

  function moveSelection(dx, dy) {
    if (readOnly || !selected.size) return;
    const before = JSON.stringify(def);
    const orig = new Map();
    for (const id of selected) {
      const s = stepById(def, id);
      const p = pos(s);
      orig.set(id, { ...p });
      s.position = { x: Math.round(p.x + dx), y: Math.round(p.y + dy) };
    }
    settleMove(before, orig);
  }

  function open(id) {
    if (!stepById(def, id)) return;
    opened = id;
    emit("open", id);
  }
  // closed: the panel went back to the workflow's.
  function closed() {
    opened = null;
    emit("close");
  }

  // pickEdge selects a step's next connection (its outgoing ones first,
  // then those coming in), so the keyboard can disconnect it with Delete.
  function pickEdge(id) {
    const all = edges(def);
    const mine = [...all.filter((e) => e.from === id), ...all.filter((e) => e.to === id && e.from !== id)];
    if (!mine.length) return say(`${id} has no connections.`);
    const n = (mine.findIndex((e) => e.key === selectedEdge) + 1) % mine.length;
    const e = mine[n];
    setSelection([], e.key);
    say(`Connection ${e.from}${e.port === "out" ? "" : " (" + e.port + ")"} → ${e.to} selected (${n + 1} of ${mine.length}): Delete removes it, d picks the next.`);
  }

  // ---- pointer input ----------------------------------------------------------
  function onPointerDown(e) {
    if (menu && !menu.contains(e.target)) closeMenu();
    // A notice ("Zoomed out as far as…") has been read once the user acts;
    // left up it would cover a node they are reaching for.
    toast.classList.remove("bd-show");
    if (e.button !== 0 && e.button !== 1) return;
    if (e.target.closest(".bd-menu")) return;
    const portEl = e.target.closest(".bd-out");
    const nodeEl = e.target.closest(".bd-node");
    const edgeEl = e.target.closest(".bd-edge");
    if (e.target.closest(".bd-problems")) return;
    const start = { cx: e.clientX, cy: e.clientY, moved: false, pointerId: e.pointerId };
    if (spaceHeld || e.button === 1) {
      drag = { ...start, mode: "pan", vx: view.x, vy: view.y, keep: true };
    } else if (portEl && !readOnly) {
      const from = nodeEl.dataset.id;
      const line = el("svg:path", { class: "bd-temp", "data-testid": "connecting" });
      svg.append(line);
      drag = { ...start, mode: "connect", from, port: portEl.dataset.port, line };
    } else if (nodeEl) {
      const id = nodeEl.dataset.id;
      if (e.shiftKey) {
        const next = new Set(selected);
        next.has(id) ? next.delete(id) : next.add(id);
        setSelection(next);
      } else if (!selected.has(id)) {
        setSelection([id]);
      }
      const orig = new Map([...selected].map((sid) => [sid, { ...pos(stepById(def, sid)) }]));
      drag = { ...start, mode: "move", id, orig, before: JSON.stringify(def), shift: e.shiftKey, node: nodeEl };
    } else if (edgeEl) {
      setSelection([], edgeEl.dataset.key);
      viewport.focus({ preventScroll: true });
      return;
    } else if (e.shiftKey && !readOnly) {
      drag = { ...start, mode: "band", base: new Set(selected) };
    } else {
      drag = { ...start, mode: "pan", vx: view.x, vy: view.y };
    }
    if (!nodeEl || drag.mode === "pan") viewport.focus({ preventScroll: true });
    viewport.setPointerCapture(e.pointerId);
    e.preventDefault();
  }

  function onPointerMove(e) {
    if (!drag || e.pointerId !== drag.pointerId) return;
    const dx = e.clientX - drag.cx, dy = e.clientY - drag.cy;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_SLOP) return;
    drag.moved = true;
    if (drag.mode === "pan") {
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      applyView();
      viewport.classList.add("bd-panning");
    } else if (drag.mode === "move" && !readOnly) {
      for (const [id, o] of drag.orig) {
        stepById(def, id).position = { x: Math.round(o.x + dx / view.k), y: Math.round(o.y + dy / view.k) };
      }
      moveRender();
    } else if (drag.mode === "connect") {
      const a = edgeEnds({ from: drag.from, to: drag.from, port: drag.port }).s;
      const b = toWorld(e.clientX, e.clientY);
      const d = Math.max(40, Math.abs(b.x - a.x) / 2);
      drag.line.setAttribute("d", `M${a.x},${a.y} C${a.x + d},${a.y} ${b.x - d},${b.y} ${b.x},${b.y}`);
      svg.append(drag.line);
      const over = document.elementFromPoint(e.clientX, e.clientY)?.closest(".bd-node");
      previewDrop(drag, over && over.dataset.id !== drag.from ? over : null);
    } else if (drag.mode === "band") {
      const r = viewport.getBoundingClientRect();
      const x0 = Math.min(drag.cx, e.clientX) - r.left, y0 = Math.min(drag.cy, e.clientY) - r.top;
      band.hidden = false;
      band.style.transform = `translate(${x0}px, ${y0}px)`;
      band.style.width = Math.abs(dx) + "px";
      band.style.height = Math.abs(dy) + "px";
      const a = toWorld(Math.min(drag.cx, e.clientX), Math.min(drag.cy, e.clientY));
      const b = toWorld(Math.max(drag.cx, e.clientX), Math.max(drag.cy, e.clientY));
      const inBand = def.steps.filter((s) => {
        const q = rectOf(s);
        return q.x < b.x && q.x + q.w > a.x && q.y < b.y && q.y + q.h > a.y;
      }).map((s) => s.id);
      setSelection(new Set([...drag.base, ...inBand]));
    }
  }

  function onPointerUp(e) {
    if (!drag || e.pointerId !== drag.pointerId) return;
    const d = drag;
    drag = null;
    viewport.classList.remove("bd-panning");
    band.hidden = true;
    if (viewport.hasPointerCapture(e.pointerId)) viewport.releasePointerCapture(e.pointerId);
    if (d.mode === "move") {
      if (d.moved) {
        if (!readOnly) settleMove(d.before, d.orig);
      } else if (!d.shift) {
        setSelection([d.id]);
        open(d.id);
      }
      // Focus follows the pointer, unless a shift-click just deselected it
      // (focusing it would select it again).
      if (selected.has(d.id)) nodes.querySelector(`[data-id="${CSS.escape(d.id)}"]`)?.focus({ preventScroll: true });
      else viewport.focus({ preventScroll: true });
    } else if (d.mode === "connect") {
      d.line.remove();
      previewDrop(d, null);
      const over = document.elementFromPoint(e.clientX, e.clientY)?.closest(".bd-node");
      if (over) tryConnect(d.from, d.port, over.dataset.id);
      else if (d.moved) say("Drop the connection on a step to link it.");
    } else if (d.mode === "pan" && !d.moved && !d.keep) {
      setSelection([]);
      closed();
    }
  }

  // previewDrop says, while a connection is dragged over a step, what
  // dropping it there will do (connect, add a branch, replace a target, or
  // why it is not allowed): a label by the step, its outline, and the live
  // region. The drop then does exactly that (tryConnect → connect).
  const hint = el("div", { class: "bd-drop-hint", "data-testid": "drop-preview", hidden: true });
  world.append(hint);
  function previewDrop(d, over) {
    const to = over?.dataset.id || null;
    if (d.target === to) return;
    d.target = to;
    for (const n of nodes.querySelectorAll(".bd-target")) n.classList.remove("bd-target", "bd-refuse");
    if (!to) { hint.hidden = true; return; }
    const { verdict, text } = describeConnect(def, d.from, d.port, to);
    over.classList.add("bd-target");
    over.classList.toggle("bd-refuse", verdict === "refused");
    const st = stepById(def, to);
    const p = pos(st);
    hint.textContent = text;
    hint.dataset.verdict = verdict;
    hint.className = "bd-drop-hint v-" + verdict;
    hint.style.transform = `translate(${p.x}px, ${p.y + nodeHeight(st) + 6}px)`;
    hint.hidden = false;
    say(text);
  }

  function onCancel(e) {
    if (!drag || e.pointerId !== drag.pointerId) return;
    cancelDrag();
  }
  function cancelDrag() {
    if (!drag) return false;
    if (drag.mode === "move" && drag.moved) {
      def = JSON.parse(drag.before);
      render();
    }
    if (drag.line) drag.line.remove();
    if (drag.mode === "connect") previewDrop(drag, null);
    band.hidden = true;
    drag = null;
    return true;
  }

  function onWheel(e) {
    e.preventDefault();
    zoomAt(view.k * Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), e.clientX, e.clientY);
  }

  // Palette: Pointer Events drag (not HTML5 drag and drop) with a ghost
  // that follows the pointer; a press without movement is a click.
  let ghost = null;
  let paletteDrag = null;
  function onPaletteDown(e) {
    const item = e.target.closest(".bd-item");
    if (!item || e.button !== 0) return;
    paletteDrag = { kind: item.dataset.kind, cx: e.clientX, cy: e.clientY, moved: false, pointerId: e.pointerId, item };
    item.setPointerCapture(e.pointerId);
    e.preventDefault();
  }
  function onPaletteMove(e) {
    const p = paletteDrag;
    if (!p || e.pointerId !== p.pointerId) return;
    if (!p.moved && Math.hypot(e.clientX - p.cx, e.clientY - p.cy) < DRAG_SLOP) return;
    p.moved = true;
    if (!ghost) {
      ghost = el("div", { class: "bd-ghost k-" + p.kind }, el("span", { class: "bd-tag" }, kindInfo(p.kind).tag), kindInfo(p.kind).label);
      root.append(ghost);
    }
    ghost.style.transform = `translate(${e.clientX - 20}px, ${e.clientY - 18}px)`;
    const r = viewport.getBoundingClientRect();
    viewport.classList.toggle("bd-drop", e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom);
  }
  function onPaletteUp(e) {
    const p = paletteDrag;
    if (!p || e.pointerId !== p.pointerId) return;
    paletteDrag = null;
    ghost?.remove();
    ghost = null;
    viewport.classList.remove("bd-drop");
    if (!p.moved) {
      addStep(p.kind);
      return;
    }
    const r = viewport.getBoundingClientRect();
    if (e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom) {
      addStep(p.kind, toWorld(e.clientX, e.clientY));
      viewport.focus({ preventScroll: true });
    }
  }
  function onPaletteCancel(e) {
    if (!paletteDrag || e.pointerId !== paletteDrag.pointerId) return;
    paletteDrag = null;
    ghost?.remove();
    ghost = null;
    viewport.classList.remove("bd-drop");
  }
  function filterPalette() {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const b of paletteList.querySelectorAll(".bd-item")) {
      const k = kindInfo(b.dataset.kind);
      const hit = !q || k.label.toLowerCase().includes(q) || k.kind.includes(q) || k.tag.toLowerCase().includes(q);
      b.parentElement.hidden = !hit;
      if (hit) shown++;
    }
    paletteEmpty.hidden = shown > 0;
  }

  // ---- context menu ---------------------------------------------------------------
  // Right-click (or the context-menu key) lists the canvas actions with
  // their shortcuts; Escape, a click elsewhere or an action closes it.
  let menu = null;
  function openMenu(e) {
    e.preventDefault();
    closeMenu();
    const nodeEl = e.target.closest?.(".bd-node");
    if (nodeEl && !selected.has(nodeEl.dataset.id)) setSelection([nodeEl.dataset.id]);
    const one = selected.size === 1 ? [...selected][0] : null;
    const items = [
      one && ["open", "Open", "Enter", () => open(one)],
      one && !readOnly && palette && ["add-after", "Add a step after", "a", () => addAfter(one)],
      !readOnly && (selected.size || selectedEdge) && ["delete", "Delete", "Del", deleteSelection],
      !readOnly && ["select-all", "Select all", "Ctrl+A", () => setSelection(def.steps.map((st) => st.id))],
      !readOnly && ["layout", "Auto-layout", "Shift+Alt+T", autoLayout],
      ["fit", "Fit to screen", "1", () => fit(true)],
      !readOnly && ["undo", "Undo", "Ctrl+Z", undo],
      !readOnly && ["redo", "Redo", "Ctrl+Shift+Z", redo],
      ["keys", "Keyboard shortcuts", "?", () => help.open()],
    ].filter(Boolean);
    const actions = new Map(items.map(([id, , , fn]) => [id, fn]));
    menu = el("div", { class: "bd-menu", role: "menu", "data-testid": "context-menu" },
      ...items.map(([id, label, key]) => el("button", { type: "button", role: "menuitem", "data-action": id, "data-testid": "menu-" + id },
        el("span", {}, label), el("kbd", {}, key))));
    menu.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-action]");
      if (!b) return;
      closeMenu();
      actions.get(b.dataset.action)();
    });
    const r = viewport.getBoundingClientRect();
    const x = (e.clientX || r.left + 20) - r.left, y = (e.clientY || r.top + 20) - r.top;
    menu.style.transform = `translate(${Math.max(0, Math.min(x, r.width - 210))}px, ${Math.max(0, Math.min(y, r.height - items.length * 30 - 12))}px)`;
    viewport.append(menu);
    menu.querySelector("button").focus();
  }
  function closeMenu() {
    if (!menu) return false;
    const had = menu.contains(document.activeElement);
    menu.remove();
    menu = null;
    if (had) viewport.focus({ preventScroll: true });
    return true;
  }

  // ---- keyboard -----------------------------------------------------------------
  function onKeyDown(e) {
    if (help.dialog.contains(e.target)) return; // the dialog's own keys (Escape closes it)
    const mod = e.ctrlKey || e.metaKey;
    if (menu && menu.contains(e.target)) {
      const items = [...menu.querySelectorAll("button")];
      const i = items.indexOf(e.target);
      if (e.key === "Escape" || e.key === "Tab") closeMenu();
      else if (e.key === "ArrowDown") items[(i + 1) % items.length].focus();
      else if (e.key === "ArrowUp") items[(i - 1 + items.length) % items.length].focus();
      else return; // Enter and Space click the item
      e.preventDefault();
      return;
    }
    const inSearch = e.target === search;
    if (inSearch) {
      // Escape goes back one level: clear the search, then leave it.
      if (e.key === "Escape") {
        e.preventDefault();
        if (search.value) { search.value = ""; filterPalette(); } else if (searchAnchor) focusNode(searchAnchor); else viewport.focus();
      } else if (e.key === "Enter" && !e.altKey && !mod) {
        const first = paletteList.querySelector("li:not([hidden]) .bd-item");
        if (!first) return;
        e.preventDefault();
        // Shift+Enter adds and stays here, to add another after the same
        // step (a condition's false branch after its true one).
        const anchor = searchAnchor || (selected.size === 1 ? [...selected][0] : null);
        const stay = e.shiftKey && anchor;
        const id = addStep(first.dataset.kind, undefined, anchor, stay ? ` Enter adds another after ${anchor}.` : "");
        if (stay) anchorSearch(anchor);
        else keyboardAdded(id);
      } else if (e.key === "ArrowDown") {
        e.preventDefault();
        paletteList.querySelector("li:not([hidden]) .bd-item")?.focus();
      }
      return;
    }
    if (e.target.closest(".bd-palette") && (e.key === "Enter" || e.key === " ")) return; // the button's own click
    if (e.target.closest(".bd-toolbar") && (e.key === "Enter" || e.key === " ")) return;
    const focusedNode = e.target.closest(".bd-node")?.dataset.id;
    let handled = true;
    if (mod && e.key.toLowerCase() === "z") e.shiftKey ? redo() : undo();
    else if (mod && e.key.toLowerCase() === "y") redo();
    else if (mod && e.key.toLowerCase() === "a") {
      setSelection(def.steps.map((s) => s.id));
      announce(`Selected all ${def.steps.length} steps.`);
    }
    else if (mod) handled = false;
    else if (e.key === "Delete" || e.key === "Backspace") deleteSelection();
    else if (!readOnly && !e.shiftKey && ((e.key === "a" && !e.altKey) || (e.code === "KeyA" && e.altKey))) addAfter(focusedNode);
    else if (e.key.startsWith("Arrow") && e.altKey && !e.shiftKey) {
      // Alt+arrow: to the nearest step that way, as the eye goes.
      const from = focusedNode || (selected.size === 1 ? [...selected][0] : null);
      const to = from && nearestStep(from, e.key);
      if (to) { focusNode(to); reveal(to); }
      else if (from) say(`No step ${{ ArrowLeft: "left of", ArrowRight: "right of", ArrowUp: "above", ArrowDown: "below" }[e.key]} ${from}.`);
    } else if (e.key.startsWith("Arrow")) {
      const step = e.shiftKey ? 50 : 10;
      const [dx, dy] = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
      // The step with the keyboard is the one to move when none is selected
      // (after a connection was picked and removed, say).
      if (!selected.size && focusedNode && !readOnly) setSelection([focusedNode]);
      if (selected.size && !readOnly) moveSelection(dx, dy);
      else { view.x -= dx * 2; view.y -= dy * 2; applyView(); }
    } else if (e.key === "Enter") {
      const id = focusedNode || (selected.size === 1 ? [...selected][0] : null);
      if (id && keyConnect) {
        const { from, port } = keyConnect;
        keyConnect = null;
        tryConnect(from, port, id, true);
      } else if (id && focusedNode && opened === id) {
        // Open already: Enter again takes the keyboard into its fields.
        emit("edit", id);
      } else if (id) {
        open(id);
        announce(`Opened ${id}: its fields are in the side panel. Enter again goes to them.`);
      } else handled = false;
    } else if (e.key === "F2" && !readOnly) {
      const id = focusedNode || (selected.size === 1 ? [...selected][0] : null);
      if (id) {
        if (opened !== id) open(id);
        emit("rename", id);
      } else handled = false;
    } else if (e.key === "d" && !readOnly && !e.shiftKey && !e.altKey) {
      const id = focusedNode || (selected.size === 1 ? [...selected][0] : null);
      if (id) pickEdge(id);
      else handled = false;
    } else if (e.key === "c" && !readOnly && !e.shiftKey && !e.altKey) {
      // Connecting without a pointer: "c" on a step picks its next output
      // port (again for the next port), then Enter on another step links them.
      const id = focusedNode || (selected.size === 1 ? [...selected][0] : null);
      const step = id && stepById(def, id);
      if (step) {
        const names = ports(step).map((p) => p.name);
        const port = keyConnect?.from === id ? names[(names.indexOf(keyConnect.port) + 1) % names.length] : names[0];
        keyConnect = { from: id, port };
        say(`Connecting from ${id}${port === "out" ? "" : " (" + port + ")"}: focus a step and press Enter. Escape cancels.`);
      } else handled = false;
    } else if (e.key === "Escape") {
      if (keyConnect) { keyConnect = null; say("Connecting cancelled."); }
      else if (!closeMenu() && !cancelDrag()) { setSelection([]); closed(); viewport.focus(); }
    } else if (e.code === "KeyT" && e.shiftKey && e.altKey) autoLayout();
    else if (e.altKey) handled = false;
    else if (e.key === "1") fit(true);
    else if (e.key === "0") zoomAt(1);
    else if (e.key === "+" || e.key === "=") zoomAt(view.k * 1.2);
    else if (e.key === "-" || e.key === "_") zoomAt(view.k / 1.2);
    else if (e.key === "/" && palette) focusSearch();
    else if (e.key === "?") help.open();
    else if (e.key === " " && e.target.closest(".bd-viewport")) spaceHeld = true;
    else handled = false;
    if (handled) e.preventDefault();
  }
  // nearestStep is the step nearest to step id's centre in an arrow's
  // direction (within 60° either side of it), or null.
  function nearestStep(id, key) {
    const c = (st) => { const r = rectOf(st); return { x: r.x + r.w / 2, y: r.y + r.h / 2 }; };
    const here = c(stepById(def, id));
    const [ux, uy] = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[key];
    let best = null, bestScore = Infinity;
    for (const st of def.steps) {
      if (st.id === id) continue;
      const p = c(st);
      const dx = p.x - here.x, dy = p.y - here.y;
      const along = dx * ux + dy * uy, across = Math.abs(dx * uy - dy * ux);
      if (along <= 0 || across > along * 1.75) continue;
      const score = along + 2 * across; // straight ahead wins over a little nearer aside
      if (score < bestScore) { best = st.id; bestScore = score; }
    }
    return best;
  }
  function focusNode(id) {
    nodes.querySelector(`[data-id="${CSS.escape(id)}"]`)?.focus({ preventScroll: true });
  }
  // focusSearch puts the keyboard in the palette search with its text
  // selected: typing replaces the last search, Enter adds it again.
  function focusSearch() {
    if (!palette) return false;
    search.focus();
    search.select();
    return true;
  }
  function onKeyUp(e) {
    if (e.key === " ") spaceHeld = false;
  }
  function onFocusIn(e) {
    const n = e.target.closest?.(".bd-node");
    if (n && !selected.has(n.dataset.id) && !drag) setSelection([n.dataset.id]);
  }
  function onClick(e) {
    const item = e.target.closest(".bd-problems button[data-step]");
    if (item) {
      select(item.dataset.step);
      nodes.querySelector(`[data-id="${CSS.escape(item.dataset.step)}"]`)?.focus({ preventScroll: true });
      open(item.dataset.step);
    }
  }
  // Keyboard activation of palette items (Enter/Space fire click) adds the
  // step; pointer clicks are handled in onPaletteUp, so skip those here.
  function onPaletteClick(e) {
    const item = e.target.closest(".bd-item");
    if (item && e.detail === 0) keyboardAdded(addStep(item.dataset.kind, undefined, searchAnchor));
  }

  const listen = [];
  const on = (target, type, fn, opts) => { target.addEventListener(type, fn, opts); listen.push([target, type, fn, opts]); };
  on(viewport, "pointerdown", onPointerDown);
  on(viewport, "pointermove", onPointerMove);
  on(viewport, "pointerup", onPointerUp);
  on(viewport, "pointercancel", onCancel);
  on(viewport, "wheel", onWheel, { passive: false });
  on(viewport, "click", onClick);
  on(viewport, "contextmenu", openMenu);
  on(root, "keydown", onKeyDown);
  on(root, "keyup", onKeyUp);
  on(root, "focusin", onFocusIn);
  on(window, "blur", () => { spaceHeld = false; });
  if (palette) {
    on(paletteList, "pointerdown", onPaletteDown);
    on(paletteList, "pointermove", onPaletteMove);
    on(paletteList, "pointerup", onPaletteUp);
    on(paletteList, "pointercancel", onPaletteCancel);
    on(paletteList, "click", onPaletteClick);
    on(palette, "focusout", onPaletteFocusOut);
    on(search, "input", filterPalette);
  }
  on(toolbar, "click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    ({
      [tools.undo.dataset.testid]: undo, [tools.redo.dataset.testid]: redo,
      [tools.zoomIn.dataset.testid]: () => zoomAt(view.k * 1.2), [tools.zoomOut.dataset.testid]: () => zoomAt(view.k / 1.2),
      [zoomLabel.dataset.testid]: () => zoomAt(1), [tools.fit.dataset.testid]: () => fit(true),
      [tools.layout.dataset.testid]: autoLayout, [tools.del.dataset.testid]: deleteSelection,
    })[b.dataset.testid]?.();
  });

  // ---- public API -------------------------------------------------------------
  // setProblems redraws only when what is marked changes: the page sends
  // the server's check after every edit, mostly the same list, and a full
  // redraw of a large draft after each drop would undo the drop's savings.
  function setProblems(list) {
    rawProblems = parseProblems(list);
    const marked = () => JSON.stringify([[...problems.steps], [...problems.edges], problems.other]);
    const was = marked();
    mapProblems();
    if (marked() !== was) render();
  }
  function parseProblems(list) {
    if (!Array.isArray(list)) throw new TypeError("designer: problems must be an array of {path, message}");
    return list.map((p, i) => {
      if (!p || typeof p.path !== "string" || typeof p.message !== "string") {
        throw new TypeError(`designer: problems[${i}] must be {path, message} strings`);
      }
      return { path: p.path, message: p.message };
    });
  }
  // mapProblems resolves paths like steps[3].dependencies[0] to step ids
  // and edge keys now, against the definition the server validated.
  function mapProblems() {
    problems = { steps: new Map(), edges: new Map(), other: [] };
    const all = edges(def);
    const markEdge = (e, msg) => e && problems.edges.set(e.key, [...(problems.edges.get(e.key) || []), msg]);
    for (const p of rawProblems) {
      const m = /^steps\[(\d+)\](?:\.(.*))?$/.exec(p.path);
      const step = m && def.steps[+m[1]];
      if (!step) { problems.other.push(p.path ? `${p.path}: ${p.message}` : p.message); continue; }
      const field = m[2] || "";
      problems.steps.set(step.id, [...(problems.steps.get(step.id) || []), { field, message: p.message }]);
      let x;
      if ((x = /^dependencies\[(\d+)\]/.exec(field))) markEdge(all.find((e) => e.kind === "dep" && e.to === step.id && e.index === +x[1]), p.message);
      else if (field.startsWith("onSuccess")) markEdge(all.find((e) => e.kind === "success" && e.from === step.id), p.message);
      else if (field.startsWith("onFailure")) markEdge(all.find((e) => e.kind === "failure" && e.from === step.id), p.message);
      else if ((x = /^action\.cases\[(\d+)\]\.next/.exec(field))) markEdge(all.find((e) => e.kind === "case" && e.from === step.id && e.index === +x[1]), p.message);
      else if (field.startsWith("action.default")) markEdge(all.find((e) => e.kind === "default" && e.from === step.id), p.message);
    }
  }

  function select(id) {
    if (!stepById(def, id)) return false;
    setSelection([id]);
    reveal(id);
    return true;
  }

  const api = {
    /** getDefinition returns a copy of the definition as edited. */
    getDefinition: () => clone(def),
    /** setDefinition replaces the graph (e.g. after a code-view edit); it
     * is undoable and does not call onChange, since the caller made it. */
    setDefinition(next) {
      checkDefinition(next);
      const before = JSON.stringify(def);
      def = clone(next);
      if (before !== JSON.stringify(def)) {
        undoStack.push({ json: before, label: "an edit of the fields" });
        redoStack.length = 0;
      }
      selected = new Set([...selected].filter((id) => stepById(def, id)));
      selectedEdge = null;
      mapProblems();
      render();
    },
    setProblems,
    /** setRunStatus colours a node; status null clears it. Returns false
     * for a step the graph does not have. */
    setRunStatus(stepId, status) {
      if (status !== null && status !== undefined && !STATUSES.includes(status)) {
        throw new TypeError(`designer: unknown step status "${status}"`);
      }
      if (!stepById(def, stepId)) return false;
      status ? statuses.set(stepId, status) : statuses.delete(stepId);
      const old = nodes.querySelector(`[data-id="${CSS.escape(stepId)}"]`);
      if (old) old.replaceWith(nodeEl(stepById(def, stepId)));
      renderEdges(true);
      return true;
    },
    /** setRunItems labels a forEach step's outgoing edges with its item
     * counts ({succeeded, failed}); null clears them. Returns false for a
     * step the graph does not have. */
    setRunItems(stepId, counts) {
      if (!stepById(def, stepId)) return false;
      if (counts === null || counts === undefined) items.delete(stepId);
      else {
        const ok = Number(counts.succeeded), bad = Number(counts.failed);
        if (!Number.isInteger(ok) || !Number.isInteger(bad) || ok < 0 || bad < 0) throw new TypeError("designer: item counts must be {succeeded, failed} non-negative integers");
        items.set(stepId, { succeeded: ok, failed: bad });
      }
      renderEdges(true);
      return true;
    },
    select,
    /** selection lists the selected step ids. */
    selection: () => [...selected],
    /** on subscribes to an event and returns the unsubscribe function. */
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
      return () => listeners.get(name).delete(fn);
    },
    fit, undo, redo, autoLayout,
    /** showKeys opens the keyboard help dialog. */
    showKeys: () => help.open(),
    /** focusSearch puts the keyboard in the palette search; false when read-only. */
    focusSearch,
    /** addAfter opens the palette search to add a step after id (default: the focused, selected or open step, else the last). */
    addAfter: (id) => addAfter(id),
    /** announce says message to screen readers (the canvas's polite live region). */
    announce: (message) => announce(String(message)),
    /** focusStep selects a step and puts the keyboard on it. */
    focusStep(id) {
      if (!select(id)) return false;
      focusNode(id);
      return true;
    },
    /** whenPlaced resolves once the graph is drawn where it will stay:
     * at once, or after the layered layout has loaded and placed it. */
    whenPlaced: () => placing || Promise.resolve(),
    /** zoom returns the current zoom, or sets it when given a number. */
    zoom(k) { if (typeof k === "number") zoomAt(k); return view.k; },
    /** addStep adds a palette kind (at a world point, or after the selection). */
    addStep(kind, at) {
      if (readOnly) throw new Error("designer: read-only");
      if (!kindInfo(kind)) throw new TypeError(`designer: unknown step kind "${kind}"`);
      return addStep(kind, at);
    },
    destroy() {
      clearTimeout(toastTimer);
      closeMenu();
      help.close();
      for (const [t, type, fn, opts] of listen) t.removeEventListener(type, fn, opts);
      listeners.clear();
      root.remove();
    },
  };

  if (options.problems) rawProblems = parseProblems(options.problems);
  mapProblems();
  render();
  // Fit once the container has a size; mountDesigner may run before layout.
  requestAnimationFrame(() => { if (root.isConnected) fit(); });
  return api;
}
