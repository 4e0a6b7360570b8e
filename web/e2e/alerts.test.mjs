// On-call in the browser: the admin sets up a webhook channel (and sees the
// far end's answer to "send test"), an in-app channel, an escalation policy
// and a run_failed rule through the editors; a production run fails; the
// webhook receiver gets the signed alert, the header's bell counts it, the
// alert is on /alerts and the admin acknowledges it there. A reviewer is
// told of a submitted version in their bell. Screenshots land in
// web/e2e/screenshots/alerts-*.png. Fails on any script error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath, adminPassword } from "./server.mjs";
import { shots, watchedPage, noErrors } from "./helpers.mjs";

const skip = chromiumMissing() || false;
const password = "alerts e2e password";
const secret = "e2e-signing-secret";
let server, browser, receiver, receiverURL;
const received = [];

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ body, signature: req.headers["x-baton-signature"], delivery: req.headers["x-baton-delivery"] });
      res.writeHead(202, { "Content-Type": "text/plain" });
      res.end("queued by the test receiver");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  receiver?.close();
});

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
    method, headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok(), `${method} ${path} = ${res.status()}: ${await res.text()}`);
  return res.json();
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "alerts-" + name + ".png"), fullPage: true });
}

async function until(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    // A form's answer navigates (HX-Redirect): a look during it is retried.
    const v = await fn().catch(() => false);
    if (v) return v;
    if (Date.now() > end) assert.fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("set up on-call in the browser, a failed run alerts, acknowledge it", { skip, timeout: 120_000 }, async (t) => {
  const admin = await watchedPage(t, browser, { prefix: "alerts" });
  await signIn(admin, "admin", adminPassword);
  await api(admin, "POST", "/api/v1/users", { name: "rita", password, roles: ["approver", "operator"] });

  // Channels: a signed webhook to the receiver, and the bell of admins.
  await admin.click("[data-testid=nav-alerts]");
  await admin.click("[data-testid=tab-channels]");
  await admin.fill("[data-testid=channel-name]", "receiver");
  await admin.selectOption("[data-testid=channel-kind]", "webhook");
  await admin.fill("[data-testid=channel-url]", receiverURL);
  await admin.fill("[data-testid=channel-secret]", secret);
  await admin.click("[data-testid=channel-save]");
  await admin.waitForSelector("[data-testid=channel-row]");
  await admin.fill("[data-testid=channel-name]", "admins' bell");
  await admin.selectOption("[data-testid=channel-kind]", "inapp");
  await admin.fill("[data-testid=channel-roles]", "admin");
  await admin.click("[data-testid=channel-save]");
  await until("two channels", async () => (await admin.$$("[data-testid=channel-row]")).length === 2);
  assert.ok(!(await admin.content()).includes(secret), "the secret is not shown back");

  // Send test shows what the far end answered.
  await admin.click("[data-testid=channel-row]:has-text('receiver') [data-testid=channel-test]");
  const answer = await admin.waitForSelector("[data-testid=channel-row]:has-text('receiver') [data-testid=test-ok]");
  assert.match(await answer.textContent(), /202.*queued by the test receiver/);
  assert.equal(received.length, 1);
  assert.equal(received[0].signature, "sha256=" + createHmac("sha256", secret).update(received[0].body).digest("hex"));
  await shot(admin, "channels");

  // A policy: both channels at once.
  await admin.click("[data-testid=tab-policies]");
  await admin.fill("[data-testid=policy-name]", "on-call");
  await admin.check("[data-testid='policy-level-1-receiver']");
  await admin.check("[data-testid=\"policy-level-1-admins' bell\"]");
  await admin.click("[data-testid=policy-save]");
  await admin.waitForSelector("[data-testid=policy-row]");

  // A rule: any failed run of "boom", escalated by on-call.
  await admin.click("[data-testid=tab-rules]");
  await admin.fill("[data-testid=rule-name]", "boom failed");
  await admin.selectOption("[data-testid=rule-policy]", { label: "on-call" });
  await admin.selectOption("[data-testid=rule-kind]", "run_failed");
  await admin.fill("[data-testid=rule-template]", "boom");
  await admin.click("[data-testid=rule-save]");
  await admin.waitForSelector("[data-testid=rule-row]");
  await shot(admin, "rules");

  // A workflow that fails, approved by rita (who is told of it in her bell).
  await api(admin, "POST", "/api/v1/templates", { id: "boom", name: "Boom", steps: [{ id: "explode", type: "command", action: { kind: "fail", message: "kaboom" } }] });
  await api(admin, "POST", "/api/v1/templates/boom/versions/1/submit");
  const rita = await watchedPage(t, browser, { prefix: "alerts-rita" });
  await signIn(rita, "rita", password);
  await until("rita's bell", async () => {
    await rita.reload();
    return rita.waitForSelector("[data-testid=bell-count]", { timeout: 2000 }).then(() => true, () => false);
  });
  assert.match(await rita.textContent("[data-testid=bell-text]"), /1 unread/);
  await rita.click("[data-testid=bell-link]");
  assert.match(await rita.textContent("[data-testid=notification-list]"), /boom v1 waits for your review/);
  await api(rita, "POST", "/api/v1/templates/boom/versions/1/approve", { comment: "ok" });

  // The run fails: the receiver gets the alert, the bell counts it.
  await api(admin, "POST", "/api/v1/templates/boom/runs", { inputs: {} });
  const hook = await until("the alert webhook", async () => received.find((r) => r.body.includes('"subject":"boom"')));
  const alert = JSON.parse(hook.body);
  assert.equal(alert.state, "firing");
  assert.equal(alert.level, 1);
  assert.ok(hook.delivery, "a delivery id");
  assert.equal(hook.signature, "sha256=" + createHmac("sha256", secret).update(hook.body).digest("hex"));
  // The in-app delivery follows the webhook's within the same tick.
  await until("the admin's bell", async () => {
    await admin.goto(server.url + "/alerts");
    return admin.waitForSelector("[data-testid=bell-count]", { timeout: 2000 }).then(() => true, () => false);
  });
  assert.match(await admin.textContent("[data-testid=alerts-open]"), /boom failed/);
  await shot(admin, "open");

  // Acknowledge it on the page.
  await admin.click("[data-testid=alert-ack]");
  await admin.waitForSelector("[data-testid=alert-state]:has-text('acknowledged')");
  const listed = await api(admin, "GET", "/api/v1/alerts?state=acknowledged");
  assert.equal(listed.alerts.length, 1);
  assert.equal(listed.alerts[0].ackedBy, "admin");
  // The detail page lists both deliveries.
  await admin.click("[data-testid=alert-link]");
  await until("two deliveries", async () => (await admin.$$("[data-testid=delivery-row]")).length === 2);
  await shot(admin, "detail");
  noErrors(rita);
  noErrors(admin);
});
