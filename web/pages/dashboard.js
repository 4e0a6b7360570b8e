// The live dashboard: one EventSource on /api/v1/monitor/events updates
// each tile's value every second. Failures rising are announced once in
// a polite live region; the tiles themselves are not live regions (a
// screen reader would read them every second).

const fmt = {
  "commitMs.p50": (v) => (v == null ? "–" : `${v.toFixed(2)} ms`),
  "commitMs.p99": (v) => (v == null ? "–" : `${v.toFixed(2)} ms`),
  "process.cpuPercent": (v) => `${v.toFixed(1)} %`,
  "process.rssBytes": (v) => `${(v / 1048576).toFixed(1)} MiB`,
};

function valueAt(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function mountDashboard() {
  const root = document.getElementById("dashboard");
  if (!root || root.dataset.mounted) return;
  root.dataset.mounted = "true";
  const state = document.getElementById("dash-state");
  const announce = document.getElementById("dash-announce");
  const source = new EventSource(root.dataset.stream);
  let failures = null;
  source.addEventListener("monitor", (event) => {
    const m = JSON.parse(event.data);
    for (const el of root.querySelectorAll("[data-field]")) {
      const v = valueAt(m, el.dataset.field);
      const f = fmt[el.dataset.field];
      el.textContent = f ? f(v) : v == null ? "–" : String(v);
    }
    state.textContent = `live, updated at ${new Date(m.at).toLocaleTimeString()}`;
    if (failures !== null && m.failuresLast5m > failures) {
      announce.textContent = `${m.failuresLast5m} failed runs in the last 5 minutes`;
    }
    failures = m.failuresLast5m;
  });
  source.onerror = () => {
    state.textContent = "reconnecting…";
  };
  window.addEventListener("pagehide", () => source.close());
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mountDashboard);
} else {
  mountDashboard();
}
