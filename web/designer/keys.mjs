// The designer's keyboard map, in one list: the help dialog (`?`, or the
// "Keyboard shortcuts" button in the canvas toolbar) shows it, and
// docs/accessibility.md carries the same table (keymapMarkdown), which a
// test compares, so the two cannot drift apart. The keys themselves are
// handled where their actions live (index.js for the canvas,
// web/pages/designer/ for the page); this module only says what they are.
//
// No DOM at import time: node imports it to check the docs.

/** KEYMAP lists every designer key: keys, where it works, what it does. */
export const KEYMAP = [
  { keys: ["?"], on: "the designer, outside a text field", does: "shows this list of shortcuts; Escape closes it and puts the keyboard back where it was" },
  { keys: ["Tab", "Shift+Tab"], on: "anywhere", does: "moves between the toolbar, the palette, the canvas, its steps (in the draft's order) and the side panel" },
  { keys: ["/"], on: "the designer, outside a text field", does: "searches the palette (its text selected, so typing replaces it)" },
  { keys: ["a"], on: "a step, or the canvas", does: "adds a step after it: the palette search opens for that step (with nothing selected, for the draft's last step), “Adding after …” above it; type a kind, Enter adds it connected" },
  { keys: ["Alt+A"], on: "the designer, a step's fields included", does: "the same from anywhere: after the step with the keyboard, else the selected or open one, else the draft's last (in a field where ⌥A types “å”, as on a Mac: Escape, then a)" },
  { keys: ["Enter"], on: "the palette search", does: "adds the first match after that step, or after the selected one (on its first free port: a condition's true, then false) and puts the keyboard on the new step, whose panel opens; a new condition's straight into its expression" },
  { keys: ["Shift+Enter"], on: "the palette search", does: "adds it the same way but stays in the search, for the same step: Enter then adds another after it (a condition's other branch)" },
  { keys: ["Enter"], on: "a palette item", does: "adds that step the same way" },
  { keys: ["Escape"], on: "the palette search", does: "clears the search, then goes back to the canvas (to the step it adds after)" },
  { keys: ["Enter"], on: "a step", does: "opens its side panel; on a step already open, moves the keyboard into its first field" },
  { keys: ["F2"], on: "a step", does: "renames it: opens its panel with the keyboard on its Name" },
  { keys: ["Escape"], on: "a step's fields", does: "goes back to the step on the canvas" },
  { keys: ["c"], on: "a step", does: "starts a connection from its first output port (c again: the next port, e.g. true, false, a case); then Enter on another step connects them; Escape cancels" },
  { keys: ["d"], on: "a step", does: "picks its next connection (outgoing first, then incoming); Delete removes it" },
  { keys: ["Alt+Arrow keys"], on: "a step", does: "goes to the nearest step that way (to reach a step by where it is, not by the draft's order)" },
  { keys: ["Arrow keys"], on: "selected steps", does: "move them 10 px (with Shift 50 px); with nothing selected, pan the canvas" },
  { keys: ["Delete", "Backspace"], on: "the selection", does: "deletes the selected steps, or the selected connection" },
  { keys: ["Ctrl+A"], on: "the canvas", does: "selects every step" },
  { keys: ["Ctrl+Z"], on: "the canvas", does: "undoes the last change (it says which)" },
  { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], on: "the canvas", does: "redoes it" },
  { keys: ["Shift+Alt+T"], on: "the canvas", does: "lays the steps out left to right" },
  { keys: ["1", "0", "+", "-"], on: "the canvas", does: "fit to screen, 100 %, zoom in, zoom out" },
  { keys: ["Escape"], on: "the canvas", does: "cancels a connection or a drag, closes a menu, else clears the selection and shows the workflow's panel" },
  { keys: ["Shift+F10", "Context menu"], on: "a step", does: "the menu of canvas actions with their shortcuts" },
  { keys: ["Ctrl+S"], on: "the designer", does: "saves the draft" },
  { keys: ["Ctrl+Enter"], on: "the designer", does: "starts a test run (saving the draft first); a workflow that takes inputs gets the test-run form first, with the keyboard on it, and Ctrl+Enter again starts the run" },
];

/** keymapMarkdown is the keyboard map as the Markdown table in docs/accessibility.md. */
export function keymapMarkdown() {
  const cell = (s) => s.replaceAll("|", "\\|");
  const keys = (ks) => ks.map((k) => "`" + (k === "`" ? "``" : k) + "`").join(" / ");
  return ["| key | on | does |", "|---|---|---|",
    ...KEYMAP.map((r) => `| ${cell(keys(r.keys))} | ${cell(r.on)} | ${cell(r.does)} |`)].join("\n");
}

let dialogs = 0;

/**
 * createKeysHelp builds the help dialog and the toolbar button that opens
 * it, with el (index.js's element builder). The dialog is a native modal
 * <dialog> (the rest of the page is inert while it is open), labelled by
 * its heading; Tab stays inside it, Escape or Close shuts it and the
 * keyboard goes back to where it was (fallback() when that is gone).
 */
export function createKeysHelp(el, fallback) {
  const id = "bd-keys-title-" + ++dialogs;
  const button = el("button", { type: "button", class: "bd-tool bd-keys-open", "data-testid": "tool-keys", "aria-haspopup": "dialog", title: "Keyboard shortcuts (?)" },
    // On a narrow screen only the "?" shows; the name stays the words.
    el("span", { class: "bd-keys-short", "aria-hidden": "true" }, "?"), el("span", { class: "bd-keys-long" }, "Keyboard shortcuts"));
  const close = el("button", { type: "button", class: "bd-tool", "data-testid": "keys-close" }, "Close");
  const rows = KEYMAP.map((r) => el("tr", {},
    el("th", { scope: "row" }, ...r.keys.flatMap((k, i) => [i ? " or " : null, el("kbd", {}, k)]).filter(Boolean)),
    el("td", {}, r.on),
    el("td", {}, r.does)));
  const table = el("table", { class: "bd-keys-table", "data-testid": "keys-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Key"), el("th", { scope: "col" }, "Where"), el("th", { scope: "col" }, "Does"))),
    el("tbody", {}, ...rows));
  // The list scrolls on a small screen: focusable, so the keyboard can scroll it.
  const list = el("div", { class: "bd-keys-list", tabindex: 0, role: "region", "aria-label": "Shortcut list" }, table);
  // The box fills the dialog, so a click on the dialog itself is on its backdrop.
  const dialog = el("dialog", { class: "bd-keys", "data-testid": "keys-help", role: "dialog", "aria-modal": "true", "aria-labelledby": id },
    el("div", { class: "bd-keys-box" },
      el("div", { class: "bd-keys-head" }, el("h2", { id }, "Keyboard shortcuts"), close),
      el("p", { class: "bd-keys-note" }, "Ctrl works as ⌘ on a Mac. Each change is announced when it is done (for screen readers), and Ctrl+Z undoes it."),
      list));
  let returnTo = null;

  function open() {
    if (dialog.open) return;
    returnTo = document.activeElement;
    dialog.showModal();
    close.focus();
  }
  function shut() {
    if (dialog.open) dialog.close();
  }
  // The close event comes as a later task, after Chrome has already given
  // the focus back: a quick hand (or a test) may have moved the keyboard on,
  // or opened the help again, by then. Only a focus lost to the page is put
  // back, so a late close never pulls the keyboard from where it went.
  dialog.addEventListener("close", () => {
    if (dialog.open) return;
    const back = returnTo && returnTo.isConnected && returnTo !== document.body ? returnTo : null;
    returnTo = null;
    const here = document.activeElement;
    if (here && here !== document.body && !dialog.contains(here)) return;
    if (back) back.focus({ preventScroll: true });
    else fallback();
  });
  dialog.addEventListener("keydown", (e) => {
    // Tab cycles inside the dialog: from the last control to the first.
    if (e.key !== "Tab") return;
    const stops = [close, list];
    const i = stops.indexOf(document.activeElement);
    const next = e.shiftKey ? stops[(i - 1 + stops.length) % stops.length] : stops[(i + 1) % stops.length];
    e.preventDefault();
    next.focus();
  });
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener("click", (e) => { if (e.target === dialog) shut(); });
  close.addEventListener("click", shut);
  button.addEventListener("click", open);
  return { button, dialog, open, close: shut };
}
