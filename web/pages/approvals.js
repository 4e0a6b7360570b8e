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

// showStep writes the selected step's definition into the details section
// below the graph: its name, what the review says of it (added, changed,
// removed) and its JSON, so a reviewer reads a step without the text diff.
function showStep(definition, container, id) {
  const box = document.getElementById("review-step");
  const step = (definition.steps || []).find((s) => s.id === id);
  if (!box || !step) return;
  const { position, ...rest } = step; // where it is drawn is not part of the review
  const diff = KINDS.find((k) => (container.dataset[k] || "").split(" ").includes(id));
  const h = document.createElement("h3");
  h.textContent = step.name && step.name !== step.id ? `${step.name} (${step.id})` : step.id;
  const parts = [h];
  if (diff) {
    const chip = document.createElement("span");
    chip.className = "chip chip-" + diff;
    chip.dataset.testid = "review-step-diff";
    chip.textContent = diff;
    parts.push(chip);
  }
  const pre = document.createElement("pre");
  pre.className = "review-step-json";
  pre.dataset.testid = "review-step-json";
  pre.textContent = JSON.stringify(rest, null, 2);
  parts.push(pre);
  box.replaceChildren(...parts);
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
    const show = (id) => showStep(definition, container, id);
    designer.on("select", (ids) => { if (ids.length === 1) show(ids[0]); });
    designer.on("open", show);
    // Measured once placed (a graph without saved positions waits for the
    // layered layout's chunk).
    designer.whenPlaced().then(() => requestAnimationFrame(() => fitWholeGraph(container, designer)));
    refitOnResize(container, designer);
  } catch (err) {
    showCanvasError(container, "The graph could not be drawn: " + err.message);
  }
}

document.addEventListener("DOMContentLoaded", mountReview);
