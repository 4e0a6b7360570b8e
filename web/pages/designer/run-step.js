// One step's result in a test run, as the run panel shows it when the
// step is open: status, attempts, error with what to check, the input it
// could read and its output.

import { el } from "./dom.js";

// stepResultBox builds the #run-step box for step id of run record r.
export function stepResultBox(def, r, id) {
  const step = (r.steps || []).find((s) => s.id === id);
  const box = el("div", { id: "run-step", class: "dz-run-step", "data-testid": "run-step" },
    el("h3", {}, `${id} in this run`));
  if (!step) {
    box.append(el("p", { class: "muted" }, "This step has not run."));
    return { box, step };
  }
  box.append(el("p", {}, el("span", { class: "badge", "data-testid": "run-step-status" }, step.status),
    ` ${step.attempts} attempt${step.attempts === 1 ? "" : "s"}`,
    step.durationMs != null ? `, ${Math.round(step.durationMs)} ms` : ""));
  if (step.error) {
    box.append(el("p", { class: "notice notice-error", "data-testid": "run-step-error" }, `${step.error.code}: ${step.error.message}`));
    box.append(el("p", { class: "dz-hint", "data-testid": "run-step-hint" }, el("strong", {}, "What to check: "), errorHint(step.error)));
  }
  if (step.reason) box.append(el("p", { class: "muted" }, step.reason));
  // The step's input: the run's inputs and the outputs of the steps it
  // follows, which is what its expressions and templates could read.
  box.append(el("h4", {}, "Input"),
    el("pre", { class: "mono dz-output", "data-testid": "run-step-input" }, JSON.stringify(stepInput(def, r, id), null, 2)));
  if (step.output !== null && step.output !== undefined) {
    box.append(el("h4", {}, "Output"),
      el("pre", { class: "mono dz-output", "data-testid": "run-step-output" }, JSON.stringify(step.output, null, 2)));
  }
  return { box, step };
}


// errorHint says what to check for a step error, by its code (the engine's
// codes: http_status, http_error, timeout, expression_error, ...) and, for
// HTTP statuses, by the status class named in the message.
export function errorHint(err) {
  const msg = String(err?.message || "");
  switch (err?.code) {
    case "http_status": {
      const m = /\b([45]\d\d)\b/.exec(msg);
      const code = m ? Number(m[1]) : 0;
      if (code === 401 || code === 403) return "The service refused the credentials: check the Authorization header or token the step sends.";
      if (code === 404) return "The URL was not found: check the step's url and any {{ }} parts of it.";
      if (code === 429) return "The service is rate limiting: add a retry policy with a longer interval.";
      if (code >= 400 && code < 500) return "The service rejected the request: check the url, method, headers and body the step sends (see Input).";
      if (code >= 500) return "The service failed on its side: check that it is up; a retry policy can ride out short outages.";
      return "The service answered with a status the step does not accept: check the url and the expected status.";
    }
    case "http_error": return "The request did not get an answer: check the host name, the network and TLS, and that the service is running.";
    case "timeout": return "The step ran past its timeout: raise the step's timeout, or check why the action is slow.";
    case "signal_timeout": return "The signal did not arrive in time: check who sends it, its name, and the wait step's timeout.";
    case "expression_error": return "An expression or {{ }} template failed: check the names it uses against the Input below (a step's output, inputs.<name>) and their types.";
    case "fail": return "A fail step stopped the run on purpose: check the condition that led here.";
    case "subworkflow_failed": return "The child workflow did not succeed: open its run to see which of its steps failed.";
    case "items_failed": return "Some forEach items failed: check the failed items in the output and the item expression.";
    case "output_too_large": return "The output is over the size limit: keep only the fields later steps need.";
    case "unknown_kind": return "This action kind is not available on the server: check the step's kind.";
    case "cancelled": return "The step was cancelled, by a user or because the run was cancelled or failed elsewhere.";
    default: return "Check the step's fields against its Input below; an upstream step may have produced something unexpected.";
  }
}

// stepInput gathers what a step could read in a run: the run's inputs and
// the output (or error) of every step that leads to it.
export function stepInput(def, record, id) {
  const ups = new Set();
  for (const s of def?.steps || []) {
    if (s.id === id) for (const d of s.dependencies || []) ups.add(d);
    const a = s.action || {};
    const next = [s.onSuccess, s.onFailure].flat().concat(a.default, ...(a.cases || []).map((c) => c.next));
    if (next.includes(id)) ups.add(s.id);
  }
  const steps = {};
  for (const st of record?.steps || []) {
    if (ups.has(st.id)) steps[st.id] = st.error ? { status: st.status, error: st.error } : { status: st.status, output: st.output ?? null };
  }
  return { inputs: record?.inputs || {}, steps };
}
