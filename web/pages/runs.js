// The run page: the read-only canvas coloured by step status, kept in step
// with the server-rendered live part (#run-live) that htmx refreshes on
// every run event (SSE; a forEach step's step.progress events included) or,
// when the stream is down, by polling.

import { STEP_PROGRESS, STEP_STATUSES } from "../vocabulary.mjs";

const STATUSES = new Set(STEP_STATUSES);

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

// fitWholeGraph fits a read-only graph and sizes its box to the graph.
// The designer's Fit stops zooming out where labels would drop below 11 px
// (ui-anchor behaviour 13), so a box of fixed height cut off the branches
// and the join of a tall workflow. A page that only shows the graph can
// instead give it the height it needs at a readable zoom (up to most of
// the window; beyond that the canvas pans), and take less for a small one.
const PAD = 40; // the designer's margin around a fitted graph
export function fitWholeGraph(container, designer) {
  designer.fit();
  const viewport = container.querySelector(".bd-viewport");
  const nodes = container.querySelectorAll(".bd-node");
  if (!viewport || !nodes.length || !viewport.clientHeight) return;
  let top = Infinity, bottom = -Infinity;
  for (const n of nodes) {
    const r = n.getBoundingClientRect();
    top = Math.min(top, r.top);
    bottom = Math.max(bottom, r.bottom);
  }
  // At the zoom Fit chose, the graph needs this much viewport height; the
  // rest of the box (the toolbar, borders) stays as it is.
  const chrome = container.offsetHeight - viewport.clientHeight;
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const min = 12 * rem;
  const max = Math.max(min, window.innerHeight * 0.8);
  const want = Math.round(Math.min(max, Math.max(min, bottom - top + 2 * PAD + chrome)));
  if (Math.abs(want - container.offsetHeight) < 4) return;
  container.style.height = want + "px";
  designer.fit();
}

let designer = null;
// labelled lists the forEach steps whose edges carry item counts.
const labelled = new Set();

// applyStatuses colours every node from the statuses the live part lists,
// and labels a forEach step's outgoing edges with its item counts (the
// server renders them from the run record, so the label and the record agree).
function applyStatuses() {
  if (!designer) return;
  const seen = new Set();
  for (const el of document.querySelectorAll("#run-live [data-step-status]")) {
    const st = el.dataset.stepStatus;
    if (STATUSES.has(st)) designer.setRunStatus(el.dataset.step, st);
    if (el.dataset.itemsSucceeded !== undefined) {
      designer.setRunItems(el.dataset.step, { succeeded: Number(el.dataset.itemsSucceeded), failed: Number(el.dataset.itemsFailed) });
      seen.add(el.dataset.step);
    }
  }
  for (const id of labelled) if (!seen.has(id)) designer.setRunItems(id, null);
  labelled.clear();
  for (const id of seen) labelled.add(id);
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
    // Measured once placed (a graph without saved positions waits for the
    // layered layout's chunk).
    designer.whenPlaced().then(() => requestAnimationFrame(() => fitWholeGraph(container, designer)));
    refitOnResize(container, designer);
  } catch (err) {
    showCanvasError(container, "The graph could not be drawn: " + err.message);
  }
}

// refitOnResize fits again when the canvas gets narrower or wider (a
// narrow screen turned, a window resized): auto-laid-out steps wrap to the
// width, so the height the graph needs changes too. Height changes are
// ours (fitWholeGraph) and are ignored.
export function refitOnResize(container, designer) {
  let lastWidth = container.clientWidth;
  new ResizeObserver(() => {
    if (Math.abs(container.clientWidth - lastWidth) < 40) return;
    lastWidth = container.clientWidth;
    fitWholeGraph(container, designer);
  }).observe(container);
}

function init() {
  const page = document.getElementById("run-page");
  if (!page) return;
  mountRunGraph(page);
}

document.addEventListener("DOMContentLoaded", init);

// announce tells screen-reader users what matters as the run goes on: a
// step that failed, and the outcome when the run finishes; once each, not
// every event. What the page showed when it loaded is not news.
const announced = new Set();
let announceReady = false;
function announce() {
  const region = document.getElementById("run-announce");
  const live = document.getElementById("run-live");
  if (!region || !live) return;
  const news = [];
  for (const el of live.querySelectorAll("[data-step-status=failed], [data-step-status=timed_out]")) {
    const key = "step:" + el.dataset.step;
    if (!announced.has(key)) {
      announced.add(key);
      news.push(`Step ${el.dataset.step} ${el.dataset.stepStatus === "failed" ? "failed" : "timed out"}.`);
    }
  }
  if (live.hasAttribute("data-final") && !announced.has("run")) {
    announced.add("run");
    news.push(`The run ${(live.dataset.status || "finished").replaceAll("_", " ")}.`);
  }
  if (announceReady && news.length) region.textContent = news.join(" ");
  announceReady = true;
}

document.addEventListener("DOMContentLoaded", announce);

document.addEventListener("htmx:afterSettle", () => {
  if (!document.getElementById("run-page")) return;
  announce();
  applyStatuses();
  refreshIfBehind();
  refreshIfCountsBehind();
});

// Colour a node as soon as its event arrives, before the refreshed live
// part does.
document.addEventListener("htmx:sseMessage", (e) => {
  if (!e.detail || typeof e.detail.data !== "string") return;
  let ev;
  try {
    ev = JSON.parse(e.detail.data);
  } catch {
    return;
  }
  if (ev.type === STEP_PROGRESS && ev.stepId && ev.progress) {
    const done = ev.progress.succeeded + ev.progress.failed;
    progressSeen.set(ev.stepId, Math.max(progressSeen.get(ev.stepId) || 0, done));
  }
  if (designer && ev.stepId && STATUSES.has(ev.status)) designer.setRunStatus(ev.stepId, ev.status);
});

// A forEach step's step.progress events can come faster than the live part
// refreshes, and one that arrives while a refresh is being swapped in finds
// no listener (the old part is gone, the new one not yet wired). So after
// each refresh, a running step showing fewer finished elements than its
// latest progress event said is refreshed once more. The event is sent
// only once the elements it counts are stored, so the refresh catches up.
const progressSeen = new Map();
function refreshIfCountsBehind() {
  const live = document.getElementById("run-live");
  if (!live || live.hasAttribute("data-final") || live.classList.contains("htmx-request")) return;
  for (const el of live.querySelectorAll("[data-step-status=running]")) {
    const seen = progressSeen.get(el.dataset.step);
    if (seen === undefined) continue;
    const shown = Number(el.dataset.itemsSucceeded || 0) + Number(el.dataset.itemsFailed || 0);
    // Forgotten either way: at most one extra refresh per event.
    progressSeen.delete(el.dataset.step);
    if (shown < seen) {
      window.htmx?.trigger(live, "refresh");
      return;
    }
  }
}

// The run's stream closes on the server's "end" message (sse-close on
// #run-stream), which comes only once the run has finished. The live part
// refreshes on the run's final event, but an event that arrives while an
// action's answer (cancel, signal) is being swapped in finds no listener:
// the old part is gone and the new one not yet wired. So once the stream
// has ended, a live part that does not show a final state is refreshed
// (a few times at most, in case the server disagrees).
let streamEnded = false;
let catchUps = 0;
function refreshIfBehind() {
  const live = document.getElementById("run-live");
  if (!streamEnded || !live || live.hasAttribute("data-final") || live.classList.contains("htmx-request") || catchUps >= 3) return;
  catchUps++;
  window.htmx?.trigger(live, "refresh");
}
document.addEventListener("htmx:sseClose", (e) => {
  if (e.target?.id !== "run-stream" || e.detail?.type !== "message") return;
  streamEnded = true;
  refreshIfBehind();
});

// Leaving the page closes its event streams first, so that the browser
// does not report the aborted connection as an error in the console.
window.addEventListener("pagehide", () => {
  for (const el of document.querySelectorAll("[sse-connect]")) window.htmx?.trigger(el, "htmx:beforeCleanupElement");
});
