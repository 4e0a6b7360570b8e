// The designer page: mounts the canvas (static/designer.js) on the open
// draft and wires it to the server. The server stays the authority: it
// renders each step's side panel, compiles the draft after every change
// (POST /api/v1/validate), stores it (PUT …/draft) and runs it. This module
// only moves data between the canvas, the forms and those endpoints.

const STEP_STATUSES = new Set(["pending", "running", "retrying", "waiting", "succeeded", "failed",
  "skipped", "cancelled", "timed_out", "compensated"]);
const RUN_EVENTS = ["run.queued", "run.started", "step.started", "step.succeeded", "step.failed",
  "step.retrying", "step.skipped", "step.waiting", "step.cancelled", "step.timed_out", "step.compensated",
  "run.waiting", "run.succeeded", "run.failed", "run.cancelled", "run.timed_out", "run.rolled_back",
  "step.progress"];
const FINAL_RUN = new Set(["succeeded", "failed", "cancelled", "timed_out", "rolled_back"]);
const VALIDATE_DELAY = 250;
const SAVE_DELAY = 1200;
const POLL_EVERY = 1000;

const $ = (id) => document.getElementById(id);

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch {
    return "";
  }
}

// request calls the server and returns {status, body}; body is parsed JSON
// when the answer is JSON, else text. A network failure throws.
async function request(method, url, { json, text, contentType, accept = "application/json", headers: extra = {} } = {}) {
  const headers = { ...extra, Accept: accept, "X-CSRF-Token": csrfToken() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (text !== undefined) {
    headers["Content-Type"] = contentType || "text/plain";
    body = text;
  }
  const res = await fetch(url, { method, headers, body, credentials: "same-origin" });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  return { status: res.status, body: data };
}

// errorProblems turns an API error answer into [{path, message}].
function errorProblems(res) {
  const err = res.body && res.body.error;
  if (!err) return [{ path: "", message: `The server answered ${res.status}.` }];
  if (err.details && err.details.length) return err.details;
  return [{ path: "", message: err.message }];
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

// stepIndexOf reads the step index out of a problem path (steps[3].action.url).
function stepIndexOf(path) {
  const m = /^steps\[(\d+)\]/.exec(path || "");
  return m ? Number(m[1]) : -1;
}

// ---- YAML for the code view ------------------------------------------------
// A small block-style writer: the definition is plain JSON data, and any
// string that might read as something else is written JSON-quoted (JSON
// strings are valid YAML). Reading YAML back is the server's job.
const PLAIN = /^[A-Za-z_/.][\w ./{}$-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function yamlScalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") {
    return PLAIN.test(v) && !RESERVED.test(v) && !v.endsWith(" ") && !v.includes(": ") && !v.includes(" #") ? v : JSON.stringify(v);
  }
  return String(v);
}

function yamlKey(k) {
  return /^[A-Za-z_][\w-]*$/.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

const isComplex = (v) => v !== null && typeof v === "object" && Object.keys(v).length > 0;

export function toYAML(v, indent = "") {
  if (Array.isArray(v)) {
    if (!v.length) return indent + "[]";
    return v.map((item) => {
      if (!isComplex(item)) return indent + "- " + (Array.isArray(item) ? "[]" : typeof item === "object" && item ? "{}" : yamlScalar(item));
      const body = toYAML(item, indent + "  ");
      return indent + "- " + body.slice(indent.length + 2);
    }).join("\n");
  }
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (!keys.length) return indent + "{}";
    return keys.map((k) => {
      const val = v[k];
      if (isComplex(val)) return `${indent}${yamlKey(k)}:\n${toYAML(val, indent + "  ")}`;
      const flat = Array.isArray(val) ? "[]" : val && typeof val === "object" ? "{}" : yamlScalar(val);
      return `${indent}${yamlKey(k)}: ${flat}`;
    }).join("\n");
  }
  return indent + yamlScalar(v);
}

// ---- field values ------------------------------------------------------------

// fieldValue reads one side-panel or inputs-form field as the JSON value
// its data-type says; {error} when the text cannot be that, {unset} when
// the field is empty (the key is then removed).
function fieldValue(input) {
  const raw = input.value;
  const trimmed = raw.trim();
  switch (input.dataset.type) {
    case "int": {
      if (!trimmed) return { unset: true };
      if (!/^-?\d+$/.test(trimmed)) return { error: "Use a whole number, such as 3" };
      return { value: Number(trimmed) };
    }
    case "number": {
      if (!trimmed) return { unset: true };
      const n = Number(trimmed);
      return Number.isFinite(n) ? { value: n } : { error: "Use a number, such as 10 or 2.5" };
    }
    case "duration":
      if (!trimmed) return { unset: true };
      if (/^\d+$/.test(trimmed)) return { value: Number(trimmed) };
      // Go's duration syntax (models.ParseDuration): checked here so that
      // a half-typed value is said next to its field, not sent.
      return /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(trimmed) ? { value: trimmed } : { error: "Use a duration like 30s, 5m or 1h30m" };
    case "json":
      if (!trimmed) return { unset: true };
      try {
        return { value: JSON.parse(trimmed) };
      } catch (e) {
        return { error: "is not valid JSON yet: " + e.message };
      }
    case "headers": {
      if (!trimmed) return { unset: true };
      const out = {};
      for (const line of raw.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf(":");
        if (i <= 0) return { error: `"${line.trim()}" needs the form Name: value` };
        out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return { value: out };
    }
    case "bool":
      if (!trimmed) return { unset: true };
      return { value: trimmed === "true" };
    default:
      return trimmed === "" ? { unset: true } : { value: raw };
  }
}

// setPath sets (or, for an unset result, removes) the value at a field's
// path: "action.url", "retryPolicy.maxAttempts", "action.cases[1].when".
// An object left empty by a removal goes too, so clearing every retry
// field leaves no retryPolicy behind.
function setPath(obj, path, result) {
  const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  let at = obj;
  for (const k of keys.slice(0, -1)) {
    if (!at[k] || typeof at[k] !== "object") {
      if (result.unset) return;
      at[k] = {};
    }
    at = at[k];
  }
  const last = keys[keys.length - 1];
  if (!result.unset) {
    at[last] = result.value;
    return;
  }
  if (Array.isArray(at)) at[last] = ""; // keep the other cases in place
  else delete at[last];
  // Remove the objects this emptied, innermost first.
  for (let n = keys.length - 1; n > 0; n--) {
    let parent = obj;
    for (const k of keys.slice(0, n - 1)) parent = parent[k];
    const child = parent[keys[n - 1]];
    if (child && typeof child === "object" && !Array.isArray(child) && Object.keys(child).length === 0) delete parent[keys[n - 1]];
    else break;
  }
}

const PREVIEW_DELAY = 150;
const LOCK_RETRY = 5000;

// panelMemory keeps, per template, what the designer showed: the open
// step, whether the code view was open, and the last test run, so that a
// reload brings them back as the user left them.
function panelMemory(key) {
  const name = "baton.designer." + key;
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(name) || "{}") || {};
  } catch {
    saved = {};
  }
  return {
    get: (k) => saved[k],
    set(k, v) {
      if (v === undefined || v === null || v === false) delete saved[k];
      else saved[k] = v;
      try {
        localStorage.setItem(name, JSON.stringify(saved));
      } catch {
        // storage full or disabled: the page still works, it just forgets
      }
    },
  };
}

// ---- saved state -------------------------------------------------------------

const AUTOSAVE_KEY = "baton.designer.autosave";

// autosavePreference is the Autosave switch as this browser last left it:
// on unless the user turned it off.
function autosavePreference() {
  try {
    return localStorage.getItem(AUTOSAVE_KEY) !== "off";
  } catch {
    return true;
  }
}

function rememberAutosave(on) {
  try {
    localStorage.setItem(AUTOSAVE_KEY, on ? "on" : "off");
  } catch {
    // storage disabled: the switch still works for this page
  }
}

// tabLockToken is this tab's draft-lock id for template key, the same
// across reloads of the tab and new in every other tab. A tab the browser
// duplicated starts with a copy of its original's sessionStorage, and so
// with its id: it asks the other pages of this browser whether one of them
// holds that id, and takes a new one when one answers. The page then
// answers the same question for its own id.
async function tabLockToken(key) {
  const name = "baton.designer.lock." + key;
  let token = null;
  try {
    token = sessionStorage.getItem(name);
  } catch {
    // storage refused: one id per page
  }
  if (token && await tokenInUse(token)) token = null;
  if (!token) {
    token = crypto.randomUUID();
    try {
      sessionStorage.setItem(name, token);
    } catch {
      // as above
    }
  }
  if ("BroadcastChannel" in window) {
    const ch = new BroadcastChannel(LOCK_CHANNEL);
    ch.onmessage = (e) => {
      if (e.data?.ask === token) ch.postMessage({ held: token });
    };
  }
  return token;
}

// tokenInUse asks the browser's other pages whether one holds token; an
// answer comes within milliseconds, so silence for TOKEN_ASK_MS means no.
const LOCK_CHANNEL = "baton.designer.lock";
const TOKEN_ASK_MS = 150;
function tokenInUse(token) {
  if (!("BroadcastChannel" in window)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const ch = new BroadcastChannel(LOCK_CHANNEL);
    const done = (used) => {
      clearTimeout(timer);
      ch.close();
      resolve(used);
    };
    ch.onmessage = (e) => {
      if (e.data?.held === token) done(true);
    };
    const timer = setTimeout(() => done(false), TOKEN_ASK_MS);
    ch.postMessage({ ask: token });
  });
}

// sessionOrigin is the draft as it was when this editing session began:
// what "Discard my changes" goes back to. It lives in sessionStorage, so a
// reload in the same tab keeps the same starting point while a new tab
// starts afresh. It is kept while the page opens the version the session
// began on, or the draft that the session's first save opened (draftVersion);
// any other version means the session is over and this page starts one.
function sessionOrigin(key, opened) {
  const name = "baton.designer.origin." + key;
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(name) || "null");
  } catch {
    kept = null;
  }
  const same = kept && ((kept.version === opened.version && kept.status === opened.status) ||
    (kept.draftVersion === opened.version && opened.status === "draft"));
  const origin = same ? kept : { ...opened, draftVersion: opened.status === "draft" ? opened.version : 0 };
  const write = () => {
    try {
      sessionStorage.setItem(name, JSON.stringify(origin));
    } catch {
      // storage full or disabled: the starting point lasts as long as the page
    }
  };
  write();
  return {
    value: origin,
    write,
    clear() {
      try {
        sessionStorage.removeItem(name);
      } catch {
        // nothing to clear
      }
    },
  };
}

// canonical is a value as JSON with sorted keys and without the empty
// fields the server leaves out (null, "", [] and {}), so that a definition
// reads the same whether it came from the server or from the canvas.
function canonical(v) {
  const strip = (x) => {
    if (Array.isArray(x)) return x.map(strip);
    if (!x || typeof x !== "object") return x;
    const out = {};
    for (const k of Object.keys(x).sort()) {
      const c = strip(x[k]);
      if (c === null || c === undefined || c === "" || (Array.isArray(c) && !c.length) ||
        (typeof c === "object" && !Array.isArray(c) && !Object.keys(c).length)) continue;
      out[k] = c;
    }
    return out;
  };
  return JSON.stringify(strip(v));
}

// describeEdits says how definition `to` differs from `from`, step by step
// ("2 steps changed, 1 added"), or "" when they are the same. The version
// field is the server's bookkeeping, not an edit.
export function describeEdits(from, to) {
  const steps = (d) => new Map((d?.steps || []).map((st) => [st.id, canonical(st)]));
  const rest = (d) => {
    const { version: _v, steps: _s, ...others } = d || {};
    return canonical(others);
  };
  const a = steps(from);
  const b = steps(to);
  let changed = 0;
  let added = 0;
  let removed = 0;
  for (const [id, st] of b) {
    if (!a.has(id)) added++;
    else if (a.get(id) !== st) changed++;
  }
  for (const id of a.keys()) if (!b.has(id)) removed++;
  const parts = [];
  if (changed) parts.push(`${changed} step${changed === 1 ? "" : "s"} changed`);
  if (added) parts.push(parts.length ? `${added} added` : `${added} step${added === 1 ? "" : "s"} added`);
  if (removed) parts.push(parts.length ? `${removed} removed` : `${removed} step${removed === 1 ? "" : "s"} removed`);
  if (rest(from) !== rest(to)) parts.push("workflow settings changed");
  return parts.join(", ");
}

const statusWords = (s) => (s.charAt(0).toUpperCase() + s.slice(1)).replace("_", " ");

// describeValue is a preview's value as the panel shows it.
function describeValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  const text = JSON.stringify(v);
  return text.length > 300 ? text.slice(0, 300) + "…" : text;
}

// ---- the page ----------------------------------------------------------------

async function mount(page) {
  const key = page.dataset.key;
  const readOnly = page.dataset.readonly === "true";
  const state = {
    def: JSON.parse(page.dataset.definition),
    problems: JSON.parse(page.dataset.problems || "[]"),
    version: Number(page.dataset.version),
    status: page.dataset.status,
    updatedAt: page.dataset.updatedAt,
    dirty: false,
    saving: null,
    openStep: null,
    run: null, // {id, record, source, poll, final}
    conflict: false,
    autosave: autosavePreference(),
    savedDef: "", // the definition as the server has it (canonical JSON)
  };
  state.savedDef = canonical(state.def);
  const origin = sessionOrigin(key, {
    version: state.version, status: state.status, updatedAt: state.updatedAt,
    definition: structuredClone(state.def), openedAt: Date.now(),
  });
  let leaving = false; // the user chose to leave: no second question
  let validateTimer = 0;
  let saveTimer = 0;
  let validateSeq = 0;
  const memory = panelMemory(key);
  // The lock: this tab's id, and whether it holds the draft (null until
  // the server has answered). The id is kept for the tab's life
  // (sessionStorage), so a reload is the same holder: otherwise the new
  // page could find the draft still locked by the page it replaced, whose
  // release is still on its way, and refuse to save.
  // The id is known once the other pages have had their say (tabLockToken),
  // which the page does not wait for to show the draft.
  const lockToken = readOnly ? Promise.resolve("") : tabLockToken(key);
  const lock = { token: "", held: null, holder: "", timer: 0 };

  const { mountDesigner } = await import(page.dataset.designerJs);
  const designer = mountDesigner($("canvas-host"), {
    definition: state.def,
    problems: state.problems,
    readOnly,
    onChange: (def) => changed(def),
  });
  window.batonDesigner = designer; // for people debugging in the console, and the browser tests
  // showStep colours a step from its run record entry, and labels a
  // forEach step's edges with its item counts (output {items, succeeded, failed}).
  function showStep(st) {
    if (STEP_STATUSES.has(st.status)) designer.setRunStatus(st.id, st.status);
    const o = st.output;
    const isEach = state.def.steps.some((d) => d.id === st.id && d.type === "parallel");
    if (isEach && o && Array.isArray(o.items) && Number.isInteger(o.succeeded) && Number.isInteger(o.failed)) {
      designer.setRunItems(st.id, { succeeded: o.succeeded, failed: o.failed });
    }
  }
  // Every step in view on arrival, whatever the saved positions (after
  // the layout has sized the canvas).
  requestAnimationFrame(() => designer.fit());
  renderProblems();

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
  const unsavedMessage = () => (state.autosave ? "Unsaved changes" : "Unsaved changes — Save (Ctrl+S)");
  // sessionDraftOpened: the session began on a submitted version and its
  // first save opened a new draft, which discarding removes.
  const sessionDraftOpened = () => origin.value.status !== "draft" && state.status === "draft" && state.version !== origin.value.version;
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
      discard.hidden = !(edits || state.savedDef !== canonical(origin.value.definition) || sessionDraftOpened());
    }
    // With autosave off, unsaved changes make Save the button to press.
    const saveNow = $("save-now");
    if (saveNow) {
      const due = !state.autosave && state.dirty;
      saveNow.classList.toggle("secondary", !due);
      saveNow.classList.toggle("dz-save-due", due);
    }
  }
  renderSave();
  window.addEventListener("resize", () => renderSave());

  function changed(def) {
    state.def = def;
    state.dirty = true;
    if (!state.conflict) showSave("unsaved", unsavedMessage());
    else renderSave();
    clearTimeout(validateTimer);
    validateTimer = setTimeout(validate, VALIDATE_DELAY);
    clearTimeout(saveTimer);
    // Autosave off: the change stays in this page until Save.
    if (state.autosave) saveTimer = setTimeout(() => save(), SAVE_DELAY);
    refreshCode();
  }

  const autosaveSwitch = $("autosave");
  if (autosaveSwitch) {
    autosaveSwitch.checked = state.autosave;
    autosaveSwitch.addEventListener("change", () => {
      state.autosave = autosaveSwitch.checked;
      rememberAutosave(state.autosave);
      // Turning autosave on keeps what is pending, as it would have been.
      if (state.autosave && state.dirty && !state.conflict) save();
      else if (state.dirty && !state.conflict && save_.kind === "unsaved") showSave("unsaved", unsavedMessage());
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
    renderProblems();
    renderFieldErrors();
    return problems;
  }

  // save stores the draft when it compiles. It first checks that nobody
  // else saved the draft since this page last did (unless overwrite).
  async function save({ overwrite = false } = {}) {
    clearTimeout(saveTimer);
    if (readOnly || !state.dirty) return true;
    if (lock.held === false) {
      // Saved as soon as the lock comes back (takeLock), even with
      // autosave off: the user asked for it.
      state.saveWanted = true;
      showSave("locked", `Not saved: ${lock.holder} is editing this draft`);
      return false;
    }
    state.saveWanted = false;
    if (state.saving) return state.saving;
    state.saving = (async () => {
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
          if (latest && (latest.number > state.version ||
              (latest.number === state.version && Date.parse(latest.updatedAt) !== Date.parse(state.updatedAt)))) {
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
        state.version = res.body.number;
        state.status = res.body.status;
        state.updatedAt = res.body.updatedAt;
        state.savedDef = canonical(JSON.parse(sent));
        if (state.version !== origin.value.version && origin.value.draftVersion !== state.version) {
          origin.value.draftVersion = state.version; // the session's own new draft
          origin.write();
        }
        showVersion();
        hideConflict();
        if (sent === JSON.stringify(state.def)) {
          state.dirty = false;
          showSave("saved", "All changes saved"); // the bar shows the version
        }
        return true;
      } catch {
        showSave("error", "Not saved: the server cannot be reached; retrying on the next change");
        return false;
      } finally {
        state.saving = null;
      }
    })();
    return state.saving;
  }

  function showConflict(latest) {
    state.conflict = true;
    showSave("conflict", "Not saved: conflict");
    $("conflict-detail").textContent = latest.number > state.version
      ? `Version ${latest.number} now exists (${latest.status}).`
      : `${latest.author} or another editor saved v${latest.number} at ${new Date(latest.updatedAt).toLocaleTimeString()}.`;
    $("conflict").hidden = false;
  }
  function hideConflict() {
    state.conflict = false;
    $("conflict").hidden = true;
  }
  $("conflict-reload")?.addEventListener("click", () => {
    state.dirty = false;
    location.reload();
  });
  $("conflict-overwrite")?.addEventListener("click", async () => {
    const list = await request("GET", `/api/v1/templates/${encodeURIComponent(key)}/versions`);
    if (list.status === 200 && list.body.versions[0]) state.version = list.body.versions[0].number;
    save({ overwrite: true });
  });
  $("save-now")?.addEventListener("click", () => {
    state.dirty = true;
    save();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      if (!readOnly) save();
    }
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.dirty && !readOnly && !leaving) e.preventDefault();
  });

  // showVersion puts the version the page now edits in the bar: a save
  // after a submission opens a new one, a discard may go back.
  function showVersion() {
    const label = $("designer-version");
    if (label) label.textContent = "v" + state.version;
    const badge = document.querySelector(".dz-title .badge");
    if (badge) {
      badge.className = "badge status-" + state.status;
      badge.dataset.status = state.status;
      badge.textContent = statusWords(state.status);
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
    if (!a || readOnly || !state.dirty || leaving || e.defaultPrevented || e.button !== 0 ||
      e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target === "_blank" || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || (url.pathname === location.pathname && url.search === location.search && url.hash)) return;
    e.preventDefault();
    const leave = () => {
      leaving = true;
      location.assign(url.href);
    };
    if (state.autosave && !state.conflict && (await save())) return leave();
    $("leave-detail").textContent = state.autosave
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
    if (sessionDraftOpened()) detail = `Draft v${state.version} is deleted and v${o.version} (${statusWords(o.status).toLowerCase()}) is the latest version again.`;
    else if (o.status === "draft") detail = `Draft v${o.version} goes back to how it was when you opened it${at}, and is saved that way.`;
    else detail = `The canvas goes back to v${o.version} as you opened it${at}; nothing was saved.`;
    $("discard-detail").textContent = detail + (edits ? ` Lost: ${edits}.` : "");
    if ((await ask($("discard-dialog"))) !== "discard") return;
    await discard();
  });

  async function discard() {
    const o = origin.value;
    clearTimeout(saveTimer);
    if (state.saving) await state.saving;
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
      if (latest.number !== state.version || Date.parse(latest.updatedAt) !== Date.parse(state.updatedAt)) {
        showConflict(latest);
        return;
      }
      // The lock token proves this tab is the one editing the draft: the
      // server refuses a discard while another tab holds the lock.
      const res = await request("DELETE", `/api/v1/templates/${encodeURIComponent(key)}/versions/${state.version}`, {
        headers: { "X-Baton-Draft-Lock": lock.token },
      }).catch(() => null);
      if (!res || res.status !== 204) {
        showSave("error", "Not discarded: " + (res ? errorProblems(res).map((p) => p.message).join("; ") : "the server cannot be reached"));
        return;
      }
    }
    designer.setDefinition(o.definition); // one undo step: Ctrl+Z brings the edits back
    state.def = designer.getDefinition();
    afterOutsideEdit();
    validate();
    if (o.status !== "draft") {
      // Back on the submitted version: nothing to save until the next change.
      state.version = o.version;
      state.status = o.status;
      state.updatedAt = o.updatedAt;
      state.savedDef = canonical(o.definition);
      state.dirty = false;
      o.draftVersion = 0;
      origin.write();
      showVersion();
      showSave("saved", `Changes discarded — v${o.version} is ${statusWords(o.status).toLowerCase()}; your first change opens a new draft`);
      return;
    }
    state.dirty = true;
    await save(); // the normal path: conflict and lock checks apply
  }

  // afterOutsideEdit brings the side panel and code view in line with a
  // definition set from outside the canvas's own gestures.
  function afterOutsideEdit() {
    if (state.openStep && !state.def.steps.some((st) => st.id === state.openStep)) closePanel();
    else if (state.openStep) openPanel(state.openStep);
    refreshCode(true);
    renderSave();
  }

  // ---- the draft's lock ----
  // One tab edits a draft at a time. The lock is a lease the server lets
  // expire unless this tab renews it, so a tab closed without a word frees
  // the draft by itself; a tab closed normally frees it at once.
  async function takeLock() {
    clearTimeout(lock.timer);
    lock.token ||= await lockToken;
    let res;
    try {
      res = await request("POST", `/templates/${encodeURIComponent(key)}/design/lock`, { json: { token: lock.token } });
    } catch {
      lock.timer = setTimeout(takeLock, LOCK_RETRY);
      return;
    }
    if (res.status !== 200) {
      lock.timer = setTimeout(takeLock, LOCK_RETRY);
      return;
    }
    const was = lock.held;
    lock.held = res.body.held;
    lock.holder = res.body.holder;
    const box = $("lock-state");
    if (lock.held) {
      box.hidden = true;
      box.replaceChildren();
      if (was === false) {
        showSave(state.dirty ? "unsaved" : "saved", state.dirty ? unsavedMessage() : "All changes saved");
        if (state.dirty && (state.autosave || state.saveWanted)) save();
      }
    } else {
      box.hidden = false;
      const me = document.querySelector("[data-testid=user-name]")?.textContent.trim();
      box.replaceChildren(el("strong", {}, lock.holder === me ? `You (${me}) are editing this draft in another tab.` : `${lock.holder} is editing this draft.`),
        " Changes here are not saved until that tab closes; its lock ends within 25 s of it closing.");
    }
    // Renew our lease in time; while someone else holds it, ask more
    // often so the draft opens soon after their tab closes.
    lock.timer = setTimeout(takeLock, lock.held ? res.body.renewMs || LOCK_RETRY : 3000);
  }
  if (!readOnly) {
    takeLock();
    window.addEventListener("pagehide", () => {
      clearTimeout(lock.timer);
      if (!lock.held) return;
      // keepalive lets the request outlive the page, with its CSRF header.
      fetch(`/templates/${encodeURIComponent(key)}/design/unlock`, {
        method: "POST", keepalive: true, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ token: lock.token }),
      }).catch(() => {});
    });
  }

  // ---- problems ----
  function renderProblems() {
    const list = $("problem-list");
    const ps = state.problems;
    $("problem-count").textContent = String(ps.length);
    $("problem-count").classList.toggle("badge-revoked", ps.length > 0);
    $("no-problems").hidden = ps.length > 0;
    list.replaceChildren(...ps.map((p, i) => {
      const idx = stepIndexOf(p.path);
      const step = idx >= 0 ? state.def.steps[idx] : null;
      const label = step ? `${step.id}${p.path.slice(`steps[${idx}]`.length)}` : p.path;
      // The workflow's own fields (name, inputs) are in the workflow panel.
      const workflow = !step && /^(name|description|inputs)\b/.test(p.path || "");
      const button = el("button", { type: "button", class: "dz-problem", "data-testid": "side-problem-" + i, "data-step": step ? step.id : null, "data-workflow": workflow ? "true" : null },
        label ? el("code", {}, label) : null, " ", p.message);
      if (!step && !workflow) button.disabled = true;
      return el("li", {}, button);
    }));
  }
  $("problem-list").addEventListener("click", (e) => {
    if (e.target.closest("button[data-workflow]")) {
      closePanel();
      return;
    }
    const b = e.target.closest("button[data-step]");
    if (!b) return;
    designer.select(b.dataset.step);
    // The step's panel already open is not loaded again: the reload would
    // carry the draft as it was when it was asked for, and put back what
    // the user types meanwhile (and its old error). Its first field with
    // an error takes the focus instead.
    if (state.openStep === b.dataset.step && $("step-form")?.dataset.step === b.dataset.step) {
      renderFieldErrors();
      $("step-form").querySelector("[aria-invalid=true]")?.focus();
      return;
    }
    openPanel(b.dataset.step);
  });

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
      // (previewInErrors): the compile must not say it a second time.
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

  // ---- side panel ----
  async function openPanel(id) {
    // The previous step's run result must not stand in for this one's
    // while this one loads.
    if (state.openStep !== id) $("run-panel").querySelector("#run-step")?.remove();
    state.openStep = id;
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/panel?step=${encodeURIComponent(id)}`,
      { json: state.def, accept: "text/html" });
    if (state.openStep !== id) return; // another step was opened meanwhile
    if (res.status !== 200) {
      $("step-panel").replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, `The step's fields could not be loaded (${res.status}).`));
      return;
    }
    $("step-panel").innerHTML = res.body; // server-rendered, escaped by templ
    memory.set("openStep", id);
    renderFieldErrors();
    for (const out of $("step-panel").querySelectorAll("output[data-preview-for]")) preview(out);
    showStepRun(id);
  }
  function closePanel() {
    state.openStep = null;
    memory.set("openStep", null);
    $("run-panel").hidden = !state.run;
    if (state.run) renderRunSummary();
    return openWorkflow();
  }

  // ---- workflow panel ----
  // With no step open, the side panel edits the workflow itself: its
  // name, description and the inputs a run takes.
  let workflowSeq = 0;
  async function openWorkflow() {
    const seq = ++workflowSeq;
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/workflow`, { json: state.def, accept: "text/html" });
    if (seq !== workflowSeq || state.openStep) return; // a step was opened meanwhile
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

  // inputDefault reads a default as the input's type wants it.
  function inputDefault(type, raw) {
    const t = raw.trim();
    if (!t) return { unset: true };
    switch (type) {
      case "number": {
        const n = Number(t);
        return Number.isFinite(n) ? { value: n } : { error: "Use a number, such as 10 or 2.5" };
      }
      case "integer":
        return /^-?\d+$/.test(t) ? { value: Number(t) } : { error: "Use a whole number, such as 3" };
      case "boolean":
        return t === "true" || t === "false" ? { value: t === "true" } : { error: "Use true or false" };
      case "object":
      case "array":
        try {
          const v = JSON.parse(t);
          if (type === "array" ? Array.isArray(v) : v && typeof v === "object" && !Array.isArray(v)) return { value: v };
        } catch { /* said below */ }
        return { error: type === "array" ? 'Use a JSON list, such as ["a", "b"]' : 'Use a JSON object, such as {"a": 1}' };
      default:
        return { value: raw };
    }
  }
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
  function applyWorkflow(next) {
    designer.setDefinition(next);
    changed(designer.getDefinition());
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
    // A renamed input keeps its row: the next problems map by row.
    for (const row of form.querySelectorAll("[data-input-row]")) {
      const n = form.querySelector(`[name="inputs[${row.dataset.inputRow}].name"]`)?.value.trim();
      if (n) row.dataset.inputName = n;
    }
    if (errors.size) return; // the draft keeps its last good value until fixed
    applyWorkflow(next);
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
    applyWorkflow(next);
    await openWorkflow();
    const f = $("workflow-form");
    if (!f) return;
    const row = focusName && f.querySelector(`[data-input-name="${CSS.escape(focusName)}"]`);
    (row ? row.querySelector("[name$='.name']") : f.querySelector("[data-add-input]"))?.focus();
    if (row) row.querySelector("[name$='.name']").select();
  });
  designer.on("open", (id) => openPanel(id));
  designer.on("close", () => closePanel());
  designer.on("change", () => {
    // A deleted step's panel must go.
    if (state.openStep && !state.def.steps.some((s) => s.id === state.openStep)) closePanel();
    // Undo, redo and code edits change fields behind the open panel:
    // redraw it, unless the user is typing in it.
    else if (state.openStep && !$("side-panel").contains(document.activeElement)) openPanel(state.openStep);
    else if (!state.openStep && $("workflow-form") && !$("side-panel").contains(document.activeElement)) openWorkflow();
  });
  // ---- live expressions ----
  // sampleData is what a preview evaluates against: the last run's inputs
  // and step results when there is a run, else the test-run form's inputs
  // (or the declared defaults).
  function sampleData() {
    const r = state.run?.record;
    if (r) {
      const steps = {};
      for (const st of r.steps || []) steps[st.id] = { status: st.status, output: st.output ?? null, error: st.error ?? null, attempts: st.attempts || 0 };
      return { inputs: r.inputs || {}, steps, from: "the last run" };
    }
    const inputs = {};
    for (const [name, d] of Object.entries(state.def.inputs || {})) if (d.default !== undefined) inputs[name] = d.default;
    for (const input of $("test-inputs")?.querySelectorAll("[name]") || []) {
      const v = fieldValue(input);
      if (!v.error && !v.unset) inputs[input.name.slice("inputs.".length)] = v.value;
    }
    return { inputs, steps: {}, from: "sample inputs" };
  }
  const previewTimers = new WeakMap();
  const previewSeq = new WeakMap();
  // A live preview that is a compile error is the field's error: it moves
  // into the field's error list (as its first item), so that the problem
  // is said once, where every field's errors are; a value moves back under
  // the field.
  function previewInErrors(out) {
    const list = $("step-form")?.querySelector(`[data-error-for="${CSS.escape(out.dataset.previewFor)}"]`);
    if (!list || out.parentElement?.parentElement === list) return;
    const li = el("li", { class: "dz-preview-error" });
    list.prepend(li);
    li.append(out);
  }
  function previewBelowField(out, input) {
    const li = out.closest("li.dz-preview-error");
    if (!li) return;
    input.after(out);
    li.remove();
  }
  async function preview(out) {
    const input = $("step-form")?.querySelector(`[name="${CSS.escape(out.dataset.previewFor)}"]`);
    if (!input) return;
    const source = input.value;
    if (!source.trim()) {
      out.replaceChildren();
      delete out.dataset.state;
      previewBelowField(out, input);
      return;
    }
    const step = state.def.steps.find((s) => s.id === $("step-form").dataset.step);
    const item = out.dataset.previewFor.startsWith("action.step.") ? step?.action?.as || "item" : "";
    const data = sampleData();
    const seq = (previewSeq.get(out) || 0) + 1;
    previewSeq.set(out, seq);
    let res;
    try {
      res = await request("POST", `/templates/${encodeURIComponent(key)}/design/preview`,
        { json: { definition: state.def, kind: out.dataset.preview, source, item, inputs: data.inputs, steps: data.steps } });
    } catch {
      return;
    }
    if (previewSeq.get(out) !== seq || !out.isConnected) return; // a newer key press won
    if (res.status !== 200) {
      out.dataset.state = "error";
      out.textContent = errorProblems(res).map((p) => p.message).join("; ");
      return;
    }
    const b = res.body;
    if (b.problems.length) {
      out.dataset.state = "error";
      out.textContent = b.problems.join("; ");
      previewInErrors(out);
      renderFieldErrors(); // the error list leaves out what this now says
    } else if (b.evalError) {
      out.dataset.state = "eval-error";
      out.textContent = `With ${data.from}: ${b.evalError}`;
      previewBelowField(out, input);
    } else {
      out.dataset.state = "value";
      out.textContent = `= ${describeValue(b.value)}  (with ${data.from})`;
      previewBelowField(out, input);
    }
  }
  $("side-panel").addEventListener("input", (e) => {
    const input = e.target.closest("#step-form [name]");
    const out = input && $("step-form").querySelector(`output[data-preview-for="${CSS.escape(input.name)}"]`);
    if (!out) return;
    clearTimeout(previewTimers.get(out));
    previewTimers.set(out, setTimeout(() => preview(out), PREVIEW_DELAY));
  });

  $("side-panel").addEventListener("click", (e) => {
    if (e.target.closest("[data-add-case]") && !readOnly) {
      const id = $("step-form").dataset.step;
      const next = structuredClone(state.def);
      const step = next.steps.find((s) => s.id === id);
      if (!step || !Array.isArray(step.action?.cases)) return;
      step.action.cases.push({ when: "false", next: "" });
      designer.setDefinition(next);
      changed(designer.getDefinition());
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
    designer.setDefinition(next);
    changed(designer.getDefinition());
    // A nested action's kind decides which fields it has: redraw them.
    if (input.name.endsWith(".kind")) openPanel(step.id);
  });

  // ---- code view ----
  const codeText = $("code-text");
  const codeFormat = () => document.querySelector("input[name=code-format]:checked").value;
  function refreshCode(force = false) {
    if ($("code-view").hidden || (!force && document.activeElement === codeText)) return;
    codeText.value = codeFormat() === "yaml" ? toYAML(state.def) + "\n" : JSON.stringify(state.def, null, 2);
    $("code-error").replaceChildren();
  }
  $("toggle-code").addEventListener("click", () => {
    const show = $("code-view").hidden;
    $("code-view").hidden = !show;
    $("toggle-code").setAttribute("aria-pressed", String(show));
    memory.set("code", show);
    if (show) {
      refreshCode(true);
      codeText.focus();
    }
  });
  for (const r of document.querySelectorAll("input[name=code-format]")) r.addEventListener("change", () => refreshCode(true));
  function codeErrors(ps) {
    $("code-error").replaceChildren(el("div", { class: "notice notice-error", role: "alert", "data-testid": "code-error-message" },
      el("strong", {}, "Not applied: "), ...ps.map((p) => el("div", {}, p.path ? el("code", {}, p.path) : null, p.path ? ": " : "", p.message))));
  }
  $("code-apply")?.addEventListener("click", async () => {
    let next;
    if (codeFormat() === "json") {
      try {
        next = JSON.parse(codeText.value);
      } catch (e) {
        return codeErrors([{ path: "", message: "the JSON does not parse: " + e.message }]);
      }
    } else {
      const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/parse`, { text: codeText.value, contentType: "application/yaml" });
      if (res.status !== 200) return codeErrors(errorProblems(res));
      next = res.body;
    }
    if (!next || typeof next !== "object" || !Array.isArray(next.steps)) {
      return codeErrors([{ path: "steps", message: "a definition needs a list of steps" }]);
    }
    try {
      designer.setDefinition(next);
    } catch (e) {
      return codeErrors([{ path: "", message: e.message }]);
    }
    changed(designer.getDefinition());
    refreshCode(true);
  });

  // ---- submit for review ----
  $("submit-review")?.addEventListener("click", async () => {
    if (state.status !== "draft" && !state.dirty) {
      // Submitting again would copy the same definition into a new draft.
      showSave("error", `v${state.version} is ${state.status.replace("_", " ")} already; change something to open a new draft`);
      return;
    }
    const ok = await save();
    if (!ok) return;
    const res = await request("POST", `/api/v1/templates/${encodeURIComponent(key)}/versions/${state.version}/submit`, { json: {} });
    if (res.status !== 200) {
      showSave("error", "Not submitted: " + errorProblems(res).map((p) => p.message).join("; "));
      return;
    }
    origin.clear(); // submitted: the editing session is over
    leaving = true;
    location.assign(`/templates/${encodeURIComponent(key)}`);
  });

  // ---- test run ----
  $("open-test-run")?.addEventListener("click", async () => {
    $("test-run").hidden = false;
    // A run needs a saved version: with autosave off, say that starting
    // one saves the local changes first.
    const savesFirst = !state.autosave && state.dirty;
    $("test-run-saves").hidden = !savesFirst;
    $("test-run-form").querySelector("button[type=submit]").textContent = savesFirst ? "Save and start test run" : "Start test run";
    const res = await request("POST", `/templates/${encodeURIComponent(key)}/design/inputs`, { json: state.def, accept: "text/html" });
    $("test-inputs").innerHTML = res.status === 200 ? res.body : "";
    ($("test-inputs").querySelector("[name]") || $("test-run-form").querySelector("button[type=submit]")).focus();
  });
  $("test-run-close")?.addEventListener("click", () => {
    $("test-run").hidden = true;
  });
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
    if (!(await save())) {
      errorBox.replaceChildren(el("p", { class: "notice notice-error", role: "alert" }, "Save the draft first: " + saveState.textContent));
      return;
    }
    const res = await request("POST", `/api/v1/templates/${encodeURIComponent(key)}/runs`, { json: { version: state.version, inputs } });
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
    startWatching(res.body);
  });

  function stopWatching() {
    if (!state.run) return;
    state.run.source?.close();
    clearInterval(state.run.poll);
  }

  // startWatching colours the nodes from the run's events: SSE first (the
  // browser resumes with Last-Event-ID after a drop), polling the run
  // record when the stream cannot be kept open.
  function startWatching(run) {
    stopWatching();
    for (const s of state.def.steps) designer.setRunStatus(s.id, null);
    state.run = { id: run.id, record: run, source: null, poll: 0, final: false };
    memory.set("lastRun", run.id);
    renderRunSummary();
    const source = new EventSource(`/api/v1/runs/${encodeURIComponent(run.id)}/events`);
    state.run.source = source;
    const current = state.run;
    const onEvent = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (ev.stepId && STEP_STATUSES.has(ev.status)) designer.setRunStatus(ev.stepId, ev.status);
      // A forEach step's elements so far (not stored: the record's output
      // gives the final counts when the run ends).
      const p = ev.type === "step.progress" ? ev.progress : null;
      if (p && Number.isInteger(p.succeeded) && Number.isInteger(p.failed)) designer.setRunItems(ev.stepId, { succeeded: p.succeeded, failed: p.failed });
      if (ev.type.startsWith("run.")) {
        current.record = { ...current.record, status: ev.type.slice(4) };
        if (FINAL_RUN.has(current.record.status)) finish(current);
        renderRunSummary();
      }
    };
    for (const t of RUN_EVENTS) source.addEventListener(t, onEvent);
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
    if (state.openStep) showStepRun(state.openStep);
  }

  function renderRunSummary() {
    const box = $("run-panel");
    if (!state.run) return;
    const r = state.run.record;
    box.hidden = false;
    const head = el("div", { class: "dz-run-head" },
      el("strong", {}, "Test run "), el("span", { class: "badge run-" + r.status, "data-testid": "test-run-status", "data-status": r.status, "data-settled": state.run.settled === true }, r.status.replace("_", " ")),
      " ", el("a", { href: `/runs/${encodeURIComponent(r.id)}` }, "Open the run page"));
    const hint = el("p", { class: "muted" }, state.run.final ? "Click a step to see its output or error." : "Watching live…");
    const kids = [head, hint];
    if (r.error) kids.push(el("p", { class: "notice notice-error" }, r.error.message));
    const stepBox = box.querySelector("#run-step");
    box.replaceChildren(...kids, ...(stepBox ? [stepBox] : []));
  }

  // restore brings back what the page showed before a reload: the last
  // test run's colours (watching it live if it is still going), the code
  // view and the open step's panel.
  async function restore() {
    const runId = memory.get("lastRun");
    if (runId) {
      const res = await request("GET", `/api/v1/runs/${encodeURIComponent(runId)}`).catch(() => null);
      if (res && res.status === 200 && res.body.template === key) {
        if (FINAL_RUN.has(res.body.status)) {
          state.run = { id: res.body.id, record: res.body, source: null, poll: 0, final: true };
          for (const s of res.body.steps || []) showStep(s);
          renderRunSummary();
        } else {
          startWatching(res.body);
        }
      } else if (res && res.status === 404) {
        memory.set("lastRun", null);
      }
    }
    if (memory.get("code") && $("code-view").hidden) $("toggle-code").click();
    const open = memory.get("openStep");
    if (open && state.def.steps.some((s) => s.id === open)) {
      designer.select(open);
      await openPanel(open);
    } else {
      await openWorkflow();
    }
  }
  restore().catch(() => {});

  async function showStepRun(id) {
    if (!state.run) return;
    let r = state.run.record;
    if (!state.run.final || !r.steps) {
      const res = await request("GET", `/api/v1/runs/${encodeURIComponent(state.run.id)}`).catch(() => null);
      if (res && res.status === 200) r = state.run.record = res.body;
    }
    // Another step was opened while the record loaded: its call shows it.
    if (state.openStep !== id) return;
    renderRunSummary();
    const step = (r.steps || []).find((s) => s.id === id);
    const box = el("div", { id: "run-step", class: "dz-run-step", "data-testid": "run-step" },
      el("h3", {}, `${id} in this run`));
    if (!step) {
      box.append(el("p", { class: "muted" }, "This step has not run."));
    } else {
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
        el("pre", { class: "mono dz-output", "data-testid": "run-step-input" }, JSON.stringify(stepInput(state.def, r, id), null, 2)));
      if (step.output !== null && step.output !== undefined) {
        box.append(el("h4", {}, "Output"),
          el("pre", { class: "mono dz-output", "data-testid": "run-step-output" }, JSON.stringify(step.output, null, 2)));
      }
    }
    $("run-panel").querySelector("#run-step")?.remove();
    $("run-panel").append(box);
    $("run-panel").hidden = false;
    // A failure is what the user came for: bring it into view above the
    // step's fields rather than leave it below them (ui-anchor #10).
    if (step?.error) box.scrollIntoView({ block: "start" });
  }
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
    const next = [s.onSuccess, s.onFailure, a.default, ...(a.cases || []).map((c) => c.next)];
    if (next.includes(id)) ups.add(s.id);
  }
  const steps = {};
  for (const st of record?.steps || []) {
    if (ups.has(st.id)) steps[st.id] = st.error ? { status: st.status, error: st.error } : { status: st.status, output: st.output ?? null };
  }
  return { inputs: record?.inputs || {}, steps };
}

export function initDesignerPage() {
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
