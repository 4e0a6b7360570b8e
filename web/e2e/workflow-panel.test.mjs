// The workflow panel and field errors in the designer, in a real Chromium
// against a real `baton serve`:
//   - with no step open the side panel edits the workflow: an input
//     declared there (by keyboard) shows in the code view and in the test
//     run's inputs form, and is in the saved draft after a reload;
//   - a value that cannot be converted (a Wait step's "soon") is said next
//     to its field in plain words, and nothing speaks of JSON;
//   - an expression error is said once next to its field, in plain words,
//     and the problems list indexes it;
//   - at 1280×800 the save line is not cut off.
//
//   node --test --test-concurrency=1 web/e2e/workflow-panel.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { api, noErrors, signInAdmin, watchedPage } from "./helpers.mjs";

const skip = chromiumMissing() || false;
let server, browser, storageState;

const definition = (id) => ({
  id, name: "Panel " + id,
  steps: [
    { id: "pause", type: "wait", action: { duration: "1s" } },
    { id: "check", type: "condition", dependencies: ["pause"], action: { expression: "true" } },
  ],
});

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const page = await browser.newPage();
  await signInAdmin(page, server.url);
  for (const key of ["wf-inputs", "wf-errors"]) {
    const r = await api(page, "POST", "/api/v1/templates", definition(key));
    assert.equal(r.status, 201, `create ${key}: ${JSON.stringify(r.body)}`);
  }
  storageState = await page.context().storageState();
  await page.context().close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const newPage = (t) => watchedPage(t, browser, { prefix: "workflow", storageState });


async function openDesigner(page, key) {
  await page.goto(`${server.url}/templates/${key}/design`);
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 2);
  await page.waitForFunction(() => window.batonDesigner);
}

const field = (page, path) => page.locator(`[data-testid='field-${path}']`);
const errorsOf = (page, path) => page.locator(`[data-testid='errors-${path}']`);

test("an input declared in the workflow panel reaches the code view, the test run form and the saved draft", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "wf-inputs");
  // No step open: the side panel is the workflow's.
  await page.waitForSelector("[data-testid=workflow-form]");
  assert.equal(await field(page, "name").inputValue(), "Panel wf-inputs");
  assert.equal(await page.locator("[data-testid=wf-no-inputs]").count(), 1);

  // By keyboard: the Workflow button focuses the panel, Enter adds an input.
  await page.focus("[data-testid=open-workflow]");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.name === "name");
  await page.focus("[data-testid=wf-add-input]");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.name === "inputs[0].name");
  await page.keyboard.type("amount"); // the suggested name is selected: typing replaces it
  // The row's legend and its Remove button follow the rename (they kept "input1").
  await page.waitForFunction(() => document.querySelector("[data-testid=wf-input-0] legend")?.textContent.includes("amount"));
  assert.equal(await page.getByTestId("wf-remove-0").getAttribute("aria-label"), "Remove the input amount");
  await field(page, "inputs[0].type").selectOption("integer");
  await field(page, "inputs[0].default").fill("lots");
  assert.match(await errorsOf(page, "inputs[0].default").textContent(), /Use a whole number/, "a bad default is said next to it");
  assert.equal(await field(page, "inputs[0].default").getAttribute("aria-invalid"), "true");
  await field(page, "inputs[0].default").fill("500");
  assert.equal((await errorsOf(page, "inputs[0].default").textContent()).trim(), "", "fixed: the error goes");
  await field(page, "inputs[0].required").selectOption("true");
  await field(page, "inputs[0].description").fill("Order total in cents");
  await page.waitForSelector("[data-testid=save-state][data-state=saved]");

  // The code view shows it.
  await page.click("[data-testid=toggle-code]");
  const code = JSON.parse(await page.locator("[data-testid=code-text]").inputValue());
  assert.deepEqual(code.inputs, { amount: { type: "integer", required: true, default: 500, description: "Order total in cents" } });
  // So does the test run's inputs form.
  await page.click("[data-testid=open-test-run]");
  await page.waitForSelector("[data-testid='field-inputs.amount']");
  assert.equal(await page.locator("[data-testid='field-inputs.amount']").inputValue(), "500");

  await page.click("[data-testid=toggle-code]"); // close the code view

  // Saved: after a reload the panel and the stored draft have it.
  await page.reload();
  await page.waitForSelector("[data-testid=wf-input-0]");
  assert.equal(await field(page, "inputs[0].name").inputValue(), "amount");
  assert.equal(await field(page, "inputs[0].type").inputValue(), "integer");
  const latest = await api(page, "GET", "/api/v1/templates/wf-inputs");
  const version = latest.body.latestVersion ?? latest.body.versions?.at(-1)?.number;
  const stored = await api(page, "GET", `/api/v1/templates/wf-inputs/versions/${version}`);
  assert.equal(stored.body.definition.inputs.amount.type, "integer", JSON.stringify(stored.body).slice(0, 300));

  // Removing it empties the list again.
  await page.click("[data-testid=wf-remove-0]");
  await page.waitForSelector("[data-testid=wf-no-inputs]");
  noErrors(page);
});

test("bad values and expression errors are said once, next to their field, in plain words", { skip }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "wf-errors");
  await page.click("[data-testid=node-pause]");
  await page.waitForSelector("[data-testid='field-action.duration']");
  await field(page, "action.duration").fill("soon");
  await page.waitForFunction(() => document.querySelector("[data-testid='errors-action.duration']")?.textContent.includes("Use a duration like 30s, 5m or 1h30m"));
  await page.waitForTimeout(600); // past the validation delay: nothing else may speak up
  assert.doesNotMatch(await page.locator("[data-testid=side-panel]").innerText(), /JSON/, "no JSON wording in the panel or the problems");
  assert.doesNotMatch(await page.locator("[data-testid=save-state]").innerText(), /JSON/, "nor in the save line");
  await field(page, "action.duration").fill("5m");
  await page.waitForFunction(() => document.querySelector("[data-testid='errors-action.duration']")?.textContent === "");
  await page.waitForSelector("[data-testid=save-state][data-state=saved]");
  // After edits the save line counts them: at 1280×800 it still fits, and
  // its full text is in its title.
  const fit = await page.locator("[data-testid=save-state]").evaluate((e) => ({ scroll: e.scrollWidth, client: e.clientWidth, title: e.title, text: e.textContent }));
  console.log("figures: save line", JSON.stringify(fit));
  assert.match(fit.text, /changed/, "the line counts the edits");
  assert.ok(fit.scroll <= fit.client, `save line cut off: ${JSON.stringify(fit)}`);
  assert.equal(fit.title, fit.text);

  await page.click("[data-testid=node-check]");
  await page.waitForSelector("[data-testid='field-action.expression']");
  await field(page, "action.expression").fill("1 + (2");
  await page.waitForFunction(() => document.querySelector("[data-testid=problem-count]")?.textContent !== "0");
  await page.waitForSelector("[data-testid='preview-action.expression'][data-state=error]");
  await page.waitForTimeout(600);
  const under = await page.locator("[data-field='action.expression']").textContent();
  console.log("figures: under the expression field:", under.replace(/\s+/g, " "));
  const said = under.match(/column \d+/g) || [];
  assert.equal(said.length, 1, `said once under the field: ${under}`);
  assert.doesNotMatch(under, /token|EOF/, `plain words: ${under}`);
  assert.match(await errorsOf(page, "action.expression").textContent(), /column \d+: the expression ends too early/, "said in the field's error list");
  assert.equal(await field(page, "action.expression").getAttribute("aria-invalid"), "true");
  // The problems list indexes it; a click opens the step.
  const listed = page.locator("[data-testid=problem-list] button[data-step=check]");
  assert.equal(await listed.count(), 1);
  await page.click("[data-testid=node-pause]");
  await page.waitForSelector("[data-testid='field-action.duration']");
  await listed.click();
  await page.waitForSelector("[data-testid='field-action.expression']");
  // Fixed: the list empties and the value shows under the field again.
  await field(page, "action.expression").fill("1 + 2 > 2");
  await page.waitForSelector("[data-testid='preview-action.expression'][data-state=value]");
  await page.waitForFunction(() => document.querySelector("[data-testid='errors-action.expression']")?.children.length === 0);
  await page.waitForSelector("[data-testid=no-problems]:not([hidden])");
  noErrors(page);
});
