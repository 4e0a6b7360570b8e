// Live expression previews: an expression field of the step panel shows,
// as the user types, what it evaluates to (POST …/design/preview) with the
// last test run's data, or else with sample inputs. A compile error is the
// field's error and is listed with the field's other errors.

import { $, el } from "./dom.js";
import { fieldValue } from "./fields.js";
import { errorProblems, request } from "./server.js";

const PREVIEW_DELAY = 150;

// describeValue is a preview's value as the panel shows it.
function describeValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  const text = JSON.stringify(v);
  return text.length > 300 ? text.slice(0, 300) + "…" : text;
}

// createPreviews wires the step panel's previews. Hooks: runRecord() is
// the last test run's record (or undefined); renderFieldErrors() redraws
// the panel's error lists.
export function createPreviews(ctx, { runRecord, renderFieldErrors }) {
  const { key, state } = ctx;

  // sampleData is what a preview evaluates against: the last run's inputs
  // and step results when there is a run, else the test-run form's inputs
  // (or the declared defaults).
  function sampleData() {
    const r = runRecord();
    if (r) {
      const steps = {};
      for (const st of r.steps || []) steps[st.id] = { status: st.status, output: st.output ?? null, error: st.error ?? null, attempts: st.attempts || 0 };
      return { inputs: r.inputs || {}, steps, from: "the last run" };
    }
    const inputs = {};
    for (const [name, d] of Object.entries(state.def.inputs || {})) if (d.default !== undefined) inputs[name] = d.default;
    for (const input of $("test-inputs")?.querySelectorAll("[name]") || []) {
      const v = fieldValue(input);
      if (!v.error && !v.unset) inputs[input.name.slice("inputs.".length)] = v.value;
    }
    return { inputs, steps: {}, from: "sample inputs" };
  }
  const previewTimers = new WeakMap();
  const previewSeq = new WeakMap();
  // A live preview that is a compile error is the field's error: it moves
  // into the field's error list (as its first item), so that the problem
  // is said once, where every field's errors are; a value moves back under
  // the field.
  function previewInErrors(out) {
    const list = $("step-form")?.querySelector(`[data-error-for="${CSS.escape(out.dataset.previewFor)}"]`);
    if (!list || out.parentElement?.parentElement === list) return;
    const li = el("li", { class: "dz-preview-error" });
    list.prepend(li);
    li.append(out);
  }
  function previewBelowField(out, input) {
    const li = out.closest("li.dz-preview-error");
    if (!li) return;
    input.after(out);
    li.remove();
  }
  async function preview(out) {
    const input = $("step-form")?.querySelector(`[name="${CSS.escape(out.dataset.previewFor)}"]`);
    if (!input) return;
    const source = input.value;
    if (!source.trim()) {
      out.replaceChildren();
      delete out.dataset.state;
      previewBelowField(out, input);
      return;
    }
    const step = state.def.steps.find((s) => s.id === $("step-form").dataset.step);
    const item = out.dataset.previewFor.startsWith("action.step.") ? step?.action?.as || "item" : "";
    const data = sampleData();
    const seq = (previewSeq.get(out) || 0) + 1;
    previewSeq.set(out, seq);
    let res;
    try {
      res = await request("POST", `/templates/${encodeURIComponent(key)}/design/preview`,
        { json: { definition: state.def, kind: out.dataset.preview, source, item, inputs: data.inputs, steps: data.steps } });
    } catch {
      return;
    }
    if (previewSeq.get(out) !== seq || !out.isConnected) return; // a newer key press won
    if (res.status !== 200) {
      out.dataset.state = "error";
      out.textContent = errorProblems(res).map((p) => p.message).join("; ");
      return;
    }
    const b = res.body;
    if (b.problems.length) {
      out.dataset.state = "error";
      out.textContent = b.problems.join("; ");
      previewInErrors(out);
      renderFieldErrors(); // the error list leaves out what this now says
    } else if (b.noSample?.length) {
      // Not an error of the text: the step it reads has not run yet.
      out.dataset.state = "no-sample";
      out.textContent = `No sample yet for ${b.noSample.map((id) => "steps." + id).join(", ")}: test-run the draft to see this value.`;
      previewBelowField(out, input);
    } else if (b.evalError) {
      out.dataset.state = "eval-error";
      out.textContent = `With ${data.from}: ${b.evalError}`;
      previewBelowField(out, input);
    } else {
      out.dataset.state = "value";
      out.textContent = `= ${describeValue(b.value)}  (with ${data.from})`;
      previewBelowField(out, input);
    }
  }
  $("side-panel").addEventListener("input", (e) => {
    const input = e.target.closest("#step-form [name]");
    const out = input && $("step-form").querySelector(`output[data-preview-for="${CSS.escape(input.name)}"]`);
    if (!out) return;
    clearTimeout(previewTimers.get(out));
    previewTimers.set(out, setTimeout(() => preview(out), PREVIEW_DELAY));
  });

  return {
    // show fills every preview in a freshly rendered panel.
    show(panel) {
      for (const out of panel.querySelectorAll("output[data-preview-for]")) preview(out);
    },
  };
}
