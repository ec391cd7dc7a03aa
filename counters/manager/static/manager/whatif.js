/* What-if charts (Chart.js served by the server): average wait per service, citizens
 * waiting through the day and counter utilisation, today's plan against the edited one. */
(function () {
  "use strict";
  var blob = document.getElementById("whatif-data");
  if (!blob || typeof Chart === "undefined") return;
  var data = JSON.parse(blob.textContent);
  var t = data.t;
  var ur = data.lang === "ur";
  Chart.defaults.font.family = ur ? '"Noto Naskh Arabic", "Noto Sans", sans-serif' : '"Noto Sans", sans-serif';
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#3d4759";
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { rtl: ur, position: "bottom" }, tooltip: { rtl: ur } },
  };
  var colours = { today: "#9fb8d3", edited: "#0b6e4f" };
  function make(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) canvas.chart = new Chart(canvas, config);
  }
  function byCode(list) {
    var out = {};
    list.forEach(function (s) { out[s.code] = s; });
    return out;
  }
  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0");
  }

  var today = byCode(data.today.services), edited = byCode(data.edited.services);
  var codes = Object.keys(Object.assign({}, today, edited));
  make("chart-services", {
    type: "bar",
    data: {
      labels: codes.map(function (c) { return data.names[c] || c; }),
      datasets: ["today", "edited"].map(function (side) {
        var figures = side === "today" ? today : edited;
        return { label: t[side], backgroundColor: colours[side], data: codes.map(function (c) { return figures[c] ? figures[c].avg_wait_minutes : null; }) };
      }),
    },
    options: Object.assign({}, common, { scales: { y: { beginAtZero: true, title: { display: true, text: t.minutes } } } }),
  });

  var times = {};
  ["today", "edited"].forEach(function (side) { data[side].timeline.forEach(function (p) { times[p.t] = true; }); });
  var axis = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
  make("chart-timeline", {
    type: "line",
    data: {
      labels: axis.map(clock),
      datasets: ["today", "edited"].map(function (side) {
        var at = {};
        data[side].timeline.forEach(function (p) { at[p.t] = p.waiting; });
        return { label: t[side], borderColor: colours[side], backgroundColor: colours[side], tension: 0.25, spanGaps: true, data: axis.map(function (x) { return at[x] == null ? null : at[x]; }) };
      }),
    },
    options: Object.assign({}, common, { scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t.waiting } } } }),
  });

  var numbers = {};
  ["today", "edited"].forEach(function (side) { data[side].counters.forEach(function (c) { numbers[c.number] = true; }); });
  var counters = Object.keys(numbers).map(Number).sort(function (a, b) { return a - b; });
  make("chart-counters", {
    type: "bar",
    data: {
      labels: counters.map(function (n) { return t.counter + " " + n; }),
      datasets: ["today", "edited"].map(function (side) {
        var at = {};
        data[side].counters.forEach(function (c) { at[c.number] = Math.round(100 * c.utilisation); });
        return { label: t[side], backgroundColor: colours[side], data: counters.map(function (n) { return at[n] == null ? null : at[n]; }) };
      }),
    },
    options: Object.assign({}, common, { scales: { y: { beginAtZero: true, max: 100, title: { display: true, text: t.utilisation } } } }),
  });
  document.body.dataset.whatifCharts = "ready";
})();
