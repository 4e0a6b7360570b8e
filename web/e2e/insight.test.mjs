// Browser tests of the insight pages: the live dashboard updates while runs
// start, the analytics charts (uPlot) draw the same numbers as the tables
// beside them, and no page logs an error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { watchedPage, noErrors, shots } from "./helpers.mjs";

const skip = chromiumMissing() || false;
const password = "insight password 1";
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

const definition = {
  id: "shop",
  name: "Shop",
  inputs: { n: { type: "integer", default: 1 } },
  steps: [
    { id: "check", type: "condition", action: { expression: "inputs.n > 2" }, onSuccess: "hold", onFailure: "quick" },
    { id: "hold", type: "wait", action: { duration: "4s" } },
    { id: "quick", type: "command", action: { kind: "set", values: { done: true } } },
  ],
};

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

test("the dashboard is live; analytics charts match their tables", { skip, timeout: 120_000 }, async (t) => {
  const admin = await watchedPage(t, browser, { prefix: "insight" });
  await signIn(admin, "admin", adminPassword);
  await api(admin, "POST", "/api/v1/users", { name: "anna", password, roles: ["designer"] });
  await api(admin, "POST", "/api/v1/users", { name: "bruno", password, roles: ["approver", "operator"] });
  const anna = await watchedPage(t, browser, { prefix: "insight" });
  await signIn(anna, "anna", password);
  await api(anna, "POST", "/api/v1/templates", definition);
  await api(anna, "POST", "/api/v1/templates/shop/versions/1/submit");
  const bruno = await watchedPage(t, browser, { prefix: "insight" });
  await signIn(bruno, "bruno", password);
  await api(bruno, "POST", "/api/v1/templates/shop/versions/1/approve", { comment: "ok" });

  // The dashboard, open before any run starts, counts them as they start.
  await bruno.click("[data-testid=nav-dashboard]");
  await bruno.waitForSelector("[data-testid=dash-state]:has-text('live')");
  assert.equal(await bruno.textContent("[data-field=waitingRuns]"), "0");
  assert.equal(await bruno.getAttribute("[data-testid=tile-waitingRuns]", "href"), "/runs?status=waiting");
  for (const n of [5, 6, 7]) await api(bruno, "POST", "/api/v1/templates/shop/runs", { inputs: { n } });
  for (const n of [1, 2]) await api(bruno, "POST", "/api/v1/templates/shop/runs", { inputs: { n } });
  await bruno.waitForFunction(() => Number(document.querySelector("[data-field=waitingRuns]").textContent) === 3, null, { timeout: 10_000 });
  assert.equal(new URL(bruno.url()).pathname, "/dashboard", "updated without a reload");
  mkdirSync(shots, { recursive: true });
  await bruno.screenshot({ path: join(shots, "insight-dashboard.png"), fullPage: true });
  // …and sees them finish.
  await bruno.waitForFunction(() => Number(document.querySelector("[data-field=waitingRuns]").textContent) === 0, null, { timeout: 15_000 });

  // The template's Analytics tab: five finished runs, in the chart and in its table.
  await bruno.goto(server.url + "/templates/shop");
  await bruno.click("[data-testid=template-analytics]");
  await bruno.waitForSelector("#chart-runs [data-drawn]", { state: "attached", timeout: 10_000 }).catch((e) => { throw new Error(e.message + "\n" + bruno.problems.join("\n")); });
  assert.equal(await bruno.textContent("[data-testid=summary-runs]"), "5");
  assert.equal(await bruno.textContent("[data-testid=summary-rate]"), "100.0 %");
  for (const id of ["chart-runs", "chart-rate"]) {
    const { drawn, table } = await bruno.$eval(`#${id}`, (fig) => ({
      drawn: JSON.parse(fig.querySelector("[data-drawn]").dataset.drawn),
      table: [...fig.querySelectorAll(".chart-table tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
    }));
    assert.equal(drawn.length, table[0].length, `${id}: one drawn series per table column`);
    const fmt = (v) => (v == null ? "–" : id === "chart-rate" ? `${(100 * v).toFixed(1)} %` : String(v));
    const fromChart = table.map((row, i) => row.map((_, s) => fmt(drawn[s][i])));
    assert.deepEqual(fromChart, table, `${id}: the chart draws the table's numbers`);
    assert.ok(await bruno.$(`#${id} canvas`), `${id} is drawn on a canvas`);
  }
  const total = (await bruno.$$eval("#chart-runs .chart-table tbody td", (tds) => tds.map((td) => Number(td.textContent) || 0))).reduce((a, b) => a + b, 0);
  assert.equal(total, 5, "the runs table adds up to the finished runs");
  assert.match(await bruno.textContent("[data-testid=analytics-decisions]"), /check\s*5\s*false: 2 · true: 3/);
  assert.match(await bruno.textContent("[data-testid=analytics-steps]"), /hold/);
  const csv = await bruno.request.get(server.url + (await bruno.getAttribute("[data-testid=chart-runs-csv]", "href")));
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), /^key,t,runs\n1,/);

  mkdirSync(shots, { recursive: true });
  await bruno.screenshot({ path: join(shots, "insight-template-analytics.png"), fullPage: true });

  // The overview.
  await bruno.click("[data-testid=nav-analytics]");
  await bruno.waitForSelector("#chart-rate [data-drawn]");
  assert.match(await bruno.textContent("[data-testid=usage-templates]"), /shop\s*5/);

  noErrors(admin);
  noErrors(anna);
  noErrors(bruno);
});

test("the report builder previews, saves, reopens and edits a report", { skip, timeout: 120_000 }, async (t) => {
  // Runs of "shop" exist from the test above (node:test runs a file's tests in order).
  const dana = await watchedPage(t, browser, { prefix: "insight" });
  const admin = await watchedPage(t, browser, { prefix: "insight" });
  await signIn(admin, "admin", adminPassword);
  await api(admin, "POST", "/api/v1/users", { name: "dana", password, roles: ["designer"] });
  await signIn(dana, "dana", password);
  await dana.click("[data-testid=nav-reports]");
  assert.match(await dana.textContent("[data-testid=reports-empty]"), /No reports yet/);
  await dana.click("[data-testid=report-new]");
  await dana.waitForSelector("#report-preview .chart-table");

  // A bad range is refused with the problem next to its field.
  await dana.fill("[data-testid=b-name]", "Shop runs by version");
  await dana.selectOption("[data-testid=b-template]", "shop");
  await dana.selectOption("[data-testid=b-group]", "version");
  await dana.selectOption("[data-testid=b-chart]", "bar");
  await dana.fill("[data-testid=b-range]", "soon");
  await dana.click("[data-testid=b-save]");
  await dana.waitForSelector("#err-range:not(:empty)");
  assert.equal(await dana.getAttribute("[data-testid=b-range]", "aria-invalid"), "true");

  await dana.fill("[data-testid=b-range]", "2d");
  await dana.waitForFunction(() => document.querySelector("#report-preview thead")?.textContent.includes("1"));
  const previewTotal = await dana.$$eval("#report-preview .chart-table tbody td", (tds) => tds.reduce((a, td) => a + (Number(td.textContent) || 0), 0));
  assert.equal(previewTotal, 5, "the preview counts the five finished runs");
  await dana.check("input[name=sharedWith][value=operator]");
  await dana.click("[data-testid=b-save]");
  await dana.waitForURL(/\/reports\/\d+$/);
  assert.equal(await dana.textContent("[data-testid=report-title]"), "Shop runs by version");
  await dana.waitForSelector("#report-chart [data-drawn]");
  const drawn = await dana.$eval("#report-chart [data-drawn]", (el) => JSON.parse(el.dataset.drawn));
  const table = await dana.$$eval("#report-chart .chart-table tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => Number(td.textContent))));
  assert.deepEqual(table.map((row, i) => row.map((_, s) => drawn[s][i])), table, "the saved report's chart draws its table");
  await dana.screenshot({ path: join(shots, "insight-report.png"), fullPage: true });
  const csv = await dana.request.get(server.url + (await dana.getAttribute("[data-testid=report-chart-csv]", "href")));
  assert.match(await csv.text(), /^key,t,runs\n1,/);

  // Reopened from the list, edited, saved.
  await dana.click("[data-testid=nav-reports]");
  await dana.click("[data-testid=report-link]");
  await dana.click("[data-testid=report-edit]");
  assert.equal(await dana.inputValue("[data-testid=b-name]"), "Shop runs by version");
  assert.equal(await dana.inputValue("[data-testid=b-range]"), "2d");
  await dana.fill("[data-testid=b-name]", "Shop runs");
  await dana.click("[data-testid=b-save]");
  await dana.waitForURL(/\/reports\/\d+$/);
  assert.equal(await dana.textContent("[data-testid=report-title]"), "Shop runs");

  // Shared with operators: bruno sees it, read-only.
  const bruno = await watchedPage(t, browser, { prefix: "insight" });
  await signIn(bruno, "bruno", password);
  await bruno.goto(dana.url());
  assert.equal(await bruno.textContent("[data-testid=report-title]"), "Shop runs");
  assert.equal(await bruno.$("[data-testid=report-edit]"), null);

  // Deleted by its owner.
  dana.once("dialog", (d) => d.accept());
  await dana.click("[data-testid=report-delete]");
  await dana.waitForURL(/\/reports$/);
  assert.match(await dana.textContent("[data-testid=reports-empty]"), /No reports yet/);

  // The one failed response is the bad range refused on purpose above.
  assert.equal(dana.problems.filter((p) => /status of 422/.test(p)).length, 1);
  dana.problems = dana.problems.filter((p) => !/status of 422/.test(p));
  noErrors(dana);
  noErrors(bruno);
  noErrors(admin);
});
