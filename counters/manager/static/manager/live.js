/* The manager's live centre view: draws the figures from the snapshot and from every
 * `stats` push (sent within a fraction of a second of any change), and ticks the running
 * durations (longest wait, time at the counter, idle time) locally every second. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var t = config.t;
  var ur = config.lang === "ur";
  var offset = 0; // server clock minus browser clock, in ms
  var state = null;

  var el = window.Khidmat.el;
  function now() { return Date.now() + offset; }
  function minutes(seconds) { return seconds == null ? "–" : (seconds / 60).toFixed(1); }
  function wholeMinutes(seconds) { return Math.floor(Math.max(0, seconds) / 60); }
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }
  function share(v) { return v == null ? "–" : Math.round(v * 100) + "%"; }
  function since(iso) { return iso ? (now() - Date.parse(iso)) / 1000 : null; }
  function name(obj) { return ur ? obj.name_ur : obj.name_en; }
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  function num(text) { return el("span", { cls: "num", text: String(text) }); }

  function reportLink(service) {
    var q = "?service=" + encodeURIComponent(service.code) + "&from=" + config.report_from + "&to=" + state.centre.today;
    if (config.admin_centre) q += "&centre=" + encodeURIComponent(config.admin_centre);
    return config.reports + q;
  }

  function show(id, value, unit) {
    var node = document.getElementById(id);
    node.textContent = "";
    node.appendChild(num(value));
    if (unit && value !== "–") node.appendChild(el("span", { cls: "unit", text: " " + unit }));
  }

  function drawKpis(live) {
    var totals = live.totals;
    var longest = 0;
    live.services.forEach(function (s) { if (s.waiting && s.oldest_queued_at) longest = Math.max(longest, since(s.oldest_queued_at)); });
    show("kpi-waiting", totals.waiting);
    show("kpi-longest", totals.waiting ? wholeMinutes(longest) : "–", t.min);
    show("kpi-served", totals.served);
    show("kpi-avg-wait", minutes(totals.avg_wait_seconds), t.min);
    show("kpi-within", share(totals.within_target_share));
    show("kpi-noshow", share(totals.no_show_rate));
    show("kpi-counters", totals.counters_open + " / " + totals.counters);
    show("kpi-eta-error", totals.eta_scored ? minutes(totals.eta_shown_mae_seconds) + " | " + minutes(totals.eta_ql_mae_seconds) : "–");
  }

  function drawServices(live) {
    var body = document.querySelector("#services-table tbody");
    body.textContent = "";
    live.services.forEach(function (s) {
      var row = el("tr", { "data-service": s.code });
      var link = el("a", { href: reportLink(s), text: name(s) });
      row.appendChild(el("th", { scope: "row", cls: "text" }, [link, el("span", { cls: "muted small target", text: " · " + t.target + " " + s.target_wait_minutes + " " + t.min })]));
      row.appendChild(el("td", { "data-col": "waiting" }, [num(s.waiting)]));
      row.appendChild(el("td", { "data-col": "longest", "data-since": s.waiting ? s.oldest_queued_at : "", "data-target": s.target_wait_minutes * 60 }));
      row.appendChild(el("td", { "data-col": "avg_wait" }, [num(minutes(s.avg_wait_seconds))]));
      row.appendChild(el("td", { "data-col": "served" }, [num(s.served)]));
      row.appendChild(el("td", { "data-col": "no_show_rate" }, [num(share(s.no_show_rate))]));
      row.appendChild(el("td", { "data-col": "within_target" }, [num(share(s.within_target_share))]));
      if (!s.waiting && !s.arrivals) row.className = "quiet";
      body.appendChild(row);
    });
  }

  function drawCounters(live) {
    var grid = document.getElementById("counter-grid");
    grid.textContent = "";
    live.counters.forEach(function (c) {
      var card = el("article", { cls: "counter-card state-" + c.state, "data-counter": c.number });
      var head = el("header", {}, [
        el("span", { cls: "counter-no num", text: String(c.number) }),
        el("span", { cls: "badge badge-" + c.state, "data-field": "state", text: t[c.state] || c.state }),
      ]);
      card.appendChild(head);
      card.appendChild(el("div", { cls: "clerk", "data-field": "clerk", text: c.clerk || t.nobody }));
      var current = el("div", { cls: "current", "data-field": "current" });
      if (c.current) {
        current.appendChild(el("bdi", { cls: "token num", text: c.current.number }));
        current.appendChild(el("span", { cls: "muted", text: " " + (t[c.current.state] || c.current.state) + " " }));
        current.appendChild(el("span", { cls: "num running", "data-since": c.current.since || "" }));
      } else if (c.state === "open") {
        current.appendChild(el("span", { cls: "muted", text: c.idle_since ? t.idle + " " : t.free }));
        if (c.idle_since) current.appendChild(el("span", { cls: "num running idle", "data-since": c.idle_since }));
      } else {
        current.textContent = "–";
      }
      card.appendChild(current);
      card.appendChild(el("dl", { cls: "counter-figures" }, [
        el("dt", { text: t.served }), el("dd", { "data-field": "served" }, [num(c.served)]),
        el("dt", { text: t.avg_service }), el("dd", { "data-field": "avg_service" }, [num(minutes(c.avg_service_seconds)), c.avg_service_seconds == null ? null : el("span", { cls: "unit", text: " " + t.min })]),
      ]));
      grid.appendChild(card);
    });
  }

  function alertText(a) {
    var d = a.data || {};
    var values = {
      service: ur ? d.name_ur : d.name_en, threshold: a.kind === "wait_over_target" ? Math.round(a.threshold / 60) : a.threshold,
      number: d.number, minutes: Math.round(a.value / 60), name: d.name,
      status: (t.status[d.status] || d.status),
    };
    return fill(config.alerts[a.kind] || a.kind, values);
  }

  /* Times as the centre keeps them (its time zone), whatever the manager's computer says. */
  function localTime(iso, withSeconds) {
    var options = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: state && state.centre.timezone };
    if (withSeconds) options.second = "2-digit";
    try {
      return new Date(Date.parse(iso)).toLocaleTimeString(ur ? "ur-PK-u-nu-latn" : "en-GB", options);
    } catch (e) { // an unknown zone: the browser's own
      delete options.timeZone;
      return new Date(Date.parse(iso)).toLocaleTimeString(ur ? "ur-PK-u-nu-latn" : "en-GB", options);
    }
  }

  /* Alerts are collapsed to the first few (unseen first), so that the figures stay in view;
   * the manager opens the rest, or marks them all seen at once. */
  var ALERTS_SHOWN = 2;
  var alertsOpen = false;
  function acknowledge(ids) {
    return Promise.all(ids.map(function (id) { return Khidmat.api("POST", config.ack_url + id + "/acknowledge"); }));
  }
  document.getElementById("alerts-all-seen").addEventListener("click", function () {
    var button = this;
    var unseen = (state ? state.alerts : []).filter(function (a) { return !a.acknowledged; });
    button.disabled = true;
    acknowledge(unseen.map(function (a) { return a.id; })).then(function (replies) {
      replies.forEach(function (r, i) { if (r.ok) unseen[i].acknowledged = true; });
      button.disabled = false;
      drawAlerts(state);
    });
  });
  document.getElementById("alerts-more").addEventListener("click", function () {
    alertsOpen = !alertsOpen;
    drawAlerts(state);
  });

  function drawAlerts(live) {
    var list = document.getElementById("alert-list");
    list.textContent = "";
    var sorted = live.alerts.slice().sort(function (a, b) { return (a.acknowledged ? 1 : 0) - (b.acknowledged ? 1 : 0); });
    var unseen = sorted.filter(function (a) { return !a.acknowledged; }).length;
    var count = document.getElementById("alert-count");
    count.hidden = !unseen;
    count.textContent = String(unseen);
    document.getElementById("alerts-all-seen").hidden = unseen < 2;
    var more = document.getElementById("alerts-more");
    more.hidden = sorted.length <= ALERTS_SHOWN;
    more.setAttribute("aria-expanded", alertsOpen ? "true" : "false");
    more.textContent = alertsOpen ? t.fewer_alerts : Khidmat.fill(t.more_alerts, { n: String(sorted.length) });
    sorted.forEach(function (a, index) {
      var item = el("li", { cls: "alert alert-" + a.kind + (a.acknowledged ? " seen" : ""), "data-kind": a.kind, "data-subject": a.subject });
      item.appendChild(el("span", { cls: "alert-text", text: alertText(a) }));
      item.appendChild(el("span", { cls: "muted small", text: " · " + t.since + " " }));
      item.appendChild(el("span", { cls: "num small muted alert-time", text: localTime(a.raised_at) }));
      if (!alertsOpen && index >= ALERTS_SHOWN) item.hidden = true;
      if (!a.acknowledged) {
        var button = el("button", { type: "button", cls: "ack", text: t.mark_seen });
        button.addEventListener("click", function () {
          button.disabled = true;
          acknowledge([a.id]).then(function (replies) {
            if (replies[0].ok) a.acknowledged = true;
            drawAlerts(state);
          });
        });
        item.appendChild(button);
      } else {
        item.appendChild(el("span", { cls: "small muted", text: " · " + t.seen }));
      }
      list.appendChild(item);
    });
    document.getElementById("alert-none").hidden = live.alerts.length > 0;
  }

  function drawDevices(live) {
    var list = document.getElementById("device-list");
    list.textContent = "";
    live.devices.printers.forEach(function (p) {
      list.appendChild(el("li", { cls: "device " + p.level, "data-device": p.id }, [
        el("strong", { text: p.name }), el("span", { text: " · " + t.printer + ": " + (t.status[p.status] || p.status) }),
      ]));
    });
    live.devices.screens.forEach(function (s) {
      list.appendChild(el("li", { cls: "device offline", "data-device": s.id }, [
        el("strong", { text: s.name }), el("span", { text: " · " + (t[s.kind] || s.kind) + " · " + (s.last_seen_at ? t.screen_offline : t.never_seen) }),
      ]));
    });
    document.getElementById("device-none").hidden = list.children.length > 0;
  }

  /* Waiting and served through today (Chart.js from the npm lock). In Urdu the time runs
   * from right to left, the people axis stands on the right and the legend reads RTL. */
  var trendChart = null;
  function drawTrend(live) {
    var points = live.trend || [];
    var canvas = document.getElementById("chart-trend");
    document.getElementById("trend-none").hidden = points.length > 0;
    canvas.parentNode.hidden = !points.length;
    if (typeof Chart === "undefined" || !points.length) return;
    var labels = points.map(function (p) { return p.at; });
    var waiting = points.map(function (p) { return p.waiting; });
    var served = points.map(function (p) { return p.served; });
    if (trendChart) {
      trendChart.data.labels = labels;
      trendChart.data.datasets[0].data = waiting;
      trendChart.data.datasets[1].data = served;
      trendChart.update("none");
      return;
    }
    var font = ur ? '"Noto Naskh Arabic", "Noto Sans", sans-serif' : '"Noto Sans", sans-serif';
    trendChart = canvas.chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: [
          { label: t.waiting_now, data: waiting, borderColor: "#b5651d", backgroundColor: "rgba(181,101,29,.15)", fill: true, tension: 0.25, pointRadius: 0 },
          { label: t.served_so_far, data: served, borderColor: "#0b6e4f", backgroundColor: "#0b6e4f", tension: 0.25, pointRadius: 0 },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { left: 16, right: 16 } }, // the first and last time labels are not cut
        locale: ur ? "ur-PK-u-nu-latn" : "en-GB",
        interaction: { mode: "index", intersect: false },
        font: { family: font },
        plugins: {
          legend: { rtl: ur, textDirection: ur ? "rtl" : "ltr", position: "bottom", labels: { font: { family: font, size: 13 } } },
          tooltip: { rtl: ur, textDirection: ur ? "rtl" : "ltr", titleFont: { family: font }, bodyFont: { family: font } },
        },
        scales: {
          x: { reverse: ur, title: { display: true, text: t.time_of_day, font: { family: font, size: 13 } }, ticks: { maxTicksLimit: 12 } },
          y: { position: ur ? "right" : "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t.people, font: { family: font, size: 13 } } },
        },
      },
    });
    document.body.dataset.trend = "ready";
  }

  function tick() {
    if (!state) return;
    document.querySelectorAll("[data-col=longest]").forEach(function (cell) {
      var from = cell.getAttribute("data-since");
      if (!from) { cell.textContent = "–"; cell.parentNode.classList.remove("over"); return; }
      var secs = since(from);
      cell.textContent = wholeMinutes(secs) + " " + t.min;
      cell.parentNode.classList.toggle("over", secs > Number(cell.getAttribute("data-target")));
    });
    document.querySelectorAll(".running[data-since]").forEach(function (span) {
      var from = span.getAttribute("data-since");
      span.textContent = from ? clock(since(from)) : "";
    });
    drawKpis(state);
  }

  function render(live) {
    if (!live || !live.services) return;
    offset = Date.parse(live.server_time) - Date.now();
    state = live;
    drawServices(live);
    drawCounters(live);
    drawAlerts(live);
    drawDevices(live);
    drawTrend(live);
    drawKpis(live);
    document.getElementById("updated-at").textContent = localTime(new Date(now()).toISOString(), true);
    document.body.dataset.version = String((Number(document.body.dataset.version) || 0) + 1);
    tick();
  }

  render(JSON.parse(document.getElementById("live-data").textContent));
  setInterval(tick, 1000);
  var link = Khidmat.live({
    join: { screen: "dashboard", centre: config.centre },
    on: { snapshot: render },
  });
  link.socket.on("stats", render);
})();
