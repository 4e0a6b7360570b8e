// The designer page: mounts the canvas (static/designer.js) on the open
// draft and wires it to the server. The server stays the authority: it
// renders each step's side panel, compiles the draft after every change
// (POST …/design/problems), stores it (PUT …/draft) and runs it. The page's
// parts are modules with one job each (web/pages/designer/):
//
//   draft.js       the draft and its saving: autosave, conflicts, discard,
//                  leaving with unsaved changes, submit for review
//   draft-lock.js  the draft's lock (one tab edits a draft at a time)
//   session.js     the editing session's starting point and its edits
//   side-panel.js  the step's or the workflow's fields
//   problems.js    the problems list
//   previews.js    live expression previews in the step panel
//   code-view.js   the YAML/JSON code view
//   test-run.js    the test-run form and the watcher of its events
//   shortcuts.js   the page's keys (?, /, Ctrl+Enter) outside the canvas
//
// mount only creates them and connects each one's hooks to the others.

import { $, el } from "./designer/dom.js";
import { panelMemory } from "./designer/memory.js";
import { sessionOrigin } from "./designer/session.js";
import { createDraftLock } from "./designer/draft-lock.js";
import { createDraft } from "./designer/draft.js";
import { createSidePanel } from "./designer/side-panel.js";
import { createProblemsList } from "./designer/problems.js";
import { createPreviews } from "./designer/previews.js";
import { createCodeView } from "./designer/code-view.js";
import { createTestRun } from "./designer/test-run.js";
import { createShortcuts } from "./designer/shortcuts.js";

async function mount(page) {
  const key = page.dataset.key;
  const readOnly = page.dataset.readonly === "true";
  // state is what the modules share: the definition as edited and the
  // latest compile's problems. Each module keeps the rest of its own.
  const state = {
    def: JSON.parse(page.dataset.definition),
    problems: JSON.parse(page.dataset.problems || "[]"),
  };
  const opened = { version: Number(page.dataset.version), status: page.dataset.status, updatedAt: page.dataset.updatedAt };
  const origin = sessionOrigin(key, { ...opened, definition: structuredClone(state.def), openedAt: Date.now() });
  // The lock's tab id is found while the canvas loads.
  const lock = createDraftLock(key, readOnly, { onRegained: () => draft.lockRegained() });

  const { mountDesigner } = await import(page.dataset.designerJs);
  const designer = mountDesigner($("canvas-host"), {
    definition: state.def,
    problems: state.problems,
    readOnly,
    onChange: (def) => draft.changed(def),
  });
  window.batonDesigner = designer; // for people debugging in the console, and the browser tests
  // Every step in view on arrival, whatever the saved positions (after
  // the layout has sized the canvas).
  requestAnimationFrame(() => designer.fit());

  const ctx = { key, readOnly, designer, memory: panelMemory(key), state };
  const panel = createSidePanel(ctx, {
    apply: (next) => draft.apply(next),
    showPreviews: (box) => previews.show(box),
    showStepRun: (id) => testRun.showStepRun(id),
    leaveStepRun: () => testRun.leaveStepRun(),
    showRunSummary: () => testRun.showSummary(),
  });
  const problems = createProblemsList(ctx, panel);
  problems.render();
  const draft = createDraft(ctx, {
    opened, origin, lock,
    onProblems: () => {
      problems.render();
      panel.renderFieldErrors();
    },
    onChanged: () => code.refresh(),
    onOutsideEdit: () => {
      panel.afterOutsideEdit();
      code.refresh(true);
    },
  });
  draft.renderSave();
  lock.start();
  const previews = createPreviews(ctx, { runRecord: () => testRun.record(), renderFieldErrors: () => panel.renderFieldErrors() });
  const code = createCodeView(ctx, { apply: (next) => draft.apply(next) });
  const testRun = createTestRun(ctx, { draft, openStep: () => panel.openStep() });
  createShortcuts(ctx, { openOrStart: () => testRun.openOrStart() });

  // What the page showed before a reload comes back: the last test run's
  // colours, the code view and the open step's panel (else the workflow's).
  (async () => {
    await testRun.restore();
    code.restore();
    const open = ctx.memory.get("openStep");
    if (open && state.def.steps.some((s) => s.id === open)) {
      designer.select(open);
      await panel.open(open);
    } else {
      await panel.openWorkflow();
    }
  })().catch(() => {});
}

function initDesignerPage() {
  const page = document.getElementById("designer-page");
  if (!page || page.dataset.mounted) return;
  page.dataset.mounted = "true";
  mount(page).catch((e) => {
    const flash = document.getElementById("flash");
    if (flash) flash.replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, "The designer could not start: " + e.message));
    throw e;
  });
}

initDesignerPage();
