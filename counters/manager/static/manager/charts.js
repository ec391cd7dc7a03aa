/* Report charts (Chart.js from the npm lock file, served at /vendor/chart.umd.min.js):
 * arrivals and waits by hour of arrival, the wait distribution, and figures per day. */
(function () {
  "use strict";
  var blob = document.getElementById("chart-data");
  if (!blob || typeof Chart === "undefined") return;
  var data = JSON.parse(blob.textContent);
  var t = data.t;
  var ur = data.lang === "ur";
  var printing = document.body.classList.contains("mgr-daily");
  Chart.defaults.font.family = ur ? '"Noto Naskh Arabic", "Noto Sans", sans-serif' : '"Noto Sans", sans-serif';
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#3d4759";
  if (printing) Chart.defaults.animation = false;
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { rtl: ur, textDirection: ur ? "rtl" : "ltr", position: "bottom" }, tooltip: { rtl: ur, textDirection: ur ? "rtl" : "ltr" } },
  };
  function minutes(s) { return s == null ? null : Math.round(s / 6) / 10; }
  function make(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) canvas.chart = new Chart(canvas, config);
  }

  var hours = data.by_hour.filter(function (h) { return h.arrivals > 0; });
  make("chart-hours", {
    type: "bar",
    data: {
      labels: hours.map(function (h) { return String(h.hour).padStart(2, "0") + ":00"; }),
      datasets: [
        { type: "bar", label: t.arrivals, data: hours.map(function (h) { return h.arrivals; }), backgroundColor: "#9fb8d3", yAxisID: "people", order: 3 },
        { type: "line", label: t.avg_wait, data: hours.map(function (h) { return minutes(h.avg_wait_seconds); }), borderColor: "#0b6e4f", backgroundColor: "#0b6e4f", tension: 0.25, yAxisID: "wait", order: 1, spanGaps: true },
        { type: "line", label: t.p90_wait, data: hours.map(function (h) { return minutes(h.p90_wait_seconds); }), borderColor: "#b5651d", backgroundColor: "#b5651d", borderDash: [5, 4], tension: 0.25, yAxisID: "wait", order: 2, spanGaps: true },
      ],
    },
    options: Object.assign({}, common, {
      scales: {
        x: { reverse: ur }, // hours run from right to left in Urdu
        people: { position: ur ? "right" : "left", beginAtZero: true, title: { display: true, text: t.arrivals }, ticks: { precision: 0 } },
        wait: { position: ur ? "left" : "right", beginAtZero: true, title: { display: true, text: t.avg_wait }, grid: { drawOnChartArea: false } },
      },
    }),
  });

  make("chart-waits", {
    type: "bar",
    data: {
      labels: data.waits.map(function (b) { return b.to_minutes == null ? b.from_minutes + "+" : b.from_minutes + "–" + b.to_minutes; }),
      datasets: [{ label: t.citizens, data: data.waits.map(function (b) { return b.count; }), backgroundColor: data.waits.map(function (b) { return b.from_minutes >= 30 ? "#c8553d" : b.from_minutes >= 15 ? "#e0a458" : "#6aa984"; }) }],
    },
    options: Object.assign({}, common, {
      plugins: { legend: { display: false }, tooltip: { rtl: ur, textDirection: ur ? "rtl" : "ltr" } },
      scales: { x: { reverse: ur, title: { display: true, text: t.minutes } }, y: { position: ur ? "right" : "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t.citizens } } },
    }),
  });

  make("chart-days", {
    type: "bar",
    data: {
      labels: data.by_day.map(function (d) { return d.day.slice(5); }),
      datasets: [
        { type: "bar", label: t.arrivals, data: data.by_day.map(function (d) { return d.arrivals; }), backgroundColor: "#9fb8d3", yAxisID: "people", order: 2 },
        { type: "line", label: t.avg_wait, data: data.by_day.map(function (d) { return minutes(d.avg_wait_seconds); }), borderColor: "#0b6e4f", backgroundColor: "#0b6e4f", yAxisID: "wait", order: 1, spanGaps: true },
      ],
    },
    options: Object.assign({}, common, {
      scales: {
        x: { reverse: ur },
        people: { position: ur ? "right" : "left", beginAtZero: true, ticks: { precision: 0 } },
        wait: { position: ur ? "left" : "right", beginAtZero: true, title: { display: true, text: t.avg_wait }, grid: { drawOnChartArea: false } },
      },
    }),
  });
  document.body.dataset.charts = "ready";
})();
