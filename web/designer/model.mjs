// The designer's model: pure functions over a workflow definition in the
// format of shared/spec/definition.md. Nothing here touches the DOM, so the
// rules (which edges are allowed, what a delete removes, where auto-layout
// puts a step) are unit-tested in node without a browser.

/** Step kinds offered by the palette, in palette order. `make` returns a
 * fresh action; `prefix` names new steps (`http_1`, …). */
export const KINDS = [
  { kind: "http", label: "HTTP request", tag: "HTTP", type: "command", prefix: "http",
    make: () => ({ kind: "http", method: "GET", url: "https://example.com" }) },
  { kind: "set", label: "Set values", tag: "SET", type: "command", prefix: "set",
    make: () => ({ kind: "set", values: { value: "" } }) },
  { kind: "log", label: "Log", tag: "LOG", type: "command", prefix: "log",
    make: () => ({ kind: "log", message: "Hello from {{ run.template }}" }) },
  { kind: "fail", label: "Fail", tag: "FAIL", type: "command", prefix: "fail",
    make: () => ({ kind: "fail", message: "Stopped on purpose" }) },
  { kind: "subworkflow", label: "Sub-workflow", tag: "SUB", type: "command", prefix: "sub",
    make: () => ({ kind: "subworkflow", template: "child-workflow" }) },
  { kind: "condition", label: "Condition", tag: "IF", type: "condition", prefix: "if",
    make: () => ({ expression: "true" }) },
  { kind: "decision", label: "Decision table", tag: "CASE", type: "condition", prefix: "decide",
    make: () => ({ cases: [{ when: "true", next: "" }, { when: "false", next: "" }], default: "" }) },
  { kind: "foreach", label: "For each", tag: "EACH", type: "parallel", prefix: "each",
    make: () => ({ forEach: "[1, 2, 3]", as: "item", step: { kind: "log", message: "{{ item }}" } }) },
  { kind: "wait", label: "Wait", tag: "WAIT", type: "wait", prefix: "wait",
    make: () => ({ duration: 60000 }) },
  { kind: "signal", label: "Wait for signal", tag: "SIG", type: "wait", prefix: "signal",
    make: () => ({ signal: "approval", timeout: 86400000 }) },
];

const byKind = new Map(KINDS.map((k) => [k.kind, k]));

/** Run statuses a node can show (shared/spec/definition.md, Statuses). */
export const STATUSES = ["pending", "running", "retrying", "waiting", "succeeded", "failed",
  "skipped", "cancelled", "timed_out", "compensated"];

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
    if (s.onSuccess) push(s.id, s.onSuccess, cond ? "true" : "out", "success");
    if (s.onFailure) push(s.id, s.onFailure, cond ? "false" : "out", "failure");
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
    src.onSuccess = to;
  } else if (port === "false") {
    src.onFailure = to;
  } else if (port === "default") {
    src.action.default = to;
  } else if (/^case\d+$/.test(port) && src.action.cases?.[+port.slice(4)]) {
    src.action.cases[+port.slice(4)].next = to;
  } else {
    return `${from} has no port "${port}".`;
  }
  return "";
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
    case "success": if (src) delete src.onSuccess; return;
    case "failure": if (src) delete src.onFailure; return;
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
    if (gone.has(s.onSuccess)) delete s.onSuccess;
    if (gone.has(s.onFailure)) delete s.onFailure;
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
