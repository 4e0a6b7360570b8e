// esbuild options for the designer bundle, shared by web/build.mjs (which
// writes static/designer.js and static/designer.css) and the browser test
// (which builds the same bundle in memory, serves it, and checks that the
// committed files are fresh).
export const designerBuild = {
  entryPoints: [
    { in: "web/designer/index.js", out: "designer" },
    { in: "web/designer/designer.css", out: "designer" },
  ],
  outdir: "static",
  bundle: true,
  minify: true,
  // An ES module: the designer page imports {mountDesigner} from it.
  format: "esm",
  // The layered layout (layout.js, with dagre) is imported lazily: it is a
  // chunk of its own, named by its content's hash, in static/chunks/.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};
