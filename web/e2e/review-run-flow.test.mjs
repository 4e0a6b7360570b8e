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
// amounts, "auto" otherwise; "reserve" fans out over the lines meanwhile.
const definition = {
  id: "orders",
  name: "Orders",
  description: "Branch on the amount and fan out over the lines.",
  inputs: {
    amount: { type: "number", required: true, description: "the order amount" },
    lines: { type: "array", default: ["a", "b", "c"] },
  },
  steps: [
    { id: "prepare", type: "command", action: { kind: "set", values: { amount: "{{ inputs.amount }}" } } },
    { id: "is_large", type: "condition", dependencies: ["prepare"], action: { expression: "inputs.amount > 1000" }, onSuccess: "review", onFailure: "auto" },
    { id: "review", type: "wait", action: { duration: "2s" } },
    { id: "auto", type: "command", action: { kind: "set", values: { by: "rule" } } },
    { id: "reserve", type: "parallel", dependencies: ["prepare"], action: { forEach: "inputs.lines", as: "line", maxConcurrency: 2, step: { kind: "set", values: { line: "{{ line }}" } } } },
    { id: "notify", type: "command", dependencies: ["review", "auto", "reserve"], action: { kind: "log", message: "done" } },
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
  mkdirSync(shots, { recursive: true });
  await b.screenshot({ path: join(shots, "review-page.png"), fullPage: true });
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
  await b.screenshot({ path: join(shots, "review-diff.png"), fullPage: true });

  // A second tab on the runs list sees the run appear and finish, live.
  const list = await newPage(t);
  await signIn(list, "bruno", password);
  await list.goto(server.url + "/runs");
  await list.waitForSelector("[data-testid=runs-empty]");
  await list.evaluate(() => (window.__notReloaded = true));

  // B starts a run from the runs page with the generated inputs form.
  await b.click("[data-testid=nav-runs]");
  await b.click("[data-testid=start-run-link]");
  await b.selectOption("[data-testid=start-template]", "orders");
  await b.click("[data-testid=start-choose-submit]");
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
  for (const id of ["prepare", "is_large", "review", "reserve", "notify"]) {
    await b.waitForSelector(`#run-graph [data-testid=node-${id}][data-status=succeeded]`);
  }
  await b.waitForSelector("#run-graph [data-testid=node-auto][data-status=skipped]");
  assert.equal(await b.evaluate(() => window.__notReloaded), true, "the run page updated without a reload");
  await b.waitForSelector("[data-testid=gantt-bar-review]");
  // A node's output is one click away.
  await b.click("#run-graph [data-testid=node-prepare]");
  await b.waitForSelector("[data-testid=step-prepare][open]");
  assert.match(await b.textContent("[data-testid=step-output-prepare]"), /1500/);
  mkdirSync(shots, { recursive: true });
  await b.screenshot({ path: join(shots, "run-page.png"), fullPage: true });

  await list.waitForSelector(`[data-testid=run-status-${runId}].pill-succeeded`, { timeout: 30_000 });
  assert.equal(await list.evaluate(() => window.__notReloaded), true, "the runs list updated without a reload");
  await list.screenshot({ path: join(shots, "runs-list.png"), fullPage: true });

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
