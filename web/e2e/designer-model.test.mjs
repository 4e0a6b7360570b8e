// Unit tests of the designer's model (web/designer/model.mjs): the rules the
// canvas applies to a definition, without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  KINDS, kindOf, ports, edges, uniqueId, newStep, connect, disconnect, removeSteps, layout, NODE_W,
  NodeIndex, routeEdge, boxesMeet, describeConnect, nodeHeight,
} from "../designer/model.mjs";
import { layered, pathThrough } from "../designer/layout.js";

const sample = () => ({
  id: "w",
  name: "W",
  steps: [
    { id: "a", type: "command", action: { kind: "log", message: "a" } },
    { id: "c", type: "condition", dependencies: ["a"], action: { expression: "true" }, onSuccess: "t", onFailure: "f" },
    { id: "t", type: "command", action: { kind: "log", message: "t" } },
    { id: "f", type: "command", action: { kind: "log", message: "f" } },
    { id: "j", type: "command", dependencies: ["t", "f"], action: { kind: "log", message: "j" } },
  ],
  parallelGroups: [{ id: "g", steps: ["t", "f"] }],
});

test("every palette kind makes a step of the right type and kind", () => {
  const def = { steps: [] };
  for (const k of KINDS) {
    const s = newStep(def, k.kind, 10.4, 20.6);
    assert.equal(s.type, k.type, k.kind);
    assert.equal(kindOf(s), k.kind);
    assert.deepEqual(s.position, { x: 10, y: 21 });
    assert.match(s.id, /^[A-Za-z_][A-Za-z0-9_]{0,63}$/);
    def.steps.push(s);
  }
  assert.equal(new Set(def.steps.map((s) => s.id)).size, KINDS.length);
  assert.throws(() => newStep(def, "nope", 0, 0), /unknown step kind "nope"/);
});

test("uniqueId takes the smallest free number", () => {
  assert.equal(uniqueId({ steps: [{ id: "http_1" }, { id: "http_3" }] }, "http"), "http_2");
});

test("edges lists dependencies, branches and cases", () => {
  const def = sample();
  def.steps.push({ id: "d", type: "condition", action: { cases: [{ when: "x", next: "a2" }, { when: "y", next: "" }], default: "j" } });
  def.steps.push({ id: "a2", type: "command", action: { kind: "log", message: "" } });
  assert.deepEqual(edges(def).map((e) => `${e.key}:${e.port}:${e.kind}`), [
    "a-c:out:dep", "t-j:out:dep", "f-j:out:dep", "c-t:true:success", "c-f:false:failure", "d-a2:case0:case", "d-j:default:default",
  ]);
  assert.deepEqual(ports(def.steps[5]).map((p) => p.name), ["case0", "case1", "default"]);
});

test("connect refuses self-loops, duplicates and cycles with a reason", () => {
  const def = sample();
  assert.equal(connect(def, "a", "out", "a"), "A step cannot connect to itself.");
  assert.equal(connect(def, "a", "out", "c"), "a is already connected to c.");
  assert.equal(connect(def, "j", "out", "a"), "That would make a cycle: a → c → t → j → a.");
  assert.equal(connect(def, "c", "nope", "j"), 'c has no port "nope".');
  assert.deepEqual(def, sample(), "a refused connection changes nothing");
  assert.equal(connect(def, "a", "out", "j"), "");
  assert.deepEqual(def.steps[4].dependencies, ["t", "f", "a"]);
});

test("a condition's branch fans out: a second step joins, and leaves, one at a time", () => {
  const def = sample();
  def.steps.push({ id: "x", type: "command", action: { kind: "log", message: "x" } });
  // Dragging true onto a second step adds it to the branch instead of moving the branch.
  assert.equal(connect(def, "c", "true", "x"), "");
  assert.deepEqual(def.steps[1].onSuccess, ["t", "x"]);
  assert.deepEqual(edges(def).filter((e) => e.from === "c").map((e) => `${e.to}:${e.port}`), ["t:true", "x:true", "f:false"]);
  assert.equal(connect(def, "c", "true", "x"), "c is already connected to x.");
  // Back to one target: written as the spec's single step id again.
  disconnect(def, edges(def).find((e) => e.from === "c" && e.to === "t"));
  assert.equal(def.steps[1].onSuccess, "x");
  connect(def, "c", "true", "t");
  removeSteps(def, ["x"]);
  assert.equal(def.steps[1].onSuccess, "t");
});

test("disconnect and removeSteps clean every reference", () => {
  const def = sample();
  disconnect(def, edges(def).find((e) => e.key === "a-c"));
  assert.equal("dependencies" in def.steps[1], false, "an empty dependencies list is dropped, as the server would");
  disconnect(def, edges(def).find((e) => e.key === "c-t"));
  assert.equal(def.steps[1].onSuccess, undefined);
  removeSteps(def, ["f", "t"]);
  assert.deepEqual(def.steps.map((s) => s.id), ["a", "c", "j"]);
  assert.equal(def.steps[1].onFailure, undefined);
  assert.equal(def.steps[2].dependencies, undefined);
  assert.equal(def.parallelGroups, undefined, "a group left empty is removed");
});

test("layout puts steps in layers by dependency depth, branches apart", () => {
  const at = layout(sample());
  const x = (id) => at.get(id).x;
  assert.deepEqual(["a", "c", "t", "f", "j"].map(x), [40, 40 + (NODE_W + 90), 40 + 2 * (NODE_W + 90), 40 + 2 * (NODE_W + 90), 40 + 3 * (NODE_W + 90)]);
  assert.notEqual(at.get("t").y, at.get("f").y);
  assert.equal(at.get("a").y, at.get("c").y, "a chain stays on one row");
});

// A small deterministic random source, so a failure can be reproduced.
function random(seed) {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13, x ^= x >>> 17, x ^= x << 5) >>> 0) / 2 ** 32;
}

test("the node index finds exactly the boxes a full scan finds, after moves and deletes", () => {
  const rnd = random(7);
  const index = new NodeIndex();
  const all = new Map();
  const box = (id) => ({ id, x: Math.round(rnd() * 4000 - 1000), y: Math.round(rnd() * 6000 - 1000), w: 216, h: 80 + Math.round(rnd() * 60) });
  for (let i = 0; i < 400; i++) { const b = box("n" + i); all.set(b.id, b); index.set(b); }
  for (let i = 0; i < 100; i++) { const b = box("n" + Math.floor(rnd() * 400)); all.set(b.id, b); index.set(b); } // moves
  for (let i = 0; i < 50; i++) { const id = "n" + Math.floor(rnd() * 400); all.delete(id); index.delete(id); }
  assert.equal(index.size, all.size);
  const scan = (x0, y0, x1, y1) => [...all.values()].filter((r) => r.x < x1 && r.x + r.w > x0 && r.y < y1 && r.y + r.h > y0).map((r) => r.id).sort();
  for (let i = 0; i < 300; i++) {
    const x0 = rnd() * 5000 - 1500, y0 = rnd() * 7000 - 1500;
    const x1 = x0 + rnd() * (i % 10 ? 600 : 5000), y1 = y0 + rnd() * (i % 10 ? 300 : 7000);
    assert.deepEqual(index.query(x0, y0, x1, y1).map((r) => r.id).sort(), scan(x0, y0, x1, y1), `query ${[x0, y0, x1, y1]}`);
  }
  // Whole columns (a back edge asks whether anything is in its way at any height).
  assert.deepEqual(index.query(0, -Infinity, 300, Infinity).map((r) => r.id).sort(), scan(0, -Infinity, 300, Infinity));
  // Touching is not overlapping: a lane running along a box's edge is clear.
  const one = new NodeIndex();
  one.set({ id: "a", x: 0, y: 0, w: 100, h: 50 });
  assert.deepEqual(one.query(100, 0, 200, 50), []);
  assert.deepEqual(one.query(99, 49, 200, 60).map((r) => r.id), ["a"]);
  // keep filters; first stops at the first box kept.
  const odd = (r) => +r.id.slice(1) % 2 === 1;
  assert.deepEqual(index.query(-2000, -2000, 5000, 7000, odd).map((r) => r.id).sort(), scan(-2000, -2000, 5000, 7000).filter((id) => odd({ id })));
  assert.equal(index.query(-2000, -2000, 5000, 7000, odd, true).length, 1);
  assert.deepEqual(index.query(-2000, -2000, 5000, 7000, () => false, true), []);
});

// draftBoxes lays out n nodes on a jittered grid and returns their boxes
// (with the canvas's 8 px margin) and chain edges between neighbours,
// plus some back edges, as the canvas routes them.
function draftBoxes(rnd, n) {
  const boxes = [];
  for (let i = 0; i < n; i++) {
    const col = i % 8, row = Math.floor(i / 8);
    boxes.push({ id: "n" + i, x: 40 + col * 260 + Math.round(rnd() * 120 - 60) - 8, y: 40 + row * 120 + Math.round(rnd() * 80 - 40) - 8, w: NODE_W + 16, h: 64 + 16 });
  }
  const links = [];
  for (let i = 1; i < n; i++) links.push([boxes[i - 1 - Math.floor(rnd() * Math.min(i, 10))], boxes[i]]);
  for (let i = 0; i < n / 10; i++) links.push([boxes[Math.floor(rnd() * n)], boxes[Math.floor(rnd() * n)]]);
  const ends = ([a, b]) => ({ s: { x: a.x + 8 + NODE_W, y: a.y + 40 }, t: { x: b.x + 8, y: b.y + 40 }, skip: new Set([a.id, b.id]) });
  return { boxes, links: links.filter(([a, b]) => a !== b), ends };
}

const indexOf = (boxes, cell) => {
  const index = new NodeIndex(cell);
  for (const b of boxes) index.set(b);
  return index;
};

test("routing with the grid draws what routing against every node draws", () => {
  const rnd = random(11);
  const { boxes, links, ends } = draftBoxes(rnd, 240);
  const grid = indexOf(boxes);
  const everything = indexOf(boxes, 1e9); // one cell: every query sees every node
  let detours = 0;
  for (const link of links) {
    const { s, t, skip } = ends(link);
    const a = routeEdge(s, t, skip, grid), b = routeEdge(s, t, skip, everything);
    assert.deepEqual(a, b, `${link[0].id}→${link[1].id}`);
    if (a.d.includes("L")) detours++;
  }
  assert.ok(detours > 10, `the draft makes edges detour (${detours})`);
});

// samples lists points along an SVG path of M, C and L commands.
function samples(d) {
  const nums = d.match(/-?[\d.]+(?:e-?\d+)?|[MCL]/g);
  const out = [];
  let at = null;
  for (let i = 0; i < nums.length;) {
    const cmd = nums[i++];
    const take = (k) => nums.slice(i, (i += k)).map(Number);
    if (cmd === "M") { const [x, y] = take(2); at = { x, y }; out.push(at); }
    else if (cmd === "L") {
      const [x, y] = take(2);
      for (let u = 0; u <= 1; u += 1 / 64) out.push({ x: at.x + (x - at.x) * u, y: at.y + (y - at.y) * u });
      at = { x, y };
    } else {
      const [x1, y1, x2, y2, x, y] = take(6);
      for (let u = 0; u <= 1; u += 1 / 64) {
        const v = 1 - u;
        out.push({ x: v ** 3 * at.x + 3 * v * v * u * x1 + 3 * v * u * u * x2 + u ** 3 * x, y: v ** 3 * at.y + 3 * v * v * u * y1 + 3 * v * u * u * y2 + u ** 3 * y });
      }
      at = { x, y };
    }
  }
  return out;
}

test("an edge with a node in its way goes round it, inside its bounding box", () => {
  const index = new NodeIndex();
  index.set({ id: "a", x: -8, y: -8, w: 216, h: 80 });
  index.set({ id: "mid", x: 282, y: -8, w: 216, h: 80 });
  index.set({ id: "b", x: 572, y: -8, w: 216, h: 80 });
  const r = routeEdge({ x: 200, y: 32 }, { x: 580, y: 32 }, new Set(["a", "b"]), index);
  const points = samples(r.d);
  const inside = points.filter((p) => p.x > 282 && p.x < 498 && p.y > -8 && p.y < 72);
  assert.deepEqual(inside, [], "no point of the path is under the middle node");
  for (const p of points) assert.ok(boxesMeet(r.box, { x0: p.x, y0: p.y, x1: p.x, y1: p.y }), `${p.x},${p.y} is in the path's box`);
  assert.ok(boxesMeet(r.box, r.looked) && r.looked.y0 <= r.box.y0 && r.looked.y1 >= r.box.y1, "what the router looked at covers the path");
  // Nothing in the way: the plain curve.
  index.delete("mid");
  assert.match(routeEdge({ x: 200, y: 32 }, { x: 580, y: 32 }, new Set(["a", "b"]), index).d, /^M200,32 C\S+ \S+ 580,32$/);
});

test("moving a node changes only routes that looked where it was or went", () => {
  // This is what lets a drop re-route a few edges instead of all of them:
  // the canvas re-routes an edge when a moved node's old or new box meets
  // the region its route looked at, and must then match a full redraw.
  const rnd = random(3);
  const { boxes, links, ends } = draftBoxes(rnd, 200);
  let changed = 0, skipped = 0;
  for (let trial = 0; trial < 40; trial++) {
    const index = indexOf(boxes);
    const before = links.map((l) => { const e = ends(l); return routeEdge(e.s, e.t, e.skip, index); });
    const mover = boxes[Math.floor(rnd() * boxes.length)];
    const from = { ...mover };
    const to = { ...mover, x: mover.x + Math.round(rnd() * 600 - 300), y: mover.y + Math.round(rnd() * 400 - 200) };
    index.set(to);
    const places = [from, to].map((r) => ({ x0: r.x, y0: r.y, x1: r.x + r.w, y1: r.y + r.h }));
    links.forEach((l, i) => {
      if (l[0].id === mover.id || l[1].id === mover.id) return; // its own edges are always re-routed
      if (places.some((p) => boxesMeet(before[i].looked, p))) { changed++; return; }
      skipped++;
      const e = ends(l);
      assert.deepEqual(routeEdge(e.s, e.t, e.skip, index).d, before[i].d, `trial ${trial}: ${l[0].id}→${l[1].id} after moving ${mover.id}`);
    });
  }
  assert.ok(skipped > changed, `most edges need no re-route (${changed} re-routed, ${skipped} kept)`);
});

test("describeConnect says what a drop will do, and connect then does exactly that", () => {
  const def = sample();
  const said = (from, port, to) => describeConnect(def, from, port, to);
  // A branch that already feeds a step fans out to one more.
  assert.deepEqual(said("c", "true", "j"), { verdict: "adds", text: "Connect c true → j (adds a branch; the true port now feeds 2 steps)" });
  assert.deepEqual(said("a", "out", "j"), { verdict: "adds", text: "Connect a → j (a now feeds 2 steps)" });
  assert.equal(said("c", "true", "a").verdict, "refused");
  assert.match(said("c", "true", "a").text, /^Not allowed: that would make a cycle: a → c → a/);
  assert.match(said("a", "out", "a").text, /^Not allowed: a step cannot connect to itself/);
  assert.match(said("a", "out", "c").text, /^Not allowed: a is already connected to c/);
  // A decision's default has one target: a drop replaces it.
  const dec = { steps: [
    { id: "d", type: "condition", action: { kind: "decision", cases: [{ when: "x", next: "p" }], default: "q" } },
    { id: "p", type: "command", action: { kind: "log", message: "" } },
    { id: "q", type: "command", action: { kind: "log", message: "" } },
    { id: "r", type: "command", action: { kind: "log", message: "" } },
  ] };
  assert.equal(kindOf(dec.steps[0]), "decision");
  assert.deepEqual(describeConnect(dec, "d", "default", "r"), { verdict: "replaces", text: "Connect d default → r (replaces d default → q)" });
  assert.deepEqual(said("a", "out", "a").verdict, "refused");
  // Nothing was changed by asking; the drop does what was said.
  assert.deepEqual(def, sample());
  assert.equal(connect(def, "c", "true", "j"), "");
  assert.deepEqual(edges(def).filter((e) => e.from === "c" && e.port === "true").map((e) => e.to), ["t", "j"]);
});

test("layered (dagre) places ranks left to right, true above false, and routes long edges through clear runs", () => {
  const def = { steps: [
    { id: "a", type: "command", action: { kind: "http", url: "x" } },
    { id: "c", type: "condition", dependencies: ["a"], action: { expression: "true" }, onSuccess: ["s", "w"], onFailure: "f" },
    { id: "s", type: "command", action: { kind: "set", values: {} } },
    { id: "w", type: "wait", action: { duration: 1000 } },
    { id: "l", type: "command", dependencies: ["s", "w", "a"], action: { kind: "log", message: "" } },
    { id: "f", type: "command", action: { kind: "fail", message: "" } },
  ] };
  const nodes = def.steps.map((s) => ({ id: s.id, w: NODE_W, h: nodeHeight(s) }));
  const { at, runs } = layered(nodes, edges(def));
  const box = (id) => ({ ...at.get(id), w: NODE_W, h: nodeHeight(def.steps.find((s) => s.id === id)) });
  // Ranks by dependency depth, left to right, at the origin.
  assert.deepEqual([..."acsl"].map((id) => at.get(id).x < at.get("l").x || id === "l"), [true, true, true, true]);
  assert.ok(at.get("a").x < at.get("c").x && at.get("c").x < at.get("s").x && at.get("s").x === at.get("w").x && at.get("w").x === at.get("f").x);
  assert.equal(Math.min(...[...at.values()].map((p) => p.x)), 40);
  assert.equal(Math.min(...[...at.values()].map((p) => p.y)), 40);
  // The true port's targets are above the false port's.
  assert.ok(at.get("s").y < at.get("f").y && at.get("w").y < at.get("f").y, JSON.stringify([...at]));
  // No two steps overlap.
  const ids = [...at.keys()];
  for (const i of ids) for (const j of ids) {
    if (i >= j) continue;
    const p = box(i), q = box(j);
    assert.ok(p.x + p.w <= q.x || q.x + q.w <= p.x || p.y + p.h <= q.y || q.y + q.h <= p.y, `${i} and ${j} overlap`);
  }
  // a → l skips two ranks: it runs through the column of s, w and f, clear of them.
  const long = runs.get("a-l");
  assert.equal(long.length, 2, JSON.stringify(long));
  for (const r of long) {
    for (const id of ids) {
      const b = box(id);
      assert.ok(!(r.y > b.y - 4 && r.y < b.y + b.h + 4 && r.x1 > b.x && r.x0 < b.x + b.w), `the run at y=${r.y} passes under ${id}`);
    }
  }
  assert.deepEqual(runs.get("a-c"), []);
  assert.equal(pathThrough({ x: 0, y: 0 }, { x: 100, y: 20 }, []), "M0,0 C50,0 50,20 100,20");
});

test("layered keeps each parallel group together: its frame holds no other step and meets no other frame", () => {
  // Four siblings listed alternately from two groups: without clusters,
  // dagre orders them as listed and the two frames overlap.
  const def = { steps: [
    { id: "s0", type: "command", action: { kind: "log", message: "" } },
    ...["a1", "b1", "a2", "b2", "c"].map((id) => ({ id, type: "command", dependencies: ["s0"], action: { kind: "log", message: "" } })),
    { id: "e", type: "command", dependencies: ["a1", "b1", "a2", "b2", "c"], action: { kind: "log", message: "" } },
  ], parallelGroups: [{ id: "A", steps: ["a1", "a2"] }, { id: "B", steps: ["b1", "b2", "nope"] }] };
  const h = (id) => nodeHeight(def.steps.find((s) => s.id === id));
  const { at } = layered(def.steps.map((s) => ({ id: s.id, w: NODE_W, h: nodeHeight(s) })), edges(def), undefined, def.parallelGroups);
  // The frame as the canvas draws it (renderFrames): the members' bounds,
  // 16 px either side, 28 above (its label) and 16 below.
  const frame = (g) => {
    const ids = g.steps.filter((id) => at.has(id));
    const x0 = Math.min(...ids.map((id) => at.get(id).x)), y0 = Math.min(...ids.map((id) => at.get(id).y));
    const x1 = Math.max(...ids.map((id) => at.get(id).x + NODE_W)), y1 = Math.max(...ids.map((id) => at.get(id).y + h(id)));
    return { x0: x0 - 16, y0: y0 - 28, x1: x1 + 16, y1: y1 + 16 };
  };
  const meet = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
  const frames = def.parallelGroups.map(frame);
  assert.ok(!meet(frames[0], frames[1]), `the frames meet: ${JSON.stringify(frames)}`);
  for (const [i, g] of def.parallelGroups.entries()) {
    for (const [id, p] of at) {
      if (g.steps.includes(id)) continue;
      assert.ok(!meet(frames[i], { x0: p.x, y0: p.y, x1: p.x + NODE_W, y1: p.y + h(id) }), `group ${g.id}'s frame holds ${id}`);
    }
  }
  // Without groups the layout is as before: the same call, no clusters.
  assert.equal(layered([{ id: "x", w: NODE_W, h: 64 }], []).at.get("x").x, 40);
});
