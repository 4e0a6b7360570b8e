// The side panel: the open step's fields, or, with no step open, the
// workflow's own (name, description, the inputs a run takes). The server
// renders both (POST …/design/panel and …/design/workflow); this module
// turns what the user types into definition edits and shows the latest
// compile's errors next to their fields.

import { $, el } from "./dom.js";
import { fieldValue, inputDefault, setPath } from "./fields.js";
import { request } from "./server.js";

// createSidePanel wires the panel to ctx. Hooks: apply(next) takes an
// edited definition (draft.apply); showPreviews(panel) fills the panel's
// live previews; showStepRun(id) shows the step's result in the test run;
// leaveStepRun() drops the previous step's result; showRunSummary() shows
// the test run's summary when no step is open.
export function createSidePanel(ctx, { apply, showPreviews, showStepRun, leaveStepRun, showRunSummary }) {
  const { key, readOnly, designer, memory, state } = ctx;
  let openStep = null;
  let loading = null; // {id, promise}: the step panel being loaded

  function openPanel(id) {
    const promise = loadPanel(id);
    loading = { id, promise };
    return promise;
  }
  async function loadPanel(id) {
    // The previous step's run result must not stand in for this one's
    // while this one loads.
    if (openStep !== id) leaveStepRun();
    openStep = id;
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/panel?step=${encodeURIComponent(id)}`,
      { json: state.def, accept: "text/html" });
    if (openStep !== id) return; // another step was opened meanwhile
    if (res.status !== 200) {
      $("step-panel").replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, `The step's fields could not be loaded (${res.status}).`));
      return;
    }
    $("step-panel").innerHTML = res.body; // server-rendered, escaped by templ
    memory.set("openStep", id);
    renderFieldErrors();
    showPreviews($("step-panel"));
    showStepRun(id);
  }
  function closePanel() {
    openStep = null;
    memory.set("openStep", null);
    showRunSummary();
    return openWorkflow();
  }

  // afterOutsideEdit brings the panel in line with a definition set from
  // outside the canvas's own gestures: a deleted step's panel goes.
  function afterOutsideEdit() {
    if (openStep && !state.def.steps.some((st) => st.id === openStep)) closePanel();
    else if (openStep) openPanel(openStep);
  }

  // renderFieldErrors refreshes the inline errors of the open step's panel
  // from the latest compile, without re-rendering (the user may be typing).
  function renderFieldErrors() {
    if ($("workflow-form")) return renderWorkflowErrors($("workflow-form"));
    const form = $("step-form");
    if (!form) return;
    const idx = state.def.steps.findIndex((s) => s.id === form.dataset.step);
    const prefix = `steps[${idx}].`;
    const lists = [...form.querySelectorAll("[data-error-for]")];
    const byField = new Map(lists.map((l) => [l.dataset.errorFor, []]));
    for (const p of state.problems) {
      if (!p.path || !p.path.startsWith(prefix)) continue;
      const rest = p.path.slice(prefix.length);
      const field = [...byField.keys()].find((f) => rest === f || rest.startsWith(f + ".") || rest.startsWith(f + "["));
      // Two checks may report the same thing: say it once.
      if (field && !byField.get(field).includes(p.message)) byField.get(field).push(p.message);
    }
    for (const l of lists) {
      if (l.dataset.local) continue; // a local parse error stays until fixed
      // A live preview's compile error is already the list's first item
      // (previews.js): the compile must not say it a second time.
      const kept = l.querySelector(":scope > li.dz-preview-error");
      const msgs = byField.get(l.dataset.errorFor);
      const shown = kept ? msgs.filter((m) => !kept.textContent.includes(m)) : msgs;
      l.replaceChildren(...(kept ? [kept] : []), ...shown.map((m) => el("li", {}, m)));
      const input = form.querySelector(`[name="${CSS.escape(l.dataset.errorFor)}"]`);
      input?.setAttribute("aria-invalid", String(msgs.length > 0));
    }
  }

  // renderWorkflowErrors does the same for the workflow panel: a problem
  // at "inputs.amount.type" goes to the type field of amount's row.
  function renderWorkflowErrors(form) {
    const lists = [...form.querySelectorAll("[data-error-for]")];
    const byField = new Map(lists.map((l) => [l.dataset.errorFor, []]));
    const rows = [...form.querySelectorAll("[data-input-row]")];
    const add = (field, msg) => {
      const msgs = byField.get(field);
      if (msgs && !msgs.includes(msg)) msgs.push(msg);
    };
    for (const p of state.problems) {
      if (p.path === "name" || p.path === "description") add(p.path, p.message);
      if (!p.path?.startsWith("inputs")) continue;
      for (const row of rows) {
        const n = row.dataset.inputName;
        for (const head of [`inputs.${n}`, `inputs[${JSON.stringify(n)}]`]) {
          if (p.path !== head && !p.path.startsWith(head + ".")) continue;
          const field = p.path === head ? "name" : p.path.slice(head.length + 1).split(".")[0];
          add(`inputs[${row.dataset.inputRow}].${field}`, p.message);
        }
      }
    }
    for (const l of lists) {
      if (l.dataset.local) continue; // a local parse error stays until fixed
      const msgs = byField.get(l.dataset.errorFor);
      l.replaceChildren(...msgs.map((m) => el("li", {}, m)));
      form.querySelector(`[name="${CSS.escape(l.dataset.errorFor)}"]`)?.setAttribute("aria-invalid", String(msgs.length > 0));
    }
  }

  // ---- workflow panel ----
  let workflowSeq = 0;
  async function openWorkflow() {
    const seq = ++workflowSeq;
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/workflow`, { json: state.def, accept: "text/html" });
    if (seq !== workflowSeq || openStep) return; // a step was opened meanwhile
    if (res.status !== 200) {
      $("step-panel").replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, `The workflow's fields could not be loaded (${res.status}).`));
      return;
    }
    $("step-panel").innerHTML = res.body; // server-rendered, escaped by templ
    renderFieldErrors();
  }
  $("open-workflow").addEventListener("click", async () => {
    // The canvas keeps its selection (its API has no way to clear it):
    // the panel is what changes.
    await closePanel();
    $("workflow-form")?.querySelector("[name]")?.focus();
  });

  // workflowFromForm turns the workflow panel into the definition's name,
  // description and inputs; errors maps a field to what is wrong with it.
  function workflowFromForm(form) {
    const next = structuredClone(state.def);
    const errors = new Map();
    const value = (name) => form.querySelector(`[name="${CSS.escape(name)}"]`)?.value ?? "";
    next.name = value("name").trim();
    const description = value("description").trim();
    if (description) next.description = description;
    else delete next.description;
    const inputs = {};
    for (const row of form.querySelectorAll("[data-input-row]")) {
      const p = `inputs[${row.dataset.inputRow}].`;
      const name = value(p + "name").trim();
      const type = value(p + "type");
      if (!name) errors.set(p + "name", "Give the input a name");
      else if (inputs[name]) errors.set(p + "name", `Another input is called ${name}`);
      const decl = { type };
      if (value(p + "required") === "true") decl.required = true;
      const d = inputDefault(type, value(p + "default"));
      if (d.error) errors.set(p + "default", d.error);
      else if (!d.unset) decl.default = d.value;
      const desc = value(p + "description").trim();
      if (desc) decl.description = desc;
      if (name && !inputs[name]) inputs[name] = decl;
    }
    if (Object.keys(inputs).length) next.inputs = inputs;
    else delete next.inputs;
    return { next, errors };
  }
  $("side-panel").addEventListener("input", (e) => {
    const form = e.target.closest("#workflow-form");
    if (!form || readOnly) return;
    const { next, errors } = workflowFromForm(form);
    for (const l of form.querySelectorAll("[data-error-for]")) {
      const msg = errors.get(l.dataset.errorFor);
      if (msg) {
        l.dataset.local = "true";
        l.replaceChildren(el("li", {}, msg));
      } else if (l.dataset.local) {
        delete l.dataset.local;
        l.replaceChildren();
      }
      form.querySelector(`[name="${CSS.escape(l.dataset.errorFor)}"]`)?.setAttribute("aria-invalid", String(!!msg || l.children.length > 0));
    }
    // A renamed input keeps its row: the next problems map by row, and its
    // legend and Remove button say the new name.
    for (const row of form.querySelectorAll("[data-input-row]")) {
      const n = form.querySelector(`[name="inputs[${row.dataset.inputRow}].name"]`)?.value.trim();
      if (!n) continue;
      row.dataset.inputName = n;
      const legend = row.querySelector("[data-input-legend]");
      if (legend) legend.textContent = n;
      const remove = row.querySelector("[data-remove-input]");
      if (remove) {
        remove.dataset.removeInput = n;
        remove.setAttribute("aria-label", "Remove the input " + n);
      }
    }
    if (errors.size) return; // the draft keeps its last good value until fixed
    apply(next);
  });
  $("side-panel").addEventListener("click", async (e) => {
    const form = e.target.closest("#workflow-form");
    if (!form || readOnly) return;
    const add = e.target.closest("[data-add-input]");
    const remove = e.target.closest("[data-remove-input]");
    if (!add && !remove) return;
    const next = structuredClone(state.def);
    let focusName = "";
    if (add) {
      const taken = new Set(Object.keys(next.inputs || {}));
      let n = 1;
      while (taken.has("input" + n)) n++;
      focusName = "input" + n;
      next.inputs = { ...(next.inputs || {}), [focusName]: { type: "string" } };
    } else {
      delete next.inputs?.[remove.dataset.removeInput];
      if (next.inputs && !Object.keys(next.inputs).length) delete next.inputs;
    }
    apply(next);
    await openWorkflow();
    const f = $("workflow-form");
    if (!f) return;
    const row = focusName && f.querySelector(`[data-input-name="${CSS.escape(focusName)}"]`);
    (row ? row.querySelector("[name$='.name']") : f.querySelector("[data-add-input]"))?.focus();
    if (row) row.querySelector("[name$='.name']").select();
  });
  designer.on("open", (id) => openPanel(id));
  designer.on("close", () => closePanel());

  // ---- the keyboard between the canvas and the panel ----
  // focusField puts the keyboard on a field of step id's panel, once it is
  // loaded, with its text selected (typing replaces it).
  async function focusField(id, pick) {
    if ($("step-form")?.dataset.step !== id) await (loading?.id === id ? loading.promise : openPanel(id));
    const form = $("step-form");
    const field = form && form.dataset.step === id ? pick(form) : null;
    if (!field) return;
    field.focus();
    if (field.matches("input, textarea")) field.select();
  }
  // Enter on a step already open: its first field after the name (the URL,
  // the expression, the message…); F2: its name.
  designer.on("edit", (id) => focusField(id, (f) => f.querySelector("[name]:not([name=name])") || f.querySelector("[name]")));
  designer.on("rename", (id) => focusField(id, (f) => f.querySelector("[name=name]")));
  // Escape in the panel goes back to the canvas: to the step whose fields
  // these are, or to the canvas from the workflow's.
  $("side-panel").addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    const form = e.target.closest("#step-form, #workflow-form");
    if (!form) return;
    e.preventDefault();
    if (form.id === "step-form" && designer.focusStep(form.dataset.step)) return;
    $("canvas-host").querySelector("[data-testid=canvas]")?.focus();
  });
  // A new name is said once it is committed (Enter, Tab), not per letter.
  $("side-panel").addEventListener("change", (e) => {
    const input = e.target.closest("#step-form [name=name]");
    if (!input || readOnly) return;
    const id = $("step-form").dataset.step;
    const name = input.value.trim();
    designer.announce(name ? `Renamed ${id} to “${name}”.` : `${id} has no name now: the canvas shows its id.`);
  });
  designer.on("change", () => {
    // A deleted step's panel must go.
    if (openStep && !state.def.steps.some((s) => s.id === openStep)) closePanel();
    // Undo, redo and code edits change fields behind the open panel:
    // redraw it, unless the user is typing in it.
    else if (openStep && !$("side-panel").contains(document.activeElement)) openPanel(openStep);
    else if (!openStep && $("workflow-form") && !$("side-panel").contains(document.activeElement)) openWorkflow();
  });

  // ---- step panel ----
  $("side-panel").addEventListener("click", (e) => {
    if (e.target.closest("[data-add-case]") && !readOnly) {
      const id = $("step-form").dataset.step;
      const next = structuredClone(state.def);
      const step = next.steps.find((s) => s.id === id);
      if (!step || !Array.isArray(step.action?.cases)) return;
      step.action.cases.push({ when: "false", next: "" });
      apply(next);
      openPanel(id).then(() => {
        const fields = $("step-form")?.querySelectorAll("[name^='action.cases[']");
        fields?.[fields.length - 1]?.focus();
      });
      return;
    }
    if (e.target.closest("#step-close")) {
      closePanel();
      $("canvas-host").querySelector("[data-testid=canvas]")?.focus();
    }
  });

  $("side-panel").addEventListener("input", (e) => {
    const input = e.target.closest("#step-form [name]");
    if (!input || readOnly) return;
    const form = $("step-form");
    const step = state.def.steps.find((s) => s.id === form.dataset.step);
    if (!step) return;
    const result = fieldValue(input);
    const errors = form.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
    if (result.error) {
      errors.dataset.local = "true";
      errors.replaceChildren(el("li", {}, result.error));
      input.setAttribute("aria-invalid", "true");
      return;
    }
    delete errors.dataset.local;
    const next = structuredClone(state.def);
    setPath(next.steps.find((s) => s.id === step.id), input.name, result);
    apply(next);
    // A nested action's kind decides which fields it has: redraw them.
    if (input.name.endsWith(".kind")) openPanel(step.id);
  });

  return {
    open: openPanel,
    close: closePanel,
    openWorkflow,
    openStep: () => openStep,
    afterOutsideEdit,
    renderFieldErrors,
  };
}
