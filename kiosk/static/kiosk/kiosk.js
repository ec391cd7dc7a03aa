/* The kiosk page: choose a service, say who the token is for, get the token.
 *
 * Screens: services -> priority -> (issuing) -> done, and back to services after a short
 * idle time. The texts of both languages come with the page, so the language button
 * switches at once. The service counts are live (Socket.IO "kiosk" screen). The page asks
 * the server for its printer's state now and then; when the server cannot be reached for a
 * few seconds (or the printer is down on a kiosk set to refuse then) it shows "out of
 * service" in both languages, and it recovers by itself when things come back.
 * One idempotency key per chosen service: a double tap, or a retry after a lost answer,
 * returns the same token instead of a second one. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("kiosk-config").textContent);
  var root = document.documentElement;

  var ICONS = {
    people: '<svg viewBox="0 0 24 24"><circle cx="8" cy="7" r="3.2"/><circle cx="16.5" cy="8" r="2.7"/><path d="M2 20c0-4 2.7-6.5 6-6.5s6 2.5 6 6.5z"/><path d="M13.6 14.2c.9-.6 1.9-.9 2.9-.9 2.9 0 5.5 2.2 5.5 6.2h-6.3c0-2-.7-3.9-2.1-5.3z"/></svg>',
    clock: '<svg viewBox="0 0 24 24"><circle cx="12" cy="12" r="9.5" fill="none" stroke="currentColor" stroke-width="2.4"/><path d="M12 6.5V12l4 2.5" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/></svg>',
    person: '<svg viewBox="0 0 24 24"><circle cx="12" cy="5" r="3"/><path d="M8 10.5c0-1 .8-1.8 1.8-1.8h4.4c1 0 1.8.8 1.8 1.8V16h-2v6h-4v-6H8z"/></svg>',
    senior: '<svg viewBox="0 0 24 24"><circle cx="10" cy="4.5" r="2.7"/><path d="M7.5 9.2c.4-1 1.3-1.6 2.4-1.5 1.2.1 2 1 2.2 2.1l.6 3.2 2.3 1.2-.8 1.6-3-1.5-.3-1.4-1 4.1 2.1 3V23H9.9v-2.4l-2.1-3-.9 5.4H4.8l1.5-8.4z"/><path d="M16.2 12.5h1.6V23h-1.6z"/><path d="M16.2 12.5c0-1.6 2.8-1.6 2.8 0" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>',
    wheelchair: '<svg viewBox="0 0 24 24"><circle cx="9" cy="3.6" r="2.4"/><path d="M7.6 7.4h2.6l.4 4.4h5.1v2.2h-4.9l.3 2.2h5.6l2.2 4.7-1.9.9-1.6-3.4H8.6z"/><path d="M6.2 10.6A6 6 0 1 0 14.6 19l-1.8-1.2a3.8 3.8 0 1 1-5.4-5.2z"/></svg>',
    certificates: '<svg viewBox="0 0 24 24"><path d="M4 2h12l4 4v10h-2V7h-3V4H6v16h7v2H4z"/><path d="M8 9h8v2H8zm0 4h5v2H8z"/><circle cx="18" cy="17" r="3"/><path d="M16.5 19.5 16 24l2-1.2 2 1.2-.5-4.5z"/></svg>',
    registration: '<svg viewBox="0 0 24 24"><path d="M2 5h20v14H2zm2 2v10h16V7z"/><circle cx="8.5" cy="10.5" r="2"/><path d="M5.5 15.5c0-1.8 1.4-3 3-3s3 1.2 3 3z"/><path d="M13 9.5h5v1.6h-5zm0 3.4h5v1.6h-5z"/></svg>',
    licences: '<svg viewBox="0 0 24 24"><path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2.4a7.6 7.6 0 0 1 7.4 6H16a4.2 4.2 0 0 0-8 0H4.6a7.6 7.6 0 0 1 7.4-6zM4.6 13.2h3.6l2.6 6.3a7.6 7.6 0 0 1-6.2-6.3zm8.6 6.3 2.6-6.3h3.6a7.6 7.6 0 0 1-6.2 6.3zM12 10.2a1.9 1.9 0 1 1 0 3.8 1.9 1.9 0 0 1 0-3.8z"/></svg>',
    vehicles: '<svg viewBox="0 0 24 24"><path d="M5.5 5h13l2.5 6.5V19h-2.5v-2h-13v2H3v-7.5zM6.9 7.3l-1.6 4.2h13.4l-1.6-4.2z"/><circle cx="7" cy="14.2" r="1.5" fill="#fff"/><circle cx="17" cy="14.2" r="1.5" fill="#fff"/></svg>',
    reports: '<svg viewBox="0 0 24 24"><path d="M9 2h6v2h4v18H5V4h4zm0 4H7v14h10V6h-2v1.5H9z"/><path d="M9 10h6v1.8H9zm0 3.5h6v1.8H9zm0 3.5h4v1.8H9z"/></svg>',
    payments: '<svg viewBox="0 0 24 24"><path d="M1 6h22v12H1zm2 2v8h18V8z"/><circle cx="12" cy="12" r="2.8"/><path d="M4 9.5h2v5H4zm14 0h2v5h-2z"/></svg>',
    assistance: '<svg viewBox="0 0 24 24"><path d="M12 21.4 10.6 20C5.4 15.4 2 12.3 2 8.5 2 5.4 4.4 3 7.5 3c1.7 0 3.4.8 4.5 2.1C13.1 3.8 14.8 3 16.5 3 19.6 3 22 5.4 22 8.5c0 3.8-3.4 6.9-8.6 11.5z"/></svg>',
    general: '<svg viewBox="0 0 24 24"><circle cx="5" cy="12" r="2.5"/><circle cx="12" cy="12" r="2.5"/><circle cx="19" cy="12" r="2.5"/></svg>',
  };
  var GROUP_COLOURS = {
    certificates: "#0b6e4f", registration: "#1d4e89", licences: "#6a4c93", vehicles: "#b5651d",
    reports: "#a4161a", payments: "#2a7f62", assistance: "#c44569", general: "#5c677d",
  };

  var state = {
    lang: cfg.home_lang === "ur" ? "ur" : "en",
    screen: "services",
    services: cfg.services || [],
    service: null,
    key: null,
    token: null,
    busy: false,
    lastTouch: Date.now(),
    linkUp: false,
    linkDownSince: Date.now(),
    statusFailures: 0,
    printer: null,
    outOfService: false,
    opening: cfg.opening || null,  // {open_now, opens_at, ...}: outside opening hours, "closed"
  };

  function $(id) { return document.getElementById(id); }
  function t(key) { return (cfg.strings[state.lang] || {})[key] || cfg.strings.en[key] || key; }
  // Latin digits in both languages, as on the hall display and the phone (the token numbers'
  // own); only the printed ticket spells Urdu digits.
  function digits(n) { return String(n); }
  function fill(template, n) { return template.replace("{n}", digits(n)); }
  function other(lang) { return lang === "ur" ? "en" : "ur"; }
  function nameOf(item, lang) {
    var name = (lang === "ur" ? item.name_ur : item.name_en) || item.name_en || item.code;
    return String(name).replace(/\//g, "/\u200b");  // "domestic/commercial" may break after the slash
  }
  function el(tag, cls, text, lang) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    if (lang) node.lang = lang;
    return node;
  }
  function icon(name) {
    var span = el("span", "k-icon");
    span.innerHTML = ICONS[name] || ICONS.general;
    return span;
  }
  function waitText(minutes) {
    if (minutes === null || minutes === undefined) return t("wait_unknown");
    if (minutes < 1) return t("wait_under");
    return t("wait_about").replace("{n}", duration(minutes));
  }
  function duration(minutes) {
    if (minutes === null || minutes === undefined) return "—";
    if (minutes < 1) return t("wait_under");
    if (minutes < 60) return fill(t("minutes"), minutes);
    var h = Math.floor(minutes / 60), m = minutes % 60;
    var text = t(m ? "hours_minutes" : "hours").replace("{h}", digits(h));
    return text.replace("{m}", digits(m));
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // kiosks on plain http (not a secure context) lack randomUUID
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* --- language -------------------------------------------------------------------- */

  function applyLanguage() {
    root.lang = state.lang;
    root.dir = state.lang === "ur" ? "rtl" : "ltr";
    document.querySelectorAll("[data-t]").forEach(function (node) { node.textContent = t(node.dataset.t); });
    var label = $("lang-label");
    label.textContent = state.lang === "ur" ? "English" : "اردو";
    label.lang = other(state.lang);
    $("lang-toggle").setAttribute("aria-label", state.lang === "ur" ? "English" : "اردو");
    $("centre-name").textContent = nameOf(cfg.centre, state.lang);
    renderStep();
    renderServices();
    if (state.service) renderChosen();
    if (state.token) renderDone();
    renderCountdown();
    renderOutOfService();
  }

  function setLanguage(lang) {
    state.lang = lang;
    applyLanguage();
  }

  /* --- services -------------------------------------------------------------------- */

  /* Groups are shared out over the columns so that the tallest column is as short as
   * possible (the services then fit on one screen; anything that still does not fit
   * scrolls). Each column keeps the groups in their order, and the columns are ordered by
   * their first group. Returns the group indexes of each column. */
  function balance(heights, columns) {
    var n = heights.length;
    columns = Math.max(1, Math.min(columns, n));
    var best = null, assign = new Array(n).fill(0), sums = new Array(columns).fill(0);
    function tryFrom(i, worst) {
      if (best && worst >= best.worst) return;
      if (i === n) { best = { worst: worst, assign: assign.slice() }; return; }
      for (var c = 0; c < columns; c++) {
        if (c > 0 && sums[c - 1] === 0) break;  // empty columns are interchangeable
        sums[c] += heights[i];
        assign[i] = c;
        tryFrom(i + 1, Math.max(worst, sums[c]));
        sums[c] -= heights[i];
      }
    }
    if (n <= 10) {
      tryFrom(0, 0);
    } else {  // many groups: tallest first into the shortest column (good, and fast)
      var order = heights.map(function (h, i) { return i; }).sort(function (a, b) { return heights[b] - heights[a]; });
      order.forEach(function (i) {
        var c = sums.indexOf(Math.min.apply(null, sums));
        sums[c] += heights[i];
        assign[i] = c;
      });
      best = { worst: Math.max.apply(null, sums), assign: assign };
    }
    var out = [];
    for (var c = 0; c < columns; c++) out.push([]);
    best.assign.forEach(function (c, i) { out[c].push(i); });
    return out.filter(function (col) { return col.length; })
      .sort(function (a, b) { return a[0] - b[0]; });
  }

  function renderServices() {
    var box = $("groups");
    // Laid out only when shown: the columns are balanced on measured heights.
    if ($("screen-services").hidden) return;
    box.textContent = "";
    // Before any counter opens (early morning) every service is unserved: one line says
    // so, rather than a mark on every button.
    state.noneServed = state.services.length > 0 && state.services.every(function (s) { return s.served_now === false; });
    // (said after choosing, on the token screen and on the ticket; the service screen
    // has no room for a line above 19 services)
    var byGroup = {};
    state.services.forEach(function (s) { (byGroup[s.group] = byGroup[s.group] || []).push(s); });
    var groups = cfg.groups.slice();
    Object.keys(byGroup).forEach(function (code) {
      if (!groups.some(function (g) { return g.code === code; })) groups.push({ code: code, name_en: code, name_ur: code });
    });
    groups = groups.filter(function (g) { return byGroup[g.code] && byGroup[g.code].length; });
    var columns = parseInt(getComputedStyle(box).getPropertyValue("--columns"), 10) || 2;
    var sections = [];
    var first = el("div", "k-column");
    box.appendChild(first);
    groups.forEach(function (group) {
      var list = byGroup[group.code];
      var section = el("section", "k-group");
      section.style.setProperty("--group", GROUP_COLOURS[group.code] || GROUP_COLOURS.general);
      var head = el("h2", "k-group-name");
      head.appendChild(icon(group.code));
      head.appendChild(el("span", null, nameOf(group, state.lang)));
      section.appendChild(head);
      list.forEach(function (service) { section.appendChild(serviceButton(service)); });
      first.appendChild(section);
      sections.push(section);
    });
    // Every column is as wide as the first: measure the groups there, then share them out.
    var heights = sections.map(function (section) { return section.getBoundingClientRect().height || 1; });
    balance(heights, columns).forEach(function (members, i) {
      var column = i === 0 ? first : box.appendChild(el("div", "k-column"));
      members.forEach(function (k) { column.appendChild(sections[k]); });
    });
  }

  function serviceButton(service) {
    var button = el("button", "k-service");
    button.type = "button";
    button.dataset.service = service.code;
    button.appendChild(el("span", "k-prefix num", service.prefix));
    var names = el("span", "k-names");
    names.appendChild(el("span", "k-name", nameOf(service, state.lang), state.lang));
    names.appendChild(el("span", "k-name-other", nameOf(service, other(state.lang)), other(state.lang)));
    button.appendChild(names);
    // How many wait and for how long: an icon and a number, readable without reading.
    var stats = el("span", "k-stats");
    var waiting = el("span", "k-stat k-waiting");
    waiting.appendChild(icon("people"));
    // In Urdu, "none" in words reads better than a lone 0 (and the ticket's Urdu zero is a dot).
    waiting.appendChild(service.waiting || state.lang !== "ur" ? el("span", "k-stat-value", digits(service.waiting || 0))
                                                               : el("span", "k-stat-none", t("none_short")));
    stats.appendChild(waiting);
    // What the icons say, for a screen reader (the visible name stays the button's name).
    var label = service.waiting ? fill(t("waiting_n"), service.waiting) : t("waiting_none");
    if (service.waiting) {
      var minutes = service.eta_minutes;
      var eta = el("span", "k-stat k-eta");
      eta.appendChild(icon("clock"));
      eta.appendChild(el("span", null, duration(minutes === null || minutes === undefined ? null : Math.max(1, minutes))));
      stats.appendChild(eta);
      label += ". " + waitText(minutes);
    }
    button.appendChild(stats);
    if (service.served_now === false && !state.noneServed) {
      // Honest about it: no counter serves this now (and where the centre does not issue
      // ahead, it is not offered until one opens).
      button.classList.add("k-unserved");
      stats.appendChild(el("span", "k-unserved-tag", t("unserved_short")));  // in the stats column: no extra row
      label += ". " + t("unserved_short");
      if (cfg.unserved === "refuse") button.disabled = true;
    }
    button.title = label;  // what the icons say (the visible text stays the button's name)
    button.addEventListener("click", function () { chooseService(service.code); });
    return button;
  }

  function setServices(list) {
    if (!Array.isArray(list)) return;
    state.services = list;
    if (state.screen === "services") renderServices();
    if (state.service && state.screen === "priority" && !serviceByCode(state.service)) goHome(true);  // switched off
  }

  function serviceByCode(code) {
    for (var i = 0; i < state.services.length; i++) if (state.services[i].code === code) return state.services[i];
    return null;
  }

  /* --- screens --------------------------------------------------------------------- */

  var STEP_TITLES = {
    services: "choose_service", priority: "who_for", issuing: "issuing", done: "your_token", checkin: "have_booking",
  };
  function renderStep() { $("step-title").textContent = t(STEP_TITLES[state.screen] || "take_token"); }

  function show(screen) {
    state.screen = screen;
    renderStep();
    $("kiosk").dataset.screen = screen;
    ["services", "priority", "issuing", "done", "checkin"].forEach(function (name) {
      $("screen-" + name).hidden = name !== screen;
    });
    if (screen === "services") renderServices();
    state.lastTouch = Date.now();
    renderCountdown();
    renderOutOfService();
  }

  /* Back to the service list; ``keepLanguage`` for the same citizen going back a step,
   * otherwise the next citizen starts in the kiosk's own language. */
  function goHome(keepLanguage) {
    state.service = null;
    state.key = null;
    state.token = null;
    state.busy = false;
    hideToast();
    show("services");
    if (keepLanguage !== true && state.lang !== cfg.home_lang) { state.lang = cfg.home_lang; applyLanguage(); }
  }

  function renderChosen() {
    var service = serviceByCode(state.service);
    var box = $("chosen-service");
    box.textContent = "";
    if (!service) return;
    box.appendChild(el("span", "k-prefix num", service.prefix));
    box.appendChild(el("span", "k-chosen-name", nameOf(service, state.lang), state.lang));
    var note = $("unserved-note");
    note.hidden = service.served_now !== false;
    note.textContent = note.hidden ? "" : t("unserved_note");
  }

  function chooseService(code) {
    if (state.outOfService || !serviceByCode(code)) return;
    state.service = code;
    state.key = newKey();  // one key per choice: repeated taps below reuse it
    renderChosen();
    show("priority");
  }

  /* A request that hangs must not freeze the kiosk: after a while it counts as unanswered
   * (a retry with the same idempotency key is safe: it returns the same token). */
  var ANSWER_WITHIN_MS = 25000;
  function answered(promise) {
    return Promise.race([promise, new Promise(function (resolve) {
      setTimeout(function () { resolve({ ok: false, status: 0, data: { error: "timeout" } }); }, ANSWER_WITHIN_MS);
    })]);
  }

  function choosePriority(priority) {
    if (state.busy || !state.service || state.outOfService) return;
    state.busy = true;
    var slow = setTimeout(function () { show("issuing"); }, 250);
    var key = state.key;
    answered(Khidmat.api("POST", cfg.urls.issue, { service: state.service, priority: priority, idempotency_key: key }))
      .then(function (r) {
        clearTimeout(slow);
        if (key !== state.key) return;  // an answer for a citizen who has gone
        state.busy = false;
        if (r.ok) { state.token = r.data; renderDone(); show("done"); refreshStatus(); return; }
        handleFailure(r, "priority");
      });
  }

  function handleFailure(r, screen) {
    var data = r.data || {};
    if (r.status === 401 || data.error === "csrf") { window.location.reload(); return; }
    if (r.status === 0) {
      state.statusFailures += 1;
      show(screen);
      toast(t("no_answer"));
      refreshStatus();
      return;
    }
    if (data.error === "printer_unavailable") {
      state.printer = { configured: true, can_print: false, when_down: "refuse", status: data.printer };
      goHome();
      renderOutOfService();
      return;
    }
    var message = data["message_" + state.lang] || data.message || t("try_again");
    if (r.status === 404 || r.status === 409 || r.status === 403) {
      goHome(true);
    } else {
      show(screen);
    }
    toast(message);
  }

  /* --- bookings: check in by the code (typed on the keypad, or typed by a QR scanner) --- */

  var CODE_KEYS = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
  function setUpCheckIn() {
    if (!cfg.appointments) return;
    $("btn-booking").hidden = false;
    var keys = $("checkin-keys");
    CODE_KEYS.split("").forEach(function (ch) {
      var key = el("button", "k-key", ch);
      key.type = "button";
      key.addEventListener("click", function () {
        var input = $("checkin-code");
        if (input.value.length < 12) input.value += ch;
      });
      keys.appendChild(key);
    });
    $("btn-booking").addEventListener("click", function () {
      $("checkin-code").value = "";
      show("checkin");
      $("checkin-code").focus();
    });
    $("checkin-back").addEventListener("click", function () { goHome(true); });
    $("checkin-clear").addEventListener("click", function () { $("checkin-code").value = ""; $("checkin-code").focus(); });
    $("checkin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      checkIn($("checkin-code").value.trim().toUpperCase());
    });
  }
  function checkIn(code) {
    if (state.busy || !code || state.outOfService) return;
    state.busy = true;
    var slow = setTimeout(function () { show("issuing"); }, 250);
    answered(Khidmat.api("POST", cfg.urls.check_in, { code: code })).then(function (r) {
      clearTimeout(slow);
      state.busy = false;
      if (r.ok) { state.token = r.data; renderDone(); show("done"); refreshStatus(); return; }
      if (r.status === 404 || r.status === 409) {
        show("checkin");
        toast((r.data || {})["message_" + state.lang] || (r.data || {}).message || t("try_again"));
        return;
      }
      handleFailure(r, "checkin");
    });
  }

  /* --- the token ------------------------------------------------------------------- */

  function renderDone() {
    var tok = state.token;
    if (!tok) return;
    $("done-number").textContent = tok.number;
    var service = tok.service || {};
    $("done-service").textContent = nameOf(service, state.lang);
    $("done-service").lang = state.lang;
    var badge = $("done-priority");
    badge.hidden = !tok.priority || tok.priority === "normal";
    if (!badge.hidden) {
      badge.textContent = "";
      badge.appendChild(icon(tok.priority === "senior" ? "senior" : "wheelchair"));
      badge.appendChild(el("span", null, t(tok.priority)));
    }
    var unserved = serviceByCode((tok.service || {}).code);
    $("done-unserved").hidden = !(unserved && unserved.served_now === false);
    $("done-unserved").textContent = $("done-unserved").hidden ? "" : t("unserved_note");
    $("done-ahead").textContent = tok.ahead || state.lang !== "ur" ? digits(tok.ahead || 0) : t("none_short");
    var eta = duration(tok.eta_minutes);
    $("done-eta").textContent = eta;
    $("done-eta").classList.toggle("k-long", eta.length > 9);
    renderPrint();
    var img = $("done-ticket");
    var fig = $("ticket-figure");
    if (img.dataset.src !== tok.ticket_url) {
      img.dataset.src = tok.ticket_url;
      fig.hidden = false;
      img.onerror = function () { fig.hidden = true; };
      img.src = tok.ticket_url;
    }
  }

  function renderPrint() {
    var p = (state.token && state.token.print) || {};
    var box = $("done-print");
    box.textContent = "";
    box.className = "k-print-msg k-print-" + (p.level || "ok");
    var main = p.printed ? t("printed") : (p["message_" + state.lang] || t("screen_only"));
    box.appendChild(el("span", "k-print-main", main));
    if (p.printed && p.level === "warning" && p["message_" + state.lang]) {
      box.appendChild(el("span", "k-print-note", p["message_" + state.lang]));
    }
    $("btn-reprint").hidden = !p.can_reprint;
    $("number-card").classList.toggle("k-unprinted", !p.printed);
    $("screen-done").classList.toggle("k-unprinted-error", !p.printed && p.level === "error");
  }

  function reprint() {
    var tok = state.token;
    if (!tok || state.busy) return;
    state.busy = true;
    var button = $("btn-reprint");
    button.disabled = true;
    button.firstChild.textContent = t("reprinting");
    answered(Khidmat.api("POST", cfg.urls.reprint.replace("{id}", tok.id), {})).then(function (r) {
      if (tok !== state.token) { state.busy = false; return; }
      state.busy = false;
      button.disabled = false;
      button.firstChild.textContent = t("reprint");
      state.lastTouch = Date.now();
      if (r.ok) {
        tok.print = r.data.print;
        if (r.data.print && r.data.print.printed) tok.print.reprinted = true;
        renderPrint();
        if (tok.print.printed) $("done-print").firstChild.textContent = t("reprinted");
        refreshStatus();
        return;
      }
      if (r.status === 401 || (r.data && r.data.error === "csrf")) { window.location.reload(); return; }
      if (r.status === 409) { tok.print.can_reprint = false; renderPrint(); }
      toast((r.data && (r.data["message_" + state.lang] || r.data.message)) || t(r.status === 0 ? "no_answer" : "try_again"));
    });
  }

  /* --- messages -------------------------------------------------------------------- */

  function toast(text) {
    $("toast-text").textContent = text;
    $("toast").hidden = false;
  }
  function hideToast() { $("toast").hidden = true; }

  /* --- idle return ----------------------------------------------------------------- */

  function idleLimit() {
    if (state.screen === "done" && state.token && state.token.print && !state.token.print.printed) {
      return cfg.unprinted_idle_seconds;
    }
    return cfg.idle_seconds;
  }

  function secondsLeft() {
    return Math.ceil(idleLimit() - (Date.now() - state.lastTouch) / 1000);
  }
  function renderCountdown() {
    if (state.screen === "done") $("countdown").textContent = fill(t("back_in"), Math.max(0, secondsLeft()));
  }

  function tick() {
    var idle = (Date.now() - state.lastTouch) / 1000;
    var left = secondsLeft();
    renderCountdown();
    if (state.screen !== "services" && !state.busy && left <= 0) goHome();
    else if (state.screen === "services" && !$("toast").hidden && idle > cfg.idle_seconds) hideToast();
    renderOutOfService();
  }

  /* --- out of service -------------------------------------------------------------- */

  function serverDown() {
    var linkDown = !state.linkUp && Date.now() - state.linkDownSince > cfg.offline_after_seconds * 1000;
    return linkDown || state.statusFailures >= 2;
  }
  function printerDown() {
    var p = state.printer;
    return !!(p && p.configured && !p.can_print);
  }

  function renderOutOfService() {
    var server = serverDown();
    var printer = printerDown();
    var refusing = printer && state.printer.when_down === "refuse";
    // A citizen reading their token keeps it on screen, and a token being issued is let
    // finish: the overlay waits until then.
    var closed = !server && state.opening && state.opening.open_now === false;
    var out = (server || refusing || closed) && state.screen !== "done" && !state.busy;
    var reason = server ? "oos_server" : "oos_printer";
    var title = closed ? "closed_title" : "oos_title";
    $("oos-title-ur").textContent = cfg.strings.ur[title];
    $("oos-title-en").textContent = cfg.strings.en[title];
    $("oos-text-ur").textContent = closed ? closedText("ur") : cfg.strings.ur[reason];
    $("oos-text-en").textContent = closed ? closedText("en") : cfg.strings.en[reason];
    $("oos").dataset.reason = server ? "server" : closed ? "closed" : "printer";
    if (out !== state.outOfService) {
      state.outOfService = out;
      $("oos").hidden = !out;
      $("kiosk").classList.toggle("k-out", out);
      if (!out) goHome();  // back in service: start clean
      else if (state.screen !== "services") goHome();
    }
    $("printer-banner").hidden = out || !printer || refusing || state.screen === "done";
  }

  /* Outside opening hours: when it opens again, in each language. */
  function closedText(lang) {
    var o = state.opening || {};
    var S = cfg.strings[lang];
    if (!o.opens_at) return S.closed_no_opening;
    var time = o.opens_local;
    if (o.opens_today) return Khidmat.fill(S.closed_opens_today, { time: time });
    var day = o.opens_at;
    try {
      day = new Intl.DateTimeFormat(lang === "ur" ? "ur-PK" : "en-GB", { weekday: "long", numberingSystem: "latn", timeZone: cfg.centre.timezone })
        .format(new Date(o.opens_at));
    } catch (e) { /* an old browser: the date as it came */ }
    return Khidmat.fill(S.closed_opens_on, { day: day, time: time });
  }

  /* --- health ---------------------------------------------------------------------- */

  var statusPending = false;
  function refreshStatus() {
    if (statusPending) return;
    statusPending = true;
    answered(Khidmat.api("GET", cfg.urls.status)).then(function (r) {  // a hung poll must not stop the next
      statusPending = false;
      if (r.ok) {
        state.statusFailures = 0;
        state.printer = r.data.printer;
        if (r.data.opening) state.opening = r.data.opening;
      } else if (r.status === 401) {
        window.location.reload();  // no longer paired: the pairing screen
        return;
      } else {
        state.statusFailures += 1;
      }
      renderOutOfService();
    });
  }

  /* --- wiring ---------------------------------------------------------------------- */

  document.addEventListener("pointerdown", function () { state.lastTouch = Date.now(); }, true);
  document.addEventListener("contextmenu", function (ev) { ev.preventDefault(); });
  $("lang-toggle").addEventListener("click", function () { setLanguage(other(state.lang)); });
  $("btn-back").addEventListener("click", function () { goHome(true); });
  $("btn-done").addEventListener("click", function () { goHome(false); });
  $("btn-reprint").addEventListener("click", reprint);
  setUpCheckIn();
  $("toast-ok").addEventListener("click", hideToast);
  $("toast").addEventListener("click", function (ev) { if (ev.target === $("toast")) hideToast(); });
  document.querySelectorAll("[data-priority]").forEach(function (button) {
    button.addEventListener("click", function () { choosePriority(button.dataset.priority); });
  });
  document.querySelectorAll("[data-icon]").forEach(function (node) {
    node.appendChild(icon(node.dataset.icon));
  });

  applyLanguage();
  show("services");
  // Layout depends on the fonts (Nastaliq is tall) and the screen: lay out again then.
  if (document.fonts) {
    document.fonts.addEventListener("loadingdone", function () { if (state.screen === "services") renderServices(); });
    document.fonts.ready.then(function () { renderServices(); });
  }
  window.addEventListener("resize", function () { if (state.screen === "services") renderServices(); });

  Khidmat.live({
    join: { screen: "kiosk", centre: cfg.centre.code },
    on: {
      snapshot: function (snap) { setServices(snap.services); },
      queue_changed: function (payload) { setServices(payload.services); },
      link: function (up) {
        state.linkUp = up;
        if (up) { state.linkDownSince = null; state.statusFailures = 0; refreshStatus(); }
        else if (!state.linkDownSince) state.linkDownSince = Date.now();
        renderOutOfService();
      },
      refused: function () { setTimeout(function () { window.location.reload(); }, 5000); },
    },
  });
  setInterval(tick, 500);
  setInterval(refreshStatus, cfg.status_poll_seconds * 1000);
  refreshStatus();
  window.KhidmatKiosk = { state: state, config: cfg, refreshStatus: refreshStatus };
})();
