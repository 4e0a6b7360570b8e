// Unit tests of the designer's model (web/designer/model.mjs): the rules the
// canvas applies to a definition, without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KINDS, kindOf, ports, edges, uniqueId, newStep, connect, disconnect, removeSteps, layout, NODE_W } from "../designer/model.mjs";

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
