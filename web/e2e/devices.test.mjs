// Browser test of the devices page: an administrator registers a device
// (its token shown once), sees it listed offline, drains, resumes and
// revokes it through htmx, with no script errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { signInAdmin, watchedPage, noErrors } from "./helpers.mjs";

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

test("register, drain, resume and revoke a device", { skip }, async (t) => {
  const page = await watchedPage(t, browser, { prefix: "devices" });
  await signInAdmin(page, server.url);
  await page.click("[data-testid=nav-devices]");
  await page.waitForURL(/\/devices$/);
  assert.equal(await page.getAttribute("[data-testid=nav-devices]", "aria-current"), "page");
  assert.match(await page.textContent("[data-testid=devices-empty]"), /No devices yet/);

  // Labels are checked: a bad one comes back under its field, typed values kept.
  await page.fill("[data-testid=device-name]", "lab-pi");
  await page.fill("[data-testid=device-capabilities]", "linux, usb");
  await page.fill("[data-testid=device-labels]", "oops");
  await page.click("[data-testid=device-register]");
  await page.waitForSelector("#device-labels-error");
  assert.equal(await page.inputValue("[data-testid=device-name]"), "lab-pi");
  assert.equal(await page.getAttribute("[data-testid=device-labels]", "aria-invalid"), "true");

  await page.fill("[data-testid=device-labels]", "site=berlin");
  await page.click("[data-testid=device-register]");
  const token = await page.textContent("[data-testid=new-device-token]");
  assert.match(token, /^bt_/);
  const row = page.locator("#device-lab-pi");
  assert.match(await row.textContent(), /offline/);
  assert.match(await row.textContent(), /linux, usb/);
  assert.match(await row.textContent(), /site=berlin/);

  await page.click("#device-lab-pi [data-testid=device-drain]");
  await page.waitForSelector("#device-lab-pi [data-testid=device-resume]");
  assert.match(await page.textContent("[data-testid=devices-notice]"), /draining/);
  assert.match(await page.textContent("[data-testid=devices-summary]"), /1 draining/);
  await page.click("#device-lab-pi [data-testid=device-resume]");
  await page.waitForSelector("#device-lab-pi [data-testid=device-drain]");

  page.once("dialog", (d) => d.accept());
  await page.click("#device-lab-pi [data-testid=device-revoke]");
  await page.waitForSelector("#device-lab-pi >> text=revoked");
  assert.equal(await page.locator("#device-lab-pi [data-testid=device-drain]").count(), 0);
  // The token is not shown again.
  await page.reload();
  assert.equal(await page.locator("[data-testid=new-device-token]").count(), 0);

  await page.click("#device-lab-pi a");
  await page.waitForURL(/\/devices\/lab-pi$/);
  assert.match(await page.textContent("[data-testid=device-commands-empty]"), /No commands yet/);
  // The refused registration's 422 was provoked on purpose.
  page.problems = page.problems.filter((p) => !/422/.test(p));
  noErrors(page);
});
