// Baton's small page script. Everything interactive is htmx; this file only
// adds what htmx does not: copying a freshly created token, and showing an
// error when a request fails without a response to swap (network down).

import "./pages/runs.js";
import "./pages/approvals.js";
import "./pages/insight.js";
import "./pages/dashboard.js";

import "./pages/designer.js";

const flash = () => document.getElementById("flash");

function showFlash(message) {
  const el = flash();
  if (!el) return;
  const p = document.createElement("p");
  p.className = "notice notice-error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  el.replaceChildren(p);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    // Clipboard access needs a secure context; selecting the text lets the
    // user copy it by hand instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
});

document.addEventListener("htmx:sendError", () => {
  showFlash("The server could not be reached. Check your connection and try again.");
});

document.addEventListener("htmx:beforeRequest", (event) => {
  // Background refreshes (live lists, polling) keep the last error visible.
  if (event.target.hasAttribute?.("data-keep-flash")) return;
  const el = flash();
  if (el) el.replaceChildren();
});
