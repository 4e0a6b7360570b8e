// axe-core (WCAG 2.0/2.1 A and AA rules) on every page, over seeded data:
// templates, a version in review, runs that succeeded, failed and skipped
// steps. Any serious or critical finding fails the test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { signInAdmin, api, axeSerious as serious } from "./helpers.mjs";

const skip = chromiumMissing() || false;
let server, browser;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const branching = {
  id: "a11y-branch", name: "A11y branch", inputs: { big: { type: "boolean", default: false } },
  steps: [
    { id: "check", type: "condition", action: { expression: "inputs.big" }, onSuccess: "ship", onFailure: "hold" },
    { id: "ship", type: "command", action: { kind: "set", values: { shipped: true } } },
    { id: "hold", type: "command", action: { kind: "log", message: "held" } },
  ],
};
const failing = { id: "a11y-fail", name: "A11y fail", steps: [{ id: "boom", type: "command", action: { kind: "fail", message: "no stock" } }] };
const review = { id: "a11y-review", name: "A11y review", steps: [{ id: "hello", type: "command", action: { kind: "log", message: "hi" } }] };

test("no serious WCAG 2.1 AA finding on any page, over realistic data", { skip, timeout: 180_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await signInAdmin(page, server.url);
  const runs = [];
  for (const def of [branching, failing]) {
    assert.equal((await api(page, "POST", "/api/v1/templates", def)).status, 201);
    // A test run of the draft (the admin is a designer): a skipped branch, a failure.
    const run = await api(page, "POST", `/api/v1/templates/${def.id}/runs?wait=10s`, { version: 1 });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    runs.push(run.body.id);
  }
  assert.equal((await api(page, "POST", "/api/v1/templates", review)).status, 201);
  assert.equal((await api(page, "POST", "/api/v1/templates/a11y-review/versions/1/submit")).status, 200);

  const pages = [
    "/", "/templates", "/templates/a11y-branch", "/templates/a11y-branch/design", "/runs", "/runs/start",
    `/runs/${runs[0]}`, `/runs/${runs[1]}`, "/approvals", "/approvals/a11y-review/1", "/alerts", "/alerts/rules",
    "/alerts/channels", "/alerts/policies", "/notifications", "/analytics", "/dashboard", "/reports", "/devices", "/settings",
  ];
  const findings = [];
  for (const path of pages) {
    await page.goto(server.url + path);
    await page.waitForLoadState("networkidle").catch(() => {}); // pages with live streams never idle
    await page.waitForTimeout(300); // the canvas and charts draw after load
    for (const f of await serious(page)) findings.push(`${path}: ${f}`);
  }
  assert.deepEqual(findings, [], "serious or critical axe findings");
  await page.close();
});
