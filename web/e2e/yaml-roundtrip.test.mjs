// The designer's YAML writer (web/pages/designer/yaml.js) and the server's
// parser agree: awkward strings written by the code view come back from
// POST /templates/{key}/design/parse as the same strings, and a number the
// writer emits stays a number.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { signInAdmin, api } from "./helpers.mjs";
import { toYAML } from "../pages/designer/yaml.js";

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

// Strings YAML might read as something else, or not read at all.
const awkward = [
  ".5", "1e3", "0x1F", "0o7", "+1", "-", "-1", "2026-01-01", "2026-01-01T10:00:00Z", "12:30", "~", "null", "Null", "NULL",
  "true", "False", "Yes", "no", "on", "OFF", "y", ".inf", "-.inf", ".NaN", "*a", "&b", "!t", "%x", "@x", "`x", "? x",
  "a: b", "a #b", "#", "[", "]", "{", "}", '"', "'", ",", "|", ">", " leading", "trailing ", "  ", "line\nbreak",
  "tab\there", "unicode ✓ 日本", "emoji 🎉", "", "{ x }", "/path/to", "a/b.c", "_under", "x:y", "- item",
];

test("awkward strings round-trip through the designer's YAML writer and the server's parser", { skip }, async () => {
  const page = await browser.newPage();
  await signInAdmin(page, server.url);
  const created = await api(page, "POST", "/api/v1/templates", {
    id: "yamlrt", name: "YAML round trip", steps: [{ id: "a", type: "command", action: { kind: "log", message: "hi" } }],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  const values = {};
  awkward.forEach((s, i) => { values["v" + i] = s; });
  values.numbers = [0.5, 1000, -1, 3];
  values.list = awkward;
  const def = {
    id: "yamlrt", name: "YAML round trip",
    steps: [
      { id: "a", type: "command", action: { kind: "set", values } },
      ...awkward.slice(0, 10).map((s, i) => ({ id: "m" + i, type: "command", action: { kind: "log", message: s || "empty" } })),
    ],
  };
  const yaml = toYAML(def) + "\n";
  const res = await page.evaluate(async ([yaml]) => {
    const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    const r = await fetch("/templates/yamlrt/design/parse", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/yaml", Accept: "application/json", "X-CSRF-Token": csrf },
      body: yaml,
    });
    return { status: r.status, body: await r.text() };
  }, [yaml]);
  assert.equal(res.status, 200, res.body + "\n---\n" + yaml);
  const back = JSON.parse(res.body);
  const got = back.steps[0].action.values;
  awkward.forEach((s, i) => assert.strictEqual(got["v" + i], s, `v${i} = ${JSON.stringify(s)} came back as ${JSON.stringify(got["v" + i])}\n${yaml}`));
  assert.deepStrictEqual(got.list, awkward);
  assert.deepStrictEqual(got.numbers, [0.5, 1000, -1, 3]);
  awkward.slice(0, 10).forEach((s, i) => assert.strictEqual(back.steps[i + 1].action.message, s || "empty"));
  await page.close();
});
