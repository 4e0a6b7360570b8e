// The report builder: a live preview of the query as it is edited (the
// same chart and table as a saved report), saving through the JSON API
// with the page's CSRF token, problems shown next to their fields.

const csrf = () => JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";

const units = { h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

// rangeMs reads "30d", "12h" or "2w"; null when it is none of these.
export function rangeMs(text) {
  const m = /^(\d+(?:\.\d+)?)([hdw])$/.exec(text.trim());
  return m ? Number(m[1]) * units[m[2]] : null;
}

function formatValue(metric, v) {
  if (v == null) return "–";
  if (metric === "success_rate") return `${(100 * v).toFixed(1)} %`;
  if (metric.startsWith("duration_")) return `${v.toFixed(1)} ms`;
  return String(v);
}

function label(t, bucket, tz) {
  const opts = { timeZone: tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit", hourCycle: "h23" };
  if (bucket === "hour") Object.assign(opts, { hour: "2-digit", minute: "2-digit" });
  try {
    return new Intl.DateTimeFormat("en-CA", opts).format(new Date(t)).replace(",", "");
  } catch {
    return t;
  }
}

// renderFigure draws a series answer as a chart (line or bar) and a
// table into container, as the server renders a saved report.
export function renderFigure(container, series, kind, tz, draw) {
  const fig = document.createElement("figure");
  fig.className = "chart";
  fig.id = "preview-chart";
  const lines = series.series || [];
  if (kind === "line" || kind === "bar") {
    const canvas = document.createElement("div");
    canvas.className = "chart-canvas";
    canvas.setAttribute("aria-hidden", "true");
    canvas.dataset.chart = JSON.stringify(series);
    canvas.dataset.kind = kind;
    fig.append(canvas);
  }
  const wrap = document.createElement("div");
  wrap.className = "chart-table-wrap";
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-label", "Preview as a table");
  const table = document.createElement("table");
  table.className = "chart-table";
  table.dataset.testid = "preview-table";
  const head = table.createTHead().insertRow();
  const th = (row, text, scope) => {
    const c = document.createElement("th");
    c.scope = scope;
    c.textContent = text;
    row.append(c);
  };
  th(head, series.bucket === "hour" ? "Hour" : series.bucket === "week" ? "Week of" : "Day", "col");
  for (const l of lines) th(head, l.key, "col");
  const body = table.createTBody();
  const n = lines.length ? lines[0].points.length : 0;
  for (let i = 0; i < n; i++) {
    const row = body.insertRow();
    th(row, label(lines[0].points[i].t, series.bucket, tz), "row");
    for (const l of lines) row.insertCell().textContent = formatValue(series.metric, l.points[i].v);
  }
  wrap.append(table);
  fig.append(wrap);
  container.replaceChildren(fig);
  if (!n) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No finished runs match.";
    container.append(p);
  }
  const canvas = fig.querySelector("[data-chart]");
  if (canvas) draw(canvas);
}

// reportOf reads the builder's form as a report body.
export function reportOf(form) {
  const fd = new FormData(form);
  const v = (n) => (fd.get(n) || "").toString().trim();
  return {
    name: v("name"),
    description: v("description"),
    chart: v("chart"),
    query: {
      metric: v("metric"),
      bucket: v("bucket"),
      groupBy: v("groupBy"),
      range: v("range") || "30d",
      tz: v("tz"),
      filters: {
        template: v("template"),
        version: v("version") ? Number(v("version")) : 0,
        trigger: v("trigger"),
        status: v("status"),
        test: fd.get("test") === "on",
      },
    },
    sharedWith: fd.getAll("sharedWith").map(String),
  };
}

function showProblems(form, problems, message) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = document.getElementById("builder-errors");
  box.replaceChildren();
  if (!message) return;
  const p = document.createElement("p");
  p.className = "notice notice-error";
  p.textContent = message;
  const ul = document.createElement("ul");
  for (const pr of problems || []) {
    const li = document.createElement("li");
    li.textContent = `${pr.path}: ${pr.message}`;
    ul.append(li);
    const slot = form.querySelector(`[data-error-for="${CSS.escape(pr.path)}"]`);
    if (slot) {
      slot.textContent = pr.message;
      slot.closest("label")?.querySelector("input, select")?.setAttribute("aria-invalid", "true");
    }
  }
  p.append(ul);
  box.append(p);
}

export function mountBuilder(form, draw) {
  const preview = document.getElementById("report-preview");
  const start = JSON.parse(form.dataset.report || "{}");
  let timer;
  let seq = 0;
  async function refresh() {
    const r = reportOf(form);
    const span = rangeMs(r.query.range);
    if (span == null) {
      preview.textContent = "Write the range as a number of hours, days or weeks: 12h, 30d, 2w.";
      return;
    }
    const to = new Date();
    const params = new URLSearchParams({
      metric: r.query.metric, bucket: r.query.bucket, groupBy: r.query.groupBy,
      from: new Date(to.getTime() - span).toISOString().replace(/\.\d+Z$/, "Z"), to: to.toISOString().replace(/\.\d+Z$/, "Z"),
      test: String(r.query.filters.test),
    });
    for (const k of ["template", "trigger", "status"]) if (r.query.filters[k]) params.set(k, r.query.filters[k]);
    if (r.query.filters.version) params.set("version", String(r.query.filters.version));
    if (r.query.tz) params.set("tz", r.query.tz);
    const mine = ++seq;
    preview.setAttribute("aria-busy", "true");
    const res = await fetch(`/api/v1/analytics/series?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (mine !== seq) return;
    preview.setAttribute("aria-busy", "false");
    if (!res.ok) {
      preview.textContent = body.error ? body.error.message + (body.error.details || []).map((d) => ` ${d.path}: ${d.message}.`).join("") : "The preview failed.";
      return;
    }
    renderFigure(preview, body, r.chart, r.query.tz, draw);
  }
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = reportOf(form);
    const res = await fetch(start.id ? `/api/v1/reports/${start.id}` : "/api/v1/reports", {
      method: start.id ? "PUT" : "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (res.ok) {
      window.location.assign(`/reports/${answer.id}`);
      return;
    }
    const err = answer.error || {};
    showProblems(form, err.details, err.message || `Saving failed (${res.status}).`);
  });
  refresh();
}

export function mountDelete(button) {
  button.addEventListener("click", async () => {
    if (!window.confirm("Delete this report? This cannot be undone.")) return;
    const res = await fetch(`/api/v1/reports/${button.dataset.reportDelete}`, {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() },
    });
    if (res.ok) window.location.assign("/reports");
  });
}
