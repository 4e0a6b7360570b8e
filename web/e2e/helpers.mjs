// Helpers shared by the browser tests: signing in as admin, calling the
// JSON API from inside a page, and dragging with the mouse.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { adminPassword } from "./server.mjs";

// shots is where the tests save screenshots (git-ignored, kept by CI).
export const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");

// signInAdmin signs page in as admin from the templates page.
export async function signInAdmin(page, baseURL) {
  await page.goto(baseURL + "/templates");
  await page.fill("[data-testid=login-username]", "admin");
  await page.fill("[data-testid=login-password]", adminPassword);
  await page.click("[data-testid=login-submit]");
  await page.waitForURL(/\/templates$/);
}

// api calls the JSON API from inside the page, with its session and CSRF
// token, and resolves to {status, body} (body parsed when it is JSON).
export function api(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    const res = await fetch(path, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed };
  }, [method, path, body]);
}

// dragTo drags with the mouse from one point to another in a few steps,
// as a hand would, so pointer-move handlers see the way in between.
export async function dragTo(page, from, to) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
  await page.mouse.move(to.x, to.y, { steps: 4 });
  await page.mouse.up();
}

// watchedPage opens a tab in a fresh context of browser (or in context,
// which the caller then closes) that records console and page errors in
// page.problems. When the test fails or the page logged an error, a
// screenshot named <prefix>-failed-<test name>.png is kept.
export async function watchedPage(t, browser, { prefix, viewport = { width: 1280, height: 800 }, storageState, context } = {}) {
  const ctx = context || await browser.newContext({ viewport, ...(storageState ? { storageState } : {}) });
  const page = await ctx.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(`console: ${m.text()} (${page.url()})`);
  });
  t.after(async () => {
    if (page.problems.length || t.failed) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, `${prefix}-failed-` + t.name.replace(/\W+/g, "-").slice(0, 60) + ".png"), fullPage: true }).catch(() => {});
    }
    if (!context) await ctx.close();
  });
  return page;
}

// noErrors asserts that a watchedPage logged no console or page error.
export const noErrors = (page) => assert.deepEqual(page.problems, [], "no console or page errors");

// anchor is the 5-node draft of ui-anchor.test.mjs (a condition, two
// branches, a join), which the memory test measures too.
export const anchor = {
  id: "anchor", name: "Anchor",
  inputs: { amount: { type: "integer", default: 5 } },
  steps: [
    { id: "start", type: "command", action: { kind: "log", message: "amount {{ inputs.amount }}" } },
    { id: "check", type: "condition", dependencies: ["start"], action: { expression: "inputs.amount > 10" }, onSuccess: "big", onFailure: "small" },
    { id: "big", type: "command", action: { kind: "log", message: "big" } },
    { id: "small", type: "command", action: { kind: "set", values: { size: "small" } } },
    { id: "done", type: "command", dependencies: ["big", "small"], trigger: "none_failed", action: { kind: "log", message: "done" } },
  ],
};

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// axeSerious runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page and
// returns its serious and critical findings, one line each.
export async function axeSerious(page) {
  await page.evaluate(axeSource); // evaluated by the test, so the page's CSP does not apply
  const r = await page.evaluate(() => window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
}
