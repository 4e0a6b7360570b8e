// The test run: the form that starts a run of the saved draft, and the
// watcher that colours the canvas from the run's events (SSE first,
// polling the run record when the stream cannot be kept open), shows the
// run's summary and, for the open step, its result. The last run comes
// back after a reload.

import { $, el } from "./dom.js";
import { fieldValue } from "./fields.js";
import { errorProblems, request } from "./server.js";
import { stepResultBox } from "./run-step.js";
import { EVENT_TYPES, FINAL_RUN_STATUSES, FOREACH_TYPE, STEP_PROGRESS, STEP_STATUSES, statusLabel } from "../../vocabulary.mjs";

const POLL_EVERY = 1000;
const STEP_STATUS = new Set(STEP_STATUSES);
const FINAL_RUN = new Set(FINAL_RUN_STATUSES);

// createTestRun wires the test run to ctx. draft is the draft's saving
// (save, version, savesFirst, saveText); openStep() is the side panel's
// open step, or null.
export function createTestRun(ctx, { draft, openStep }) {
  const { key, designer, memory, state } = ctx;
  let run = null; // {id, record, source, poll, final, settled}

  // showStep colours a step from its run record entry, and labels a
  // forEach step's edges with its item counts (output {items, succeeded, failed}).
  function showStep(st) {
    if (STEP_STATUS.has(st.status)) designer.setRunStatus(st.id, st.status);
    const o = st.output;
    const isEach = state.def.steps.some((d) => d.id === st.id && d.type === FOREACH_TYPE);
    if (isEach && o && Array.isArray(o.items) && Number.isInteger(o.succeeded) && Number.isInteger(o.failed)) {
      designer.setRunItems(st.id, { succeeded: o.succeeded, failed: o.failed });
    }
  }

  // ---- the form ----
  $("open-test-run")?.addEventListener("click", () => openForm());
  // openForm shows the form with the draft's inputs, the keyboard on the
  // first (or on Start when there are none).
  async function openForm() {
    $("test-run").hidden = false;
    // A run needs a saved version: with autosave off, say that starting
    // one saves the local changes first.
    const savesFirst = draft.savesFirst();
    $("test-run-saves").hidden = !savesFirst;
    $("test-run-form").querySelector("button[type=submit]").textContent = savesFirst ? "Save and start test run" : "Start test run";
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/inputs`, { json: state.def, accept: "text/html" });
    $("test-inputs").innerHTML = res.status === 200 ? res.body : "";
    ($("test-inputs").querySelector("[name]") || $("test-run-form").querySelector("button[type=submit]")).focus();
  }
  $("test-run-close")?.addEventListener("click", () => {
    $("test-run").hidden = true;
  });
  // openOrStart is Ctrl+Enter: it starts the run, saving first as the
  // form does; a draft that takes inputs gets the form first (the keyboard
  // on its first input), and Ctrl+Enter again starts it.
  let opening = false; // a second Ctrl+Enter while the form loads does not start a second run
  async function openOrStart() {
    if (!$("open-test-run") || opening) return;
    if (!$("test-run").hidden) return $("test-run-form").requestSubmit();
    opening = true;
    try {
      await openForm();
    } finally {
      opening = false;
    }
    if (!$("test-inputs").querySelector("[name]")) $("test-run-form").requestSubmit();
  }
  $("test-run-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errorBox = $("test-run-error");
    errorBox.replaceChildren();
    for (const l of $("test-inputs").querySelectorAll("[data-error-for]")) l.replaceChildren();
    const inputs = {};
    for (const input of $("test-inputs").querySelectorAll("[name]")) {
      const r = fieldValue(input);
      const list = $("test-inputs").querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
      if (r.error) {
        list.replaceChildren(el("li", {}, r.error));
        return;
      }
      if (!r.unset) inputs[input.name.slice("inputs.".length)] = r.value;
    }
    if (!(await draft.save())) {
      errorBox.replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, "Save the draft first: " + draft.saveText()));
      return;
    }
    const res = await request("POST", `/api/v1/templates/${encodeURIComponent(key)}/runs`, { json: { version: draft.version(), inputs } });
    if (res.status !== 201) {
      const ps = errorProblems(res);
      const rest = [];
      for (const p of ps) {
        const list = $("test-inputs").querySelector(`[data-error-for="${CSS.escape(p.path)}"]`);
        if (list) list.append(el("li", {}, p.message));
        else rest.push(p);
      }
      if (rest.length) errorBox.replaceChildren(el("p", { class: "notice notice-error", role: "alert", "data-testid": "test-run-error" }, rest.map((p) => p.message).join("; ")));
      return;
    }
    $("test-run").hidden = true;
    designer.announce("The test run started.");
    startWatching(res.body);
  });

  // ---- the watcher ----
  function stopWatching() {
    if (!run) return;
    run.source?.close();
    clearInterval(run.poll);
  }

  // startWatching colours the nodes from the run's events: SSE first (the
  // browser resumes with Last-Event-ID after a drop), polling the run
  // record when the stream cannot be kept open.
  function startWatching(record) {
    stopWatching();
    for (const s of state.def.steps) designer.setRunStatus(s.id, null);
    run = { id: record.id, record, source: null, poll: 0, final: false };
    memory.set("lastRun", record.id);
    renderRunSummary();
    const source = new EventSource(`/api/v1/runs/${encodeURIComponent(record.id)}/events`);
    run.source = source;
    const current = run;
    const onEvent = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (ev.stepId && STEP_STATUS.has(ev.status)) designer.setRunStatus(ev.stepId, ev.status);
      // A forEach step's elements so far (not stored: the record's output
      // gives the final counts when the run ends).
      const p = ev.type === STEP_PROGRESS ? ev.progress : null;
      if (p && Number.isInteger(p.succeeded) && Number.isInteger(p.failed)) designer.setRunItems(ev.stepId, { succeeded: p.succeeded, failed: p.failed });
      if (ev.type.startsWith("run.")) {
        current.record = { ...current.record, status: ev.type.slice(4) };
        if (FINAL_RUN.has(current.record.status)) finish(current);
        renderRunSummary();
      }
    };
    for (const t of EVENT_TYPES) source.addEventListener(t, onEvent);
    source.onerror = () => {
      if (current.final || source.readyState !== EventSource.CLOSED) return;
      current.poll = setInterval(() => poll(current), POLL_EVERY); // the stream is gone for good
    };
  }

  async function poll(current) {
    const res = await request("GET", `/api/v1/runs/${encodeURIComponent(current.id)}`).catch(() => null);
    if (!res || res.status !== 200) return;
    current.record = res.body;
    for (const s of res.body.steps || []) showStep(s);
    if (FINAL_RUN.has(res.body.status)) finish(current);
    renderRunSummary();
  }

  async function finish(current) {
    current.final = true;
    current.source?.close();
    clearInterval(current.poll);
    const res = await request("GET", `/api/v1/runs/${encodeURIComponent(current.id)}`).catch(() => null);
    if (res && res.status === 200) {
      current.record = res.body;
      for (const s of res.body.steps || []) showStep(s);
    }
    // Every step now shows the stored record's state (skipped ones
    // included, which no live event announces).
    current.settled = true;
    renderRunSummary();
    designer.announce(outcome(current.record));
    if (openStep()) showStepRun(openStep());
  }

  function renderRunSummary() {
    const box = $("run-panel");
    if (!run) return;
    const r = run.record;
    box.hidden = false;
    const head = el("div", { class: "dz-run-head" },
      el("strong", {}, "Test run "), el("span", { class: "badge run-" + r.status, "data-testid": "test-run-status", "data-status": r.status, "data-settled": run.settled === true }, statusLabel(r.status)),
      " ", el("a", { href: `/runs/${encodeURIComponent(r.id)}` }, "Open the run page"));
    const hint = el("p", { class: "muted" }, run.final ? "Click a step to see its output or error." : "Watching live…");
    const kids = [head, hint];
    if (r.error) kids.push(el("p", { class: "notice notice-error" }, r.error.message));
    const stepBox = box.querySelector("#run-step");
    box.replaceChildren(...kids, ...(stepBox ? [stepBox] : []));
  }

  // outcome says how a finished run ended, for the live region: "The test
  // run succeeded: 3 steps succeeded, 1 skipped."
  function outcome(r) {
    const counts = new Map();
    for (const s of r.steps || []) counts.set(s.status, (counts.get(s.status) || 0) + 1);
    const parts = [...counts].map(([st, n], i) => (i ? `${n} ` : `${n} step${n === 1 ? "" : "s"} `) + statusLabel(st));
    return `The test run ${statusLabel(r.status)}` + (parts.length ? ": " + parts.join(", ") : "") + "." + (r.error?.message ? " " + r.error.message : "");
  }

  // showStepRun shows step id's result in the run panel.
  async function showStepRun(id) {
    if (!run) return;
    let r = run.record;
    if (!run.final || !r.steps) {
      const res = await request("GET", `/api/v1/runs/${encodeURIComponent(run.id)}`).catch(() => null);
      if (res && res.status === 200) r = run.record = res.body;
    }
    // Another step was opened while the record loaded: its call shows it.
    if (openStep() !== id) return;
    renderRunSummary();
    const { box, step } = stepResultBox(state.def, r, id);
    $("run-panel").querySelector("#run-step")?.remove();
    $("run-panel").append(box);
    $("run-panel").hidden = false;
    // A failure is what the user came for: bring it into view above the
    // step's fields rather than leave it below them (ui-anchor #10).
    if (step?.error) box.scrollIntoView({ block: "start" });
  }

  return {
    openOrStart,
    record: () => run?.record,
    showStepRun,
    // leaveStepRun drops the shown step's result (another step opens).
    leaveStepRun() {
      $("run-panel").querySelector("#run-step")?.remove();
    },
    // showSummary is the run panel with no step open: the run, if any.
    showSummary() {
      $("run-panel").hidden = !run;
      if (run) renderRunSummary();
    },
    // restore brings back the last test run's colours after a reload,
    // watching it live if it is still going.
    async restore() {
      const runId = memory.get("lastRun");
      if (!runId) return;
      const res = await request("GET", `/api/v1/runs/${encodeURIComponent(runId)}`).catch(() => null);
      if (res && res.status === 200 && res.body.template === key) {
        if (FINAL_RUN.has(res.body.status)) {
          run = { id: res.body.id, record: res.body, source: null, poll: 0, final: true };
          for (const s of res.body.steps || []) showStep(s);
          renderRunSummary();
        } else {
          startWatching(res.body);
        }
      } else if (res && res.status === 404) {
        memory.set("lastRun", null);
      }
    },
  };
}
