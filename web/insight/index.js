// Charts of the insight pages (/analytics, /reports): uPlot draws each
// [data-chart] element from the JSON series the server rendered beside its
// table, so the chart and the table show the same numbers. Loaded only by
// those pages (static/insight.js, an ES module), never by the designer.
import uPlot from "uplot";
import { mountBuilder, mountDelete } from "./reports.js";

const colors = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];

const formatters = {
  success_rate: (v) => (v == null ? "–" : `${(100 * v).toFixed(1)} %`),
  duration_p50: (v) => (v == null ? "–" : `${v.toFixed(1)} ms`),
  duration_p95: (v) => (v == null ? "–" : `${v.toFixed(1)} ms`),
};

function format(metric, v) {
  const f = formatters[metric];
  if (f) return f(v);
  return v == null ? "–" : String(v);
}

// chartData turns a series answer into uPlot's columns: x (seconds) and
// one array of values per series.
export function chartData(series) {
  const lines = series.series || [];
  const xs = lines.length ? lines[0].points.map((p) => Date.parse(p.t) / 1000) : [];
  return [xs, ...lines.map((l) => l.points.map((p) => p.v))];
}

function draw(el) {
  const series = JSON.parse(el.dataset.chart);
  const data = chartData(series);
  const bars = el.dataset.kind === "bar";
  const lines = series.series || [];
  const opts = {
    width: Math.max(280, el.clientWidth || 600),
    height: 220,
    scales: { x: { time: true }, y: series.metric === "success_rate" ? { range: [0, 1] } : {} },
    axes: [{}, { values: (u, vals) => vals.map((v) => format(series.metric, v)), size: 70 }],
    legend: { live: true },
    series: [
      {},
      ...lines.map((l, i) => ({
        label: l.key,
        stroke: colors[i % colors.length],
        fill: bars ? `${colors[i % colors.length]}66` : undefined,
        width: bars ? 1 : 2,
        paths: bars ? uPlot.paths.bars({ size: [0.7 / Math.max(1, lines.length), 60], align: 0 }) : undefined,
        value: (u, v) => format(series.metric, v),
        spanGaps: false,
      })),
    ],
  };
  el.replaceChildren();
  const plot = new uPlot(opts, data, el);
  // What the chart drew, for anyone comparing it with the table.
  el.dataset.drawn = JSON.stringify(data.slice(1));
  return plot;
}

// mountInsight draws the page's charts and wires the report builder and
// delete button when the page has them.
export function mountInsight(root) {
  const n = drawCharts(root);
  const builder = root.getElementById ? root.getElementById("report-builder") : null;
  if (builder) mountBuilder(builder, draw);
  for (const b of root.querySelectorAll("[data-report-delete]")) mountDelete(b);
  return n;
}

// drawCharts draws every chart under root and redraws them when the
// window's width changes.
export function drawCharts(root) {
  const plots = [];
  for (const el of root.querySelectorAll("[data-chart]")) {
    try {
      plots.push([el, draw(el)]);
    } catch (err) {
      el.textContent = "The chart could not be drawn; the table beside it has the numbers.";
      throw err;
    }
  }
  let timer;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      for (const [el, plot] of plots) plot.setSize({ width: Math.max(280, el.clientWidth || 600), height: 220 });
    }, 150);
  });
  return plots.length;
}
