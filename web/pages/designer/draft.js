// The draft and its saving: every change is checked by the server (POST
// …/design/problems) and, with Autosave on, stored (PUT …/draft) once it
// compiles and nobody else saved meanwhile. The save state in the bar says
// where the canvas stands; conflicts, discarding the session's edits,
// leaving with unsaved changes and submitting for review are here too.

import { $, el } from "./dom.js";
import { errorProblems, request } from "./server.js";
import { autosavePreference, canonical, describeEdits, rememberAutosave } from "./session.js";
import { statusLabel, statusTitle } from "../../vocabulary.mjs";

const VALIDATE_DELAY = 250;
const SAVE_DELAY = 1200;

// createDraft wires the saving of ctx's draft. opened is the version the
// page opened ({version, status, updatedAt}); origin the editing session
// (session.js); lock the draft's lock (draft-lock.js). Hooks:
// onProblems() after a check has put new problems in ctx.state.problems,
// onChanged() after every change, onOutsideEdit() after a discard set the
// definition from outside the canvas's own gestures.
export function createDraft(ctx, { opened, origin, lock, onProblems, onChanged, onOutsideEdit }) {
  const { key, readOnly, designer, state } = ctx;
  const draft = {
    version: opened.version,
    status: opened.status,
    updatedAt: opened.updatedAt,
    dirty: false,
    saving: null,
    saveWanted: false,
    conflict: false,
    autosave: autosavePreference(),
    savedDef: canonical(state.def), // the definition as the server has it (canonical JSON)
  };
  let leaving = false; // the user chose to leave: no second question
  let validateTimer = 0;
  let saveTimer = 0;
  let validateSeq = 0;

  // ---- save state ----
  // The save state says whether the canvas is in the draft and, once the
  // draft (saved or local) differs from how it was when this editing
  // session began, how much, with a way to discard it.
  const saveState = $("save-state");
  const save_ = { kind: saveState.dataset.state, message: saveState.textContent.trim() };
  function showSave(kind, message) {
    save_.kind = kind;
    save_.message = message;
    renderSave();
  }
  const unsavedMessage = () => (draft.autosave ? "Unsaved changes" : "Unsaved changes — Save (Ctrl+S)");
  // sessionDraftOpened: the session began on a submitted version and its
  // first save opened a new draft, which discarding removes.
  const sessionDraftOpened = () => origin.value.status !== "draft" && draft.status === "draft" && draft.version !== origin.value.version;
  function renderSave() {
    const edits = readOnly ? "" : describeEdits(origin.value.definition, state.def);
    const count = save_.kind === "saved" && edits ? ` · ${edits}` : "";
    const tail = count ? " since you opened it" : "";
    saveState.dataset.state = save_.kind;
    // The tail goes when the line would not fit (1280 px wide with every
    // button): what remains still says what matters, and the title keeps
    // the whole sentence (narrow screens show only the dot).
    saveState.replaceChildren(save_.message + count, ...(tail ? [el("span", { class: "dz-save-tail" }, tail)] : []));
    delete saveState.dataset.fit;
    if (tail && saveState.scrollWidth > saveState.clientWidth) saveState.dataset.fit = "short";
    saveState.title = save_.message + count + tail;
    const discard = $("discard-open");
    if (discard) {
      discard.hidden = !(edits || draft.savedDef !== canonical(origin.value.definition) || sessionDraftOpened());
    }
    // With autosave off, unsaved changes make Save the button to press.
    const saveNow = $("save-now");
    if (saveNow) {
      const due = !draft.autosave && draft.dirty;
      saveNow.classList.toggle("secondary", !due);
      saveNow.classList.toggle("dz-save-due", due);
    }
  }
  window.addEventListener("resize", () => renderSave());

  // changed takes the canvas's definition after a change: checked soon,
  // saved a little later (autosave on).
  function changed(def) {
    state.def = def;
    draft.dirty = true;
    if (!draft.conflict) showSave("unsaved", unsavedMessage());
    else renderSave();
    clearTimeout(validateTimer);
    validateTimer = setTimeout(validate, VALIDATE_DELAY);
    clearTimeout(saveTimer);
    // Autosave off: the change stays in this page until Save.
    if (draft.autosave) saveTimer = setTimeout(() => save(), SAVE_DELAY);
    onChanged();
  }

  // apply puts a definition edited outside the canvas (side panel, code
  // view) on it, as one undo step, and takes it as a change. It throws
  // what the canvas throws for a definition it cannot draw.
  function apply(next) {
    designer.setDefinition(next);
    changed(designer.getDefinition());
  }

  const autosaveSwitch = $("autosave");
  if (autosaveSwitch) {
    autosaveSwitch.checked = draft.autosave;
    autosaveSwitch.addEventListener("change", () => {
      draft.autosave = autosaveSwitch.checked;
      rememberAutosave(draft.autosave);
      // Turning autosave on keeps what is pending, as it would have been.
      if (draft.autosave && draft.dirty && !draft.conflict) save();
      else if (draft.dirty && !draft.conflict && save_.kind === "unsaved") showSave("unsaved", unsavedMessage());
      else renderSave();
    });
  }

  // validate asks the server for the draft's problems and shows them. It
  // returns them, or undefined when the server cannot be reached.
  async function validate() {
    const seq = ++validateSeq;
    let problems;
    try {
      const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/problems`, { json: state.def });
      problems = res.status === 200 ? res.body.problems : errorProblems(res);
    } catch {
      return; // offline: the save reports it
    }
    // A newer change is being checked: its answer is the one to show. The
    // caller still gets this one (a save waiting on it must not read the
    // newer check's start as the server being unreachable).
    if (seq !== validateSeq) return problems;
    state.problems = problems;
    designer.setProblems(problems);
    onProblems();
    return problems;
  }

  // save stores the draft when it compiles. It first checks that nobody
  // else saved the draft since this page last did (unless overwrite).
  async function save({ overwrite = false } = {}) {
    clearTimeout(saveTimer);
    if (readOnly || !draft.dirty) return true;
    if (lock.held === false) {
      // Saved as soon as the lock comes back (lockRegained), even with
      // autosave off: the user asked for it.
      draft.saveWanted = true;
      showSave("locked", `Not saved: ${lock.holder} is editing this draft`);
      return false;
    }
    draft.saveWanted = false;
    if (draft.saving) return draft.saving;
    draft.saving = (async () => {
      try {
        const problems = await validate();
        if (problems === undefined) {
          showSave("error", "Not saved: the server cannot be reached");
          return false;
        }
        if (problems.length) {
          showSave("invalid", `Not saved: fix ${problems.length} problem${problems.length === 1 ? "" : "s"} first`);
          return false;
        }
        if (!overwrite) {
          const list = await request("GET", `/api/v1/templates/${encodeURIComponent(key)}/versions`);
          const latest = list.status === 200 && list.body.versions[0];
          if (latest && (latest.number > draft.version ||
              (latest.number === draft.version && Date.parse(latest.updatedAt) !== Date.parse(draft.updatedAt)))) {
            showConflict(latest);
            return false;
          }
        }
        showSave("saving", "Saving…");
        const sent = JSON.stringify(state.def);
        const res = await request("PUT", `/api/v1/templates/${encodeURIComponent(key)}/draft`, { json: state.def });
        if (res.status !== 200) {
          const ps = errorProblems(res);
          showSave("error", "Not saved: " + ps.map((p) => (p.path ? p.path + ": " : "") + p.message).join("; "));
          return false;
        }
        draft.version = res.body.number;
        draft.status = res.body.status;
        draft.updatedAt = res.body.updatedAt;
        draft.savedDef = canonical(JSON.parse(sent));
        if (draft.version !== origin.value.version && origin.value.draftVersion !== draft.version) {
          origin.value.draftVersion = draft.version; // the session's own new draft
          origin.write();
        }
        showVersion();
        hideConflict();
        if (sent === JSON.stringify(state.def)) {
          draft.dirty = false;
          showSave("saved", "All changes saved"); // the bar shows the version
        }
        return true;
      } catch {
        showSave("error", "Not saved: the server cannot be reached; retrying on the next change");
        return false;
      } finally {
        draft.saving = null;
      }
    })();
    return draft.saving;
  }

  // lockRegained: another tab let the draft go; what waited is saved now.
  function lockRegained() {
    showSave(draft.dirty ? "unsaved" : "saved", draft.dirty ? unsavedMessage() : "All changes saved");
    if (draft.dirty && (draft.autosave || draft.saveWanted)) save();
  }

  function showConflict(latest) {
    draft.conflict = true;
    showSave("conflict", "Not saved: conflict");
    $("conflict-detail").textContent = latest.number > draft.version
      ? `Version ${latest.number} now exists (${latest.status}).`
      : `${latest.author} or another editor saved v${latest.number} at ${new Date(latest.updatedAt).toLocaleTimeString()}.`;
    $("conflict").hidden = false;
  }
  function hideConflict() {
    draft.conflict = false;
    $("conflict").hidden = true;
  }
  $("conflict-reload")?.addEventListener("click", () => {
    draft.dirty = false;
    location.reload();
  });
  $("conflict-overwrite")?.addEventListener("click", async () => {
    const list = await request("GET", `/api/v1/templates/${encodeURIComponent(key)}/versions`);
    if (list.status === 200 && list.body.versions[0]) draft.version = list.body.versions[0].number;
    save({ overwrite: true });
  });
  $("save-now")?.addEventListener("click", () => {
    draft.dirty = true;
    save();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      if (!readOnly) save();
    }
  });
  window.addEventListener("beforeunload", (e) => {
    if (draft.dirty && !readOnly && !leaving) e.preventDefault();
  });

  // showVersion puts the version the page now edits in the bar: a save
  // after a submission opens a new one, a discard may go back.
  function showVersion() {
    const label = $("designer-version");
    if (label) label.textContent = "v" + draft.version;
    const badge = document.querySelector(".dz-title .badge");
    if (badge) {
      badge.className = "badge status-" + draft.status;
      badge.dataset.status = draft.status;
      badge.textContent = statusTitle(draft.status);
    }
  }

  // ask shows a <dialog> and resolves with the value of the button that
  // closed it ("" for Escape).
  function ask(dialog) {
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
      dialog.showModal();
    });
  }

  // Links inside the app ask before unsaved changes are left behind, in a
  // dialog that can also save them (the browser's own beforeunload prompt
  // covers reloads, closing the tab and other sites). With autosave on the
  // pending save is simply made first.
  document.addEventListener("click", async (e) => {
    const a = e.target.closest?.("a[href]");
    if (!a || readOnly || !draft.dirty || leaving || e.defaultPrevented || e.button !== 0 ||
      e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target === "_blank" || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || (url.pathname === location.pathname && url.search === location.search && url.hash)) return;
    e.preventDefault();
    const leave = () => {
      leaving = true;
      location.assign(url.href);
    };
    if (draft.autosave && !draft.conflict && (await save())) return leave();
    $("leave-detail").textContent = draft.autosave
      ? `Your changes could not be saved (${saveState.textContent}).`
      : "Autosave is off and this page has changes that are not in the draft.";
    const choice = await ask($("leave-dialog"));
    if (choice === "leave") leave();
    else if (choice === "save" && (await save())) leave();
  });

  // ---- discard my changes ----
  // Puts the draft back as it was when this editing session began, as one
  // undo step. A draft the session opened after a submitted version is
  // deleted rather than left behind as a copy of that version.
  $("discard-open")?.addEventListener("click", async () => {
    const o = origin.value;
    const edits = describeEdits(o.definition, state.def);
    const at = o.openedAt ? ` at ${new Date(o.openedAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` : "";
    let detail;
    if (sessionDraftOpened()) detail = `Draft v${draft.version} is deleted and v${o.version} (${statusTitle(o.status).toLowerCase()}) is the latest version again.`;
    else if (o.status === "draft") detail = `Draft v${o.version} goes back to how it was when you opened it${at}, and is saved that way.`;
    else detail = `The canvas goes back to v${o.version} as you opened it${at}; nothing was saved.`;
    $("discard-detail").textContent = detail + (edits ? ` Lost: ${edits}.` : "");
    if ((await ask($("discard-dialog"))) !== "discard") return;
    await discard();
  });

  async function discard() {
    const o = origin.value;
    clearTimeout(saveTimer);
    if (draft.saving) await draft.saving;
    if (lock.held === false) {
      showSave("locked", `Not discarded: ${lock.holder} is editing this draft`);
      return;
    }
    if (sessionDraftOpened()) {
      // Delete the session's draft, unless someone else saved it meanwhile.
      const list = await request("GET", `/api/v1/templates/${encodeURIComponent(key)}/versions`).catch(() => null);
      const latest = list && list.status === 200 && list.body.versions[0];
      if (!latest) {
        showSave("error", "Not discarded: the server cannot be reached");
        return;
      }
      if (latest.number !== draft.version || Date.parse(latest.updatedAt) !== Date.parse(draft.updatedAt)) {
        showConflict(latest);
        return;
      }
      // The lock token proves this tab is the one editing the draft: the
      // server refuses a discard while another tab holds the lock.
      const res = await request("DELETE", `/api/v1/templates/${encodeURIComponent(key)}/versions/${draft.version}`, {
        headers: { "X-Baton-Draft-Lock": lock.token },
      }).catch(() => null);
      if (!res || res.status !== 204) {
        showSave("error", "Not discarded: " + (res ? errorProblems(res).map((p) => p.message).join("; ") : "the server cannot be reached"));
        return;
      }
    }
    designer.setDefinition(o.definition); // one undo step: Ctrl+Z brings the edits back
    state.def = designer.getDefinition();
    onOutsideEdit();
    renderSave();
    validate();
    if (o.status !== "draft") {
      // Back on the submitted version: nothing to save until the next change.
      draft.version = o.version;
      draft.status = o.status;
      draft.updatedAt = o.updatedAt;
      draft.savedDef = canonical(o.definition);
      draft.dirty = false;
      o.draftVersion = 0;
      origin.write();
      showVersion();
      showSave("saved", `Changes discarded — v${o.version} is ${statusTitle(o.status).toLowerCase()}; your first change opens a new draft`);
      return;
    }
    draft.dirty = true;
    await save(); // the normal path: conflict and lock checks apply
  }

  // ---- submit for review ----
  $("submit-review")?.addEventListener("click", async () => {
    if (draft.status !== "draft" && !draft.dirty) {
      // Submitting again would copy the same definition into a new draft.
      showSave("error", `v${draft.version} is ${statusLabel(draft.status)} already; change something to open a new draft`);
      return;
    }
    const ok = await save();
    if (!ok) return;
    const res = await request("POST", `/api/v1/templates/${encodeURIComponent(key)}/versions/${draft.version}/submit`, { json: {} });
    if (res.status !== 200) {
      showSave("error", "Not submitted: " + errorProblems(res).map((p) => p.message).join("; "));
      return;
    }
    origin.clear(); // submitted: the editing session is over
    leaving = true;
    location.assign(`/templates/${encodeURIComponent(key)}`);
  });

  return {
    changed,
    apply,
    save,
    renderSave,
    lockRegained,
    // What a test run needs: the version it runs, and whether starting one
    // saves local changes first (autosave off).
    version: () => draft.version,
    savesFirst: () => !draft.autosave && draft.dirty,
    saveText: () => saveState.textContent,
  };
}
