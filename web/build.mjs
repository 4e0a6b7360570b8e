// Builds the browser assets into static/: copies the pinned htmx and its SSE
// extension from node_modules, and bundles web/app.js and web/app.css with
// esbuild. The output depends only on the inputs and the pinned versions in
// package-lock.json (no timestamps, no absolute paths), so CI can rebuild and
// diff against the committed files.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { designerBuild } from "./designer/build-options.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "static");

const vendored = [
  ["node_modules/htmx.org/dist/htmx.min.js", "vendor/htmx.min.js"],
  ["node_modules/htmx-ext-sse/dist/sse.min.js", "vendor/htmx-ext-sse.min.js"],
  ["web/favicon.svg", "favicon.svg"],
];

mkdirSync(join(out, "vendor"), { recursive: true });
for (const [from, to] of vendored) {
  copyFileSync(join(root, from), join(out, to));
}

await build({
  absWorkingDir: root,
  entryPoints: ["web/app.js", "web/app.css"],
  outdir: "static",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});

// The designer canvas: an ES module (static/designer.js), its lazily loaded
// chunks (static/chunks/, hashed names: old ones are removed first) and its
// stylesheet.
rmSync(join(out, "chunks"), { recursive: true, force: true });
await build({ absWorkingDir: root, ...designerBuild });

// The insight pages' charts: an ES module with uPlot (static/insight.js)
// and its stylesheet, loaded only by /analytics and /reports.
await build({
  absWorkingDir: root,
  entryPoints: [
    { in: "web/insight/index.js", out: "insight" },
    { in: "web/insight/insight.css", out: "insight" },
  ],
  outdir: "static",
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
