// The designer flow in a real browser against a real `baton serve`: sign
// in, create a template, drag four steps from the palette, connect them
// (including a condition's two branches), edit a step's URL and an
// expression (an error is shown next to the field, then fixed), save,
// reload and find the draft unchanged, test-run it and watch the nodes
// colour live, open a node's output, and submit the draft for review.
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

async function newPage(t, viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    const text = m.text();
    // 4xx answers the test provokes on purpose (e.g. a refused create) are
    // logged by Chromium as failed resources; they are not script errors.
    if (m.type() !== "error" || /Failed to load resource|Response Status Error Code/.test(text)) return;
    page.problems.push("console: " + text);
  });
  t.after(async () => {
    if (page.problems.length || t.failed) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, "failed-" + t.name.replace(/\W+/g, "-") + ".png"), fullPage: true });
    }
    await page.close();
  });
  return page;
}

async function signIn(page) {
  await page.goto(server.url + "/templates");
  await page.fill("[data-testid=login-username]", "admin");
  await page.fill("[data-testid=login-password]", adminPassword);
  await page.click("[data-testid=login-submit]");
  await page.waitForURL(/\/templates$/);
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name + ".png") });
}

const center = async (page, testid) => {
  const b = await page.getByTestId(testid).boundingBox();
  if (!b) {
    // Say what the canvas had instead, so a failure can be understood.
    await shot(page, "designer-flow-missing-" + testid);
    const seen = await page.evaluate(() => [...document.querySelectorAll("[data-testid^=port-], [data-testid^=node-]")].map((e) => e.dataset.testid).join(" "));
    assert.fail(`${testid} is not on screen; the canvas has: ${seen}`);
  }
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
};

const connect = async (page, from, port, to) => {
  await dragTo(page, await center(page, `port-${from}-${port}`), await center(page, "node-" + to));
  await page.getByTestId(`edge-${from}-${to}`).waitFor();
};
const definition = (page) => page.evaluate(() => window.batonDesigner.getDefinition());
const saveState = (page) => page.getByTestId("save-state").getAttribute("data-state");
const waitSaved = (page) => page.waitForSelector("[data-testid=save-state][data-state=saved]");

test("design, save, reload, test-run live and submit a branching workflow", { skip, timeout: 120_000 }, async (t) => {
  const page = await newPage(t);
  await signIn(page);

  // An empty list says what to do; a create without a key is refused next
  // to the form.
  assert.match(await page.textContent("[data-testid=templates-empty]"), /No templates yet/);
  await page.click("[data-testid=create-submit]");
  assert.match(await page.textContent("[data-testid=create-error]"), /key.*is required/s);

  await page.fill("[data-testid=create-key]", "e2e-flow");
  await page.fill("[data-testid=create-name]", "E2E flow");
  const opened = performance.now();
  await page.click("[data-testid=create-submit]");
  await page.waitForURL(/\/templates\/e2e-flow\/design$/);
  await page.getByTestId("node-start").waitFor();
  t.diagnostic(`create → designer drawn: ${(performance.now() - opened).toFixed(0)} ms`);
  assert.equal(await saveState(page), "saved");

  // Four steps dragged from the palette (and a fifth for a parallel fan-out).
  const canvas = await page.getByTestId("canvas").boundingBox();
  // Dropped in the four corners, clear of the start step in the middle.
  const drops = { http_1: ["http", 120, 70], if_1: ["condition", canvas.width - 130, 70],
    log_1: ["log", 120, canvas.height - 70], log_2: ["log", canvas.width - 130, canvas.height - 70],
    set_1: ["set", canvas.width / 2, canvas.height - 70] };
  for (const [id, [kind, x, y]] of Object.entries(drops)) {
    await dragTo(page, await center(page, "palette-" + kind), { x: canvas.x + x, y: canvas.y + y });
    await page.getByTestId("node-" + id).waitFor();
  }
  // Connected: a chain, then the condition's true and false branches.
  await connect(page, "start", "out", "http_1");
  await connect(page, "http_1", "out", "if_1");
  await connect(page, "if_1", "true", "log_1");
  await connect(page, "if_1", "false", "log_2");
  // A parallel fan-out: set_1 runs alongside the condition.
  await connect(page, "http_1", "out", "set_1");
  let def = await definition(page);
  const ifStep = def.steps.find((s) => s.id === "if_1");
  assert.equal(ifStep.onSuccess, "log_1");
  assert.equal(ifStep.onFailure, "log_2");
  assert.deepEqual(def.steps.find((s) => s.id === "http_1").dependencies, ["start"]);
  // Auto-layout and fit, so the graph reads left to right.
  await page.click("[data-testid=tool-layout]");
  await page.click("[data-testid=tool-fit]");

  // Edit the HTTP step's URL in the server-rendered side panel.
  await page.getByTestId("node-http_1").click();
  await page.waitForSelector("[data-testid=step-form][data-step=http_1]");
  await page.fill("[data-testid='field-action.url']", server.echo + "/healthz");

  // A broken expression is shown next to its field and on the canvas, then fixed.
  await page.getByTestId("node-if_1").click();
  await page.waitForSelector("[data-testid=step-form][data-step=if_1]");
  await page.fill("[data-testid='field-action.expression']", "inputs.amount >");
  await page.waitForSelector("[data-testid='errors-action.expression'] li");
  assert.ok((await page.textContent("[data-testid='errors-action.expression']")).length > 5, "the compile error is shown");
  await page.waitForSelector("[data-testid=save-state][data-state=invalid]");
  assert.notEqual(await page.textContent("[data-testid=problem-count]"), "0");
  assert.equal(await page.getByTestId("node-if_1").getAttribute("data-problems") !== null, true, "the bad node is marked");
  // The problems list selects the node.
  await page.click("[data-testid=side-problem-0]");
  assert.deepEqual(await page.evaluate(() => window.batonDesigner.selection()), ["if_1"]);
  // Its panel is open already: the field with the error takes the focus,
  // and the panel is not loaded again under the user's typing.
  assert.equal(await page.evaluate(() => document.activeElement?.name), "action.expression", "the bad field has the focus");
  await page.fill("[data-testid='field-action.expression']", "1 < 2");
  await page.waitForSelector("[data-testid='errors-action.expression']:empty", { state: "attached" });
  await waitSaved(page);
  assert.equal(await page.textContent("[data-testid=problem-count]"), "0");

  // Reload: the draft comes back exactly as edited, positions included.
  def = await definition(page);
  assert.equal(def.steps.find((s) => s.id === "http_1").action.url, server.echo + "/healthz");
  assert.equal(def.steps.find((s) => s.id === "if_1").action.expression, "1 < 2");
  const reloaded = performance.now();
  await page.reload();
  await page.getByTestId("node-log_2").waitFor();
  t.diagnostic(`reload → six-step draft drawn: ${(performance.now() - reloaded).toFixed(0)} ms  [n8n: 9–12 s to open the editor]`);
  assert.deepEqual(await definition(page), def);
  assert.equal(await saveState(page), "saved");

  // Someone else saves the same draft meanwhile: the next change warns
  // instead of overwriting their work, and overwriting is a choice.
  await page.evaluate(async (d) => {
    const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
    const res = await fetch("/api/v1/templates/e2e-flow/draft", { method: "PUT",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify({ ...d, description: "changed elsewhere" }) });
    if (res.status !== 200) throw new Error("PUT draft: " + res.status);
  }, def);
  await page.getByTestId("node-log_1").click();
  await page.waitForSelector("[data-testid=step-form][data-step=log_1]");
  await page.fill("[data-testid='field-action.message']", "took the true branch");
  await page.waitForSelector("[data-testid=save-state][data-state=conflict]");
  assert.ok(await page.getByTestId("conflict").isVisible());
  await page.click("[data-testid=conflict-overwrite]");
  await waitSaved(page);
  assert.ok(await page.getByTestId("conflict").isHidden());

  // The code view edits the same draft, in JSON and in YAML.
  await page.click("[data-testid=toggle-code]");
  const code = JSON.parse(await page.inputValue("[data-testid=code-text]"));
  assert.deepEqual(code, await definition(page));
  code.description = "Edited in the code view";
  await page.fill("[data-testid=code-text]", JSON.stringify(code, null, 2));
  await page.click("[data-testid=code-apply]");
  assert.equal((await definition(page)).description, "Edited in the code view");
  await page.check("[data-testid=code-yaml]");
  const yaml = await page.inputValue("[data-testid=code-text]");
  assert.match(yaml, /^id: e2e-flow\n/);
  await page.fill("[data-testid=code-text]", yaml.replace("description: Edited in the code view", "description: Edited as YAML"));
  await page.click("[data-testid=code-apply]");
  await page.waitForFunction(() => window.batonDesigner.getDefinition().description === "Edited as YAML");
  await page.fill("[data-testid=code-text]", "id: e2e-flow\nsteps: []\n");
  await page.click("[data-testid=code-apply]");
  await page.getByTestId("code-error-message").waitFor();
  assert.equal((await definition(page)).description, "Edited as YAML", "a refused YAML changes nothing");
  await page.click("[data-testid=toggle-code]");
  await waitSaved(page);

  // Test run: every node that runs turns green live (seen running first);
  // the branch the condition did not take is skipped.
  await page.evaluate(() => {
    window.seenStatuses = [];
    new MutationObserver((ms) => {
      // The canvas redraws a node when its status changes.
      for (const m of ms) {
        for (const n of m.addedNodes) {
          if (n.classList?.contains("bd-node") && n.dataset.status) window.seenStatuses.push(n.dataset.id + ":" + n.dataset.status);
        }
      }
    }).observe(document.querySelector("[data-testid=canvas]"), { subtree: true, childList: true });
  });
  await page.click("[data-testid=open-test-run]");
  await page.getByTestId("no-inputs").waitFor();
  await page.click("[data-testid=test-run-start]");
  await page.waitForSelector("[data-testid=test-run-status][data-status=succeeded][data-settled]", { timeout: 30_000 });
  for (const id of ["start", "http_1", "if_1", "log_1", "set_1"]) {
    await page.waitForSelector(`[data-testid=node-${id}][data-status=succeeded]`);
  }
  assert.equal(await page.getByTestId("node-log_2").getAttribute("data-status"), "skipped");
  const seen = await page.evaluate(() => window.seenStatuses);
  assert.ok(seen.includes("http_1:running"), "http_1 was seen running before it succeeded: " + seen.join(", "));
  // A node's output is one click away.
  await page.getByTestId("node-http_1").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=run-step] h3")?.textContent.startsWith("http_1"));
  await page.getByTestId("run-step-output").waitFor();
  assert.match(await page.textContent("[data-testid=run-step-output]"), /200/);
  await page.click("[data-testid=tool-fit]");
  await shot(page, "designer");

  // Submit for review: the template page shows the version in review.
  await page.click("[data-testid=submit-review]");
  await page.waitForURL(/\/templates\/e2e-flow$/);
  assert.equal(await page.getAttribute("[data-testid=version-row-1] [data-status]", "data-status"), "in_review");
  assert.match(await page.textContent("[data-testid=trail]"), /admin\s+submitted for review v1/);
  await shot(page, "template");

  // The list finds it by search and by status.
  await page.click("[data-testid=nav-templates]");
  await page.fill("[data-testid=template-search]", "e2e");
  await page.waitForURL(/search=e2e/);
  assert.ok(await page.getByTestId("template-row-e2e-flow").isVisible());
  await shot(page, "templates");
  await page.selectOption("[data-testid=template-status-filter]", "approved");
  await page.getByTestId("templates-empty").waitFor();
  assert.match(await page.textContent("[data-testid=templates-empty]"), /No template matches/);
  assert.deepEqual(page.problems, []);
});

test("create from an example and by importing YAML; narrow screen", { skip, timeout: 60_000 }, async (t) => {
  const page = await newPage(t, { width: 420, height: 860 });
  await signIn(page);
  await page.check("[data-testid=create-from-example]");
  await page.selectOption("[data-testid=create-example]", "branching.yaml");
  await page.fill("[data-testid=create-key]", "from-example");
  await page.click("[data-testid=create-submit]");
  await page.waitForURL(/\/templates\/from-example\/design$/);
  // The canvas module loads after the page: wait for it before asking it.
  await page.waitForFunction(() => window.batonDesigner);
  assert.equal((await definition(page)).id, "from-example");
  await page.locator(".bd-node").nth(4).waitFor({ state: "attached" });
  await shot(page, "designer-flow-narrow");

  await page.goto(server.url + "/templates");
  await page.check("[data-testid=create-from-import]");
  await page.fill("[data-testid=create-source]", "id: imported\nname: Imported\nsteps:\n  - id: bad\n    type: command\n    action: {kind: nope}\n");
  await page.click("[data-testid=create-submit]");
  await page.getByTestId("create-error").waitFor();
  assert.match(await page.textContent("[data-testid=create-error]"), /steps\[0\]/);
  await page.fill("[data-testid=create-source]", "id: imported\nname: Imported\nsteps:\n  - id: hello\n    type: command\n    action: {kind: log, message: hi}\n");
  await page.click("[data-testid=create-submit]");
  await page.waitForURL(/\/templates\/imported\/design$/);
  await page.getByTestId("node-hello").waitFor();
  // Click-to-add with a step open: the side panel follows the new step
  // (it used to keep the previous one, so typing edited the wrong step).
  await page.getByTestId("node-hello").click();
  await page.waitForSelector("[data-testid=step-form][data-step=hello]");
  await page.getByTestId("palette-log").click();
  await page.waitForSelector("[data-testid=step-form][data-step=log_1]");
  assert.deepEqual(await page.evaluate(() => window.batonDesigner.selection()), ["log_1"]);
  assert.deepEqual(page.problems, []);
});
