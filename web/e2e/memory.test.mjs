// Behaviour #1's memory, measured the way ui-anchor.md measured n8n: the
// WHOLE headless Chromium (every one of its processes) with one tab open on
// a page, summed by PSS from /proc/<pid>/smaps_rollup. n8n's figure, "one tab
// on the editor (9 processes) peak 850–875 MiB PSS", is that sum.
//
//   node --test web/e2e/memory.test.mjs
//   BATON_MEMORY_REPEATS=7 node --test web/e2e/memory.test.mjs   (more samples)
//
// Each sample is a freshly launched browser, launched as the other browser
// tests launch it (playwright-core, /usr/bin/chromium, default headless,
// --no-sandbox only because the tests run as root; no flag that a user's
// browser would not have), with one context and one tab. Nothing else has
// run in it, so earlier tests cannot pollute the figure.
//
// The same browser on about:blank is measured too: that is what Chromium
// costs by itself on this machine, before any page of ours. Our page's
// share is the increment over it. See the budget comment in the test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, openSync, readSync, closeSync } from "node:fs";
import { chromium } from "playwright-core";
import { startServer, chromiumMissing, chromiumPath } from "./server.mjs";
import { anchor, api, signInAdmin } from "./helpers.mjs";

const skip = chromiumMissing() || false;
const repeats = Math.max(1, Number(process.env.BATON_MEMORY_REPEATS) || 3);
const launchOptions = { executablePath: chromiumPath, args: ["--no-sandbox"] };
let server, storageState, runId;

// ---- /proc ------------------------------------------------------------------------

function childrenByParent() {
  const kids = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  return kids;
}
function descendants(pid, kids = childrenByParent()) {
  const out = [];
  for (const k of kids.get(pid) || []) out.push(k, ...descendants(k, kids));
  return out;
}
function pssKB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process ended between listing and reading
  }
}
function commandLine(pid) {
  try {
    // Chromium rewrites its children's argv into one space-joined string,
    // so the flags are matched in the joined text.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

// kindOf names a Chromium process by its --type (and utility sub-type).
// Renderers are split later into the tab, Chromium's own WebUI renderer
// (--top-chrome-webui: preloaded browser UI, present on about:blank too)
// and the spare renderer Chromium keeps ready for the next navigation.
function kindOf(cmd) {
  const type = /--type=(\S+)/.exec(cmd)?.[1] || "browser";
  if (type === "utility") return "utility:" + (/--utility-sub-type=(\S+)/.exec(cmd)?.[1] || "?").split(".").pop();
  if (type === "renderer" && cmd.includes("--top-chrome-webui")) return "renderer:webui";
  return type;
}

const isChromium = (cmd) => /(^|\/)(chromium|chrome)( |$)/.test(cmd.split(" ")[0]) || cmd.startsWith("/usr/lib/chromium/");

// chromiumProcesses lists this test's Chromium processes: descendants of
// this node process that run Chromium (the baton server is not one).
function chromiumProcesses() {
  return descendants(process.pid)
    .map((pid) => ({ pid, cmd: commandLine(pid) }))
    .filter((p) => isChromium(p.cmd));
}

// otherBrowsers counts Chromium browser processes on the machine that are
// not ours (other test runs). They share Chromium's binary and libraries
// with ours, which lowers our PSS: see residentPages.
function otherBrowsers(ours) {
  let n = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || ours.has(Number(d))) continue;
    const cmd = commandLine(Number(d));
    if (isChromium(cmd) && !cmd.includes("--type=")) n++;
  }
  return n;
}

// residentPages lists the physical page frames a process has resident, from
// /proc/<pid>/pagemap (only the address ranges smaps says are resident).
// It needs root (otherwise the kernel hides the frame numbers: null).
//
// Why: PSS splits each shared page among every process on the machine that
// maps it, so when another Chromium runs (other helpers' tests do, on this
// shared machine) our browser's PSS falls by ~110 MB: Chromium's binary is
// shared with theirs. Splitting pages only among OUR processes gives the PSS
// this browser would have alone, as on a user's machine and as n8n's figure
// was taken, however busy the machine is. (Pages shared with non-Chromium
// processes, such as libc, are then counted whole: under 2 MB.)
function residentPages(pid) {
  let smaps, fd;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, "utf8");
    fd = openSync(`/proc/${pid}/pagemap`, "r");
  } catch {
    return []; // the process ended
  }
  const frames = [];
  const buf = Buffer.alloc(8 * 65536);
  let sawFrame = true, sawPresent = false;
  try {
    const vma = /^([0-9a-f]+)-([0-9a-f]+) [^\n]*\n(?:[^\n]*\n)*?Rss:\s+(\d+) kB/gm;
    for (let m; (m = vma.exec(smaps));) {
      if (m[3] === "0") continue;
      const end = parseInt(m[2], 16) / 4096;
      for (let page = parseInt(m[1], 16) / 4096; page < end;) {
        const count = Math.min(65536, end - page);
        const got = readSync(fd, buf, 0, count * 8, page * 8);
        for (let o = 0; o < got; o += 8) {
          const high = buf.readUInt32LE(o + 4);
          if (!(high & 0x80000000)) continue; // not present (or swapped)
          sawPresent = true;
          const frame = (high & 0x7fffff) * 4294967296 + buf.readUInt32LE(o);
          if (frame) frames.push(frame);
          else sawFrame = false;
        }
        page += count;
      }
    }
  } catch {
    // the process ended mid-read: what was read still counts
  } finally {
    closeSync(fd);
  }
  return sawPresent && !sawFrame && frames.length === 0 ? null : frames;
}

// snapshot measures the whole browser, by kind of process (kB):
//  - pss: the sum of each process's PSS (smaps_rollup), as n8n was measured;
//  - alone: the same with each page split only among our processes (see
//    residentPages), i.e. the browser's distinct resident pages; null
//    without root. With no other Chromium running the two agree within 1%.
function snapshot() {
  const procs = chromiumProcesses().map((p) => ({ ...p, kind: kindOf(p.cmd), pss: pssKB(p.pid) }));
  // The tab is the largest ordinary renderer; any other is the spare.
  const renderers = procs.filter((p) => p.kind === "renderer").sort((a, b) => b.pss - a.pss);
  renderers.forEach((p, i) => { p.kind = i === 0 ? "renderer:tab" : "renderer:spare"; });
  const others = otherBrowsers(new Set(procs.map((p) => p.pid)));
  for (const p of procs) p.frames = residentPages(p.pid);
  const rootless = procs.some((p) => p.frames === null);
  const sharers = new Map();
  if (!rootless) for (const p of procs) for (const f of p.frames) sharers.set(f, (sharers.get(f) || 0) + 1);
  const pss = {}, alone = {};
  for (const p of procs) {
    pss[p.kind] = (pss[p.kind] || 0) + p.pss;
    if (!rootless) alone[p.kind] = (alone[p.kind] || 0) + p.frames.reduce((s, f) => s + 4 / sharers.get(f), 0);
  }
  const sum = (o) => Object.values(o).reduce((s, v) => s + v, 0);
  return {
    processes: procs.length, others,
    pss: { total: sum(pss), byKind: pss },
    alone: rootless ? null : { total: sharers.size * 4, byKind: alone },
  };
}

// ---- one sample -------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// measure launches a fresh browser, opens one tab on path (about:blank when
// path is null), waits until it is drawn and idle, and returns the whole
// browser's memory (settled, and the peak of the samples taken while it
// loaded), plus what CDP says about the page.
async function measure(path, ready) {
  const browser = await chromium.launch(launchOptions);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...(path?.startsWith("/") ? { storageState } : {}) });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
    const peak = { pss: 0, alone: 0 };
    let loading = true;
    const sampling = (async () => {
      while (loading) {
        const s = snapshot();
        peak.pss = Math.max(peak.pss, s.pss.total);
        peak.alone = Math.max(peak.alone, s.alone?.total || 0);
        await sleep(150);
      }
    })();
    try {
      await page.goto(!path ? "about:blank" : path.startsWith("/") ? server.url + path : path);
      if (ready) await ready(page);
      await page.waitForLoadState("networkidle", { timeout: 5000 }).catch(() => {}); // a live page may keep its event stream open
      // Idle: two frames drawn and the main thread idle, then a settle
      // period for the GPU process and the renderer's lazy allocations.
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => requestIdleCallback(resolve, { timeout: 2000 })))));
      await sleep(1500);
    } finally {
      loading = false;
      await sampling;
    }
    const settled = snapshot();
    peak.pss = Math.max(peak.pss, settled.pss.total);
    peak.alone = Math.max(peak.alone, settled.alone?.total || 0);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const dom = await cdp.send("Memory.getDOMCounters");
    // Composited layers: each one drawn costs about width × height × 4
    // bytes of raster memory. The tree is reported on the next frame, so
    // one is asked for (a change that draws nothing).
    let layers = [];
    cdp.on("LayerTree.layerTreeDidChange", (e) => { if (e.layers?.length) layers = e.layers; });
    await cdp.send("LayerTree.enable");
    await page.evaluate(() => {
      document.documentElement.style.outline = "0 solid transparent";
      return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    });
    await sleep(300);
    const drawn = layers.filter((l) => l.drawsContent && l.width * l.height > 0);
    return {
      settled, peak, problems,
      heapMB: metrics.JSHeapUsedSize / 1048576,
      nodes: dom.nodes, listeners: dom.jsEventListeners,
      layers: drawn.length,
      layerMB: drawn.reduce((s, l) => s + l.width * l.height * 4, 0) / 1048576,
      layerList: drawn.map((l) => `${Math.round(l.width)}×${Math.round(l.height)}`).join(" "),
    };
  } finally {
    await browser.close();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const mb = (kB) => (kB / 1024).toFixed(0);

// summary folds the samples of one page into medians, ranges and the peak.
// measure is "alone" (this browser's pages split among its own processes)
// when the frames could be read, else "pss".
function summary(samples, measure) {
  const totals = samples.map((s) => s.settled[measure].total);
  const kinds = [...new Set(samples.flatMap((s) => Object.keys(s.settled[measure].byKind)))].sort();
  return {
    median: median(totals), min: Math.min(...totals), max: Math.max(...totals),
    peak: Math.max(...samples.map((s) => s.peak[measure])),
    pssMedian: median(samples.map((s) => s.settled.pss.total)),
    pssQuietMedian: (() => { const q = samples.filter((s) => s.settled.others === 0); return q.length ? median(q.map((s) => s.settled.pss.total)) : null; })(),
    others: Math.max(...samples.map((s) => s.settled.others)),
    processes: median(samples.map((s) => s.settled.processes)),
    byKind: Object.fromEntries(kinds.map((k) => [k, median(samples.map((s) => s.settled[measure].byKind[k] || 0))])),
    heapMB: median(samples.map((s) => s.heapMB)),
    nodes: median(samples.map((s) => s.nodes)),
    listeners: median(samples.map((s) => s.listeners)),
    layers: median(samples.map((s) => s.layers)),
    layerMB: median(samples.map((s) => s.layerMB)),
    layerList: samples.at(-1).layerList,
  };
}
function describe(name, s) {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k} ${mb(v)}`).join(", ");
  return `${name}: whole browser median ${mb(s.median)} MB (${mb(s.min)}–${mb(s.max)}), peak ${mb(s.peak)} MB, ${s.processes} processes ` +
    `[${kinds}]; plain PSS sum median ${mb(s.pssMedian)} MB` +
    (s.pssQuietMedian === null ? "" : `, ${mb(s.pssQuietMedian)} MB with no other Chromium running`) +
    ` (up to ${s.others} other Chromium running); JS heap ${s.heapMB.toFixed(1)} MB, ${s.nodes} DOM nodes, ${s.listeners} listeners, ` +
    `${s.layers} drawn layers ${s.layerMB.toFixed(1)} MB (${s.layerList})`;
}

// ---- setup --------------------------------------------------------------------------

before(async () => {
  if (skip) return;
  server = await startServer();
  // Sign in, create the draft and one finished run in a browser of its own,
  // closed before anything is measured.
  const browser = await chromium.launch(launchOptions);
  try {
    const page = await browser.newPage();
    await signInAdmin(page, server.url);
    const created = await api(page, "POST", "/api/v1/templates", anchor);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const versions = await api(page, "GET", "/api/v1/templates/anchor/versions");
    const run = await api(page, "POST", "/api/v1/templates/anchor/runs?wait=30s", { version: versions.body.versions[0].number, inputs: {} });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    runId = run.body.id;
    storageState = await page.context().storageState();
  } finally {
    await browser.close();
  }
});

after(async () => {
  await server?.stop();
});

// ---- the test -----------------------------------------------------------------------

test("1. memory: the whole browser with one tab on the designer and other pages, against about:blank", { skip, timeout: 600_000 }, async () => {
  const pages = [
    ["about:blank", null, null],
    // Any real page costs Chromium more than about:blank (a document, a
    // style engine, layout, fonts, its own code paths paged in): this one-line
    // page is that floor, so "designer − one-line page" is what is ours.
    ["one-line page", "data:text/html,<!doctype html><title>x</title><p>One line of text.</p>", (page) => page.waitForSelector("p")],
    ["designer (5 nodes)", "/templates/anchor/design", async (page) => {
      await page.waitForFunction(() => document.querySelectorAll(".bd-node").length === 5 && window.batonDesigner);
    }],
    ["runs list", "/runs", (page) => page.waitForSelector("[data-testid=runs-rows]")],
    ["run page", () => `/runs/${runId}`, (page) => page.waitForSelector("[data-testid=run-graph] .bd-node .bd-status")],
    ["templates list", "/templates", (page) => page.waitForSelector("main")],
  ];
  const results = {};
  // Interleaved (blank, designer, runs, … then again) so a burst of load
  // from other work on the machine spreads over every page alike.
  for (let i = 0; i < repeats; i++) {
    for (const [name, path, ready] of pages) {
      const sample = await measure(typeof path === "function" ? path() : path, ready);
      assert.deepEqual(sample.problems, [], `${name}: no console or page errors`);
      (results[name] ||= []).push(sample);
    }
  }
  const how = Object.values(results)[0][0].settled.alone ? "alone" : "pss";
  const s = Object.fromEntries(Object.entries(results).map(([name, samples]) => [name, summary(samples, how)]));
  const blank = s["about:blank"], designer = s["designer (5 nodes)"];
  const lines = Object.entries(s).map(([name, x]) => describe(name, x));
  for (const [name, x] of Object.entries(s)) {
    if (x !== blank) lines.push(`${name}: adds ${mb(x.median - blank.median)} MB to about:blank (median; the tab's renderer ${mb(x.byKind["renderer:tab"] || 0)} MB vs ${mb(blank.byKind["renderer:tab"] || 0)} MB)`);
  }
  console.log(`\nmemory (${repeats} fresh browsers per page, ${how === "alone" ? "PSS split among this browser's own processes" : "plain PSS sum (no root)"}; MB = MiB):\n  ` + lines.join("\n  "));

  // Budget. ui-anchor.md's "one tab ≤ 300 MB PSS" was written against
  // n8n's whole-browser figure, but on this machine Chromium by itself
  // (one tab on about:blank, the same 9 processes) already takes about
  // 380 MB, so "whole browser ≤ 300 MB" cannot hold for any page, ours or
  // n8n's. What is honest and stable (spread between samples: ±5 MB):
  //  - our page's increment over about:blank, which is what opening a Baton
  //    page adds (measured 11–26 MB, of which any one-line page is 4–9 MB):
  //    ≤ 40 MB;
  //  - the whole browser on each page, what a user's task manager shows and
  //    what n8n's 850–875 MiB is (measured 389–409 MB): ≤ 450 MB, about
  //    half of n8n's, with room for Chromium's own spread.
  // Without root the frames cannot be read and the plain PSS sum is used:
  // it can only be lower (other browsers take a share), so the whole-browser
  // budget still holds; but an increment between two samples is then only
  // meaningful when no other Chromium ran during either.
  assert.ok(blank.median > 0 && designer.median > 0, "the browser's processes are found");
  assert.equal(designer.processes, blank.processes, "one tab on the designer starts no process about:blank does not");
  for (const [name, x] of Object.entries(s)) {
    if (x === blank) continue;
    if (how === "alone" || (x.others === 0 && blank.others === 0)) {
      assert.ok(x.median - blank.median <= 40 * 1024, `${name} adds ${mb(x.median - blank.median)} MB to about:blank; the budget is 40 MB`);
    } else {
      console.log(`  ${name}: increment not checked (no root, and other Chromium ran meanwhile)`);
    }
    assert.ok(x.median <= 450 * 1024, `${name}: whole browser ${mb(x.median)} MB; the budget is 450 MB`);
  }
});
