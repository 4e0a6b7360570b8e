// The editing session: how the draft was when this session began (what
// "Discard my changes" goes back to), how the draft differs from that, and
// the Autosave switch as this browser last left it.

const AUTOSAVE_KEY = "baton.designer.autosave";

// autosavePreference is the Autosave switch as this browser last left it:
// on unless the user turned it off.
export function autosavePreference() {
  try {
    return localStorage.getItem(AUTOSAVE_KEY) !== "off";
  } catch {
    return true;
  }
}

export function rememberAutosave(on) {
  try {
    localStorage.setItem(AUTOSAVE_KEY, on ? "on" : "off");
  } catch {
    // storage disabled: the switch still works for this page
  }
}

// sessionOrigin is the draft as it was when this editing session began:
// what "Discard my changes" goes back to. It lives in sessionStorage, so a
// reload in the same tab keeps the same starting point while a new tab
// starts afresh. It is kept while the page opens the version the session
// began on, or the draft that the session's first save opened (draftVersion);
// any other version means the session is over and this page starts one.
export function sessionOrigin(key, opened) {
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
export function canonical(v) {
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
