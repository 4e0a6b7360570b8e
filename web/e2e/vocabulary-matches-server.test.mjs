// The browser's shared vocabulary (web/vocabulary.mjs) says the same words
// as the server: every run and step status, every event type of a run's
// stream and every palette kind's label. A status or event added on the Go
// side and forgotten here would leave a node uncoloured or a live part
// unrefreshed; this test names it instead. No browser: it reads the Go
// sources (models/run.go, handlers/pages_designer.go) as text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  STEP_STATUSES, RUN_STATUSES, FINAL_RUN_STATUSES, EVENT_TYPES, STEP_KINDS, statusLabel, statusTitle,
} from "../vocabulary.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (p) => readFileSync(join(root, p), "utf8");

// block returns the text from the line that starts with head to the next
// line that is only ")" or "}".
function block(src, head) {
  const at = src.indexOf(head);
  assert.ok(at >= 0, `${head} not found`);
  const rest = src.slice(at);
  return rest.slice(0, rest.search(/\n[)}]\n/));
}

test("run and step statuses are the server's, in its order", () => {
  const go = read("models/run.go");
  const values = (type) => [...go.matchAll(new RegExp(`^\\t\\w+\\s+${type} = "(\\w+)"`, "gm"))].map((m) => m[1]);
  assert.deepEqual(RUN_STATUSES, values("RunStatus"));
  assert.deepEqual(STEP_STATUSES, values("StepStatus"));
  // The final run statuses: RunStatus.Final's case list.
  const names = new Map([...go.matchAll(/^\t(\w+)\s+RunStatus = "(\w+)"/gm)].map((m) => [m[1], m[2]]));
  const cases = /case ([\w, ]+):/.exec(block(go, "func (s RunStatus) Final()"))[1].split(", ");
  assert.deepEqual(FINAL_RUN_STATUSES, cases.map((c) => names.get(c)));
});

test("every event type of a run's stream is known", () => {
  const go = block(read("models/run.go"), "// Event types of the run event stream.");
  const types = [...go.matchAll(/^\tEvent\w+\s*= "([a-z._]+)"/gm)].map((m) => m[1]);
  assert.ok(types.length >= 18, `found only ${types.length} event types in models/run.go`);
  assert.deepEqual([...EVENT_TYPES].sort(), [...types].sort());
});

test("palette kinds carry the labels the step panel shows", () => {
  const go = block(read("handlers/pages_designer.go"), "var kindLabels");
  // Keys are string literals or models constants (models.KindHTTP): the
  // constants are read from the models sources.
  const consts = new Map();
  for (const f of ["models/definition.go", "models/run.go"]) {
    for (const m of read(f).matchAll(/^\t(\w+)\s+(?:\w+\s+)?= "(\w+)"/gm)) consts.set(m[1], m[2]);
  }
  const key = (k) => (k.startsWith("models.") ? consts.get(k.slice(7)) : k.slice(1, -1));
  const labels = new Map([...go.matchAll(/("\w+"|models\.\w+): "([^"]+)"/g)].map((m) => [key(m[1]), m[2]]));
  for (const k of STEP_KINDS) assert.equal(k.label, labels.get(k.kind), `label of ${k.kind}`);
});

test("statuses read as words", () => {
  assert.equal(statusLabel("timed_out"), "timed out");
  assert.equal(statusTitle("in_review"), "In review");
  assert.equal(statusTitle("draft"), "Draft");
});
