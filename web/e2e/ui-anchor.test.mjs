// The 15 behaviours of shared/design/ui-anchor.md, one test each, in a real
// Chromium against a real `baton serve`. Each test asserts the behaviour
// (states, counts, text, sizes) and prints the measured figure; timings are
// printed, never asserted, because this machine is shared and noisy.
//
//   node --test web/e2e/ui-anchor.test.mjs
//
// Parts of a behaviour Baton does not have yet are separate `todo` tests,
// so they are reported rather than hidden.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { anchor, api, dragTo, noErrors, shots, signInAdmin, watchedPage } from "./helpers.mjs";

const skip = chromiumMissing() || false;
let server, browser, storageState;
const figures = [];
const figure = (n, text) => {
  figures.push(`#${n} ${text}`);
  console.log(`ui-anchor #${n}: ${text}`);
};

// ---- workflows used by the tests ----------------------------------------------

// anchor (helpers.mjs) has five nodes: a condition with two branches (one
// taken, one skipped) and a join.
const failing = {
  id: "anchor-fail", name: "Anchor fail",
  steps: [
    { id: "prepare", type: "command", action: { kind: "set", values: { value: 12 } } },
    { id: "limit", type: "command", dependencies: ["prepare"], action: { kind: "fail", message: "value > 10 <b>not bold</b>" } },
  ],
};
// A forEach over three elements, each of which fails (a fail action).
const fanout = {
  id: "anchor-each", name: "Anchor each",
  steps: [
    { id: "spread", type: "parallel", action: { forEach: "[1, 2, 3]", step: { kind: "fail", message: "item {{ item }}" } } },
    { id: "after", type: "command", dependencies: ["spread"], trigger: "all_done", action: { kind: "log", message: "after" } },
  ],
};
const signalled = {
  id: "anchor-signal", name: "Anchor signal",
  steps: [
    { id: "hold", type: "wait", action: { signal: "go", timeout: 600000 } },
    { id: "after", type: "command", dependencies: ["hold"], action: { kind: "log", message: "released" } },
  ],
};
const chain = {
  id: "anchor-chain", name: "Twelve in a row",
  steps: Array.from({ length: 12 }, (_, i) => ({
    id: "s" + i, type: "command", ...(i ? { dependencies: ["s" + (i - 1)] } : {}),
    action: { kind: "log", message: "step " + i },
  })),
};

// ---- helpers -------------------------------------------------------------------

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const page = await browser.newPage();
  await signInAdmin(page, server.url);
  for (const def of [anchor, failing, signalled, chain, fanout]) {
    const r = await api(page, "POST", "/api/v1/templates", def);
    assert.equal(r.status, 201, `create ${def.id}: ${JSON.stringify(r.body)}`);
  }
  storageState = await page.context().storageState();
  await page.context().close();
});

after(async () => {
  if (figures.length) console.log("\nui-anchor figures:\n  " + figures.join("\n  "));
  await browser?.close();
  await server?.stop();
});

// newPage opens a signed-in tab in a fresh context (its own cache and
// storage unless a context is given) that records console and page errors.
const newPage = (t, { viewport, context, signedIn = true } = {}) =>
  watchedPage(t, browser, { prefix: "anchor", viewport, context, storageState: signedIn ? storageState : undefined });

async function openDesigner(page, key = "anchor", n = anchor.steps.length) {
  await page.goto(`${server.url}/templates/${key}/design`);
  await page.waitForFunction((n) => document.querySelectorAll(".bd-node").length === n, n);
  await page.waitForFunction(() => window.batonDesigner);
  // A draft without saved positions is shown once the layered layout (a
  // chunk loaded on demand) has placed it.
  await page.waitForFunction(() => !document.querySelector(".bd-placing"));
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name + ".png") });
}

const center = async (page, sel) => {
  const b = await page.locator(sel).boundingBox();
  assert.ok(b, `${sel} is on screen`);
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
};

// timeUntil runs act and measures until check (a page function) is true.
async function timeUntil(page, act, check, arg) {
  const t0 = performance.now();
  await act();
  await page.waitForFunction(check, arg, { polling: "raf" });
  return performance.now() - t0;
}

// testRun starts a test run of a draft through the API and waits for its end.
async function testRun(page, key, inputs = {}) {
  const v = await api(page, "GET", `/api/v1/templates/${key}/versions`);
  const r = await api(page, "POST", `/api/v1/templates/${key}/runs?wait=30s`, { version: v.body.versions[0].number, inputs });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

// edgesUnderNodes samples every drawn edge and lists those that pass under a
// node other than their own ends ("from-to under id").
function edgesUnderNodes(page) {
  return page.evaluate(() => {
    const nodes = [...document.querySelectorAll(".bd-node")].map((n) => ({ id: n.dataset.id, r: n.getBoundingClientRect() }));
    const bad = [];
    for (const g of document.querySelectorAll(".bd-edge")) {
      const path = g.querySelector(".bd-line");
      const m = path.getScreenCTM();
      const len = path.getTotalLength();
      const [from, to] = g.dataset.key.split("-");
      for (let i = 1; i < 80; i++) {
        const p = path.getPointAtLength((len * i) / 80);
        const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
        const hit = nodes.find((n) => n.id !== from && n.id !== to && x > n.r.left + 2 && x < n.r.right - 2 && y > n.r.top + 2 && y < n.r.bottom - 2);
        if (hit) { bad.push(`${g.dataset.key} under ${hit.id}`); break; }
      }
    }
    return bad;
  });
}

// rssKB is a process's resident memory (the browser's own memory is
// measured in memory.test.mjs).
function rssKB(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]);
}

// ---- 1. Opens fast and light -----------------------------------------------------

test("1. opens fast and light", { skip }, async (t) => {
  const page = await newPage(t);
  const scripts = new Map();
  page.on("response", async (res) => {
    if (res.request().resourceType() === "script" && res.ok()) scripts.set(res.url(), await res.body().catch(() => Buffer.alloc(0)));
  });
  // Drawn means placed: a draft without saved positions waits for the
  // layered layout's chunk (.bd-placing hides it until then).
  const drawn = () => document.querySelectorAll(".bd-node").length === 5 && !document.querySelector(".bd-placing");
  const cold = await timeUntil(page, () => page.goto(`${server.url}/templates/anchor/design`, { waitUntil: "commit" }), drawn);
  const warm = await timeUntil(page, () => page.goto(`${server.url}/templates/anchor/design`, { waitUntil: "commit" }), drawn);
  await page.waitForLoadState("networkidle");
  let raw = 0, gz = 0;
  for (const body of scripts.values()) {
    raw += body.length;
    gz += gzipSync(body, { level: 6 }).length;
  }
  assert.ok(scripts.size > 0, "the designer loads its scripts");
  assert.ok(gz <= 300 * 1024, `compressed JS ${gz} bytes; the budget is 300 KB`);

  // The browser's memory is measured in web/e2e/memory.test.mjs, the way
  // n8n's was: the whole Chromium (all its processes) in a browser launched
  // for it alone, against the same browser on about:blank. A tab in this
  // shared browser, after earlier tests, would not say what a user sees.

  // The server, idle.
  await new Promise((r) => setTimeout(r, 2000));
  const rss = rssKB(server.pid);
  assert.ok(rss <= 150 * 1024, `server RSS ${rss} kB; the budget is 150 MB`);
  figure(1, `5-node draft drawn ${cold.toFixed(0)} ms cold, ${warm.toFixed(0)} ms warm; JS ${(gz / 1024).toFixed(1)} KB gzip ` +
    `(${(raw / 1024).toFixed(1)} KB raw, ${scripts.size} files); browser memory: see memory.test.mjs; idle server ${(rss / 1024).toFixed(0)} MB RSS`);
  noErrors(page);
});

// ---- 2. Something useful at once, no console errors ------------------------------

test("2. every page shows its layout at once, with no console errors", { skip }, async (t) => {
  const out = [];
  // First contentful paint, waiting for the entry if it is not there yet.
  const fcp = (page) => page.evaluate(() => new Promise((resolve) => {
    const have = performance.getEntriesByName("first-contentful-paint")[0];
    if (have) return resolve(have.startTime);
    new PerformanceObserver((l) => resolve(l.getEntries()[0].startTime)).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve(-1), 3000);
  }));
  const login = await newPage(t, { signedIn: false });
  await login.goto(server.url + "/login");
  await login.waitForSelector("[data-testid=login-submit]");
  out.push(`login ${(await fcp(login)).toFixed(0)} ms`);
  noErrors(login);
  const page = await newPage(t);
  for (const [name, path, sel] of [
    ["templates", "/templates", "main"], ["template", "/templates/anchor", "main"], ["designer", "/templates/anchor/design", ".bd-node"],
    ["runs", "/runs", "[data-testid=runs-rows]"], ["start", "/runs/start", "main"], ["approvals", "/approvals", "main"],
  ]) {
    await page.goto(server.url + path);
    await page.waitForSelector(sel);
    const f = await fcp(page);
    assert.ok(f > 0, `${name}: painted`);
    out.push(`${name} ${f.toFixed(0)} ms`);
  }
  await page.waitForLoadState("networkidle");
  noErrors(page);
  figure(2, `first contentful paint: ${out.join(", ")}; 0 console errors, 0 page errors`);
});

// ---- 3. One click opens the side panel -------------------------------------------

test("3. one click opens the side panel beside the canvas", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  const ms = await timeUntil(page, () => page.click("[data-testid=node-check]"),
    () => document.querySelector("#step-form")?.dataset.step === "check");
  const canvas = await page.locator("[data-testid=canvas]").boundingBox();
  const panel = await page.locator("[data-testid=side-panel]").boundingBox();
  assert.ok(canvas.width >= 500, `canvas stays usable (${canvas.width} px wide)`);
  assert.ok(panel.x >= canvas.x + canvas.width - 1, "the panel is beside the canvas, not over it");
  // The canvas still works with the panel open: another click selects and opens another node.
  await page.click("[data-testid=node-start]");
  await page.waitForSelector("#step-form[data-step=start]");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#step-form", { state: "detached" });
  await page.focus("[data-testid=node-small]");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#step-form[data-step=small]");
  figure(3, `panel open ${ms.toFixed(0)} ms after the click; canvas ${canvas.width.toFixed(0)} px wide beside it; Enter opens, Escape closes`);
  await shot(page, "anchor-side-panel");
  noErrors(page);
});

// ---- 4. Palette ------------------------------------------------------------------

test("4. palette: key, search, click and drag, Escape one level at a time", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  // The steps added here must not reach the shared anchor draft (the later
  // tests open it with its five steps): on a slow machine the test outlived
  // the one-second autosave.
  await page.getByTestId("autosave").setChecked(false);
  await page.click("[data-testid=canvas]", { position: { x: 20, y: 20 } });
  const open = await timeUntil(page, () => page.keyboard.press("/"),
    () => document.activeElement?.dataset.testid === "palette-search");
  const total = await page.locator(".bd-palette li:not([hidden])").count();
  const filter = await timeUntil(page, () => page.keyboard.type("wait"),
    (n) => document.querySelectorAll(".bd-palette li:not([hidden])").length < n, total);
  const shown = await page.locator(".bd-palette li:not([hidden])").count();
  assert.ok(shown >= 1 && shown < total, `"wait" filters ${total} kinds to ${shown}`);
  await page.keyboard.press("Escape");
  assert.equal(await page.inputValue("[data-testid=palette-search]"), "", "the first Escape clears the search");
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "palette-search", "…and stays in it");
  await page.keyboard.press("Escape");
  assert.notEqual(await page.evaluate(() => document.activeElement?.dataset.testid), "palette-search", "the second Escape leaves it");
  // Click adds after the selected node, connected to it.
  await page.click("[data-testid=node-done]");
  await page.click("[data-testid=palette-log]");
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 6);
  const def = await page.evaluate(() => window.batonDesigner.getDefinition());
  const added = def.steps[def.steps.length - 1];
  assert.deepEqual(added.dependencies, ["done"], "added by click, connected to the selected node");
  // Drag adds at a spot.
  const c = await page.locator("[data-testid=canvas]").boundingBox();
  await dragTo(page, await center(page, "[data-testid=palette-set]"), { x: c.x + c.width - 120, y: c.y + c.height - 80 });
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 7);
  figure(4, `palette search focused ${open.toFixed(0)} ms after "/"; ${total} kinds filtered to ${shown} in ${filter.toFixed(0)} ms; click and drag both add`);
  noErrors(page);
});

// ---- 5. Connecting and edges -------------------------------------------------------

test("5. connecting: ports, refusals with a reason, no edge under a node", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  // No edge of the draft as drawn passes under a node other than its ends.
  const crossings = () => edgesUnderNodes(page);
  assert.deepEqual(await crossings(), [], "no edge of the draft is drawn under a node");
  for (const p of ["true", "false"]) {
    assert.match(await page.getAttribute(`[data-testid=port-check-${p}]`, "title"), new RegExp(p), `the ${p} port is labelled`);
  }
  // At 1280×800 four layers do not fit at a readable zoom (see #13): zoom
  // out so both ends are on screen; connecting is what is tested here.
  await page.evaluate(() => window.batonDesigner.zoom(0.5));
  // A new edge: start → done.
  const before = await page.locator(".bd-edge").count();
  await dragTo(page, await center(page, "[data-testid=port-start-out]"), await center(page, "[data-testid=node-done]"));
  await page.waitForFunction((n) => document.querySelectorAll(".bd-edge").length === n + 1, before, { timeout: 5000 })
    .catch(async (e) => {
      const boxes = await Promise.all(["port-start-out", "node-done", "canvas"].map((id) => page.getByTestId(id).boundingBox()));
      throw new Error(`no new edge; the canvas said: ${await page.getByTestId("designer-message").textContent()}; boxes ${JSON.stringify(boxes)}; ${e.message}`);
    });
  // Onto itself (after the new edge): refused, and the reason is shown.
  await dragTo(page, await center(page, "[data-testid=port-start-out]"), await center(page, "[data-testid=node-start]"));
  const said = await page.getByTestId("designer-message").textContent();
  assert.match(said, /itself/i, "a refused connection says why");
  const added = await crossings();
  figure(5, `true/false ports labelled; self-connection refused ("${said.trim()}"); the draft's ${before} edges: 0 under a node; ` +
    `after drawing one more by hand: ${added.length ? added.join(", ") : "none under a node"}`);
  noErrors(page);
});

test("5b. an edge drawn by hand is routed around the nodes in its way", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.evaluate(() => window.batonDesigner.zoom(0.5));
  // start → done runs straight across the condition's row: drawn by hand,
  // it must detour. Then move a node onto the new edge's way: still clear.
  await dragTo(page, await center(page, "[data-testid=port-start-out]"), await center(page, "[data-testid=node-done]"));
  await page.waitForSelector("[data-testid=edge-start-done]");
  assert.deepEqual(await edgesUnderNodes(page), [], "the hand-drawn edge is routed around the nodes");
  // Loaded positions that put every node on one row (n8n's import case):
  // every edge, including check → small past big, goes round.
  const row = await page.evaluate(() => {
    const d = window.batonDesigner.getDefinition();
    d.steps.forEach((s, i) => { s.position = { x: 40 + i * 260, y: 200 }; });
    window.batonDesigner.setDefinition(d);
    return d.steps.length;
  });
  assert.equal(row, 5);
  await page.evaluate(() => window.batonDesigner.zoom(0.4));
  const underRow = await edgesUnderNodes(page);
  assert.deepEqual(underRow, [], "no edge is drawn under a node when all sit in one row");
  const edges = await page.locator(".bd-edge").count();
  figure("5b", `${edges} edges (one drawn by hand, all nodes loaded in one row): 0 drawn under a node`);
  await shot(page, "anchor-routed-row");
  noErrors(page);
});

// ---- 6. Auto-layout, undo, redo ----------------------------------------------------

test("6. auto-layout by button and key; undo and redo", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  const positions = () => page.evaluate(() => JSON.stringify([...document.querySelectorAll(".bd-node")].map((n) => n.style.transform || n.style.left + n.style.top)));
  // Scramble a node, then lay out with the button.
  await page.click("[data-testid=node-done]");
  for (let i = 0; i < 6; i++) await page.keyboard.press("Shift+ArrowUp");
  const moved = await positions();
  const title = await page.getAttribute("[data-testid=tool-layout]", "title");
  const button = await timeUntil(page, () => page.click("[data-testid=tool-layout]"), (p) =>
    JSON.stringify([...document.querySelectorAll(".bd-node")].map((n) => n.style.transform || n.style.left + n.style.top)) !== p, moved);
  const laid = await positions();
  await page.keyboard.press("Control+z");
  await page.waitForFunction((p) => JSON.stringify([...document.querySelectorAll(".bd-node")].map((n) => n.style.transform || n.style.left + n.style.top)) === p, moved);
  await page.keyboard.press("Control+Shift+z");
  await page.waitForFunction((p) => JSON.stringify([...document.querySelectorAll(".bd-node")].map((n) => n.style.transform || n.style.left + n.style.top)) === p, laid);
  // The layout key named in the tooltip does the same.
  const key = /\((.+)\)/.exec(title)?.[1];
  assert.ok(key, `the layout button's tooltip names its key: ${title}`);
  await page.keyboard.press("Control+z");
  await page.click("[data-testid=canvas]", { position: { x: 15, y: 15 } });
  const byKey = await timeUntil(page, () => page.keyboard.press(key), (p) =>
    JSON.stringify([...document.querySelectorAll(".bd-node")].map((n) => n.style.transform || n.style.left + n.style.top)) !== p, moved);
  // Delete is undoable.
  await page.click("[data-testid=node-big]");
  await page.keyboard.press("Delete");
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 4);
  await page.keyboard.press("Control+z");
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 5);
  figure(6, `layout ${button.toFixed(0)} ms by button, ${byKey.toFixed(0)} ms by key "${key}"; moves, layouts and deletes undo and redo`);
  noErrors(page);
});

// ---- 7. Live expressions -----------------------------------------------------------

test("7. live expressions: value or compile error as you type, nothing run", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  const runsBefore = (await api(page, "GET", "/api/v1/runs?template=anchor")).body.runs?.length ?? 0;
  await page.click("[data-testid=node-check]");
  const field = page.locator("[data-testid='field-action.expression']");
  const out = "[data-testid='preview-action.expression']";
  await page.waitForSelector(`${out}[data-state=value]`);
  assert.match(await page.textContent(out), /= false .*sample inputs/, "before any run: evaluated against the sample inputs (amount 5)");
  await field.fill("");
  await field.type("inputs.amount * 3 > 12");
  const tValue = performance.now();
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.startsWith("= true"), out);
  const valueMs = performance.now() - tValue;
  await field.type(" + inputs.amout");
  const tErr = performance.now();
  // Half-typed text ("… > 12 + ") is an error too, of another kind: wait
  // for the error about the whole text, which names the bad name.
  await page.waitForFunction((sel) => {
    const el = document.querySelector(sel);
    return el?.dataset.state === "error" && /amout/.test(el.textContent);
  }, out);
  const errMs = performance.now() - tErr;
  // A template field, against the same inputs.
  await page.click("[data-testid=node-start]");
  await page.waitForFunction(() => document.querySelector("[data-testid='preview-action.message']")?.textContent.includes('"amount 5"'));
  const runsAfter = (await api(page, "GET", "/api/v1/runs?template=anchor")).body.runs?.length ?? 0;
  assert.equal(runsAfter, runsBefore, "nothing was run to get the values");
  figure(7, `value shown ${valueMs.toFixed(0)} ms after the last key press, compile error ${errMs.toFixed(0)} ms; 0 runs started`);
  await shot(page, "anchor-live-expression");
  noErrors(page);
});

// ---- 8. Test run from the designer -------------------------------------------------

test("8. test run from an inputs form inside the designer", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.click("[data-testid=open-test-run]");
  await page.fill("[data-testid='field-inputs.amount']", "50");
  const ms = await timeUntil(page, () => page.click("[data-testid=test-run-start]"),
    () => document.querySelector("[data-testid=test-run-status]")?.dataset.status === "succeeded");
  assert.match(await page.textContent("[data-testid=status-big]"), /succeeded/);
  assert.match(await page.textContent("[data-testid=status-small]"), /skipped/);
  figure(8, `test run with inputs from the designer's form, finished and coloured ${ms.toFixed(0)} ms after Start; no outside request`);
  noErrors(page);
});

// ---- 9. Live node states -----------------------------------------------------------

test("9. node states are distinct by colour, icon and text, and change live", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.click("[data-testid=open-test-run]");
  await page.fill("[data-testid='field-inputs.amount']", "3");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]");
  const states = await page.evaluate(() => Object.fromEntries(["start", "check", "big", "small", "done"].map((id) => {
    const n = document.querySelector(`[data-testid=node-${id}]`);
    const s = n.querySelector(".bd-status");
    return [id, { text: s?.textContent.trim(), border: getComputedStyle(n).borderColor, icon: s?.querySelector("[aria-hidden]")?.textContent.trim() }];
  })));
  assert.match(states.big.text, /skipped/);
  assert.match(states.small.text, /succeeded/);
  assert.notEqual(states.big.icon, states.small.icon, "skipped and succeeded have different icons");
  assert.notEqual(states.big.border, states.small.border, "…and different colours");
  // Live: a run held on a signal shows "waiting" before it is released.
  await openDesigner(page, "anchor-signal", 2);
  await page.click("[data-testid=open-test-run]");
  await page.click("[data-testid=test-run-start]");
  await page.waitForFunction(() => /waiting/.test(document.querySelector("[data-testid=status-hold]")?.textContent || ""));
  const runId = await page.evaluate(() => document.querySelector("#run-panel a[href^='/runs/']").getAttribute("href").split("/").pop());
  const t0 = performance.now();
  await api(page, "POST", `/api/v1/runs/${runId}/signals/go`, { ok: true });
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("[data-testid=status-after]")?.textContent || ""));
  figure(9, `skipped (${states.big.icon}) vs succeeded (${states.small.icon}) differ in icon, colour and text; a signalled run turned green ${(performance.now() - t0).toFixed(0)} ms after the signal was sent`);
  noErrors(page);
});

test("9b. edges show the path taken; a branch not taken is faded", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.click("[data-testid=open-test-run]");
  await page.fill("[data-testid='field-inputs.amount']", "3");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]");
  const cls = (key) => page.getAttribute(`[data-testid=edge-${key}]`, "class");
  for (const key of ["start-check", "check-small", "small-done"]) assert.match(await cls(key), /bd-taken/, `${key} is on the path taken`);
  for (const key of ["check-big", "big-done"]) {
    assert.match(await cls(key), /bd-nottaken/, `${key} is a branch not taken`);
    assert.doesNotMatch(await cls(key), /bd-taken\b/);
  }
  const look = await page.evaluate(() => ["check-small", "check-big"].map((k) => getComputedStyle(document.querySelector(`[data-testid=edge-${k}] .bd-line`)).opacity));
  assert.notEqual(look[0], look[1], "not taken is drawn faded, unlike taken");
  figure("9b", `3 edges taken, 2 not taken (opacity ${look[1]} vs ${look[0]})`);
  noErrors(page);
});

test("9c. forEach item counts on the parallel step's edge", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "anchor-each", 2);
  await page.click("[data-testid=open-test-run]");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-settled]");
  await page.waitForSelector("[data-testid=items-spread-after]");
  const label = (await page.textContent("[data-testid=items-spread-after]")).trim();
  const record = await page.evaluate(async () => {
    const id = document.querySelector("#run-panel a[href^='/runs/']").getAttribute("href").split("/").pop();
    return (await (await fetch("/api/v1/runs/" + id, { headers: { Accept: "application/json" } })).json()).steps.find((s) => s.id === "spread").output;
  });
  assert.equal(label, record.failed ? `${record.succeeded} ✓ ${record.failed} ✕` : `${record.succeeded} items`, `label agrees with the run record ${JSON.stringify(record)}`);
  figure("9c", `forEach edge labelled "${label}" from the run record (succeeded ${record.succeeded}, failed ${record.failed})`);
  noErrors(page);
});

// A forEach over three elements: the first succeeds at once (a request to
// the test server), the other two fail (nothing listens on port 1) and are
// retried twice, so the run lasts about 4.5 s: long enough to watch the
// run page's label change and to receive its step.progress events (which
// are not stored, so a page that connects late cannot replay them).
const fanoutSlow = (url) => ({
  id: "anchor-each-slow", name: "Anchor each slow",
  steps: [
    { id: "spread", type: "parallel", retryPolicy: { maxAttempts: 3, initialInterval: 1500, jitter: 0 },
      action: { forEach: "[1, 2, 3]", step: { kind: "http", method: "GET", url: `{{ item == 1 ? "${url}/healthz" : "http://127.0.0.1:1/" }}` } } },
    { id: "after", type: "command", dependencies: ["spread"], trigger: "all_done", action: { kind: "log", message: "after" } },
  ],
});

test("9d. the run page labels a forEach step's edge with its item counts, live", { skip }, async (t) => {
  const page = await newPage(t);
  await page.goto(server.url + "/templates");
  const def = fanoutSlow(server.echo);
  let r = await api(page, "POST", "/api/v1/templates", def);
  assert.ok(r.status === 201 || r.status === 409, `create ${def.id}: ${JSON.stringify(r.body)}`);
  const version = (await api(page, "GET", `/api/v1/templates/${def.id}/versions`)).body.versions[0].number;
  r = await api(page, "POST", `/api/v1/templates/${def.id}/runs`, { version, inputs: {} });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id;
  // The counts come over the run's stream as its elements finish: listen
  // from the page's first script on.
  await page.addInitScript(() => {
    window.progressEvents = [];
    document.addEventListener("htmx:sseMessage", (e) => {
      if (e.detail?.type === "step.progress") window.progressEvents.push(JSON.parse(e.detail.data).progress);
    });
  });
  await page.goto(`${server.url}/runs/${id}`);
  await page.waitForFunction(() => window.batonRunDesigner && document.querySelector("[data-testid=run-graph] .bd-node"));
  // Every label the edge shows on the way, to print how it progressed.
  await page.evaluate(() => {
    window.itemLabels = [];
    const note = () => {
      const text = document.querySelector("[data-testid=items-spread-after]")?.textContent.trim();
      if (text && window.itemLabels.at(-1) !== text) window.itemLabels.push(text);
    };
    note();
    new MutationObserver(note).observe(document.getElementById("run-graph"), { subtree: true, childList: true, characterData: true });
  });
  await page.waitForSelector("[data-testid=run-status].pill-failed", { timeout: 30_000 });
  const record = (await api(page, "GET", `/api/v1/runs/${id}`)).body.steps.find((s) => s.id === "spread").output;
  const want = record.failed ? `${record.succeeded} ✓ ${record.failed} ✕` : `${record.succeeded} items`;
  await page.waitForFunction((want) => document.querySelector("[data-testid=items-spread-after]")?.textContent.trim() === want, want, { timeout: 5_000 })
    .catch(() => {});
  const label = (await page.textContent("[data-testid=items-spread-after]"))?.trim();
  assert.equal(label, want, `the run page's label agrees with the run record ${JSON.stringify(record)}`);
  assert.match(await page.textContent("[data-testid=step-items-spread]"), new RegExp(`${record.succeeded} items? succeeded, ${record.failed} failed`), "the steps list says it in words too");
  const seen = await page.evaluate(() => window.itemLabels);
  const progress = await page.evaluate(() => window.progressEvents);
  assert.deepEqual(progress.at(-1), { items: 3, succeeded: record.succeeded, failed: record.failed }, `step.progress events reached the page and end at the record: ${JSON.stringify(progress)}`);
  await shot(page, "anchor-run-items");
  // While the step runs: the same workflow with an hour's backoff holds two
  // elements before their retry; only the finished one is counted.
  const held = { ...def, id: "anchor-each-held", name: "Anchor each held",
    steps: def.steps.map((st) => st.id === "spread" ? { ...st, retryPolicy: { maxAttempts: 3, initialInterval: "1h", maxInterval: "1h", jitter: 0 } } : st) };
  r = await api(page, "POST", "/api/v1/templates", held);
  assert.ok(r.status === 201 || r.status === 409, `create ${held.id}: ${JSON.stringify(r.body)}`);
  r = await api(page, "POST", `/api/v1/templates/${held.id}/runs`, { version: 1, inputs: {} });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await page.goto(`${server.url}/runs/${r.body.id}`);
  await page.waitForFunction(() => document.querySelector("[data-testid=items-spread-after]")?.textContent.trim() === "1 item", null, { timeout: 15_000 });
  assert.match(await page.textContent("[data-testid=run-status]"), /running/, "the run is still going");
  const trigger = await page.getAttribute("#run-live", "hx-trigger");
  assert.ok(trigger.includes("sse:step.progress") && !trigger.includes("every 1s"), `item counts follow step.progress events, not a 1 s poll: ${trigger}`);
  assert.equal((await api(page, "POST", `/api/v1/runs/${r.body.id}/cancel`)).status, 200);
  await page.waitForSelector("[data-testid=run-status].pill-cancelled", { timeout: 15_000 });
  figure("9d", `run page forEach edge labels, in order: ${seen.map((l) => `"${l}"`).join(" → ")} (record: succeeded ${record.succeeded}, failed ${record.failed}; ${progress.length} step.progress event(s) received); with two elements held before a retry: "1 item", no 1 s poll`);
  noErrors(page);
});

// ---- 10. Failure one click away ----------------------------------------------------

test("10. a failed node: outlined, one click to its error, escaped once", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "anchor-fail", 2);
  await page.click("[data-testid=open-test-run]");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=failed][data-settled]");
  const node = page.locator("[data-testid=node-limit]");
  assert.match(await page.textContent("[data-testid=status-limit]"), /failed/);
  assert.match(await node.getAttribute("class"), /failed/, "the node carries the failed state");
  const t0 = performance.now();
  await node.click();
  await page.waitForSelector("[data-testid=run-step-error]");
  const ms = performance.now() - t0;
  const err = await page.textContent("[data-testid=run-step-error]");
  assert.ok(err.includes("value > 10 <b>not bold</b>"), `escaped exactly once: ${err}`);
  assert.ok(!err.includes("&gt;"), "not escaped twice");
  const canvas = await page.locator("[data-testid=canvas]").boundingBox();
  const covered = await page.evaluate(({ x, y }) => !document.elementFromPoint(x, y)?.closest(".bd"), { x: canvas.x + canvas.width / 2, y: canvas.y + canvas.height / 2 });
  assert.equal(covered, false, "no run-level error covers the canvas");
  figure(10, `failed node outlined with ✕ and "failed"; its error one click away (${ms.toFixed(0)} ms), escaped once; the canvas stays uncovered`);
  await shot(page, "anchor-failed-node");
  noErrors(page);
});

test("10b. a failed step shows a hint, its input and its output", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "anchor-fail", 2);
  await page.click("[data-testid=open-test-run]");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=failed][data-settled]");
  await page.click("[data-testid=node-limit]");
  await page.waitForSelector("[data-testid=run-step-hint]");
  const hint = await page.textContent("[data-testid=run-step-hint]");
  assert.match(hint, /fail step stopped the run on purpose/, `a hint for the fail code: ${hint}`);
  const input = JSON.parse(await page.textContent("[data-testid=run-step-input]"));
  assert.deepEqual(input.steps.prepare, { status: "succeeded", output: { value: 12 } }, "the input holds the upstream step's output");
  const seen = await page.evaluate(() => {
    const side = document.querySelector("[data-testid=side-panel]").getBoundingClientRect();
    const hint = document.querySelector("[data-testid=run-step-hint]").getBoundingClientRect();
    return hint.top >= side.top && hint.bottom <= side.bottom;
  });
  assert.ok(seen, "the hint is in view in the side panel without scrolling");
  await shot(page, "anchor-failed-hint");
  // The step before it, one click away too: its output.
  await page.click("[data-testid=node-prepare]");
  await page.waitForFunction(() => document.querySelector("[data-testid=run-step] h3")?.textContent.startsWith("prepare"));
  assert.deepEqual(JSON.parse(await page.textContent("[data-testid=run-step-output]")), { value: 12 });
  figure("10b", `failed step: error, hint ("${hint.trim().slice(0, 60)}…"), input (upstream outputs + run inputs) and output, one click`);
  noErrors(page);
});

// ---- 11. Live runs list --------------------------------------------------------------

test("11. runs list: live rows with status, start, duration, trigger, version; counters agree", { skip }, async (t) => {
  const page = await newPage(t);
  await page.goto(server.url + "/runs");
  await page.waitForSelector("[data-testid=runs-rows]");
  await page.waitForLoadState("networkidle");
  const other = await newPage(t);
  await other.goto(server.url + "/templates");
  const t0 = performance.now();
  const run = await testRun(other, "anchor", { amount: 20 });
  await page.waitForSelector(`[data-testid=run-row-${run.id}]`);
  const appeared = performance.now() - t0;
  await page.waitForSelector(`[data-testid=run-status-${run.id}].pill-succeeded`);
  const row = await page.textContent(`[data-testid=run-row-${run.id}]`);
  assert.match(row, /anchor/);
  assert.match(row, /v\d+/, "the version");
  assert.match(row, /test/, "the trigger kind (test)");
  assert.match(row, /\d+(\.\d+)?\s?(ms|s)/, "a duration");
  const counts = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("[data-testid^=runs-count-]")].map((c) => [c.dataset.testid.slice(11), Number(c.dataset.count)])));
  const rows = await page.locator("[data-testid^=run-row-]").count();
  const testRows = await page.locator("[data-testid^=run-row-] .badge", { hasText: "test" }).count();
  assert.equal(counts.all, rows, "the total agrees with the list");
  assert.equal(counts.test, testRows, "test runs agree");
  assert.equal(counts.production, rows - testRows, "production runs agree");
  const t1 = performance.now();
  await page.click(`[data-testid=run-row-${run.id}] a`);
  await page.waitForSelector("[data-testid=run-graph] .bd-node .bd-status");
  const opened = performance.now() - t1;
  figure(11, `a new run appeared ${appeared.toFixed(0)} ms after it was started, without reload; ${rows} rows, counters agree; its coloured graph opened in ${opened.toFixed(0)} ms`);
  await shot(page, "anchor-run-page");
  // A failed run is retried from the list, which stays where it is.
  const failed = await testRun(other, "anchor-fail");
  await page.goto(server.url + "/runs");
  await page.waitForSelector(`[data-testid=run-status-${failed.id}].pill-failed`);
  const icon = await page.evaluate((id) => getComputedStyle(document.querySelector(`[data-testid=run-status-${id}]`), "::before").content, failed.id);
  assert.match(icon, /✕/, "a failed status has an icon besides its word and colour");
  await page.evaluate(() => { window.sameList = true; });
  await page.click(`[data-testid=run-retry-${failed.id}]`);
  await page.waitForFunction(async (id) => {
    const run = await (await fetch(`/api/v1/runs/${id}`)).json();
    return run.status === "failed" && run.steps.find((s) => s.id === "limit").attempts >= 2;
  }, failed.id, { polling: 300, timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.sameList), true, "the list was not reloaded");
  noErrors(page);
  noErrors(other);
});

test("11b. run page: cancel, retry and send a signal", { skip }, async (t) => {
  const page = await newPage(t);
  page.on("dialog", (d) => d.accept());
  await page.goto(server.url + "/templates");
  const version = (await api(page, "GET", "/api/v1/templates/anchor-signal/versions")).body.versions[0].number;
  // Send a signal.
  let r = await api(page, "POST", "/api/v1/templates/anchor-signal/runs", { version, inputs: {} });
  await page.goto(`${server.url}/runs/${r.body.id}`);
  await page.waitForSelector("[data-testid=signal-form]");
  await page.selectOption("[data-testid=signal-name]", "go");
  await page.fill("[data-testid=signal-payload]", '{"by": "test"}');
  await page.click("[data-testid=signal-send]");
  await page.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 30_000 });
  // Cancel.
  r = await api(page, "POST", "/api/v1/templates/anchor-signal/runs", { version, inputs: {} });
  await page.goto(`${server.url}/runs/${r.body.id}`);
  await page.waitForSelector("[data-testid=signal-form]");
  await page.click("[data-testid=run-cancel]");
  await page.waitForSelector("[data-testid=run-status].pill-cancelled", { timeout: 30_000 });
  // Retry a failed run: it runs its failed step again (and fails again).
  const failed = await testRun(page, "anchor-fail");
  assert.equal(failed.status, "failed");
  await page.goto(`${server.url}/runs/${failed.id}`);
  await page.click("[data-testid=run-retry]");
  await page.waitForFunction(async (id) => {
    const res = await fetch(`/api/v1/runs/${id}`);
    const run = await res.json();
    return run.status === "failed" && run.steps.find((s) => s.id === "limit").attempts >= 2;
  }, failed.id, { polling: 300, timeout: 30_000 });
  figure(11, "run page: send signal → succeeded, cancel → cancelled, retry → the failed step ran again");
  noErrors(page);
});

// ---- 12. Shortcuts you can discover ------------------------------------------------

test("12. shortcuts are shown in tooltips and the context menu; Escape closes menus", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  const titles = await page.$$eval(".bd-toolbar [data-testid^=tool-]", (bs) => bs.map((b) => [b.dataset.testid, b.title]));
  const withKey = titles.filter(([, title]) => /\(.+\)/.test(title));
  assert.ok(withKey.length >= 6, `toolbar tooltips name their keys: ${JSON.stringify(titles)}`);
  await page.click("[data-testid=node-check]", { button: "right" });
  await page.waitForSelector("[data-testid=context-menu]");
  const items = await page.$$eval("[data-testid=context-menu] [role=menuitem]", (bs) => bs.map((b) => b.textContent.trim()));
  assert.ok(items.length >= 3 && items.every((i) => /\S\s*\S/.test(i)), `menu items: ${items}`);
  // Each item shows its key in its own <kbd>, so a one-character key ("1")
  // counts as much as "Ctrl+Z".
  const keys = await page.$$eval("[data-testid=context-menu] [role=menuitem]", (bs) => bs.map((b) => b.querySelector("kbd")?.textContent.trim() || ""));
  const keyed = keys.filter(Boolean);
  assert.equal(keyed.length, items.length, `every context-menu item names its key: ${items} / ${keys}`);
  await page.keyboard.press("Escape");
  await page.waitForSelector("[data-testid=context-menu]", { state: "detached" });
  figure(12, `${withKey.length}/${titles.length} toolbar tooltips and ${keyed.length}/${items.length} menu items name their key; Escape closes the menu`);
  noErrors(page);
});

// ---- 13. Readable when fitted --------------------------------------------------------

// Issue 16 changed Fit: it shows the whole graph (a step cut off at 92 %
// was the complaint), and says how to zoom in when that makes labels
// small. Opening a draft still keeps labels readable.
test("13. opening keeps labels at 11 px or larger on a 12-step chain; Fit shows every step", { skip }, async (t) => {
  const out = [];
  for (const viewport of [{ width: 1440, height: 900 }, { width: 1280, height: 800 }]) {
    const page = await newPage(t, { viewport });
    await openDesigner(page, "anchor-chain", 12);
    await page.click("[data-testid=node-s0]");
    await page.waitForSelector("#step-form");
    await page.waitForTimeout(100);
    const min = await page.evaluate(() => {
      const k = window.batonDesigner.zoom();
      let m = Infinity;
      for (const n of document.querySelectorAll(".bd-node")) {
        for (const e of n.querySelectorAll("*")) {
          if (!e.childNodes.length || ![...e.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
          m = Math.min(m, parseFloat(getComputedStyle(e).fontSize) * k);
        }
      }
      return m;
    });
    assert.ok(min >= 11, `${viewport.width}×${viewport.height}: smallest label ${min.toFixed(1)} px`);
    await page.click("[data-testid=tool-fit]");
    const cut = await page.evaluate(() => {
      const c = document.querySelector("[data-testid=canvas]").getBoundingClientRect();
      return [...document.querySelectorAll(".bd-node")].filter((n) => {
        const b = n.getBoundingClientRect();
        return b.left < c.left || b.right > c.right || b.top < c.top || b.bottom > c.bottom;
      }).map((n) => n.dataset.id);
    });
    assert.deepEqual(cut, [], `${viewport.width}×${viewport.height}: Fit shows every step`);
    // The notice, if shown, overlaps neither the palette nor the side panel.
    const overlap = await page.evaluate(() => {
      const toast = document.querySelector("[data-testid=designer-message]");
      if (!toast || getComputedStyle(toast).opacity === "0") return "";
      const a = toast.getBoundingClientRect();
      for (const sel of [".bd-palette", "#side-panel", ".bd-toolbar"]) {
        const b = document.querySelector(sel)?.getBoundingClientRect();
        if (b && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) return sel;
      }
      return "";
    });
    assert.equal(overlap, "", "the readable-zoom notice overlaps nothing");
    out.push(`${viewport.width}×${viewport.height}: smallest label ${min.toFixed(1)} px on opening, Fit shows all 12 at ${Math.round(await page.evaluate(() => window.batonDesigner.zoom()) * 100)}%`);
    await shot(page, `anchor-fit-${viewport.width}`);
    noErrors(page);
  }
  figure(13, out.join("; "));
});

test("13b. Fit shows a 4-layer draft whole beside the open side panel at 1280×800", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.click("[data-testid=node-check]");
  await page.waitForSelector("#step-form");
  await page.click("[data-testid=tool-fit]");
  const r = await page.evaluate(() => {
    const c = document.querySelector("[data-testid=canvas]").getBoundingClientRect();
    const side = document.querySelector("#side-panel").getBoundingClientRect();
    const out = [...document.querySelectorAll(".bd-node")].filter((n) => {
      const b = n.getBoundingClientRect();
      return b.left < c.left || b.right > c.right || b.top < c.top || b.bottom > c.bottom || b.right > side.left;
    }).map((n) => n.dataset.id);
    return { k: window.batonDesigner.zoom(), out };
  });
  assert.deepEqual(r.out, [], "every node is on the canvas, none under the side panel");
  assert.deepEqual(await edgesUnderNodes(page), [], "the layout's edges go round the nodes");
  figure("13b", `4-layer draft with the panel open at 1280×800: all 5 nodes on screen at ${Math.round(r.k * 100)}% (one row of layers), 0 edges under a node`);
  await shot(page, "anchor-fit-panel-1280");
  noErrors(page);
});

test("13c. at 420 px the palette does not scroll sideways and the header stays on one line", { skip }, async (t) => {
  const page = await newPage(t, { viewport: { width: 420, height: 800 } });
  await openDesigner(page);
  const m = await page.evaluate(() => {
    const pal = document.querySelector("[data-testid=palette]");
    const bar = document.querySelector(".dz-bar");
    // Only what is shown sits on a line (a hidden button's box is empty).
    const lineOf = (sel) => [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length)
      .map((e) => Math.round(e.getBoundingClientRect().top));
    return {
      palette: [pal.scrollWidth, pal.clientWidth],
      page: [document.documentElement.scrollWidth, window.innerWidth],
      tools: new Set(lineOf(".dz-tools button")).size,
      toolbar: new Set(lineOf(".bd-toolbar .bd-tool")).size,
      bar: bar.getBoundingClientRect().height,
      topbar: document.querySelector(".topbar").getBoundingClientRect().height,
      kinds: [...pal.querySelectorAll(".bd-item")].map((b) => b.title.split(":")[0]),
    };
  });
  assert.ok(m.palette[0] <= m.palette[1], `the palette does not scroll sideways: ${m.palette}`);
  assert.ok(m.page[0] <= m.page[1], `the page does not scroll sideways: ${m.page}`);
  assert.equal(m.tools, 1, "the header's actions sit on one line");
  assert.equal(m.toolbar, 1, "the canvas toolbar sits on one line");
  assert.ok(m.bar < 60, `the designer header is one line: ${m.bar} px`);
  assert.ok(m.topbar < 60, `the site header is one line: ${m.topbar} px`);
  assert.ok(m.kinds.every(Boolean) && m.kinds.length === 10, "every palette tag names its kind in its tooltip");
  // The short labels still say what they do.
  assert.equal(await page.getAttribute("[data-testid=submit-review]", "title"), "Submit for review");
  figure("13c", `420 px: palette ${m.palette[0]}/${m.palette[1]} px (no sideways scroll), designer header ${Math.round(m.bar)} px and site header ${Math.round(m.topbar)} px (one line each)`);
  await shot(page, "anchor-narrow-420");
  noErrors(page);
});

// ---- 14. Clear saved state and locks ---------------------------------------------------

test("14. saved state, who holds the draft, and a closed tab's lock expires", { skip }, async (t) => {
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState });
  const a = await newPage(t, { context: ctxA });
  await openDesigner(a);
  assert.match(await a.textContent("[data-testid=save-state]"), /saved/i);
  await a.click("[data-testid=node-done]");
  await a.keyboard.press("Shift+ArrowDown");
  await a.waitForSelector("[data-testid=save-state][data-state=unsaved], [data-testid=save-state][data-state=saving]");
  await a.waitForSelector("[data-testid=save-state][data-state=saved]", { timeout: 15_000 });
  // A second tab is told who holds the draft and does not save over it.
  const b = await newPage(t);
  await openDesigner(b);
  await b.waitForSelector("[data-testid=lock-state]:not([hidden])");
  assert.match(await b.textContent("[data-testid=lock-state]"), /\(admin\) are editing this draft in another tab/);
  // Tab A goes away without a word (as a crash or a lost network would:
  // its release never arrives), so only the lease's expiry frees the draft.
  await a.evaluate(() => { window.fetch = () => new Promise(() => {}); });
  const t0 = performance.now();
  await ctxA.close();
  await b.waitForSelector("[data-testid=lock-state][hidden]", { state: "attached", timeout: 40_000 });
  const freed = (performance.now() - t0) / 1000;
  assert.ok(freed <= 30, `the closed tab's lock ended after ${freed.toFixed(1)} s; the limit is 30 s`);
  figure(14, `saved/unsaved shown; the second tab names the holder ("You (admin) are editing this draft in another tab"); a closed tab's lock released after ${freed.toFixed(1)} s`);
  noErrors(b);
});

// ---- 15. The canvas keeps its meaning ------------------------------------------------

test("15. after a reload, positions, panels and the last run's colours come back", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page);
  await page.click("[data-testid=open-test-run]");
  await page.fill("[data-testid='field-inputs.amount']", "50");
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]");
  await page.click("[data-testid=node-check]");
  await page.waitForSelector("#step-form[data-step=check]");
  await page.click("[data-testid=toggle-code]");
  const snapshot = () => page.evaluate(() => ({
    nodes: [...document.querySelectorAll(".bd-node")].map((n) => [n.dataset.id, n.getBoundingClientRect().x | 0, n.getBoundingClientRect().y | 0]).sort(),
    status: [...document.querySelectorAll(".bd-status")].map((s) => s.closest(".bd-node").dataset.id + ":" + s.textContent.trim()).sort(),
    panel: document.querySelector("#step-form")?.dataset.step || null,
    code: !document.querySelector("#code-view").hidden,
  }));
  const before = await snapshot();
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 5);
  await page.waitForSelector("#step-form[data-step=check]");
  await page.waitForFunction((n) => document.querySelectorAll(".bd-status").length === n, before.status.length);
  const afterReload = await snapshot();
  assert.deepEqual(afterReload, before, "the same positions, panels and colours");
  figure(15, `after a reload: ${before.nodes.length} positions, the open panel, the code view and ${before.status.length} run colours came back exactly`);
  noErrors(page);
});
