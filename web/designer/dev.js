// Mounts the designer on dev.html for manual work and for the browser
// tests. `?bundle` loads the built bundle (/bundle/designer.js, served by
// the test server) instead of the source modules; `?sample` opens a
// five-step branching draft. window.mount(definition, options) remounts;
// window.designerEvents records every event the canvas emits.
const bundle = new URLSearchParams(location.search).has("bundle");
const sample = new URLSearchParams(location.search).has("sample");

const css = document.createElement("link");
css.rel = "stylesheet";
css.href = bundle ? "/bundle/designer.css" : "designer.css";
document.head.append(css);
await new Promise((resolve) => { css.onload = resolve; css.onerror = resolve; });

const { mountDesigner } = await import(bundle ? "/bundle/designer.js" : "./index.js");

const branching = {
  id: "order-fulfilment",
  name: "Order fulfilment",
  steps: [
    { id: "reserve", type: "command", action: { kind: "http", method: "POST", url: "http://stock.internal/reserve" },
      compensate: { kind: "http", method: "POST", url: "http://stock.internal/release" } },
    { id: "big", type: "condition", dependencies: ["reserve"], action: { expression: "inputs.amount > 1000" }, onSuccess: "review", onFailure: "auto" },
    { id: "review", type: "wait", action: { signal: "manager-approval", timeout: 86400000 } },
    { id: "auto", type: "command", action: { kind: "log", message: "auto-approved" } },
    { id: "ship", type: "command", dependencies: ["review", "auto"], action: { kind: "http", method: "POST", url: "http://ship.internal/orders" } },
  ],
  parallelGroups: [{ id: "approval", steps: ["review", "auto"], maxConcurrency: 1 }],
};

const container = document.getElementById("canvas-host");
window.designerEvents = [];
window.mount = (definition, options = {}) => {
  window.designer?.destroy();
  window.designerEvents = [];
  const d = mountDesigner(container, {
    definition,
    onChange: (def) => window.designerEvents.push({ name: "onChange", detail: def }),
    ...options,
  });
  for (const name of ["change", "select", "open", "close", "edit", "rename"]) {
    d.on(name, (detail) => window.designerEvents.push({ name, detail }));
  }
  window.designer = d;
  return d;
};
window.mount(sample ? branching : { id: "dev", name: "Development", steps: [] });
// The moment every node is on screen, for the load-time measurement.
requestAnimationFrame(() => requestAnimationFrame(() => {
  performance.mark("designer-drawn");
  document.body.dataset.ready = "true";
}));
