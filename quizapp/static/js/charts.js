// Report charts: reads the JSON block #chart-data and draws every canvas[data-chart]
// with the vendored Chart.js (static/vendor/chartjs, loaded before this module).
const source = document.getElementById("chart-data");
const data = source ? JSON.parse(source.textContent) : {};
const COLORS = ["#b3261e", "#0b57d0", "#1e7d34"];

function options(spec) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    scales: {
      x: { title: { display: Boolean(spec.x), text: spec.x } },
      y: { beginAtZero: true, ticks: { precision: 0 } },
    },
    plugins: { legend: { display: spec.series.length > 1 } },
  };
}

function draw(Chart, canvas) {
  const spec = data[canvas.dataset.chart];
  if (!spec) return null;
  const line = canvas.dataset.type === "line";
  const chart = new Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels: spec.labels,
      datasets: spec.series.map((series, i) => ({
        label: series.label,
        data: series.data,
        backgroundColor: line ? COLORS[i % COLORS.length] : `${COLORS[i % COLORS.length]}cc`,
        borderColor: COLORS[i % COLORS.length],
        borderWidth: line ? 2 : 0,
        pointRadius: spec.labels.length > 40 ? 0 : 3,
        tension: 0.2,
      })),
    },
    options: options(spec),
  });
  canvas.dataset.drawn = "true";
  return chart;
}

const Chart = window.Chart;
if (Chart) {
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#1c2430";
  const charts = [...document.querySelectorAll("canvas[data-chart]")]
    .map((canvas) => draw(Chart, canvas))
    .filter(Boolean);
  // Paper is narrower than the screen: redraw at the printed size and back.
  const resize = () => charts.forEach((chart) => chart.resize());
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  window.matchMedia("print").addEventListener("change", resize);
}
