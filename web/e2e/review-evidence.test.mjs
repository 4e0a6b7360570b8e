// Browser test of the review page's evidence (issue 22): a template runs in
// production six times; a new version moves its threshold and is submitted;
// the approver sees, beside the diff, what the version would do on those
// runs: the summary line, each changed decision as was → now, the steps
// that would execute, a link to each recorded run, and a filter to the runs
// that change. Fails on any script error or CSP violation.
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

// Large orders go to a person, the others are approved by rule.
const v1 = {
  id: "refunds",
  name: "Refunds",
  inputs: { amount: { type: "number", required: true } },
  steps: [
    { id: "prepare", type: "command", action: { kind: "set", values: { amount: "{{ inputs.amount }}" } } },
    { id: "is_large", type: "condition", dependencies: ["prepare"], action: { expression: "steps.prepare.output.amount > 500" }, onSuccess: "ask", onFailure: "auto" },
    { id: "ask", type: "command", action: { kind: "log", message: "ask about {{ inputs.amount }}" } },
    { id: "auto", type: "command", action: { kind: "set", values: { by: "rule" } } },
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

async function newPage(t) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|Response Status Error Code/.test(m.text())) page.problems.push("console: " + m.text());
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

test("the review page shows what the version would change on recorded runs", { skip, timeout: 120_000 }, async (t) => {
  const admin = await newPage(t);
  await signIn(admin, "admin", adminPassword);
  await api(admin, "POST", "/api/v1/users", { name: "anna", password, roles: ["designer", "approver"] });
  await api(admin, "POST", "/api/v1/users", { name: "bruno", password, roles: ["approver", "operator"] });

  const a = await newPage(t);
  await signIn(a, "anna", password);
  await api(a, "POST", "/api/v1/templates", v1);
  await api(a, "POST", "/api/v1/templates/refunds/versions/1/submit");
  const b = await newPage(t);
  await signIn(b, "bruno", password);
  await api(b, "POST", "/api/v1/templates/refunds/versions/1/approve", { comment: "ok" });

  // Six production runs: 100, 200, 300, 400 (by rule), 700, 900 (asked).
  const runs = {};
  for (const amount of [100, 200, 300, 400, 700, 900]) {
    const run = await api(b, "POST", "/api/v1/templates/refunds/runs?wait=20s", { inputs: { amount } });
    assert.equal(run.status, "succeeded", `run of ${amount}`);
    runs[amount] = run.id;
  }

  // Version 2 asks above 250 instead of 500, and logs every decision.
  const v2 = structuredClone(v1);
  v2.steps[1].action.expression = "steps.prepare.output.amount > 250";
  v2.steps.push({ id: "record", type: "command", dependencies: ["ask", "auto"], trigger: "all_done", action: { kind: "log", message: "decided {{ inputs.amount }}" } });
  await api(a, "PUT", "/api/v1/templates/refunds/draft", v2);
  await api(a, "POST", "/api/v1/templates/refunds/versions/2/submit");

  await b.goto(server.url + "/approvals/refunds/2");
  const evidence = b.getByTestId("evidence");
  await evidence.waitFor();
  assert.match(await b.textContent("[data-testid=evidence-line]"),
    /Replayed on the last 6 runs: 0 same path, 6 would take another path, 6 would call a new step/);
  // The runs of 300 and 400 now go to a person: was → now on the decision,
  // and the step they would now reach is listed.
  for (const amount of [300, 400]) {
    const row = b.getByTestId("evidence-run-" + runs[amount]);
    assert.match(await row.getByTestId("evidence-decision").textContent(), /is_large\s+false → true/);
    assert.match(await row.getByTestId("evidence-execute").textContent(), /ask, record|record, ask/);
  }
  for (const amount of [100, 900]) {
    const row = b.getByTestId("evidence-run-" + runs[amount]);
    assert.equal(await row.getByTestId("evidence-decision").count(), 0, `run of ${amount}: no decision changes`);
    assert.match(await row.getByTestId("evidence-execute").textContent(), /^record$/);
  }
  mkdirSync(shots, { recursive: true });
  await b.screenshot({ path: join(shots, "review-evidence.png"), fullPage: true });

  // Each run links to its recorded run.
  await b.getByTestId("evidence-run-" + runs[300]).getByRole("link", { name: runs[300] }).click();
  await b.waitForURL(server.url + "/runs/" + runs[300]);
  await b.goBack();

  // Filtered to the runs that change: all six here; the approval form is
  // the same with or without evidence (it informs, it does not gate).
  await b.getByTestId("evidence-only-changes").click();
  await b.waitForURL(/evidence=changes/);
  assert.equal(await b.locator("[data-testid=evidence-runs] tbody tr").count(), 6);
  await b.getByTestId("evidence-show-all").waitFor();
  assert.ok(!(await b.isDisabled("[data-testid=review-approve]")), "the approver can decide");

  // A version that changes nothing on these runs: 6 same path, nothing to
  // filter to.
  await api(b, "POST", "/api/v1/templates/refunds/versions/2/reject", { comment: "ask above 500" });
  await api(a, "PUT", "/api/v1/templates/refunds/draft", { ...v1, description: "same steps" });
  await api(a, "POST", "/api/v1/templates/refunds/versions/3/submit");
  await b.goto(server.url + "/approvals/refunds/3?evidence=changes");
  assert.match(await b.textContent("[data-testid=evidence-line]"), /Replayed on the last 6 runs: 6 same path, 0 would take another path, 0 would call a new step/);
  assert.equal(await b.locator("[data-testid=evidence-runs] tbody tr").count(), 0);

  for (const p of [admin, a, b]) assert.deepEqual(p.problems, []);
});
