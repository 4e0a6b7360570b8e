// The run page: the read-only canvas coloured by step status, kept in step
// with the server-rendered live part (#run-live) that htmx refreshes on
// every run event (SSE) or, when the stream is down, by polling.

const STATUSES = new Set(["pending", "running", "retrying", "waiting", "succeeded", "failed", "skipped", "cancelled", "timed_out", "compensated"]);

// loadDesigner imports the designer module once; its URL is fingerprinted
// by the server and given in data-designer.
let designerModule;
export function loadDesigner(src) {
  designerModule ??= import(/* @vite-ignore */ src);
  return designerModule;
}

// showError puts a message where the canvas would be, instead of failing silently.
export function showCanvasError(container, message) {
  const p = document.createElement("p");
  p.className = "notice notice-error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  container.replaceChildren(p);
}

let designer = null;

// applyStatuses colours every node from the statuses the live part lists.
function applyStatuses() {
  if (!designer) return;
  for (const el of document.querySelectorAll("#run-live [data-step-status]")) {
    const st = el.dataset.stepStatus;
    if (STATUSES.has(st)) designer.setRunStatus(el.dataset.step, st);
  }
}

// stopStreamWhenFinal detaches the event stream once the run has ended:
// htmx's SSE extension closes a source whose element left the page.
function stopStreamWhenFinal() {
  const live = document.getElementById("run-live");
  const stream = document.getElementById("run-stream");
  if (!live || !stream || !live.hasAttribute("data-final") || !stream.hasAttribute("sse-connect")) return;
  // Close the source before the element goes: once detached, the
  // extension would only notice when the server ends the stream, and it
  // reports that end as an error in the console.
  window.htmx?.trigger(stream, "htmx:beforeCleanupElement");
  const quiet = document.createElement("div");
  quiet.id = "run-stream";
  stream.replaceWith(quiet);
  quiet.append(live);
}

async function mountRunGraph(page) {
  const container = page.querySelector("#run-graph");
  if (!container || container.dataset.mounted) return;
  container.dataset.mounted = "true";
  let definition;
  try {
    definition = JSON.parse(page.dataset.definition || "null");
  } catch {
    definition = null;
  }
  if (!definition) {
    showCanvasError(container, "The definition of this run's version could not be loaded, so the graph cannot be drawn.");
    return;
  }
  try {
    const { mountDesigner } = await loadDesigner(page.dataset.designer);
    designer = mountDesigner(container, { definition, readOnly: true });
    window.batonRunDesigner = designer; // for the browser tests
    designer.on("open", (id) => {
      const step = document.getElementById("step-" + id);
      if (!step) return;
      step.open = true;
      step.scrollIntoView({ block: "nearest", behavior: "smooth" });
    });
    applyStatuses();
    requestAnimationFrame(() => designer.fit());
    // Fit again when the canvas changes size (a narrow screen turned, a window resized).
    let lastWidth = container.clientWidth;
    new ResizeObserver(() => {
      if (Math.abs(container.clientWidth - lastWidth) < 40) return;
      lastWidth = container.clientWidth;
      designer.fit();
    }).observe(container);
  } catch (err) {
    showCanvasError(container, "The graph could not be drawn: " + err.message);
  }
}

function init() {
  const page = document.getElementById("run-page");
  if (!page) return;
  mountRunGraph(page);
  stopStreamWhenFinal();
}

document.addEventListener("DOMContentLoaded", init);

document.addEventListener("htmx:afterSettle", () => {
  if (!document.getElementById("run-page")) return;
  applyStatuses();
  stopStreamWhenFinal();
});

// Colour a node as soon as its event arrives, before the refreshed live
// part does.
document.addEventListener("htmx:sseMessage", (e) => {
  if (!designer || !e.detail || typeof e.detail.data !== "string") return;
  let ev;
  try {
    ev = JSON.parse(e.detail.data);
  } catch {
    return;
  }
  if (ev.stepId && STATUSES.has(ev.status)) designer.setRunStatus(ev.stepId, ev.status);
});

const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out", "rolled_back"]);

// The server ends a run's stream after its final event; closing it first
// keeps the browser from reporting the end as a connection error and from
// reconnecting to a finished run.
document.addEventListener("htmx:sseMessage", (e) => {
  const stream = document.getElementById("run-stream");
  if (!stream || !stream.hasAttribute("sse-connect") || typeof e.detail?.data !== "string") return;
  let ev;
  try {
    ev = JSON.parse(e.detail.data);
  } catch {
    return;
  }
  if (ev.type?.startsWith("run.") && FINAL.has(ev.status)) window.htmx.trigger(stream, "htmx:beforeCleanupElement");
});

// Leaving the page closes its event streams first, so that the browser
// does not report the aborted connection as an error in the console.
window.addEventListener("pagehide", () => {
  for (const el of document.querySelectorAll("[sse-connect]")) window.htmx?.trigger(el, "htmx:beforeCleanupElement");
});
