// The words the browser shares with the server about runs and steps: run
// and step statuses, the run event types of the event stream, and the step
// kinds the palette offers with their labels (shared/spec/definition.md,
// Statuses; shared/spec/api.md, events; models/run.go on the Go side).
// Every page script and the designer canvas read them from here, so that a
// new status or event is added in one place on this side. No DOM: node
// imports it too (web/e2e/designer-model.test.mjs).

/** Statuses a step of a run can have, in lifecycle order. */
export const STEP_STATUSES = ["pending", "running", "retrying", "waiting", "succeeded", "failed",
  "skipped", "cancelled", "timed_out", "compensated"];

/** Statuses a run can have, in lifecycle order. */
export const RUN_STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled",
  "timed_out", "rolled_back"];

/** The run statuses after which nothing more happens to the run. */
export const FINAL_RUN_STATUSES = ["succeeded", "failed", "cancelled", "timed_out", "rolled_back"];

/** Event types of a run's event stream (GET /api/v1/runs/{id}/events): a
 * run.* event's type is "run." + the run's new status. step.progress
 * carries a forEach step's item counts so far (not stored). */
export const RUN_EVENTS = ["run.queued", "run.started", "run.waiting", "run.succeeded", "run.failed",
  "run.cancelled", "run.timed_out", "run.rolled_back"];
export const STEP_EVENTS = ["step.started", "step.succeeded", "step.failed", "step.retrying", "step.skipped",
  "step.waiting", "step.cancelled", "step.timed_out", "step.compensated", "step.progress"];
export const EVENT_TYPES = [...RUN_EVENTS, ...STEP_EVENTS];
export const STEP_PROGRESS = "step.progress";

/** Step kinds the palette offers, in palette order: the kind's name, its
 * label, the short tag drawn on its node, and the step type it is stored as. */
export const STEP_KINDS = [
  { kind: "http", label: "HTTP request", tag: "HTTP", type: "command" },
  { kind: "set", label: "Set values", tag: "SET", type: "command" },
  { kind: "log", label: "Log", tag: "LOG", type: "command" },
  { kind: "fail", label: "Fail", tag: "FAIL", type: "command" },
  { kind: "subworkflow", label: "Sub-workflow", tag: "SUB", type: "command" },
  { kind: "condition", label: "Condition", tag: "IF", type: "condition" },
  { kind: "decision", label: "Decision table", tag: "CASE", type: "condition" },
  { kind: "foreach", label: "For each", tag: "EACH", type: "parallel" },
  { kind: "wait", label: "Wait", tag: "WAIT", type: "wait" },
  { kind: "signal", label: "Wait for signal", tag: "SIG", type: "wait" },
];

/** The step type of a forEach step: its record's output carries item counts. */
export const FOREACH_TYPE = "parallel";

/** statusLabel is a status as people read it in running text ("timed out"). */
export const statusLabel = (s) => s.replace("_", " ");

/** statusTitle is a status as a heading or badge says it ("Timed out",
 * "In review" for a version status). */
export const statusTitle = (s) => statusLabel(s.charAt(0).toUpperCase() + s.slice(1));
