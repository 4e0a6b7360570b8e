// Browser tests of the app shell: sign-in, navigation, API tokens created
// and revoked through htmx, errors shown in the page, sign-out. They run a
// real `baton serve` and Chromium, and fail on any script error or
// Content-Security-Policy violation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";
import { api } from "./helpers.mjs";

// node:test treats any string as a reason to skip, even an empty one.
const skip = chromiumMissing() || false;
const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
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

// newPage opens a page that records every console error and page error
// other than the failed responses a test provokes on purpose.
async function newPage(t) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
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
      await page.screenshot({ path: join(shots, t.name.replace(/\W+/g, "-") + ".png"), fullPage: true });
    }
    await page.close();
  });
  return page;
}

async function signIn(page, user, password) {
  await page.goto(server.url + "/runs");
  assert.match(page.url(), /\/login\?next=%2Fruns$/);
  await page.fill("[data-testid=login-username]", user);
  await page.fill("[data-testid=login-password]", password);
  await page.click("[data-testid=login-submit]");
}

test("sign in, create and revoke a token, sign out", { skip }, async (t) => {
  const page = await newPage(t);

  await signIn(page, "admin", "not the password");
  assert.equal(await page.textContent("[data-testid=login-error]"), "Wrong user name or password.");

  await page.fill("[data-testid=login-password]", adminPassword);
  await page.click("[data-testid=login-submit]");
  assert.equal(new URL(page.url()).pathname, "/runs");
  assert.match(await page.textContent("[data-testid=runs-empty]"), /No runs yet/);
  assert.equal(await page.getAttribute("[data-testid=nav-runs]", "aria-current"), "page");
  assert.equal(await page.evaluate(() => window.htmx && window.htmx.version), "2.0.11");

  await page.click("[data-testid=nav-settings]");
  assert.equal(new URL(page.url()).pathname, "/settings");
  assert.ok(await page.isVisible("[data-testid=users]"), "an admin sees the users");
  assert.ok(await page.isVisible("[data-testid=tokens-empty]"));

  // Creating a token swaps the tokens section in place (htmx, with the
  // CSRF header from <body hx-headers>), showing the secret once.
  await page.fill("[data-testid=token-name]", "laptop");
  await page.click("[data-testid=token-create]");
  const secret = (await page.textContent("[data-testid=new-token-value]")).trim();
  assert.match(secret, /^bt_[A-Za-z0-9_-]{43}$/);
  assert.equal(new URL(page.url()).pathname, "/settings", "no navigation: htmx swapped the section");

  // The token works against the API.
  const me = await page.request.get(server.url + "/api/v1/me", { headers: { Authorization: "Bearer " + secret } });
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).name, "admin");

  // A rejected form shows the server's error in the notice area.
  await page.evaluate(() => document.getElementById("token-name").removeAttribute("required"));
  await page.fill("[data-testid=token-name]", " ");
  await page.click("[data-testid=token-create]");
  assert.match(await page.textContent("[data-testid=error-fragment]"), /name: is required/);

  page.once("dialog", (d) => d.accept());
  await page.click("[data-testid=token-revoke]");
  await page.waitForSelector("[data-testid=token-revoked]");
  const revoked = await page.request.get(server.url + "/api/v1/me", { headers: { Authorization: "Bearer " + secret } });
  assert.equal(revoked.status(), 401);

  await page.click("[data-testid=logout]");
  assert.equal(new URL(page.url()).pathname, "/login");
  await page.goto(server.url + "/settings");
  assert.equal(new URL(page.url()).pathname, "/login", "signed out: settings needs a login again");

  assert.deepEqual(page.problems, []);
});

test("every section has a page with an honest empty state", { skip }, async (t) => {
  const page = await newPage(t);
  await signIn(page, "admin", adminPassword);
  for (const [key, text] of [
    ["templates", /No templates yet/],
    ["runs", /No runs yet/],
    ["approvals", /Nothing to review/],
    ["analytics", /No data yet/],
  ]) {
    await page.click(`[data-testid=nav-${key}]`);
    assert.match(await page.textContent(`[data-testid=${key}-empty]`), text);
  }
  await page.goto(server.url + "/no-such-page");
  assert.equal(await page.textContent("[data-testid=error-status]"), "404");
  assert.deepEqual(page.problems, []);
});

test("a refused start shows its field errors and logs no console error", { skip }, async (t) => {
  const admin = await newPage(t);
  await signIn(admin, "admin", adminPassword);
  await admin.waitForSelector("[data-testid=user-name]");
  const password = "start form approver password";
  assert.equal((await api(admin, "POST", "/api/v1/users", { name: "stella", password, roles: ["approver"] })).status, 201);
  const def = {
    id: "ship-order", name: "Ship order",
    inputs: { order: { type: "string", required: true }, weight: { type: "number", required: true } },
    steps: [{ id: "note", type: "command", action: { kind: "log", message: "{{ inputs.order }}" } }],
  };
  assert.equal((await api(admin, "POST", "/api/v1/templates", def)).status, 201);
  assert.equal((await api(admin, "POST", "/api/v1/templates/ship-order/versions/1/submit")).status, 200);
  const approver = await newPage(t);
  await signIn(approver, "stella", password);
  await approver.waitForSelector("[data-testid=user-name]");
  assert.equal((await api(approver, "POST", "/api/v1/templates/ship-order/versions/1/approve", { comment: "ok" })).status, 200);

  // Every console message of the page, failed responses included: a
  // refusal the form explains is not an error of the page.
  const consoleErrors = [];
  admin.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  await admin.goto(server.url + "/runs/start?template=ship-order");
  await admin.fill("[data-testid=start-input-weight]", "heavy");
  await admin.click("[data-testid=start-submit]");
  await admin.waitForSelector("[data-testid=start-error-order]");
  assert.match(await admin.textContent("[data-testid=start-error-order]"), /required/i);
  assert.match(await admin.textContent("[data-testid=start-error-weight]"), /number/i);
  assert.equal(await admin.getAttribute("[data-testid=start-input-weight]", "aria-invalid"), "true");
  assert.equal(await admin.inputValue("[data-testid=start-input-weight]"), "heavy", "what was typed is kept");
  assert.deepEqual(consoleErrors, [], "a refused start logs no console error");

  // Corrected, the same form starts the run.
  await admin.fill("[data-testid=start-input-order]", "A-17");
  await admin.fill("[data-testid=start-input-weight]", "2.5");
  await admin.click("[data-testid=start-submit]");
  await admin.waitForURL(/\/runs\/[0-9A-Z]{26}$/);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(admin.problems, []);
});
