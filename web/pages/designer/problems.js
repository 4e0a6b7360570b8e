// The problems list: the latest compile's problems, each a button that
// opens the step (or the workflow panel) it belongs to.

import { $, el } from "./dom.js";

// stepIndexOf reads the step index out of a problem path (steps[3].action.url).
function stepIndexOf(path) {
  const m = /^steps\[(\d+)\]/.exec(path || "");
  return m ? Number(m[1]) : -1;
}

// createProblemsList wires the list to ctx and the side panel (its open,
// close, openStep and renderFieldErrors); render() draws ctx.state.problems.
export function createProblemsList(ctx, panel) {
  const { designer, state } = ctx;

  function render() {
    const list = $("problem-list");
    const ps = state.problems;
    $("problem-count").textContent = String(ps.length);
    $("problem-count").classList.toggle("badge-revoked", ps.length > 0);
    $("no-problems").hidden = ps.length > 0;
    list.replaceChildren(...ps.map((p, i) => {
      const idx = stepIndexOf(p.path);
      const step = idx >= 0 ? state.def.steps[idx] : null;
      const label = step ? `${step.id}${p.path.slice(`steps[${idx}]`.length)}` : p.path;
      // The workflow's own fields (name, inputs) are in the workflow panel.
      const workflow = !step && /^(name|description|inputs)\b/.test(p.path || "");
      const button = el("button", { type: "button", class: "dz-problem", "data-testid": "side-problem-" + i, "data-step": step ? step.id : null, "data-workflow": workflow ? "true" : null },
        label ? el("code", {}, label) : null, " ", p.message);
      if (!step && !workflow) button.disabled = true;
      return el("li", {}, button);
    }));
  }

  $("problem-list").addEventListener("click", (e) => {
    if (e.target.closest("button[data-workflow]")) {
      panel.close();
      return;
    }
    const b = e.target.closest("button[data-step]");
    if (!b) return;
    designer.select(b.dataset.step);
    // The step's panel already open is not loaded again: the reload would
    // carry the draft as it was when it was asked for, and put back what
    // the user types meanwhile (and its old error). Its first field with
    // an error takes the focus instead.
    if (panel.openStep() === b.dataset.step && $("step-form")?.dataset.step === b.dataset.step) {
      panel.renderFieldErrors();
      $("step-form").querySelector("[aria-invalid=true]")?.focus();
      return;
    }
    panel.open(b.dataset.step);
  });

  return { render };
}
