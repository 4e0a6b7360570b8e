// The draft's lock: one tab edits a draft at a time. The lock is a lease
// the server lets expire unless this tab renews it, so a tab closed without
// a word frees the draft by itself; a tab closed normally frees it at once.

import { $, el } from "./dom.js";
import { csrfToken, request } from "./server.js";

const LOCK_RETRY = 5000;

// createDraftLock starts finding this tab's lock id at once (the page does
// not wait for it to show the draft); start() then takes the lock and keeps
// it. onRegained is called when the lock comes back after another tab held
// it. token, held (null until the server has answered) and holder are read
// by the draft's saving.
export function createDraftLock(key, readOnly, { onRegained }) {
  // The id is kept for the tab's life (sessionStorage), so a reload is the
  // same holder: otherwise the new page could find the draft still locked
  // by the page it replaced, whose release is still on its way, and refuse
  // to save.
  const lockToken = readOnly ? Promise.resolve("") : tabLockToken(key);
  const lock = { token: "", held: null, holder: "", timer: 0 };

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
      if (was === false) onRegained();
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

  lock.start = () => {
    if (readOnly) return;
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
  };
  return lock;
}

// tabLockToken is this tab's draft-lock id for template key, the same
// across reloads of the tab and new in every other tab. A tab the browser
// duplicated starts with a copy of its original's sessionStorage, and so
// with its id: each page holds a Web Lock named after its id for as long
// as it lives, so a copy finds the name taken and takes a new id. (A
// reload is not a copy: the old page, and its lock, are gone before the
// new page asks.)
async function tabLockToken(key) {
  const name = "baton.designer.lock." + key;
  let token = null;
  try {
    token = sessionStorage.getItem(name);
  } catch {
    // storage refused: one id per page
  }
  if (token && !(await holdToken(token))) token = null;
  if (!token) {
    token = crypto.randomUUID();
    await holdToken(token);
    try {
      sessionStorage.setItem(name, token);
    } catch {
      // as above
    }
  }
  return token;
}

// holdToken takes the Web Lock named after token, if no other page holds
// it, and keeps it until this page goes away; it reports whether it got
// it. Web Locks need a secure context (https, or localhost): elsewhere
// every id counts as free, and a duplicated tab shares its original's id.
function holdToken(token) {
  if (!navigator.locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request("baton.designer.tab." + token, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      // Held for the page's life: the promise never settles.
      return lock === null ? undefined : new Promise(() => {});
    });
  });
}
