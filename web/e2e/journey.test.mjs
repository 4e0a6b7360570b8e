// Issue 16's whole journey as one browser test, with clicks and typing only
// (the API is only read, to check what the browser did): the admin adds a
// reviewer, builds "order-fulfilment" on the canvas (an HTTP check, a
// condition, on true a parallel set and wait joining into a log, on false a
// fail; the fan-out's second branch is previewed before it is dropped),
// lays it out, test-runs it and submits it; the reviewer approves it; the
// admin runs it from the runs page and reruns it from a step; the admin
// edits a v2 and the reviewer reviews its diff. Screenshots go to
// web/e2e/screenshots/journey-*.png. Fails on any script error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";
import { dragTo, shots } from "./helpers.mjs";

const skip = chromiumMissing() || false;
const reviewerPassword = "reviewer journey password";
let server, browser;
const opened = [];

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function newPage(t, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.who = who;
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() !== "error" || /Failed to load resource|Response Status Error Code/.test(m.text())) return;
    page.problems.push("console: " + m.text());
  });
  opened.push(page);
  t.after(() => context.close());
  return page;
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "journey-" + name + ".png") });
}

async function signIn(page, user, password) {
  await page.goto(server.url + "/");
  await page.fill("[data-testid=login-username]", user);
  await page.fill("[data-testid=login-password]", password);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=user-name]");
}

async function readAPI(page, path) {
  const res = await page.request.get(server.url + path);
  assert.equal(res.status(), 200, `GET ${path}: ${await res.text()}`);
  return res.json();
}

async function center(page, testid) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const el = page.getByTestId(testid);
    await el.waitFor();
    const b = await el.boundingBox();
    if (b) return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
  }
  assert.fail(`${testid} is not on screen`);
}

async function connect(page, from, port, to) {
  await dragTo(page, await center(page, `port-${from}-${port}`), await center(page, "node-" + to));
  await page.getByTestId(`edge-${from}-${to}`).waitFor();
}

async function editStep(page, id, fields) {
  await page.getByTestId("node-" + id).click();
  await page.waitForSelector(`[data-testid=step-form][data-step=${id}]`);
  for (const [path, value] of Object.entries(fields)) await page.fill(`[data-testid='field-${path}']`, value);
}

// layoutProblems lists edges drawn under a node other than their ends and
// nodes outside the canvas.
const layoutProblems = (page, scope = "") => page.evaluate((scope) => {
  const root = scope ? document.querySelector(scope) : document;
  const canvas = root.querySelector(".bd-viewport").getBoundingClientRect();
  const nodes = [...root.querySelectorAll(".bd-node")].map((n) => ({ id: n.dataset.id, r: n.getBoundingClientRect() }));
  const out = nodes.filter((n) => n.r.left < canvas.left - 0.5 || n.r.right > canvas.right + 0.5 || n.r.top < canvas.top - 0.5 || n.r.bottom > canvas.bottom + 0.5).map((n) => "outside: " + n.id);
  for (const g of root.querySelectorAll(".bd-edge")) {
    const path = g.querySelector(".bd-line");
    const m = path.getScreenCTM();
    const len = path.getTotalLength();
    const [from, to] = g.dataset.key.split("-");
    for (let i = 1; i < 80; i++) {
      const p = path.getPointAtLength((len * i) / 80);
      const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
      const hit = nodes.find((n) => n.id !== from && n.id !== to && x > n.r.left + 1 && x < n.r.right - 1 && y > n.r.top + 1 && y < n.r.bottom - 1);
      if (hit) { out.push(`${g.dataset.key} under ${hit.id}`); break; }
    }
  }
  return out;
}, scope);

test("issue 16 journey: build order-fulfilment, test-run, submit, approve, run, rerun from a step, edit v2, review its diff", { skip, timeout: 300_000 }, async (t) => {
  try {
    await journey(t);
  } catch (e) {
    mkdirSync(shots, { recursive: true });
    for (const p of opened) await p.screenshot({ path: join(shots, "journey-failed-" + p.who + ".png"), fullPage: true }).catch(() => {});
    throw e;
  }
});

async function journey(t) {
  const started = performance.now();
  const figure = (what) => t.diagnostic(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // The admin adds a reviewer.
  const admin = await newPage(t, "admin");
  await signIn(admin, "admin", adminPassword);
  await admin.click("[data-testid=nav-settings]");
  await admin.click("[data-testid=manage-users]");
  await admin.fill("[data-testid=user-add-name]", "reviewer");
  await admin.fill("[data-testid=user-add-password]", reviewerPassword);
  await admin.check("[data-testid=role-add-approver]");
  await admin.click("[data-testid=user-add-submit]");
  assert.match(await admin.textContent("[data-testid=users-notice]"), /Added reviewer/);

  // A blank template, opened in the designer.
  await admin.click("[data-testid=nav-templates]");
  await admin.fill("[data-testid=create-key]", "order-fulfilment");
  await admin.fill("[data-testid=create-name]", "Order fulfilment");
  await admin.click("[data-testid=create-submit]");
  await admin.waitForURL(/\/templates\/order-fulfilment\/design$/);
  await admin.getByTestId("node-start").waitFor();

  // Steps dragged from the palette onto free places of the canvas.
  const canvas = await admin.getByTestId("canvas").boundingBox();
  const at = (fx, fy) => ({ x: canvas.x + canvas.width * fx, y: canvas.y + canvas.height * fy });
  const drops = [["http", "http_1", 0.15, 0.1], ["condition", "if_1", 0.5, 0.1], ["set", "set_1", 0.85, 0.1],
    ["wait", "wait_1", 0.85, 0.5], ["log", "log_1", 0.5, 0.9], ["fail", "fail_1", 0.15, 0.9]];
  for (const [kind, id, fx, fy] of drops) {
    await dragTo(admin, await center(admin, "palette-" + kind), at(fx, fy));
    await admin.getByTestId("node-" + id).waitFor();
  }
  // The blank template's start step is not needed: selected, deleted.
  await admin.getByTestId("node-start").click();
  await admin.keyboard.press("Delete");
  await admin.getByTestId("node-start").waitFor({ state: "detached" });
  await connect(admin, "http_1", "out", "if_1");
  await connect(admin, "if_1", "true", "set_1");
  // The fan-out: before the drop, the canvas says what it will do.
  const from = await center(admin, "port-if_1-true"), to = await center(admin, "node-wait_1");
  await admin.mouse.move(from.x, from.y);
  await admin.mouse.down();
  await admin.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
  await admin.mouse.move(to.x, to.y, { steps: 4 });
  assert.equal(await admin.textContent("[data-testid=drop-preview]"), "Connect if_1 true → wait_1 (adds a branch; the true port now feeds 2 steps)");
  assert.equal(await admin.textContent("[data-testid=designer-message]"), "Connect if_1 true → wait_1 (adds a branch; the true port now feeds 2 steps)");
  await shot(admin, "1-drop-preview");
  await admin.mouse.up();
  await admin.getByTestId("edge-if_1-wait_1").waitFor();
  await connect(admin, "set_1", "out", "log_1");
  await connect(admin, "wait_1", "out", "log_1");
  await connect(admin, "if_1", "false", "fail_1");
  // Laid out in ranks, then fitted: every step on screen, no edge under one.
  await admin.click("[data-testid=tool-layout]");
  await admin.click("[data-testid=tool-fit]");
  await admin.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  assert.deepEqual(await layoutProblems(admin), [], "the laid-out graph");
  await shot(admin, "2-laid-out");
  figure("built and laid out");

  // Fields in the side panel.
  await editStep(admin, "http_1", { name: "Check stock", "action.url": server.echo + "/healthz" });
  await editStep(admin, "if_1", { name: "In stock?", "action.expression": 'steps.http_1.status == "succeeded"' });
  await editStep(admin, "set_1", { name: "Reserve", "action.values": '{"reserved": "yes"}' });
  await editStep(admin, "wait_1", { name: "Settle", "action.duration": "1s" });
  await editStep(admin, "log_1", { name: "Confirm", "action.message": "order fulfilled" });
  await editStep(admin, "fail_1", { name: "Out of stock", "action.message": "out of stock" });
  await admin.waitForSelector("[data-testid=save-state][data-state=saved]");
  await admin.waitForFunction(() => Number(document.querySelector("[data-testid=problem-count]").textContent) === 0);

  // Test run from the designer, with the step with the most fields open.
  await admin.getByTestId("node-http_1").click();
  await admin.waitForSelector("[data-testid=step-form][data-step=http_1]");
  await admin.click("[data-testid=open-test-run]");
  await admin.click("[data-testid=test-run-start]");
  await admin.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]", { timeout: 60_000 });
  for (const id of ["http_1", "if_1", "set_1", "wait_1", "log_1"]) await admin.waitForSelector(`[data-testid=node-${id}][data-status=succeeded]`);
  assert.equal(await admin.getByTestId("node-fail_1").getAttribute("data-status"), "skipped");
  // Item 5: the result is at the top of the side panel, in view, not below
  // the open step's fields.
  const result = await admin.getByTestId("run-panel").boundingBox();
  assert.ok(result && result.y >= 0 && result.y + 60 <= 800, `the test-run result is in view at 1280×800: ${JSON.stringify(result)}`);
  const fields = await admin.getByTestId("step-panel").boundingBox();
  assert.ok(fields.y > result.y && fields.height > 800 - result.y, "the step's fields come after it, and would have pushed it out of view");
  await shot(admin, "3-test-run");
  figure("test run");

  // Submitted for review; the reviewer approves it from the inbox.
  await admin.click("[data-testid=submit-review]");
  await admin.waitForURL(/\/templates\/order-fulfilment$/);
  const reviewer = await newPage(t, "reviewer");
  await signIn(reviewer, "reviewer", reviewerPassword);
  await reviewer.click("[data-testid=nav-approvals]");
  await reviewer.click("[data-testid=review-order-fulfilment-1]");
  await reviewer.waitForSelector("#review-graph [data-testid=node-if_1]");
  await reviewer.click("#review-graph [data-testid=tool-fit]");
  assert.deepEqual(await layoutProblems(reviewer, "#review-graph"), [], "the review graph");
  await reviewer.fill("[data-testid=review-comment]", "Fine.");
  await reviewer.click("[data-testid=review-approve]");
  await reviewer.waitForSelector("[data-testid=review-status].pill-approved");
  assert.equal((await readAPI(admin, "/api/v1/templates/order-fulfilment/versions/1")).status, "approved");
  figure("approved");

  // The admin runs it from the runs page.
  await admin.click("[data-testid=nav-runs]");
  await admin.click("[data-testid=start-run-link]");
  if (await admin.getByTestId("start-template").count()) {
    await admin.selectOption("[data-testid=start-template]", "order-fulfilment");
    await admin.click("[data-testid=start-choose-submit]");
  }
  await admin.click("[data-testid=start-submit]");
  await admin.waitForURL(/\/runs\/[0-9A-Z]{26}$/);
  const runId = admin.url().split("/").pop();
  await admin.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 60_000 });
  for (const id of ["http_1", "if_1", "set_1", "wait_1", "log_1"]) await admin.waitForSelector(`#run-graph [data-testid=node-${id}][data-status=succeeded]`);
  await admin.waitForSelector("#run-graph [data-testid=node-fail_1][data-status=skipped]");
  await admin.click("#run-graph [data-testid=tool-fit]");
  assert.deepEqual(await layoutProblems(admin, "#run-graph"), [], "the run graph");
  await shot(admin, "4-run");

  // Rerun from a step: a new run linked to this one.
  await admin.selectOption("[data-testid=rerun-from]", "log_1");
  await admin.click("[data-testid=rerun-submit]");
  await admin.waitForURL((u) => /\/runs\/[0-9A-Z]{26}$/.test(u.pathname) && !u.pathname.endsWith(runId));
  assert.equal(await admin.textContent("[data-testid=run-parent]"), runId);
  await admin.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 60_000 });
  await admin.waitForSelector("#run-graph [data-testid=node-log_1][data-status=succeeded]");
  figure("run and rerun");

  // A v2: the admin opens the designer again and changes a message; the
  // first change opens a new draft, which is submitted.
  await admin.click("[data-testid=nav-templates]");
  await admin.click("[data-testid=template-link-order-fulfilment]");
  await admin.click("[data-testid=open-designer]");
  await admin.getByTestId("node-log_1").waitFor();
  await editStep(admin, "log_1", { "action.message": "order fulfilled, v2" });
  await admin.waitForSelector("[data-testid=save-state][data-state=saved]");
  await admin.waitForFunction(() => Number(document.querySelector("[data-testid=problem-count]").textContent) === 0);
  await admin.click("[data-testid=submit-review]");
  await admin.waitForURL(/\/templates\/order-fulfilment$/);
  assert.equal((await readAPI(admin, "/api/v1/templates/order-fulfilment/versions/2")).status, "in_review");

  // The reviewer reviews v2's diff: the changed step is marked on the graph
  // and its change is in the text diff.
  await reviewer.click("[data-testid=nav-approvals]");
  await reviewer.click("[data-testid=review-order-fulfilment-2]");
  await reviewer.waitForSelector("#review-graph [data-testid=node-log_1].diff-changed");
  assert.equal(await reviewer.$$eval("#review-graph .diff-added, #review-graph .diff-removed, #review-graph .diff-changed", (n) => n.length), 1);
  assert.match(await reviewer.textContent("[data-testid=text-diff]"), /order fulfilled, v2/);
  await reviewer.click("#review-graph [data-testid=node-log_1]");
  await reviewer.waitForSelector("[data-testid=review-step-json]");
  assert.equal(await reviewer.textContent("[data-testid=review-step-diff]"), "changed");
  await shot(reviewer, "5-review-v2");
  figure("v2 reviewed");

  for (const p of [admin, reviewer]) assert.deepEqual(p.problems, [], p.who);
}
