// Loads the chart module (static/insight.js, with uPlot) on the pages that
// have charts, and only there: the marker element names its URL.
async function mountCharts() {
  const marker = document.getElementById("insight-charts");
  if (!marker || marker.dataset.mounted) return;
  marker.dataset.mounted = "true";
  const { mountInsight } = await import(marker.dataset.insightJs);
  mountInsight(document);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mountCharts);
} else {
  mountCharts();
}
