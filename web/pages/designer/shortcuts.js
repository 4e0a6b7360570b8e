// The designer page's own keys, which work outside the canvas too (the
// canvas handles them itself when it has the keyboard): ? shows the
// keyboard help, / searches the palette, Alt+A (in a field too) adds a step
// after the open one (else the last), Ctrl+Enter starts a test run. Letter
// keys alone work only on the canvas (WCAG 2.1.4: a stray "a" from speech
// input elsewhere does nothing). The whole keyboard map is web/designer/keys.mjs.

// typing says whether a key goes into a text field (where ? and / are text).
const typing = (t) => !!t.closest?.("textarea, select, [contenteditable=''], [contenteditable=true], input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]):not([type=reset])");

// createShortcuts listens for the page's keys; openOrStart is the test
// run's Ctrl+Enter (test-run.js).
export function createShortcuts(ctx, { openOrStart }) {
  const { designer, readOnly } = ctx;
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || document.querySelector("dialog[open]")) return;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key === "Enter") {
      if (readOnly) return;
      e.preventDefault();
      openOrStart();
      return;
    }
    // Alt+A adds a step after the open one, from its fields too, unless
    // there it types a letter (⌥A is "å" on a Mac).
    if (e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.code === "KeyA" && (!typing(e.target) || e.key.toLowerCase() === "a")) {
      if (designer.addAfter()) e.preventDefault();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key === "?") {
      e.preventDefault();
      designer.showKeys();
    } else if (e.key === "/" && designer.focusSearch()) {
      e.preventDefault();
    }
  });
}
