// Saved state in the designer (ui-anchor #14: "changes are never silently
// kept from an experiment you didn't mean to save"), in a real Chromium
// against a real `baton serve`:
//   - autosave on: a change is saved and counted against the draft as it was
//     when the page was opened; "Discard…" asks, puts the draft back (checked
//     through the API after a reload) and is one undo step;
//   - a session that began on a submitted version: its first save opens a
//     new draft, and discarding deletes that draft again;
//   - autosave off: a change stays local ("Unsaved changes"), leaving asks,
//     a reload drops it, and the switch survives the reload;
//   - Ctrl+S right after an edit, on a slow server, still saves;
//   - a duplicated tab (same sessionStorage) is another holder of the lock.
//
//   node --test --test-concurrency=1 web/e2e/saved-state.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { api, noErrors, shots, signInAdmin, watchedPage } from "./helpers.mjs";

const skip = chromiumMissing() || false;
let server, browser, storageState;

// Three steps in a row; each test edits its own template.
const small = (id) => ({
  id, name: "Saved " + id,
  steps: [
    { id: "first", type: "command", action: { kind: "log", message: "one" } },
    { id: "second", type: "command", dependencies: ["first"], action: { kind: "log", message: "two" } },
    { id: "third", type: "command", dependencies: ["second"], action: { kind: "log", message: "three" } },
  ],
});

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const page = await browser.newPage();
  await signInAdmin(page, server.url);
  for (const key of ["saved-on", "saved-new", "saved-off", "saved-slow", "saved-dup"]) {
    const r = await api(page, "POST", "/api/v1/templates", small(key));
    assert.equal(r.status, 201, `create ${key}: ${JSON.stringify(r.body)}`);
  }
  // saved-new's editing session begins on a submitted version.
  assert.equal((await api(page, "POST", "/api/v1/templates/saved-new/versions/1/submit", {})).status, 200);
  storageState = await page.context().storageState();
  await page.context().close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const newPage = (t, viewport) => watchedPage(t, browser, { prefix: "saved", viewport, storageState });

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name + ".png") });
}


async function openDesigner(page, key) {
  await page.goto(`${server.url}/templates/${key}/design`);
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 3);
  await page.waitForFunction(() => window.batonDesigner);
}

// moveStep makes one edit on the canvas: the step goes 50 px down.
async function moveStep(page, id) {
  await page.click(`[data-testid=node-${id}]`);
  await page.keyboard.press("Shift+ArrowDown");
}

const stored = async (page, key, n) => {
  const r = await api(page, "GET", `/api/v1/templates/${key}/versions/${n}`);
  assert.equal(r.status, 200, `GET ${key} v${n}: ${JSON.stringify(r.body)}`);
  return r.body.definition;
};
const stepOf = (def, id) => def.steps.find((s) => s.id === id);
const saveText = (page) => page.textContent("[data-testid=save-state]");
// waitState waits for the save state; when it does not come, the error
// says which state and words the bar showed instead.
async function waitState(page, state) {
  try {
    await page.waitForSelector(`[data-testid=save-state][data-state=${state}]`, { timeout: 15_000 });
  } catch (err) {
    const shown = await page.evaluate(() => {
      const el = document.querySelector("[data-testid=save-state]");
      return el && `${el.dataset.state}: ${el.textContent.trim()}`;
    }).catch(() => "unknown");
    throw new Error(`save state ${state} did not come; the bar shows ${shown}`, { cause: err });
  }
}

test("autosave on: saved, counted since opening, discarded after a question, one undo step", { skip, timeout: 120_000 }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "saved-on");
  const original = await stored(page, "saved-on", 1);
  assert.equal(await page.isChecked("[data-testid=autosave]"), true, "autosave is on by default");
  assert.equal(await page.isHidden("[data-testid=discard-open]"), true, "nothing to discard on arrival");

  await moveStep(page, "second");
  await page.waitForFunction(() => /1 step changed since you opened it/.test(document.querySelector("[data-testid=save-state]").textContent));
  await waitState(page, "saved");
  assert.match(await saveText(page), /^All changes saved · 1 step changed since you opened it$/);
  assert.ok(stepOf(await stored(page, "saved-on", 1), "second").position, "the move is in the draft");
  // The longer text and the Discard button do not push the canvas down.
  const bar = await page.evaluate(() => document.querySelector(".dz-bar").getBoundingClientRect().height);
  assert.ok(bar < 60, `the designer bar stays one line: ${bar} px`);
  await shot(page, "saved-since-opened");

  // Discard asks first; Escape keeps everything.
  await page.click("[data-testid=discard-open]");
  await page.waitForSelector("[data-testid=discard-dialog][open]");
  assert.match(await page.textContent("[data-testid=discard-detail]"), /^Draft v1 goes back to how it was when you opened it at \d\d?:\d\d.*, and is saved that way\. Lost: 1 step changed\.$/);
  await shot(page, "saved-discard-dialog");
  await page.keyboard.press("Escape");
  await page.waitForSelector("[data-testid=discard-dialog]:not([open])", { state: "attached" });
  assert.ok(stepOf(await stored(page, "saved-on", 1), "second").position, "Escape discarded nothing");

  // Confirmed: the canvas and the saved draft are back to the start.
  await page.click("[data-testid=discard-open]");
  await page.click("[data-testid=discard-confirm]");
  await page.waitForFunction(() => document.querySelector("[data-testid=discard-open]").hidden);
  await waitState(page, "saved");
  assert.equal(stepOf(await page.evaluate(() => window.batonDesigner.getDefinition()), "second").position, undefined, "the canvas is back");
  assert.deepEqual(await stored(page, "saved-on", 1), original, "the draft is back");

  // The discard is one undo step: Ctrl+Z on the canvas brings the move back, and autosave keeps it.
  await page.focus("[data-testid=canvas]");
  await page.keyboard.press("Control+z");
  await page.waitForFunction(() => /1 step changed since you opened it/.test(document.querySelector("[data-testid=save-state]").textContent));
  await page.waitForFunction(() => document.querySelector("[data-testid=save-state]").dataset.state === "saved");
  assert.ok(stepOf(await stored(page, "saved-on", 1), "second").position, "Ctrl+Z brought the move back into the draft");

  // Discard again, reload: the draft equals the starting definition.
  await page.click("[data-testid=discard-open]");
  await page.click("[data-testid=discard-confirm]");
  await page.waitForFunction(() => document.querySelector("[data-testid=discard-open]").hidden);
  await waitState(page, "saved");
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 3);
  assert.deepEqual(await stored(page, "saved-on", 1), original, "after the reload the draft is the starting definition");
  assert.equal(await page.isHidden("[data-testid=discard-open]"), true, "nothing left to discard");
  assert.doesNotMatch(await saveText(page), /since you opened it/);
  noErrors(page);
});

test("a session begun on a submitted version: discard deletes the draft its first save opened", { skip, timeout: 120_000 }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "saved-new");
  assert.match(await saveText(page), /Submitted — your first change opens a new draft/);

  await moveStep(page, "third");
  await page.waitForFunction(() => document.querySelector("[data-testid=designer-version]").textContent === "v2");
  await waitState(page, "saved");
  // A reload in the same tab keeps the session's starting point (v1).
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 3);
  assert.equal(await page.textContent("[data-testid=designer-version]"), "v2");
  assert.match(await saveText(page), /All changes saved · 1 step changed since you opened it/);

  await page.click("[data-testid=discard-open]");
  assert.match(await page.textContent("[data-testid=discard-detail]"), /^Draft v2 is deleted and v1 \(in review\) is the latest version again\. Lost: 1 step changed\.$/);
  await page.click("[data-testid=discard-confirm]");
  await page.waitForFunction(() => /Changes discarded/.test(document.querySelector("[data-testid=save-state]").textContent));
  assert.equal(await page.textContent("[data-testid=designer-version]"), "v1");
  let versions = (await api(page, "GET", "/api/v1/templates/saved-new/versions")).body.versions;
  assert.deepEqual(versions.map((v) => [v.number, v.status]), [[1, "in_review"]], "no draft is left behind");

  // Ctrl+Z brings the edit back, and the next save opens a new draft: v3,
  // because a discarded version's number is never given out again.
  await page.focus("[data-testid=canvas]");
  await page.keyboard.press("Control+z");
  await page.waitForFunction(() => document.querySelector("[data-testid=designer-version]").textContent === "v3");
  await waitState(page, "saved");
  versions = (await api(page, "GET", "/api/v1/templates/saved-new/versions")).body.versions;
  assert.deepEqual(versions.map((v) => [v.number, v.status]), [[3, "draft"], [1, "in_review"]]);
  assert.ok(stepOf(await stored(page, "saved-new", 3), "third").position, "the draft has the edit back");
  // The page discarded with its lock token; without it, a DELETE is refused
  // while this tab holds the lock (page.request: a 409 in the page would be a console error).
  const csrf = JSON.parse(await page.getAttribute("body", "hx-headers"))["X-CSRF-Token"];
  const refused = await page.request.fetch(server.url + "/api/v1/templates/saved-new/versions/3", { method: "DELETE", headers: { "X-CSRF-Token": csrf } });
  assert.equal(refused.status(), 409);
  assert.match(await refused.text(), /you \(admin\) are editing draft v3/);
  noErrors(page);
});

test("autosave off: changes stay local, leaving asks, a reload drops them, the switch is remembered", { skip, timeout: 120_000 }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "saved-off");
  const original = await stored(page, "saved-off", 1);

  // The switch is a real, labelled checkbox that the keyboard reaches.
  const sw = page.getByRole("switch", { name: "Autosave" });
  assert.equal(await sw.isChecked(), true);
  await sw.focus();
  await page.keyboard.press("Space");
  assert.equal(await sw.isChecked(), false);

  await moveStep(page, "first");
  await waitState(page, "unsaved");
  assert.equal(await saveText(page), "Unsaved changes — Save (Ctrl+S)");
  assert.match(await page.getAttribute("[data-testid=save-now]", "class"), /dz-save-due/, "Save is emphasised");
  await shot(page, "saved-autosave-off");
  // Well past the autosave delay, the draft still does not have it.
  await page.waitForTimeout(2500);
  assert.equal(await page.getAttribute("[data-testid=save-state]", "data-state"), "unsaved");
  assert.deepEqual(await stored(page, "saved-off", 1), original, "nothing was saved");

  // A test run says it saves first.
  await page.click("[data-testid=open-test-run]");
  await page.waitForSelector("[data-testid=test-run-saves]:not([hidden])");
  assert.equal((await page.textContent("[data-testid=test-run-start]")).trim(), "Save and start test run");
  await page.click("#test-run-close");

  // The back link asks in a dialog; "Stay" stays.
  await page.click("[data-testid=designer-back]");
  await page.waitForSelector("[data-testid=leave-dialog][open]");
  await shot(page, "saved-leave-dialog");
  await page.click("[data-testid=leave-stay]");
  await page.waitForSelector("[data-testid=leave-dialog]:not([open])", { state: "attached" });
  assert.match(page.url(), /\/templates\/saved-off\/design$/);

  // A reload asks too (the browser's beforeunload prompt); accepted, the change is gone.
  const asked = [];
  page.on("dialog", (d) => {
    asked.push(d.type());
    d.accept();
  });
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 3);
  assert.deepEqual(asked, ["beforeunload"], "the reload asked first");
  assert.deepEqual(await stored(page, "saved-off", 1), original, "the change is not in the draft");
  assert.equal(stepOf(await page.evaluate(() => window.batonDesigner.getDefinition()), "first").position, undefined);
  assert.equal(await page.getByRole("switch", { name: "Autosave" }).isChecked(), false, "the switch survived the reload");
  assert.doesNotMatch(await saveText(page), /Unsaved/);

  // Ctrl+S saves on demand.
  await moveStep(page, "first");
  await waitState(page, "unsaved");
  await page.keyboard.press("Control+s");
  await waitState(page, "saved");
  assert.ok(stepOf(await stored(page, "saved-off", 1), "first").position, "Ctrl+S saved the change");
  noErrors(page);
});

// The edit's own check starts 250 ms after it; a save pressed before then
// checks first too, and a slow server keeps both checks on their way at
// once. The save must wait for its check, not take the newer one's start
// as "the server cannot be reached" (a CI failure under load).
test("Ctrl+S pressed while the edit's own check is on its way still saves", { skip, timeout: 60_000 }, async (t) => {
  const page = await newPage(t);
  await openDesigner(page, "saved-slow");
  const sw = page.getByRole("switch", { name: "Autosave" });
  await sw.uncheck();
  let checks = 0;
  await page.route("**/design/problems", async (route) => {
    checks++;
    await new Promise((r) => setTimeout(r, 900));
    await route.continue();
  });
  await page.click("[data-testid=node-second]");
  await page.keyboard.press("Shift+ArrowDown");
  await page.keyboard.press("Control+s");
  await waitState(page, "saved");
  assert.ok(checks >= 2, `the save's check and the edit's check both went out: ${checks}`);
  assert.ok(stepOf(await stored(page, "saved-slow", 1), "second").position, "Ctrl+S saved the change");
  await sw.check(); // leave the remembered switch as other tests expect it
  noErrors(page);
});

// A browser's "Duplicate tab" copies sessionStorage, and with it the tab's
// lock id: the copy must not pass for the tab holding the draft.
test("a duplicated tab gets its own lock id and is told another tab is editing", { skip, timeout: 60_000 }, async (t) => {
  const first = await newPage(t);
  await openDesigner(first, "saved-dup");
  await first.waitForFunction(() => sessionStorage.getItem("baton.designer.lock.saved-dup"));
  const token = await first.evaluate(() => sessionStorage.getItem("baton.designer.lock.saved-dup"));
  const copy = await first.context().newPage();
  await copy.addInitScript((tok) => sessionStorage.setItem("baton.designer.lock.saved-dup", tok), token);
  await copy.goto(`${server.url}/templates/saved-dup/design`);
  await copy.waitForSelector("[data-testid=lock-state]:not([hidden])");
  assert.match(await copy.textContent("[data-testid=lock-state]"), /You \(admin\) are editing this draft in another tab/);
  const own = await copy.evaluate(() => sessionStorage.getItem("baton.designer.lock.saved-dup"));
  assert.notEqual(own, token, "the copy took a new lock id");
  // The first tab still holds the draft: an edit there is saved.
  await moveStep(first, "second");
  await waitState(first, "saved");
  assert.ok(stepOf(await stored(first, "saved-dup", 1), "second").position, "the holder's edit was saved");
  await copy.close();
  noErrors(first);
});

test("at 420 px the bar keeps the switch, the save state and Discard on one line", { skip, timeout: 60_000 }, async (t) => {
  const page = await newPage(t, { width: 420, height: 800 });
  await openDesigner(page, "saved-off");
  await moveStep(page, "second");
  await page.waitForSelector("[data-testid=discard-open]:not([hidden])");
  await waitState(page, "saved");
  const m = await page.evaluate(() => ({
    bar: document.querySelector(".dz-bar").getBoundingClientRect().height,
    page: [document.documentElement.scrollWidth, window.innerWidth],
    tops: new Set([...document.querySelectorAll(".dz-tools > *, .dz-savebox > :not([hidden])")].map((e) => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2))).size,
  }));
  assert.ok(m.bar < 60, `the designer bar is one line: ${m.bar} px`);
  assert.ok(m.page[0] <= m.page[1], `the page does not scroll sideways: ${m.page}`);
  assert.ok(m.tops <= 2, `switch, save state, Discard and buttons share one line (centres: ${m.tops})`);
  // The switch keeps its name for screen readers even where its word is hidden.
  assert.equal(await page.getByRole("switch", { name: "Autosave" }).count(), 1);
  await shot(page, "saved-narrow-420");
  noErrors(page);
});
