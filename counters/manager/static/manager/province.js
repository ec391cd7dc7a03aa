/* The province view: every centre on one page, sortable by any column, each row kept
 * current by `province_row` pushes; a centre's name opens its live view. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("province-config").textContent);
  var ur = config.lang === "ur";
  var centres = {};
  var offset = 0;
  var sortKey = "alerts";
  var sortDir = -1;

  var el = window.Khidmat.el;
  function num(text) { return el("span", { cls: "num", text: String(text) }); }
  function minutes(s) { return s == null ? "–" : (s / 60).toFixed(1); }
  function share(v) { return v == null ? "–" : Math.round(v * 100) + "%"; }
  function longest(c) { return c.waiting && c.oldest_queued_at ? (Date.now() + offset - Date.parse(c.oldest_queued_at)) / 1000 : 0; }
  function name(c) { return ur ? c.name_ur : c.name_en; }

  var keys = {
    name: function (c) { return name(c); },
    district: function (c) { return c.district || ""; },
    alerts: function (c) { return c.alerts.length; },
    waiting: function (c) { return c.waiting; },
    longest: longest,
    avg_wait: function (c) { return c.avg_wait_seconds == null ? -1 : c.avg_wait_seconds; },
    served: function (c) { return c.served; },
    within: function (c) { return c.within_target_share == null ? -1 : c.within_target_share; },
    no_show: function (c) { return c.no_show_rate == null ? -1 : c.no_show_rate; },
    counters: function (c) { return c.counters_open; },
    devices: function (c) { return c.printers_down + c.screens_offline; },
  };

  function alertText(a) {
    var d = a.data || {};
    var values = { service: ur ? d.name_ur : d.name_en, number: d.number, name: d.name, status: d.status,
                   threshold: a.kind === "wait_over_target" ? Math.round(a.threshold / 60) : a.threshold,
                   minutes: Math.round(a.value / 60) };
    return (config.alerts[a.kind] || a.kind).replace(/%\((\w+)\)s/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }

  function row(c) {
    var tr = el("tr", { "data-centre": c.code, cls: c.alerts.length ? "has-alerts" : "" });
    tr.appendChild(el("th", { scope: "row", cls: "text" }, [el("a", { href: config.live + "?centre=" + encodeURIComponent(c.code), text: name(c) })]));
    tr.appendChild(el("td", { cls: "text", text: c.district || "" }));
    var badge = c.alerts.length ? el("span", { cls: "alert-count num", text: String(c.alerts.length), title: c.alerts.map(alertText).join("\n") }) : num("0");
    tr.appendChild(el("td", { "data-col": "alerts" }, [badge]));
    tr.appendChild(el("td", { "data-col": "waiting" }, [num(c.waiting)]));
    tr.appendChild(el("td", { "data-col": "longest" }, [num(c.waiting ? Math.floor(longest(c) / 60) : "–")]));
    tr.appendChild(el("td", { "data-col": "avg_wait" }, [num(minutes(c.avg_wait_seconds))]));
    tr.appendChild(el("td", { "data-col": "served" }, [num(c.served)]));
    tr.appendChild(el("td", { "data-col": "within" }, [num(share(c.within_target_share))]));
    tr.appendChild(el("td", { "data-col": "no_show" }, [num(share(c.no_show_rate))]));
    tr.appendChild(el("td", { "data-col": "counters" }, [num(c.counters_open + " / " + c.counters)]));
    tr.appendChild(el("td", { "data-col": "devices" }, [num(c.printers_down + c.screens_offline)]));
    return tr;
  }

  function draw() {
    var list = Object.keys(centres).map(function (k) { return centres[k]; });
    var key = keys[sortKey];
    list.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x < y) return -sortDir;
      if (x > y) return sortDir;
      return a.code < b.code ? -1 : 1;
    });
    var body = document.querySelector("#province-table tbody");
    body.textContent = "";
    list.forEach(function (c) { body.appendChild(row(c)); });
    document.getElementById("centre-count").textContent = "(" + list.length + ")";
    document.querySelectorAll("#province-table th.sortable").forEach(function (th) {
      if (th.dataset.key === sortKey) th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }

  function load(payload) {
    if (payload.server_time) offset = Date.parse(payload.server_time) - Date.now();
    centres = {};
    payload.centres.forEach(function (c) { centres[c.code] = c; });
    draw();
  }

  document.querySelectorAll("#province-table th.sortable button").forEach(function (button) {
    button.addEventListener("click", function () {
      var key = button.parentNode.dataset.key;
      if (key === sortKey) sortDir = -sortDir;
      else { sortKey = key; sortDir = key === "name" || key === "district" ? 1 : -1; }
      draw();
    });
  });

  load(JSON.parse(document.getElementById("province-data").textContent));
  setInterval(draw, 30000);
  var link = Khidmat.live({ join: { screen: "province" }, on: { snapshot: load } });
  link.socket.on("province_row", function (c) { centres[c.code] = c; draw(); });
})();
