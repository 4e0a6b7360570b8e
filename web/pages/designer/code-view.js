// The code view: the draft as YAML or JSON, kept in step with the canvas
// while the user is not typing in it, and applied back on "Apply" (YAML is
// read by the server, POST …/design/parse).

import { $, el } from "./dom.js";
import { errorProblems, request } from "./server.js";
import { toYAML } from "./yaml.js";

// createCodeView wires the code view to ctx; apply(next) takes an edited
// definition (draft.apply) and throws what the canvas refuses.
export function createCodeView(ctx, { apply }) {
  const { key, memory, state } = ctx;
  const codeText = $("code-text");
  const codeFormat = () => document.querySelector("input[name=code-format]:checked").value;

  // refresh rewrites the text from the draft, unless the user is typing
  // in it (force: a change from outside the canvas, or the format changed).
  function refresh(force = false) {
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
      refresh(true);
      codeText.focus();
    }
  });
  for (const r of document.querySelectorAll("input[name=code-format]")) r.addEventListener("change", () => refresh(true));
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
      apply(next);
    } catch (e) {
      return codeErrors([{ path: "", message: e.message }]);
    }
    refresh(true);
  });

  return {
    refresh,
    // restore opens the code view when it was open before a reload.
    restore() {
      if (memory.get("code") && $("code-view").hidden) $("toggle-code").click();
    },
  };
}
