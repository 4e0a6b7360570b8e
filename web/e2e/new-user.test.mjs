// A new user's whole first day, in the browser alone (clicks and typing; the
// API is only read, to check what the browser did): the admin adds a
// reviewer on the Users page, designs a branching workflow with a parallel
// fan-out by dragging steps from the palette, fixes what the problems list
// shows, test-runs it, and submits it; the admin is told why they cannot
// approve their own work; the reviewer approves it from the inbox; the admin
// starts a run with the inputs form and watches it finish with the parallel
// steps overlapping on the timeline. Screenshots of each stage go to
// web/e2e/screenshots/new-user-*.png. Fails on any script error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";
import { dragTo } from "./helpers.mjs";

const skip = chromiumMissing() || false;
const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
const reviewerPassword = "reviewer e2e password";
let server, browser;
// Every page opened, so a failure can photograph each of them.
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

// newPage opens a page in its own context (its own cookies, so two people
// can be signed in at once) that records script errors.
async function newPage(t) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // 4xx answers the test provokes on purpose are logged by Chromium as
    // failed resources; they are not script errors.
    if (m.type() !== "error" || /Failed to load resource|Response Status Error Code/.test(m.text())) return;
    page.problems.push("console: " + m.text());
  });
  opened.push(page);
  t.after(() => context.close());
  return page;
}

async function shot(page, name, fullPage = true) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "new-user-" + name + ".png"), fullPage });
}

async function signIn(page, user, password) {
  page.who = user;
  await page.goto(server.url + "/");
  await page.fill("[data-testid=login-username]", user);
  await page.fill("[data-testid=login-password]", password);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=user-name]");
}

// readAPI reads the JSON API with the page's session (GET only: the test
// never changes anything except through the browser's own forms).
async function readAPI(page, path) {
  const res = await page.request.get(server.url + path);
  assert.equal(res.status(), 200, `GET ${path}: ${await res.text()}`);
  return res.json();
}

// center is the middle of an element on screen. The canvas redraws a node
// (replacing its element) after each change, so a box read at that moment
// can be missing; the element is awaited again then.
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

// editStep selects a node and fills fields of its side-panel form.
async function editStep(page, id, fields) {
  await page.getByTestId("node-" + id).click();
  await page.waitForSelector(`[data-testid=step-form][data-step=${id}]`);
  for (const [path, value] of Object.entries(fields)) {
    await page.fill(`[data-testid='field-${path}']`, value);
  }
}

const problemCount = async (page) => Number(await page.textContent("[data-testid=problem-count]"));

test("a new user designs, gets approval for and runs a branching, parallel workflow in the browser", { skip, timeout: 240_000 }, async (t) => {
  try {
    await journey(t);
  } catch (e) {
    mkdirSync(shots, { recursive: true });
    for (const p of opened) await p.screenshot({ path: join(shots, "new-user-failed-" + p.who + ".png"), fullPage: true }).catch(() => {});
    throw e;
  }
});

async function journey(t) {
  const started = performance.now();
  const figure = (what) => t.diagnostic(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s since sign-in`);

  // 1. The admin adds a reviewer on the Users page, reached from Settings.
  const admin = await newPage(t);
  await signIn(admin, "admin", adminPassword);
  // The start page says what to do first, in order.
  assert.match(await admin.textContent("[data-testid=home-steps]"), /Create a template.*approver.*Start a run/s);
  await shot(admin, "0-home");
  await admin.click("[data-testid=nav-settings]");
  await shot(admin, "0-settings");
  await admin.click("[data-testid=manage-users]");
  await admin.waitForURL(/\/settings\/users$/);
  assert.match(await admin.textContent("[data-testid=users-alone]"), /only user/);
  await shot(admin, "1-users-empty");
  // A first try without a role and with a short password is refused, each
  // problem under its own field, and the typed name is kept.
  await admin.fill("[data-testid=user-add-name]", "reviewer");
  await admin.fill("[data-testid=user-add-password]", "short");
  await admin.click("[data-testid=user-add-submit]");
  assert.match(await admin.textContent("[data-testid=user-add-error-password]"), /at least 8 characters/);
  assert.match(await admin.textContent("[data-testid=roles-error-add]"), /at least one role/);
  assert.ok(await admin.isHidden("[data-testid=user-add-error-name]"));
  assert.equal(await admin.inputValue("[data-testid=user-add-name]"), "reviewer");
  await shot(admin, "2-users-refused");
  await admin.fill("[data-testid=user-add-password]", reviewerPassword);
  await admin.check("[data-testid=role-add-approver]");
  await admin.click("[data-testid=user-add-submit]");
  assert.match(await admin.textContent("[data-testid=users-notice]"), /Added reviewer/);
  assert.equal((await admin.textContent("[data-testid=user-roles-reviewer]")).trim(), "approver");
  await shot(admin, "3-users-added");
  // Each row opens to change roles or set a password, in place.
  await admin.click("[data-testid=user-edit-open-reviewer]");
  assert.ok(await admin.isChecked("[data-testid=role-edit-reviewer-approver]"));
  await shot(admin, "3-users-edit-open");
  await admin.click("[data-testid=user-edit-open-reviewer]");
  const { users } = await readAPI(admin, "/api/v1/users");
  assert.deepEqual(users.find((u) => u.name === "reviewer").roles, ["approver"]);
  figure("reviewer added");

  // 2. A blank template, opened in the designer.
  await admin.click("[data-testid=nav-templates]");
  assert.match(await admin.textContent("[data-testid=templates-empty]"), /No templates yet/);
  await shot(admin, "4-templates-empty");
  await admin.fill("[data-testid=create-key]", "first-flow");
  await admin.fill("[data-testid=create-name]", "First flow");
  await admin.click("[data-testid=create-submit]");
  await admin.waitForURL(/\/templates\/first-flow\/design$/);
  await admin.getByTestId("node-start").waitFor();
  await shot(admin, "4-designer-blank", false);
  await admin.click("[data-testid=open-test-run]");
  await shot(admin, "4-designer-test-panel", false);
  await admin.click("#test-run-close");

  // 3. Steps dragged from the palette onto free places of the canvas: a
  // fetch, three steps in parallel after it, a condition, its two branches
  // and a join.
  const canvas = await admin.getByTestId("canvas").boundingBox();
  const startBox = await admin.getByTestId("node-start").boundingBox();
  // Steps are 200 × 64 px: three columns and four rows leave room around
  // each other and around the start step in the middle.
  const col = (i) => canvas.x + canvas.width * [0.15, 0.5, 0.85][i];
  const row = (j) => canvas.y + canvas.height * [0.1, 0.3, 0.7, 0.9][j];
  const drops = [
    ["http", "http_1", col(0), row(0)],
    ["wait", "wait_1", col(1), row(0)],
    ["wait", "wait_2", col(2), row(0)],
    ["set", "set_1", col(0), row(1)],
    ["condition", "if_1", col(2), row(1)],
    ["log", "log_1", col(0), row(2)],
    ["log", "log_2", col(2), row(2)],
    ["log", "log_3", col(1), row(3)],
  ];
  for (const [kind, id, x, y] of drops) {
    const clear = x + 100 < startBox.x || x - 100 > startBox.x + startBox.width || y + 32 < startBox.y || y - 32 > startBox.y + startBox.height;
    assert.ok(clear, `the drop point of ${id} is clear of the start step`);
    await dragTo(admin, await center(admin, "palette-" + kind), { x, y });
    await admin.getByTestId("node-" + id).waitFor();
  }
  await connect(admin, "start", "out", "http_1");
  for (const id of ["wait_1", "wait_2", "set_1"]) {
    await connect(admin, "http_1", "out", id);
    await connect(admin, id, "out", "if_1");
  }
  await connect(admin, "if_1", "true", "log_1");
  await connect(admin, "if_1", "false", "log_2");
  await connect(admin, "log_1", "out", "log_3");
  await connect(admin, "log_2", "out", "log_3");
  await admin.click("[data-testid=tool-layout]");
  await admin.click("[data-testid=tool-fit]");
  await shot(admin, "5-designer-connected", false);
  figure("nine steps connected");

  // 4. Fields in the side panel. A broken expression is a problem shown
  // next to its field and counted in the problems list; fixing it clears both.
  await editStep(admin, "http_1", { "action.url": server.echo + "/healthz", name: "Fetch health" });
  await editStep(admin, "wait_1", { "action.duration": "1s" });
  await editStep(admin, "wait_2", { "action.duration": "1s" });
  await editStep(admin, "set_1", { "action.values": '{"checkedBy": "baton"}' });
  // The condition will read an input, declared in the code view (the
  // designer has no form for inputs).
  await admin.click("[data-testid=toggle-code]");
  const code = JSON.parse(await admin.inputValue("[data-testid=code-text]"));
  code.inputs = { amount: { type: "number", default: 1500, description: "the order amount" } };
  await admin.fill("[data-testid=code-text]", JSON.stringify(code, null, 2));
  await admin.click("[data-testid=code-apply]");
  await admin.click("[data-testid=toggle-code]");
  await editStep(admin, "if_1", { "action.expression": "inputs.amount >" });
  await admin.waitForSelector("[data-testid='errors-action.expression'] li");
  await admin.waitForFunction(() => Number(document.querySelector("[data-testid=problem-count]").textContent) > 0);
  await shot(admin, "6-designer-problem", false);
  await admin.fill("[data-testid='field-action.expression']", "inputs.amount > 1000");
  await admin.waitForSelector("[data-testid='errors-action.expression']:empty", { state: "attached" });
  await editStep(admin, "log_1", { "action.message": "large order: {{ inputs.amount }}" });
  await editStep(admin, "log_2", { "action.message": "small order" });
  await editStep(admin, "log_3", { "action.message": "done" });

  await admin.waitForSelector("[data-testid=save-state][data-state=saved]");
  assert.equal(await problemCount(admin), 0, "no problem is left");
  assert.ok(await admin.isVisible("[data-testid=no-problems]"));

  // 5. Test run from the designer: every node finishes (the branch not
  // taken is skipped).
  await admin.click("[data-testid=open-test-run]");
  await admin.waitForSelector("[data-testid=test-inputs] input");
  await admin.click("[data-testid=test-run-start]");
  await admin.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]", { timeout: 60_000 });
  for (const id of ["start", "http_1", "wait_1", "wait_2", "set_1", "if_1", "log_1", "log_3"]) {
    await admin.waitForSelector(`[data-testid=node-${id}][data-status=succeeded]`);
  }
  assert.equal(await admin.getByTestId("node-log_2").getAttribute("data-status"), "skipped");
  await admin.click("[data-testid=tool-fit]");
  await shot(admin, "7-designer-test-run", false);
  figure("test run finished");

  // 6. Submitted for review; the admin wrote it, so the inbox says why they
  // cannot approve it themselves.
  await admin.click("[data-testid=submit-review]");
  await admin.waitForURL(/\/templates\/first-flow$/);
  assert.equal(await admin.getAttribute("[data-testid=version-row-1] [data-status]", "data-status"), "in_review");
  assert.match(await admin.textContent("[data-testid=template-not-approved]"), /v1 is waiting in review/);
  await shot(admin, "8-template-in-review");
  await admin.click("[data-testid=nav-approvals]");
  assert.match(await admin.textContent("[data-testid=other-first-flow-1]"), /four eyes/);
  assert.ok(await admin.isVisible("[data-testid=approvals-add-reviewer] a[href='/settings/users']"), "the admin is told where to add a reviewer");
  await shot(admin, "9-approvals-author");
  await admin.click("[data-testid=review-first-flow-1]");
  assert.match(await admin.textContent("[data-testid=review-why]"), /You wrote or edited this version/);
  assert.ok(await admin.isDisabled("[data-testid=review-approve]"));
  assert.ok(await admin.isVisible("[data-testid=review-add-reviewer]"));
  await shot(admin, "10-review-author");

  // 7. The reviewer signs in (another browser) and approves from the inbox.
  const reviewer = await newPage(t);
  await signIn(reviewer, "reviewer", reviewerPassword);
  await reviewer.click("[data-testid=nav-approvals]");
  await shot(reviewer, "11-approvals-reviewer");
  await reviewer.click("[data-testid=review-first-flow-1]");
  await reviewer.waitForSelector("#review-graph [data-testid=node-if_1]");
  await reviewer.fill("[data-testid=review-comment]", "Looks right to me.");
  await reviewer.click("[data-testid=review-approve]");
  await reviewer.waitForSelector("[data-testid=review-status].pill-approved");
  // Decided: a way on instead of dead buttons (no run button: the reviewer
  // is not an operator).
  assert.ok(await reviewer.isVisible("[data-testid=review-open-template]"));
  assert.equal(await reviewer.locator("[data-testid=review-approve], [data-testid=review-start-run]").count(), 0);
  await shot(reviewer, "12-review-approved");
  assert.equal((await readAPI(admin, "/api/v1/templates/first-flow/versions/1")).status, "approved");
  figure("approved");

  // 8. The admin starts a run from the runs page with the inputs form and
  // watches it finish; the three parallel steps overlap on the timeline.
  await admin.click("[data-testid=nav-runs]");
  await shot(admin, "13-runs-list");
  await admin.click("[data-testid=start-run-link]");
  // With one template to choose from, its form comes at once; else choose it.
  if (await admin.getByTestId("start-template").count()) {
    await admin.selectOption("[data-testid=start-template]", "first-flow");
    await admin.click("[data-testid=start-choose-submit]");
  }
  assert.equal(await admin.inputValue("#start-form [name=template]"), "first-flow");
  assert.equal(await admin.inputValue("[data-testid=start-input-amount]"), "1500", "the default is filled in");
  await admin.fill("[data-testid=start-input-amount]", "2500");
  await shot(admin, "13-start-run");
  await admin.click("[data-testid=start-submit]");
  await admin.waitForURL(/\/runs\/[0-9A-Z]{26}$/);
  await admin.waitForSelector("[data-testid=run-status].pill-succeeded", { timeout: 60_000 });
  for (const id of ["http_1", "wait_1", "wait_2", "set_1", "if_1", "log_1", "log_3"]) {
    await admin.waitForSelector(`#run-graph [data-testid=node-${id}][data-status=succeeded]`);
  }
  await admin.waitForSelector("#run-graph [data-testid=node-log_2][data-status=skipped]");
  const bar = async (id) => {
    const el = admin.getByTestId("gantt-bar-" + id);
    const x = Number(await el.getAttribute("x"));
    return { from: x, to: x + Number(await el.getAttribute("width")) };
  };
  const [w1, w2] = [await bar("wait_1"), await bar("wait_2")];
  t.diagnostic(`timeline: wait_1 ${w1.from.toFixed(0)}–${w1.to.toFixed(0)}, wait_2 ${w2.from.toFixed(0)}–${w2.to.toFixed(0)}`);
  const set1 = await bar("set_1");
  assert.ok(w1.from < w2.to && w2.from < w1.to, "the parallel waits overlap in time");
  assert.ok(set1.from < w1.to && set1.from < w2.to, "set_1 started while the waits ran");
  await shot(admin, "14-run-finished");
  figure("run finished");

  for (const p of [admin, reviewer]) assert.deepEqual(p.problems, [], p.who);
}
