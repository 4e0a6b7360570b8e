// Browser tests of the designer canvas (web/designer/) on its development
// page, in real headless Chromium: drag steps from the palette, connect
// them (a condition's two branches included), delete, undo and redo, move,
// auto-layout, zoom and fit, problems and run colours, keyboard use, and
// the exact definition the canvas hands back. The page is served by a tiny
// node server with the app's Content-Security-Policy, and loads the bundle
// built in memory with the same options as `npm run build`; the test also
// fails when static/designer.js is stale. It saves screenshots to
// web/e2e/screenshots/ and prints the ui-anchor figures it can measure.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join, dirname, normalize, extname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { chromiumMissing, chromiumPath } from "./server.mjs";
import { designerBuild } from "../designer/build-options.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const shots = join(here, "screenshots");
const skip = chromiumMissing() || false;

// The app's policy (handlers/middleware.go): no inline scripts or styles.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css" };

let server, url, browser, bundle;
const figures = [];

before(async () => {
  const out = await build({ absWorkingDir: root, ...designerBuild, write: false });
  // Every file the build writes, by its path under static/ ("designer.js",
  // "chunks/layout-….js", "designer.css").
  bundle = Object.fromEntries(out.outputFiles.map((f) => [relative(join(root, "static"), f.path), Buffer.from(f.contents)]));
  if (skip) return;
  server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    let body;
    if (path.startsWith("/bundle/")) body = bundle[path.slice("/bundle/".length)];
    else if (path.startsWith("/designer/")) {
      const file = normalize(join(root, "web", path));
      if (file.startsWith(join(root, "web", "designer"))) {
        try { body = readFileSync(file); } catch { /* 404 below */ }
      }
    }
    if (path === "/favicon.ico") { res.writeHead(204).end(); return; }
    if (!body) { res.writeHead(404).end("not found"); return; }
    res.writeHead(200, { "Content-Type": types[extname(path)] || "application/octet-stream", "Content-Security-Policy": CSP, "Cache-Control": "max-age=3600" });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-default-apps", "--no-first-run", "--disable-domain-reliability"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
  if (figures.length) console.log("\nDesigner figures (ui-anchor behaviours):\n" + figures.map((f) => "  " + f).join("\n"));
});

// open loads the development page and records console errors, page errors
// and CSP violations; the test fails on any of them.
async function open(t, { query = "?bundle", viewport = { width: 1280, height: 800 }, context } = {}) {
  const page = await (context || browser).newPage({ viewport });
  page.setDefaultTimeout(5000);
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") page.problems.push("console: " + m.text()); });
  t.after(async () => {
    if (t.failed) {
      if (page.problems.length) console.log(page.problems.join("\n"));
      await shot(page, "failed-" + t.name.replace(/\W+/g, "-")).catch(() => {});
    }
    await page.close();
  });
  await page.goto(url + "/designer/dev.html" + query);
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name + ".png") });
}

const center = async (page, testid) => {
  const b = await page.getByTestId(testid).boundingBox();
  assert.ok(b, `${testid} is on screen`);
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
};

async function dragTo(page, from, to) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
  await page.mouse.move(to.x, to.y, { steps: 4 });
  await page.mouse.up();
}

const dragFromPalette = async (page, kind, to) => dragTo(page, await center(page, "palette-" + kind), to);
const connect = async (page, from, port, to) => dragTo(page, await center(page, `port-${from}-${port}`), await center(page, "node-" + to));
const def = (page) => page.evaluate(() => window.designer.getDefinition());
const message = (page) => page.getByTestId("designer-message").textContent();
const edgeKeys = (page) => page.$$eval(".bd-edge", (els) => els.map((e) => e.dataset.key).sort());

// edgePoint is the screen point halfway along an edge, to click it.
const edgePoint = (page, key) => page.evaluate((key) => {
  const path = document.querySelector(`[data-testid="edge-${key}"] .bd-line`);
  const p = path.getPointAtLength(path.getTotalLength() / 2);
  const m = path.getScreenCTM();
  return { x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f };
}, key);

test("the built bundle is fresh and small", () => {
  const js = readFileSync(join(root, "static", "designer.js"));
  const css = readFileSync(join(root, "static", "designer.css"));
  assert.ok(js.equals(bundle["designer.js"]), "static/designer.js is stale: run npm run build");
  assert.ok(css.equals(bundle["designer.css"]), "static/designer.css is stale: run npm run build");
  const chunks = Object.keys(bundle).filter((p) => p.startsWith("chunks/"));
  assert.deepEqual(readdirSync(join(root, "static", "chunks")).map((f) => "chunks/" + f).sort(), chunks.sort(), "static/chunks/ is stale: run npm run build");
  for (const c of chunks) assert.ok(readFileSync(join(root, "static", c)).equals(bundle[c]), `static/${c} is stale: run npm run build`);
  assert.ok(js.length < 60 * 1024, `designer.js is ${js.length} bytes minified; the budget is 60 KB`);
  // The layered layout (dagre) is loaded only when a graph is laid out.
  const lazy = chunks.reduce((n, c) => n + bundle[c].length, 0);
  assert.ok(lazy < 64 * 1024, `the layout chunk is ${lazy} bytes minified; the budget is 64 KB`);
  figures.push(`JS weight: designer.js ${(js.length / 1024).toFixed(1)} KB minified, ${(gzipSync(js, { level: 9 }).length / 1024).toFixed(1)} KB gzip; ` +
    `layout chunk (dagre, lazy) ${(lazy / 1024).toFixed(1)} KB, ${(gzipSync(Buffer.concat(chunks.map((c) => bundle[c])), { level: 9 }).length / 1024).toFixed(1)} KB gzip; ` +
    `designer.css ${(css.length / 1024).toFixed(1)} KB, ${(gzipSync(css, { level: 9 }).length / 1024).toFixed(1)} KB gzip  [n8n: 6.4 MB of JS]`);
});

test("build a branching workflow by drag and drop, edit it, undo and redo", { skip }, async (t) => {
  const page = await open(t);
  const canvas = await page.getByTestId("canvas").boundingBox();
  assert.ok(await page.getByTestId("canvas-empty").isVisible(), "an empty canvas says what to do");

  // Four steps dragged from the palette with Pointer Events.
  const drops = { http_1: [260, 160], if_1: [560, 160], log_1: [860, 90], log_2: [860, 300] };
  const kinds = { http_1: "http", if_1: "condition", log_1: "log", log_2: "log" };
  for (const [id, [x, y]] of Object.entries(drops)) {
    const t0 = performance.now();
    await dragFromPalette(page, kinds[id], { x: canvas.x + x, y: canvas.y + y });
    await page.getByTestId("node-" + id).waitFor();
    if (id === "http_1") figures.push(`drag from palette → node drawn: ${(performance.now() - t0).toFixed(0)} ms (whole drag, 9 pointer moves)  [n8n: works, 12 → 13 nodes]`);
  }
  assert.equal(await page.locator(".bd-node").count(), 4);
  assert.ok(await page.getByTestId("canvas-empty").isHidden());
  // A drop lands where the pointer is: the node is centred on it (zoom 1).
  let d = await def(page);
  assert.deepEqual(d.steps.map((s) => s.position), Object.values(drops).map(([x, y]) => ({ x: x - 100, y: y - 32 })));

  // Connect: a dependency, the condition's true and false branches, and
  // one edge that is deleted again below.
  const t0 = performance.now();
  await connect(page, "http_1", "out", "if_1");
  await page.getByTestId("edge-http_1-if_1").waitFor();
  figures.push(`connect (drag port → node) → edge drawn: ${(performance.now() - t0).toFixed(0)} ms  [n8n: works, 11 → 12 edges]`);
  await connect(page, "if_1", "true", "log_1");
  await connect(page, "if_1", "false", "log_2");
  await connect(page, "http_1", "out", "log_2");
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "http_1-log_2", "if_1-log_1", "if_1-log_2"]);

  // Refused connections say why and change nothing.
  const before = await def(page);
  await connect(page, "log_1", "out", "http_1");
  assert.match(await message(page), /That would make a cycle: http_1 → if_1 → log_1 → http_1/);
  await connect(page, "http_1", "out", "http_1");
  assert.match(await message(page), /cannot connect to itself/);
  await connect(page, "http_1", "out", "if_1");
  assert.match(await message(page), /already connected/);
  assert.deepEqual(await def(page), before);

  // Select an edge by clicking it, delete it, undo and redo.
  const p = await edgePoint(page, "http_1-log_2");
  await page.mouse.click(p.x, p.y);
  assert.match(await page.getByTestId("edge-http_1-log_2").getAttribute("class"), /bd-selected/);
  await page.keyboard.press("Delete");
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "if_1-log_1", "if_1-log_2"]);
  const t1 = performance.now();
  await page.keyboard.press("Control+z");
  await page.getByTestId("edge-http_1-log_2").waitFor();
  figures.push(`Ctrl+Z → edge back on screen: ${(performance.now() - t1).toFixed(0)} ms  [n8n: Ctrl+Z undid a connection]`);
  await page.keyboard.press("Control+Shift+z");
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "if_1-log_1", "if_1-log_2"]);
  await page.keyboard.press("Control+z");
  await page.keyboard.press("Control+y");
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "if_1-log_1", "if_1-log_2"]);

  // Move one node, then two (shift-click), by dragging; undo the move.
  const n = await center(page, "node-log_2");
  await dragTo(page, n, { x: n.x + 40, y: n.y + 60 });
  d = await def(page);
  assert.deepEqual(d.steps[3].position, { x: 760 + 40, y: 268 + 60 });
  await page.keyboard.press("Control+z");
  assert.deepEqual((await def(page)).steps[3].position, { x: 760, y: 268 });
  await page.getByTestId("node-log_1").click();
  await page.getByTestId("node-log_2").click({ modifiers: ["Shift"] });
  assert.deepEqual(await page.evaluate(() => window.designer.selection()), ["log_1", "log_2"]);
  const m = await center(page, "node-log_1");
  await dragTo(page, m, { x: m.x - 20, y: m.y + 10 });
  d = await def(page);
  assert.deepEqual([d.steps[2].position, d.steps[3].position], [{ x: 740, y: 68 }, { x: 740, y: 278 }]);

  // Rubber band (shift-drag on empty canvas) selects what it touches.
  await page.mouse.click(canvas.x + 600, canvas.y + 500);
  assert.deepEqual(await page.evaluate(() => window.designer.selection()), []);
  await page.keyboard.down("Shift");
  await dragTo(page, { x: canvas.x + 120, y: canvas.y + 100 }, { x: canvas.x + 600, y: canvas.y + 220 });
  await page.keyboard.up("Shift");
  assert.deepEqual(await page.evaluate(() => window.designer.selection()), ["http_1", "if_1"]);

  // Keyboard: arrows move the focused step, Enter opens it, Delete removes it.
  await page.getByTestId("node-log_1").click();
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "node-log_1", "a clicked node has the focus");
  const opened = await page.evaluate(() => window.designerEvents.filter((e) => e.name === "open").map((e) => e.detail));
  assert.equal(opened.at(-1), "log_1", "one click opens the side panel (open event)");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Shift+ArrowDown");
  assert.deepEqual((await def(page)).steps[2].position, { x: 750, y: 118 });
  await page.evaluate(() => { window.designerEvents = []; });
  await page.keyboard.press("Enter");
  // The click opened it already: Enter takes the keyboard into its fields
  // (the page focuses the first one), and changes nothing.
  assert.deepEqual(await page.evaluate(() => window.designerEvents.map((e) => [e.name, e.detail])), [["edit", "log_1"]], "Enter on an open step edits it, and changes nothing");
  await page.keyboard.press("Delete");
  assert.equal(await page.getByTestId("node-log_1").count(), 0);
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "if_1-log_2"], "deleting a step removes its edges");
  assert.match(await message(page), /Ctrl\+Z brings it back/);
  await page.keyboard.press("Control+z");
  assert.deepEqual(await edgeKeys(page), ["http_1-if_1", "if_1-log_1", "if_1-log_2"]);

  // Auto-layout: layered left to right by depth; the branches on two rows.
  const t2 = performance.now();
  await page.getByTestId("tool-layout").click();
  figures.push(`auto-layout button, 4 steps (click → laid out, fitted): ${(performance.now() - t2).toFixed(0)} ms  [n8n Tidy up: 100–200 ms]`);
  await shot(page, "designer-branching");
  d = await def(page);
  assert.deepEqual(d, {
    id: "dev",
    name: "Development",
    steps: [
      { id: "http_1", type: "command", action: { kind: "http", method: "GET", url: "https://example.com" }, position: { x: 40, y: 90 } },
      { id: "if_1", type: "condition", action: { expression: "true" }, position: { x: 330, y: 90 }, dependencies: ["http_1"], onSuccess: "log_1", onFailure: "log_2" },
      { id: "log_1", type: "command", action: { kind: "log", message: "Hello from {{ run.template }}" }, position: { x: 620, y: 40 } },
      { id: "log_2", type: "command", action: { kind: "log", message: "Hello from {{ run.template }}" }, position: { x: 620, y: 140 } },
    ],
  });
  // Undo walks the layout back; every change reached onChange.
  await page.keyboard.press("Control+z");
  assert.deepEqual((await def(page)).steps[0].position, { x: 160, y: 128 });
  // Since the events were cleared: delete, undo, layout, undo; each reached
  // onChange and the "change" event with the definition as it then was.
  const changes = await page.evaluate(() => window.designerEvents.filter((e) => e.name === "onChange").map((e) => e.detail));
  assert.equal(changes.length, 4);
  assert.deepEqual(changes.at(-1), await def(page));
  assert.equal(await page.evaluate(() => window.designerEvents.filter((e) => e.name === "change").length), 4);

  // Zoom with the buttons and the wheel; fit brings everything into view.
  await page.getByTestId("tool-zoom-in").click();
  assert.equal(await page.getByTestId("zoom-level").textContent(), "120%");
  await page.getByTestId("tool-zoom-out").click();
  await page.getByTestId("tool-zoom-out").click();
  assert.equal(await page.getByTestId("zoom-level").textContent(), "83%");
  await page.mouse.move(canvas.x + 300, canvas.y + 300);
  await page.mouse.wheel(0, 400);
  assert.ok(await page.evaluate(() => window.designer.zoom()) < 0.6, "the wheel zooms out");
  await page.getByTestId("tool-fit").click();
  for (const id of ["http_1", "if_1", "log_1", "log_2"]) {
    const b = await page.getByTestId("node-" + id).boundingBox();
    assert.ok(b.x >= canvas.x && b.y >= canvas.y && b.x + b.width <= canvas.x + canvas.width && b.y + b.height <= canvas.y + canvas.height, `${id} is inside the canvas after fit`);
  }
  // Pan by dragging the empty canvas.
  const b0 = await page.getByTestId("node-http_1").boundingBox();
  await dragTo(page, { x: canvas.x + 20, y: canvas.y + canvas.height - 20 }, { x: canvas.x + 70, y: canvas.y + canvas.height - 50 });
  const b1 = await page.getByTestId("node-http_1").boundingBox();
  assert.deepEqual([Math.round(b1.x - b0.x), Math.round(b1.y - b0.y)], [50, -30]);
  // Space+drag pans even when it starts on a node, and moves nothing.
  const still = await def(page);
  await page.getByTestId("canvas").focus();
  await page.keyboard.down("Space");
  const c0 = await center(page, "node-if_1");
  await dragTo(page, c0, { x: c0.x - 30, y: c0.y + 20 });
  await page.keyboard.up("Space");
  const c1 = await center(page, "node-if_1");
  assert.deepEqual([Math.round(c1.x - c0.x), Math.round(c1.y - c0.y)], [-30, 20]);
  assert.deepEqual(await def(page), still);
  // Ctrl+A selects every step; Escape clears the selection and closes the panel.
  await page.keyboard.press("Control+a");
  assert.deepEqual(await page.evaluate(() => window.designer.selection()), ["http_1", "if_1", "log_1", "log_2"]);
  await page.evaluate(() => { window.designerEvents = []; });
  await page.keyboard.press("Escape");
  assert.deepEqual(await page.evaluate(() => window.designerEvents.map((e) => e.name)), ["select", "close"]);

  assert.deepEqual(page.problems, []);
});

test("palette: search, Escape one level at a time, click adds after the selection", { skip }, async (t) => {
  const page = await open(t);
  await page.getByTestId("canvas").click();
  const t0 = performance.now();
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "palette-search");
  figures.push(`"/" → palette search focused: ${(performance.now() - t0).toFixed(0)} ms  [n8n: 100–200 ms to open the node panel; budget 100 ms]`);
  const visible = () => page.$$eval(".bd-items li:not([hidden]) .bd-item", (els) => els.map((e) => e.dataset.kind));
  // In the page: from the input event to the list filtered and laid out.
  const filterMs = await page.evaluate(() => {
    const input = document.querySelector("[data-testid=palette-search]");
    const t0 = performance.now();
    input.value = "w";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    document.querySelector(".bd-items").getBoundingClientRect();
    return performance.now() - t0;
  });
  assert.deepEqual(await visible(), ["subworkflow", "wait", "signal"]);
  figures.push(`palette search: input event → list filtered and laid out: ${filterMs.toFixed(1)} ms  [budget 50 ms]`);
  await page.keyboard.type("ait");
  assert.deepEqual(await visible(), ["wait", "signal"]);
  await page.keyboard.press("Escape");
  assert.equal(await page.getByTestId("palette-search").inputValue(), "", "first Escape clears the search");
  assert.equal((await visible()).length, 10);
  await page.keyboard.press("Escape");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "canvas", "second Escape leaves the palette");

  // A click adds a step; with a step selected, a click adds one after it, connected.
  await page.getByTestId("palette-decision").click();
  await page.getByTestId("palette-http").click();
  await page.getByTestId("palette-set").click();
  await page.getByTestId("palette-subworkflow").click();
  assert.deepEqual(await edgeKeys(page), ["decide_1-http_1", "http_1-set_1", "set_1-sub_1"]);
  let d = await def(page);
  assert.equal(d.steps[0].action.cases[0].next, "http_1", "the decision's first free port takes the new step");
  // Keyboard: Enter in the search adds the first match.
  await page.keyboard.press("/");
  await page.keyboard.type("each");
  await page.keyboard.press("Enter");
  d = await def(page);
  assert.deepEqual(d.steps.at(-1), { id: "each_1", type: "parallel", action: { forEach: "[1, 2, 3]", as: "item", step: { kind: "log", message: "{{ item }}" } }, position: d.steps.at(-1).position, dependencies: ["sub_1"] });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "node-each_1", "the keyboard is on the step just added");
  // Decision tables have a port per case plus default.
  for (const port of ["case0", "case1", "default"]) assert.ok(await page.getByTestId(`port-decide_1-${port}`).isVisible());
  await page.getByTestId("tool-fit").click();
  await shot(page, "designer-palette-click");

  // The context menu shows each action's shortcut; Escape closes it.
  await page.getByTestId("node-http_1").click({ button: "right" });
  assert.deepEqual(await page.$$eval("[data-testid=context-menu] button", (bs) => bs.map((b) => b.textContent)),
    ["OpenEnter", "Add a step aftera", "DeleteDel", "Select allCtrl+A", "Auto-layoutShift+Alt+T", "Fit to screen1", "UndoCtrl+Z", "RedoCtrl+Shift+Z", "Keyboard shortcuts?"]);
  await shot(page, "designer-context-menu");
  await page.keyboard.press("Escape");
  assert.equal(await page.getByTestId("context-menu").count(), 0, "Escape closes the menu");
  await page.getByTestId("node-http_1").click({ button: "right" });
  await page.getByTestId("menu-delete").click();
  assert.equal(await page.getByTestId("node-http_1").count(), 0);
  assert.equal(await page.getByTestId("context-menu").count(), 0);
  await page.keyboard.press("Control+z");
  assert.equal(await page.getByTestId("node-http_1").count(), 1);

  // Connecting with the keyboard: "c" on a step (again for its next port),
  // Tab to another step, Enter.
  await page.getByTestId("node-decide_1").focus();
  await page.keyboard.press("c");
  await page.keyboard.press("c");
  assert.match(await message(page), /Connecting from decide_1 \(case1\)/);
  await page.getByTestId("node-set_1").focus();
  await page.keyboard.press("Enter");
  assert.match(await message(page), /Connected decide_1 \(case1\) → set_1/);
  assert.equal((await def(page)).steps[0].action.cases[1].next, "set_1");
  await page.keyboard.press("c");
  await page.keyboard.press("Escape");
  assert.match(await message(page), /Connecting cancelled/);
  assert.deepEqual(page.problems, []);
});

test("problems mark steps and edges; run statuses colour nodes and edges", { skip }, async (t) => {
  const page = await open(t, { query: "?bundle&sample" });
  assert.ok(await page.getByTestId("badge-reserve-compensate").isVisible(), "compensation is a badge");
  assert.match(await page.getByTestId("group-approval").textContent(), /parallel approval · max 1/);
  for (const id of ["review", "auto"]) {
    const f = await page.getByTestId("group-approval").boundingBox();
    const n = await page.getByTestId("node-" + id).boundingBox();
    assert.ok(n.x > f.x && n.y > f.y && n.x + n.width < f.x + f.width && n.y + n.height < f.y + f.height, `the group's frame surrounds ${id}`);
  }
  await page.evaluate(() => window.designer.setProblems([
    { path: "steps[0].action.url", message: "template does not parse: unclosed {{" },
    { path: "steps[4].dependencies[1]", message: 'unknown step "auto"' },
    { path: "steps[1].onFailure", message: "a branch that goes nowhere" },
    { path: "timeout", message: "must be a duration" },
  ]));
  assert.match(await page.getByTestId("node-reserve").getAttribute("class"), /bd-bad/);
  assert.equal(await page.getByTestId("node-reserve").getAttribute("data-problems"), "action.url");
  assert.match(await page.getByTestId("edge-auto-ship").getAttribute("class"), /bd-bad/);
  assert.match(await page.getByTestId("edge-big-auto").getAttribute("class"), /bd-bad/);
  assert.doesNotMatch(await page.getByTestId("edge-reserve-big").getAttribute("class"), /bd-bad/);
  assert.match(await page.getByTestId("problems").textContent(), /4 problems.*reserve\.action\.url: template does not parse.*timeout: must be a duration/);
  await page.getByTestId("problem-item-1").click();
  assert.deepEqual(await page.evaluate(() => window.designer.selection()), ["ship"], "a problem in the list selects its step");
  await shot(page, "designer-problems");
  await page.evaluate(() => window.designer.setProblems([]));
  assert.ok(await page.getByTestId("problems").isHidden());
  assert.equal(await page.locator(".bd-bad").count(), 0);

  const colours = { reserve: "succeeded", big: "succeeded", review: "skipped", auto: "running", ship: "pending" };
  const t0 = await page.evaluate((colours) => {
    const t0 = performance.now();
    for (const [id, st] of Object.entries(colours)) window.designer.setRunStatus(id, st);
    return new Promise((r) => requestAnimationFrame(() => r(performance.now() - t0)));
  }, colours);
  figures.push(`setRunStatus for 5 nodes → next frame: ${t0.toFixed(1)} ms  [budget: a node changes within 200 ms of the event]`);
  for (const [id, st] of Object.entries(colours)) {
    assert.match(await page.getByTestId("node-" + id).getAttribute("class"), new RegExp("st-" + st));
    assert.match(await page.getByTestId("status-" + id).textContent(), new RegExp(st), "the state is text too, not colour alone");
  }
  assert.match(await page.getByTestId("edge-reserve-big").getAttribute("class"), /bd-taken/);
  assert.match(await page.getByTestId("edge-big-review").getAttribute("class"), /bd-nottaken/, "a branch not taken looks different");
  await page.evaluate(() => { window.designer.setRunStatus("auto", "succeeded"); window.designer.setRunStatus("ship", "failed"); });
  await shot(page, "designer-run-status");
  for (const st of ["retrying", "waiting", "cancelled", "timed_out", "compensated"]) {
    assert.equal(await page.evaluate((st) => window.designer.setRunStatus("ship", st), st), true);
  }
  assert.equal(await page.evaluate(() => window.designer.setRunStatus("nope", "failed")), false);
  const err = await page.evaluate(() => { try { window.designer.setRunStatus("ship", "green"); } catch (e) { return e.message; } });
  assert.equal(err, 'designer: unknown step status "green"');
  assert.deepEqual(page.problems, []);
});

test("edges never run under a node, and fit keeps a 12-step chain readable", { skip }, async (t) => {
  const page = await open(t);
  // b sits right between a and c; the a → c edge must detour around it.
  await page.evaluate(() => window.mount({ id: "x", name: "X", steps: [
    { id: "a", type: "command", action: { kind: "log", message: "" }, position: { x: 40, y: 100 } },
    { id: "b", type: "command", action: { kind: "log", message: "" }, position: { x: 330, y: 100 } },
    { id: "c", type: "command", dependencies: ["a", "b"], action: { kind: "log", message: "" }, position: { x: 620, y: 100 } },
    { id: "d", type: "command", dependencies: ["a"], action: { kind: "log", message: "" }, position: { x: 330, y: 200 } },
  ] }));
  const under = await page.evaluate(() => {
    const found = [];
    for (const g of document.querySelectorAll(".bd-edge")) {
      const [from, to] = g.dataset.key.split("-");
      const path = g.querySelector(".bd-line");
      const len = path.getTotalLength();
      for (const n of document.querySelectorAll(".bd-node")) {
        if (n.dataset.id === from || n.dataset.id === to) continue;
        const r = n.getBoundingClientRect();
        const m = path.getScreenCTM();
        for (let i = 1; i < 100; i++) {
          const p = path.getPointAtLength((len * i) / 100);
          const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
          if (x > r.left && x < r.right && y > r.top && y < r.bottom) { found.push(`${g.dataset.key} under ${n.dataset.id}`); break; }
        }
      }
    }
    return found;
  });
  assert.deepEqual(under, []);
  await shot(page, "designer-routing");

  const chain = { id: "chain", name: "Chain", steps: Array.from({ length: 12 }, (_, i) => ({
    id: "s" + i, type: "command", action: { kind: "set", values: { n: String(i) } }, ...(i ? { dependencies: ["s" + (i - 1)] } : {}),
  })) };
  for (const viewport of [{ width: 1440, height: 900 }, { width: 1280, height: 800 }]) {
    await page.setViewportSize(viewport);
    // The chain has no saved positions: it is hidden until the layered
    // layout's chunk has placed it (and redrawn every node), so measure then.
    await page.evaluate(async (chain) => { window.mount(chain); await window.designer.whenPlaced(); window.designer.fit(); }, chain);
    const px = await page.$eval("[data-testid=node-s0] .bd-name", (e) => e.getBoundingClientRect().height / e.offsetHeight * parseFloat(getComputedStyle(e).fontSize));
    figures.push(`fit of a 12-step chain at ${viewport.width}×${viewport.height}: labels ${px.toFixed(1)} px  [n8n: about 8 px; budget ≥ 11 px]`);
    assert.ok(px >= 11, `labels are ${px} px after fit`);
    assert.ok(await page.getByTestId("node-s0").isVisible());
  }
  await shot(page, "designer-chain-fit");
  assert.deepEqual(page.problems, []);
});

test("read-only canvas and a narrow screen", { skip }, async (t) => {
  const page = await open(t, { query: "?bundle&sample", viewport: { width: 420, height: 760 } });
  assert.ok(await page.getByTestId("palette-http").isVisible(), "the palette stays reachable on a narrow screen");
  await shot(page, "designer-narrow");
  await page.evaluate(() => window.mount(window.designer.getDefinition(), { readOnly: true }));
  assert.equal(await page.getByTestId("palette").count(), 0);
  assert.equal(await page.getByTestId("tool-undo").count(), 0);
  const before = await def(page);
  await page.getByTestId("node-big").click();
  await page.keyboard.press("Delete");
  const n = await center(page, "node-big");
  await dragTo(page, n, { x: n.x + 30, y: n.y + 30 });
  assert.deepEqual(await def(page), before, "nothing changes a read-only canvas");
  assert.deepEqual(await page.evaluate(() => window.designerEvents.filter((e) => e.name === "open").map((e) => e.detail)), ["big"]);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.evaluate(() => { window.designer.fit(); window.designer.setRunStatus("reserve", "succeeded"); window.designer.setRunStatus("big", "retrying"); });
  await shot(page, "designer-readonly-dark");
  assert.deepEqual(page.problems, []);
});

test("bad input is refused with a clear error", { skip }, async (t) => {
  const page = await open(t);
  const errors = await page.evaluate(() => {
    const tryIt = (fn) => { try { fn(); return "no error"; } catch (e) { return e.message; } };
    return [
      tryIt(() => window.mount({ id: "x" })),
      tryIt(() => window.mount({ id: "x", steps: [{ type: "command" }] })),
      tryIt(() => window.designer.setProblems([{ path: 3 }])),
      tryIt(() => window.designer.addStep("teleport")),
    ];
  });
  assert.deepEqual(errors, [
    "designer: definition must be an object with a steps array",
    "designer: steps[0] must be an object with a string id",
    "designer: problems[0] must be {path, message} strings",
    'designer: unknown step kind "teleport"',
  ]);
  assert.deepEqual(page.problems, []);
});

test("a large draft: drawing and moving 300 steps", { skip }, async (t) => {
  const page = await open(t);
  const ms = await page.evaluate(async () => {
    const steps = Array.from({ length: 300 }, (_, i) => ({
      id: "s" + i, type: "command", action: { kind: "log", message: "step " + i },
      ...(i ? { dependencies: ["s" + Math.floor((i - 1) / 2)] } : {}),
    }));
    const t0 = performance.now();
    window.mount({ id: "big", name: "Big", steps });
    const mounted = performance.now() - t0;
    window.designer.select("s0");
    const t1 = performance.now();
    await window.designer.autoLayout();
    return { mounted, layout: performance.now() - t1 };
  });
  assert.equal(await page.locator(".bd-node").count(), 300);
  assert.equal(await page.locator(".bd-edge").count(), 299);
  figures.push(`300 steps, 299 edges: mount + draw ${ms.mounted.toFixed(0)} ms, auto-layout + redraw ${ms.layout.toFixed(0)} ms  [n8n: no figure]`);
  const n = await center(page, "node-s0");
  const t0 = performance.now();
  await dragTo(page, n, { x: n.x + 10, y: n.y + 10 });
  figures.push(`300 steps: drag one node (8 pointer moves, the dragged node's edges re-routed each frame, the edges near it on the drop) ${(performance.now() - t0).toFixed(0)} ms`);
  assert.deepEqual(page.problems, []);
});

test("API: setDefinition is undoable, select reveals, destroy cleans up", { skip }, async (t) => {
  const page = await open(t, { query: "?bundle&sample" });
  const result = await page.evaluate(() => {
    const d = window.designer;
    const first = d.getDefinition();
    const next = structuredClone(first);
    next.steps[4].name = "Ship it";
    next.steps.push({ id: "far", type: "command", action: { kind: "log", message: "far" }, position: { x: 5000, y: 4000 } });
    d.setDefinition(next);
    const afterSet = document.querySelector("[data-testid=node-ship] .bd-name").textContent;
    const selectedFar = d.select("far");
    const r = document.querySelector("[data-testid=canvas]").getBoundingClientRect();
    const n = document.querySelector("[data-testid=node-far]").getBoundingClientRect();
    const visible = n.left >= r.left && n.right <= r.right && n.top >= r.top && n.bottom <= r.bottom;
    const unknown = d.select("nope");
    d.undo();
    const undone = JSON.stringify(d.getDefinition()) === JSON.stringify(first);
    // getDefinition hands out a copy: changing it changes nothing inside.
    d.getDefinition().steps.length = 0;
    const count = d.getDefinition().steps.length;
    d.destroy();
    return { afterSet, selectedFar, visible, unknown, undone, count, left: document.querySelectorAll(".bd").length };
  });
  assert.deepEqual(result, { afterSet: "Ship it", selectedFar: true, visible: true, unknown: false, undone: true, count: 5, left: 0 });
  // After destroy, keys on the page do nothing and nothing throws.
  await page.keyboard.press("Control+z");
  assert.deepEqual(page.problems, []);
});

test("cold and warm load of a five-step draft", { skip }, async (t) => {
  for (const kind of ["cold", "warm"]) {
    const context = await browser.newContext();
    if (kind === "warm") {
      const warm = await context.newPage();
      await warm.goto(url + "/designer/dev.html?bundle&sample");
      await warm.waitForSelector("body[data-ready=true]");
      await warm.close();
    }
    const page = await open(t, { query: "?bundle&sample", context });
    const ms = await page.evaluate(() => performance.getEntriesByName("designer-drawn")[0].startTime);
    assert.equal(await page.locator(".bd-node").count(), 5);
    figures.push(`${kind} load, navigation → 5 nodes drawn (static page, no app server): ${ms.toFixed(0)} ms  [n8n: ${kind === "cold" ? "9–12 s" : "4.5–6 s"}]`);
    await page.close();
    await context.close();
  }
});

// ---- Issue 16: layered layout, Fit, drop preview ---------------------------------

// The order-fulfilment shape of issue 16: an HTTP check, a condition whose
// true branch fans out to a parallel set and wait joining into a log, and
// whose false branch fails; plus a long edge (check → log) that skips two
// ranks. No positions: the canvas lays it out.
const fulfilment = () => ({ id: "order-fulfilment", name: "Order fulfilment", steps: [
  { id: "check", type: "command", action: { kind: "http", method: "GET", url: "http://echo/healthz" } },
  { id: "ok", type: "condition", dependencies: ["check"], action: { expression: "steps.check.output.status == 'ok'" }, onSuccess: ["mark", "pause"], onFailure: "stop" },
  { id: "mark", type: "command", action: { kind: "set", values: { checked: "yes" } } },
  { id: "pause", type: "wait", action: { duration: 1000 } },
  { id: "done", type: "command", dependencies: ["mark", "pause", "check"], action: { kind: "log", message: "done" } },
  { id: "stop", type: "command", action: { kind: "fail", message: "not ok" } },
] });

// geometry measures the drawn graph on screen: edges passing under a node
// other than their ends, pairs of edges running along each other (more
// than 12 px of one within 1.5 px of the other, away from shared ends), and
// nodes outside the canvas.
const geometry = (page) => page.evaluate(() => {
  const canvas = document.querySelector("[data-testid=canvas]").getBoundingClientRect();
  const nodes = [...document.querySelectorAll(".bd-node")].map((n) => ({ id: n.dataset.id, r: n.getBoundingClientRect() }));
  const paths = [...document.querySelectorAll(".bd-edge")].map((g) => {
    const path = g.querySelector(".bd-line");
    const m = path.getScreenCTM();
    const len = path.getTotalLength();
    const pts = [];
    for (let l = 0; l <= len; l += 3) {
      const p = path.getPointAtLength(l);
      pts.push({ x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f });
    }
    const [from, to] = g.dataset.key.split("-");
    return { key: g.dataset.key, from, to, pts, step: 3 * m.a };
  });
  const under = [];
  for (const e of paths) {
    const hit = nodes.find((n) => n.id !== e.from && n.id !== e.to &&
      e.pts.some((p) => p.x > n.r.left + 1 && p.x < n.r.right - 1 && p.y > n.r.top + 1 && p.y < n.r.bottom - 1));
    if (hit) under.push(`${e.key} under ${hit.id}`);
  }
  const along = [];
  for (let i = 0; i < paths.length; i++) {
    for (let j = i + 1; j < paths.length; j++) {
      const a = paths[i], b = paths[j];
      const ends = [a.pts[0], a.pts.at(-1), b.pts[0], b.pts.at(-1)];
      const near = (p, q, d) => Math.hypot(p.x - q.x, p.y - q.y) < d;
      const shared = a.pts.filter((p) => !ends.some((q) => near(p, q, 24)) && b.pts.some((q) => near(p, q, 1.5)));
      if (shared.length * a.step > 12) along.push(`${a.key} along ${b.key}`);
    }
  }
  const outside = nodes.filter((n) => n.r.left < canvas.left || n.r.right > canvas.right || n.r.top < canvas.top || n.r.bottom > canvas.bottom).map((n) => n.id);
  return { under, along, outside, ys: Object.fromEntries(nodes.map((n) => [n.id, Math.round(n.r.top)])), xs: Object.fromEntries(nodes.map((n) => [n.id, Math.round(n.r.left)])) };
});

test("issue 16: the layered layout keeps branches apart, no edge under a node or along another, Fit shows the whole graph", { skip }, async (t) => {
  const page = await open(t);
  await page.evaluate((d) => window.mount(d), fulfilment());
  // The layout is a chunk loaded on demand: the graph is shown once placed.
  await page.waitForFunction(() => !document.querySelector(".bd-placing") && document.querySelectorAll(".bd-edge").length === 7);
  const check = async (what) => {
    const g = await geometry(page);
    assert.deepEqual(g.under, [], `${what}: no edge under a node`);
    assert.deepEqual(g.along, [], `${what}: no two edges along each other`);
    return g;
  };
  let g = await check("opened");
  // Ranks left to right; the true branch's steps above the false one's.
  assert.ok(g.xs.check < g.xs.ok && g.xs.ok < g.xs.mark && g.xs.mark === g.xs.pause && g.xs.pause < g.xs.done, JSON.stringify(g.xs));
  assert.ok(g.ys.mark < g.ys.stop && g.ys.pause < g.ys.stop, JSON.stringify(g.ys));
  await shot(page, "issue16-layout-opened");

  // Scrambled by hand, then the Layout button: the same clean layout, undoable.
  await page.evaluate(() => {
    const d = window.designer.getDefinition();
    d.steps.forEach((s, i) => { s.position = { x: 40 + (i % 3) * 120, y: 40 + i * 30 }; });
    window.designer.setDefinition(d);
  });
  await page.getByTestId("tool-layout").click();
  await page.waitForFunction(() => window.designer.getDefinition().steps.every((s) => s.position.x >= 40 && s.position.y >= 40) &&
    new Set(window.designer.getDefinition().steps.map((s) => s.position.x)).size === 4);
  g = await check("after Layout");

  // A six-step chain at 1280×800 stays one row (the old layout wrapped it
  // into rows of three, its edges running back across the canvas), and Fit
  // shows every step inside the canvas (the old Fit stopped at 92 % with
  // steps cut off).
  await page.evaluate(() => window.mount({ id: "chain", name: "Chain", steps: Array.from({ length: 6 }, (_, i) => ({
    id: "s" + i, type: "command", action: { kind: "log", message: "step " + i }, ...(i ? { dependencies: ["s" + (i - 1)] } : {}),
  })) }));
  await page.waitForFunction(() => !document.querySelector(".bd-placing") && document.querySelectorAll(".bd-edge").length === 5);
  await page.getByTestId("tool-layout").click();
  await page.getByTestId("tool-fit").click();
  g = await check("a six-step chain");
  assert.equal(new Set(Object.values(g.ys)).size, 1, `one row: ${JSON.stringify(g.ys)}`);
  assert.deepEqual(g.outside, [], "Fit shows every step");
  const k = await page.evaluate(() => window.designer.zoom());
  assert.ok(k < 0.92, `the chain is wider than the canvas at 92 %: ${k}`);
  assert.match(await message(page), /whole workflow at \d+%/i, "Fit says labels are small and how to zoom in");

  // Back to the branching graph, fitted on a small screen too.
  await page.setViewportSize({ width: 900, height: 600 });
  await page.evaluate((d) => window.mount(d), fulfilment());
  await page.waitForFunction(() => !document.querySelector(".bd-placing") && document.querySelectorAll(".bd-edge").length === 7);
  await page.getByTestId("tool-fit").click();
  g = await check("fitted at 900×600");
  assert.deepEqual(g.outside, [], "Fit shows every step at 900×600");
  await shot(page, "issue16-layout-fit-900");
  figures.push(`issue 16 layout: order-fulfilment (6 steps, 7 edges) and a 6-step chain: 0 edges under a node, 0 along another; Fit at 1280×800 shows the chain at ${Math.round(k * 100)}%`);
  assert.deepEqual(page.problems, []);
});

test("issue 16: each parallel group's frame holds its own steps only and meets no other frame", { skip }, async (t) => {
  const page = await open(t);
  // Siblings listed alternately from two groups (the order dagre would
  // otherwise keep, interleaving the groups).
  await page.evaluate(() => window.mount({ id: "groups", name: "Groups", steps: [
    { id: "start", type: "command", action: { kind: "log", message: "" } },
    ...["a1", "b1", "a2", "b2", "solo"].map((id) => ({ id, type: "command", dependencies: ["start"], action: { kind: "log", message: "" } })),
    { id: "end", type: "command", dependencies: ["a1", "b1", "a2", "b2", "solo"], action: { kind: "log", message: "" } },
  ], parallelGroups: [{ id: "pa", steps: ["a1", "a2"] }, { id: "pb", steps: ["b1", "b2"], maxConcurrency: 1 }] }));
  await page.evaluate(() => window.designer.whenPlaced());
  await page.getByTestId("tool-fit").click();
  const found = await page.evaluate(() => {
    const rect = (e) => e.getBoundingClientRect();
    const meet = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const groups = { pa: ["a1", "a2"], pb: ["b1", "b2"] };
    const out = [];
    for (const [g, members] of Object.entries(groups)) {
      const f = rect(document.querySelector(`[data-testid=group-${g}]`));
      for (const n of document.querySelectorAll(".bd-node")) {
        const inside = meet(f, rect(n));
        if (members.includes(n.dataset.id) !== inside) out.push(`${g} ${inside ? "holds" : "misses"} ${n.dataset.id}`);
      }
    }
    if (meet(rect(document.querySelector("[data-testid=group-pa]")), rect(document.querySelector("[data-testid=group-pb]")))) out.push("the frames meet");
    return out;
  });
  assert.deepEqual(found, []);
  assert.match(await page.getByTestId("group-pb").textContent(), /parallel pb · max 1/);
  await shot(page, "issue16-parallel-groups");
  assert.deepEqual(page.problems, []);
});

test("issue 16: dragging a connection over a step says what the drop will do, and the drop does it", { skip }, async (t) => {
  const page = await open(t);
  await page.evaluate((d) => window.mount(d), fulfilment());
  await page.waitForFunction(() => !document.querySelector(".bd-placing") && document.querySelectorAll(".bd-edge").length === 7);
  await page.getByTestId("tool-fit").click();
  const before = await def(page);
  const hover = async (from, to) => {
    const a = await center(page, from), b = await center(page, to);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 });
    await page.mouse.move(b.x, b.y, { steps: 4 });
  };
  const preview = async () => ({
    shown: await page.getByTestId("drop-preview").isVisible(),
    text: await page.getByTestId("drop-preview").textContent(),
    verdict: await page.getByTestId("drop-preview").getAttribute("data-verdict"),
    said: await message(page),
  });

  // The true branch already feeds mark and pause: over done, a third.
  await hover("port-ok-true", "node-done");
  let p = await preview();
  assert.ok(p.shown, "the preview is shown before the drop");
  assert.equal(p.text, "Connect ok true → done (adds a branch; the true port now feeds 3 steps)");
  assert.equal(p.verdict, "adds");
  assert.equal(p.said, p.text, "the live region says it too");
  // Over check (upstream): a cycle, refused, and the step is marked.
  const c = await center(page, "node-check");
  await page.mouse.move(c.x, c.y, { steps: 6 });
  p = await preview();
  assert.equal(p.verdict, "refused");
  assert.match(p.text, /^Not allowed: that would make a cycle: check → ok → check/);
  assert.equal(p.said, p.text);
  assert.ok(await page.getByTestId("node-check").evaluate((n) => n.classList.contains("bd-refuse")));
  await shot(page, "issue16-drop-refused");
  await page.mouse.up();
  assert.equal(await page.getByTestId("drop-preview").isVisible(), false, "the preview goes with the drop");
  assert.deepEqual(await def(page), before, "a refused drop changes nothing");

  // The drop does what the preview said.
  await hover("port-ok-true", "node-done");
  assert.equal((await preview()).verdict, "adds");
  await page.mouse.up();
  const after = await def(page);
  assert.deepEqual(after.steps.find((s) => s.id === "ok").onSuccess, ["mark", "pause", "done"]);
  assert.equal(after.steps.find((s) => s.id === "ok").onFailure, "stop");
  assert.deepEqual(page.problems, []);
});
