// Browser test of review and runs: a template written and submitted by one
// user (through the API) is approved in the browser by another, whose
// author cannot approve it; the approver runs it from the runs page, watches
// it finish live (the canvas colours and the list update without a reload)
// and re-runs it from a step. Fails on any script error or CSP violation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";

const skip = chromiumMissing() || false;
const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
const password = "e2e user password";
let server, browser;

// A branching workflow with a parallel fan-out: the condition takes the
// "review" branch (a 2 s wait, so there is something to watch) for large
// amounts, "auto" otherwise; "reserve" fans out over the lines meanwhile
// and two checks run beside them, which makes the graph tall.
const definition = {
  id: "orders",
  name: "Orders",
  description: "Branch on the amount and fan out over the lines.",
  inputs: {
    amount: { type: "number", required: true, description: "the order amount" },
    lines: { type: "array", default: ["a", "b", "c"] },
  },
  steps: [
    { id: "prepare", name: "Prepare the order", type: "command", action: { kind: "set", values: { amount: "{{ inputs.amount }}" } } },
    { id: "is_large", type: "condition", dependencies: ["prepare"], action: { expression: "inputs.amount > 1000" }, onSuccess: "review", onFailure: "auto" },
    { id: "review", type: "wait", action: { duration: "2s" } },
    { id: "auto", type: "command", action: { kind: "set", values: { by: "rule" } } },
    { id: "reserve", type: "parallel", dependencies: ["prepare"], action: { forEach: "inputs.lines", as: "line", maxConcurrency: 2, step: { kind: "set", values: { line: "{{ line }}" } } } },
    // Two more checks beside the branch, so the graph is taller than a
    // fixed-height box fits at a readable zoom.
    { id: "check_stock", type: "command", dependencies: ["prepare"], action: { kind: "set", values: { stock: "ok" } } },
    { id: "check_credit", type: "command", dependencies: ["prepare"], action: { kind: "set", values: { credit: "ok" } } },
    { id: "notify", type: "command", dependencies: ["review", "auto", "reserve", "check_stock", "check_credit"], action: { kind: "log", message: "done" } },
  ],
};

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// newPage opens a page in its own context (its own cookies) that records
// console errors and page errors.
async function newPage(t, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    const text = m.text();
    if (m.type() !== "error" || /Failed to load resource|Response Status Error Code/.test(text)) return;
    page.problems.push("console: " + text);
  });
  t.after(async () => {
    if (page.problems.length || t.failed) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, "failed-" + t.name.replace(/\W+/g, "-") + ".png"), fullPage: true });
    }
    await context.close();
  });
  return page;
}

// assertWholeGraph clicks Fit on a read-only canvas and checks that every
// step is inside the canvas (issue 16: Fit shows the whole graph, one row
// of ranks, zooming out as far as that needs; the zoom is printed).
async function assertWholeGraph(page, selector, what) {
  await page.click(`${selector} [data-testid=tool-fit]`);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const m = await page.$eval(selector, (box) => {
    const v = box.querySelector(".bd-viewport").getBoundingClientRect();
    const out = [];
    for (const n of box.querySelectorAll(".bd-node")) {
      const r = n.getBoundingClientRect();
      if (r.left < v.left - 0.5 || r.top < v.top - 0.5 || r.right > v.right + 0.5 || r.bottom > v.bottom + 0.5) out.push(n.dataset.testid);
    }
    const zoom = parseFloat(box.querySelector("[data-testid=tool-zoom], .bd-zoom")?.textContent) / 100;
    return { nodes: box.querySelectorAll(".bd-node").length, out, height: Math.round(box.getBoundingClientRect().height), zoom };
  });
  console.log(`figures: ${what}: ${m.nodes} steps, box ${m.height}px high, zoom ${m.zoom}`);
  assert.ok(m.nodes > 0, `${what}: no steps drawn`);
  assert.deepEqual(m.out, [], `${what}: steps outside the canvas after Fit`);
}

async function signIn(page, user, pass) {
  await page.goto(server.url + "/login");
  await page.fill("[data-testid=login-username]", user);
  await page.fill("[data-testid=login-password]", pass);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=user-name]");
}

// api calls the JSON API with the page's session and CSRF token.
async function api(page, method, path, body) {
  const csrf = JSON.parse(await page.getAttribute("body", "hx-headers"))["X-CSRF-Token"];
  const res = await page.request.fetch(server.url + path, {
    method,
    headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok(), `${method} ${path} = ${res.status()}: ${await res.text()}`);
  return res.json();
}

test("approve in the browser, run it, watch it live, rerun from a step", { skip, timeout: 120_000 }, async (t) => {
  // Users: A designs, B approves and operates.
  const admin = await newPage(t);
  await signIn(admin, "admin", adminPassword);
  await api(admin, "POST", "/api/v1/users", { name: "anna", password, roles: ["designer", "approver"] });
  await api(admin, "POST", "/api/v1/users", { name: "bruno", password, roles: ["approver", "operator"] });

  // A creates and submits the template through the API.
  const a = await newPage(t);
  await signIn(a, "anna", password);
  await api(a, "POST", "/api/v1/templates", definition);
  await api(a, "POST", "/api/v1/templates/orders/versions/1/submit");

  // A sees why they cannot approve their own version.
  await a.goto(server.url + "/approvals");
  assert.match(await a.textContent("[data-testid=approvals-empty]"), /Nothing to review/);
  assert.match(await a.textContent("[data-testid=other-orders-1]"), /four eyes/);
  await a.click("[data-testid=review-orders-1]");
  assert.match(await a.textContent("[data-testid=review-why]"), /You wrote or edited this version/);
  assert.ok(await a.isDisabled("[data-testid=review-approve]"));

  // B approves it in the browser, after looking at the diff on the canvas.
  const b = await newPage(t);
  await signIn(b, "bruno", password);
  await b.click("[data-testid=nav-approvals]");
  await b.click("[data-testid=review-orders-1]");
  await b.waitForSelector("#review-graph [data-testid=node-notify].diff-added");
  assert.match(await b.textContent("[data-testid=text-diff]"), /"is_large"/);
  await assertWholeGraph(b, "#review-graph", "review page v1");
  mkdirSync(shots, { recursive: true });
  await b.screenshot({ path: join(shots, "review-page.png"), fullPage: true });
  // The form is below the graph; the summary's link takes the reviewer there.
  await b.click("[data-testid=review-jump]");
  assert.ok(await b.$eval("[data-testid=review-approve]", (el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }), "Approve is on screen after the jump");
  await b.click("[data-testid=review-reject]");
  assert.match(await b.textContent("[data-testid=review-error]"), /comment is required/);
  await b.fill("[data-testid=review-comment]", "Looks right.");
  await b.click("[data-testid=review-approve]");
  await b.waitForSelector("[data-testid=review-status].pill-approved");
  assert.match(await b.textContent("[data-testid=review-approvals]"), /bruno approved/);

  // Version 2 removes a step, adds one and changes one: the canvas colours each.
  const v2 = structuredClone(definition);
  v2.steps = v2.steps.filter((s) => s.id !== "reserve");
  const notify = v2.steps.find((s) => s.id === "notify");
  notify.dependencies = ["review", "auto"];
  notify.action.message = "handled";
  v2.steps.push({ id: "audit", type: "command", dependencies: ["notify"], action: { kind: "log", message: "audited" } });
  await api(a, "PUT", "/api/v1/templates/orders/draft", v2);
  await api(a, "POST", "/api/v1/templates/orders/versions/2/submit");
  await b.goto(server.url + "/approvals/orders/2");
  await b.waitForSelector("#review-graph [data-testid=node-audit].diff-added");
  await b.waitForSelector("#review-graph [data-testid=node-reserve].diff-removed");
  await b.waitForSelector("#review-graph [data-testid=node-notify].diff-changed");
  assert.equal(await b.$$eval("#review-graph .diff-added, #review-graph .diff-removed, #review-graph .diff-changed", (n) => n.length), 3);
  assert.match(await b.textContent("[data-testid=text-diff]"), /-\s+"message": "done"/);
  await assertWholeGraph(b, "#review-graph", "review page v2");
  // Clicking a step on the review graph shows its definition and what changed.
  await b.click("#review-graph [data-testid=node-notify]");
  await b.waitForSelector("[data-testid=review-step-json]");
  assert.equal(await b.textContent("[data-testid=review-step-diff]"), "changed");
  assert.match(await b.textContent("[data-testid=review-step-json]"), /"id": "notify"/);
  assert.ok(await b.$eval("#review-graph [data-testid=node-notify] .bd-name", (e) => !!e.title), "a node's full name is its tooltip");
  // The legend says what the outlines on the graph mean.
  assert.match(await b.textContent("[data-testid=review-legend]"), /Outlined on the graph:\s+added\s+changed\s+removed/);
  await b.screenshot({ path: join(shots, "review-diff.png"), fullPage: true });
  // What a reviewer sees first, at 1280×800 (full-page captures re-lay the canvas out).
  await b.screenshot({ path: join(shots, "review-diff-1280x800.png") });

  // A second tab on the runs list sees the run appear and finish, live.
  const list = await newPage(t);
  await signIn(list, "bruno", password);
  await list.goto(server.url + "/runs");
  await list.waitForSelector("[data-testid=runs-empty]");
  await list.evaluate(() => (window.__notReloaded = true));

  // B starts a run from the runs page with the generated inputs form.
  await b.click("[data-testid=nav-runs]");
  await b.click("[data-testid=start-run-link]");
  // With one template to choose from, its form comes at once; else choose it.
  if (await b.getByTestId("start-template").count()) {
    await b.selectOption("[data-testid=start-template]", "orders");
    await b.click("[data-testid=start-choose-submit]");
  }
  assert.equal(await b.inputValue("#start-form [name=template]"), "orders");
  await b.fill("[data-testid=start-input-amount]", "lots");
  await b.click("[data-testid=start-submit]");
  assert.match(await b.textContent("[data-testid=start-error-amount]"), /must be a number/);
  await b.fill("[data-testid=start-input-amount]", "1500");
  await b.click("[data-testid=start-submit]");
  await b.waitForURL(/\/runs\/[0-9A-Z]{26}$/);
  const runId = b.url().split("/").pop();
  await b.evaluate(() => (window.__notReloaded = true));

  // The graph colours live: the wait step is seen waiting/running, then
  // every taken step turns green and the branch not taken is skipped.
  await b.waitForSelector("#run-graph [data-testid=node-review][data-status]");
  await b.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 30_000 });
  // The outcome is announced once, in the polite live region that was on the page all along.
  await b.waitForFunction(() => document.querySelector("[data-testid=run-announce]")?.textContent === "The run succeeded.");
  assert.equal(await b.getAttribute("[data-testid=run-announce]", "aria-live"), "polite");
  for (const id of ["prepare", "is_large", "review", "reserve", "notify"]) {
    await b.waitForSelector(`#run-graph [data-testid=node-${id}][data-status=succeeded]`);
  }
  await b.waitForSelector("#run-graph [data-testid=node-auto][data-status=skipped]");
  assert.equal(await b.evaluate(() => window.__notReloaded), true, "the run page updated without a reload");
  await b.waitForSelector("[data-testid=gantt-bar-review]");
  await assertWholeGraph(b, "#run-graph", "run page");

  // The heading names the template and the run's short id; the full id stays on the page.
  assert.equal((await b.textContent("[data-testid=run-title]")).trim(), `Orders · run ${runId.slice(-8)}`);
  assert.equal(await b.textContent("[data-testid=run-id]"), runId);
  // The timeline reads in the order steps ran, under their names: the first
  // step first, the join after its branches, the branch not taken last.
  const rows = await b.$$eval("[data-testid=gantt-label]", (ls) => ls.map((l) => l.dataset.step));
  // A long name is shortened in the row; its tooltip (SVG title) has it whole.
  const names = await b.$$eval("[data-testid=gantt-label]", (ls) => ls.map((l) => l.querySelector("title").textContent));
  const shown = await b.$eval("[data-testid=gantt-label]", (l) => [...l.childNodes].filter((n) => n.nodeName !== "title").map((n) => n.textContent).join("").trim());
  assert.match(shown, /^Prepare the…\s+prepare$/);
  console.log("figures: timeline rows", rows.join(", "));
  assert.equal(rows.length, 8, `one row per step: ${rows}`);
  assert.equal(rows[0], "prepare");
  for (const before of ["is_large", "review", "reserve", "check_stock", "check_credit"]) assert.ok(rows.indexOf(before) < rows.indexOf("notify"), `${before} before notify: ${rows}`);
  assert.equal(rows.at(-1), "auto", `the skipped branch comes last: ${rows}`);
  assert.equal(names[0], "Prepare the order (prepare)");
  assert.ok(names.includes("notify"), `a step without a name shows its id alone: ${names}`);
  // The steps list follows the same order.
  const listed = await b.$$eval("#run-live details.step", (ds) => ds.map((d) => d.dataset.step));
  assert.equal(listed[0], "prepare");
  assert.equal(listed.at(-1), "auto");
  // A node's output is one click away.
  await b.click("#run-graph [data-testid=node-prepare]");
  await b.waitForSelector("[data-testid=step-prepare][open]");
  assert.match(await b.textContent("[data-testid=step-output-prepare]"), /1500/);
  mkdirSync(shots, { recursive: true });
  await b.screenshot({ path: join(shots, "run-page.png"), fullPage: true });
  await b.screenshot({ path: join(shots, "run-page-1280x800.png") });

  await list.waitForSelector(`[data-testid=run-status-${runId}].pill-succeeded`, { timeout: 30_000 });
  assert.equal(await list.evaluate(() => window.__notReloaded), true, "the runs list updated without a reload");
  await list.screenshot({ path: join(shots, "runs-list.png"), fullPage: true });
  // The list names the template; its key is the secondary text.
  assert.match(await list.textContent(`[data-testid=run-template-${runId}]`), /^\s*Orders v1\s+orders\s*$/);

  // Rerun from a step: a new run linked to this one.
  await b.selectOption("[data-testid=rerun-from]", "notify");
  await b.click("[data-testid=rerun-submit]");
  await b.waitForURL((u) => /\/runs\/[0-9A-Z]{26}$/.test(u.pathname) && !u.pathname.endsWith(runId));
  assert.equal(await b.textContent("[data-testid=run-parent]"), runId);
  await b.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 30_000 });
  await b.waitForSelector("#run-graph [data-testid=node-notify][data-status=succeeded]");

  // Narrow screens still show the run page without horizontal scrolling of the page.
  await b.setViewportSize({ width: 420, height: 800 });
  const overflow = await b.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the run page scrolls sideways by ${overflow}px on a narrow screen`);
  await b.screenshot({ path: join(shots, "run-page-narrow.png"), fullPage: true });

  for (const p of [admin, a, b, list]) assert.deepEqual(p.problems, []);
});
