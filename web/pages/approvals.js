// The review page: the version's graph on a read-only canvas with added,
// changed and removed steps coloured.
import { fitWholeGraph, loadDesigner, refitOnResize, showCanvasError } from "./runs.js";

const KINDS = ["added", "changed", "removed"];

function markDiff(container) {
  for (const kind of KINDS) {
    for (const id of (container.dataset[kind] || "").split(" ").filter(Boolean)) {
      const node = container.querySelector(`[data-testid="node-${CSS.escape(id)}"]`);
      if (node && !node.classList.contains("diff-" + kind)) {
        node.classList.add("diff-" + kind);
        node.dataset.diff = kind;
      }
    }
  }
}

async function mountReview() {
  const container = document.getElementById("review-graph");
  if (!container || container.dataset.mounted) return;
  container.dataset.mounted = "true";
  let definition;
  try {
    definition = JSON.parse(container.dataset.definition || "null");
  } catch {
    definition = null;
  }
  if (!definition) {
    showCanvasError(container, "The definition could not be read, so the graph cannot be drawn.");
    return;
  }
  try {
    const { mountDesigner } = await loadDesigner(container.dataset.designer);
    const designer = mountDesigner(container, { definition, readOnly: true });
    markDiff(container);
    // The canvas redraws nodes (selection, zoom); mark them again each time.
    new MutationObserver(() => markDiff(container)).observe(container, { childList: true, subtree: true });
    window.batonReviewDesigner = designer; // for the browser tests
    requestAnimationFrame(() => fitWholeGraph(container, designer));
    refitOnResize(container, designer);
  } catch (err) {
    showCanvasError(container, "The graph could not be drawn: " + err.message);
  }
}

document.addEventListener("DOMContentLoaded", mountReview);
