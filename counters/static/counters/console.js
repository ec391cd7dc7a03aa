/* The counter console: keyboard first, every action over the socket, the server's state
 * redrawn after each action and each relevant live event. Nothing here decides what is
 * allowed: the server refuses (with a message) and the console redraws what is true. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("console-config").textContent);
  var T = cfg.strings;
  var UR = cfg.lang === "ur";
  var consoleId = window.KhidmatConsoleId;
  var COUNTER = cfg.counter.id;

  var state = null;          // the last console state from the server
  var receivedAt = 0;        // Date.now() when it arrived
  var queueAt = 0;           // Date.now() when the waiting numbers were last told
  var offset = 0;            // server clock minus this clock, ms
  var busy = false;
  var live = null;
  var dialog = null;         // {onKey(ev)} while a dialog is open
  var refusal = null;        // {onEnter()} while the console is refused
  var selected = null;       // a request chosen from the list (its detail), or null: the current one
  var chosenAt = 0;          // bumped whenever `selected` is set: a detail asked for before is stale
  var formFor = null;        // request id the form shows
  var dirty = false;         // the form has changes not saved yet
  var refreshTimer = null;

  function $(id) { return document.getElementById(id); }
  function fmt(text, params) {
    return String(text).replace(/%\((\w+)\)s/g, function (_, k) { return params && k in params ? params[k] : ""; });
  }
  var el = window.Khidmat.el;
  function num(text) { return el("bdi", { cls: "num", text: String(text) }); }
  function name(obj) { return obj ? (UR ? obj.name_ur : obj.name_en) : ""; }
  function now() { return Date.now() + offset; }
  function clock(seconds) {
    var neg = seconds < 0; seconds = Math.abs(Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var text = (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return (neg ? "−" : "") + text;
  }
  function timeLeft(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 0) return T.overdue + " " + clock(-seconds);
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    var text = d ? fmt(T.days_hours, { days: d, hours: h }) : fmt(T.hours_minutes, { hours: h, minutes: m });
    return fmt(T.time_left, { time: text });
  }
  function localDay(date) {
    return date.toLocaleDateString("en-CA", { timeZone: state.centre.timezone });
  }
  function localTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    var opts = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: state.centre.timezone };
    try {
      if (localDay(date) !== localDay(new Date(now()))) {
        opts.weekday = "short"; opts.day = "numeric"; opts.month = "short";
      }
      return date.toLocaleString(UR ? "ur-PK-u-nu-latn" : "en-GB", opts);
    } catch (e) { return iso.slice(0, 16).replace("T", " "); }
  }

  // Toasts ---------------------------------------------------------------------------
  function toast(message, kind) {
    if (!message) return;
    var box = $("toasts");
    if (kind === "ok") Array.prototype.slice.call(box.querySelectorAll(".toast.error")).forEach(function (n) { box.removeChild(n); });
    var node = el("div", { cls: "toast " + (kind || "info"), role: kind === "error" ? "alert" : "status", text: message });
    box.appendChild(node);
    while (box.children.length > 3) box.removeChild(box.firstChild);
    setTimeout(function () { if (node.parentNode) node.parentNode.removeChild(node); }, kind === "error" ? 9000 : 4500);
  }

  // Talking to the server --------------------------------------------------------------
  function send(action, extra) {
    var data = Object.assign({ action: action, counter: COUNTER, console: consoleId }, extra || {});
    return live.emit("console_action", data);
  }
  function act(action, extra) {
    if (busy) { toast(T.busy, "info"); return Promise.resolve(null); }
    if (!live || !live.state.connected) { toast(T.offline, "error"); return Promise.resolve(null); }
    busy = true;
    document.body.classList.add("busy");
    return send(action, extra).then(function (reply) {
      busy = false;
      document.body.classList.remove("busy");
      reply = reply || { ok: false, message: T.offline };
      if (reply.closed) { window.location.href = cfg.indexUrl; return reply; }
      if (reply.state) applyState(reply.state);
      if (!reply.ok) {
        toast(reply.message || T.offline, "error");
        if (reply.error === "console_replaced" || reply.error === "counter_lost") refuse(reply);
        if (reply.error === "stale") toast(T.refresh, "info");
      }
      return reply;
    });
  }
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      if (busy || !live || !live.state.joined) { if (live && live.state.joined) refreshSoon(); return; }
      send("state").then(function (reply) {
        if (reply && reply.ok && reply.state) applyState(reply.state);
        else if (reply && (reply.error === "console_replaced" || reply.error === "counter_lost")) refuse(reply);
      });
    }, 150);
  }

  // Claim, join, refusal ---------------------------------------------------------------
  function refuse(reply) {
    var gone = reply.error === "counter_lost" || reply.error === "forbidden" || reply.error === "not_clerk";
    $("refusal-message").textContent = reply.message || T.refused;
    $("refusal-hint").textContent = gone ? T.to_picker : (reply.error === "counter_open_elsewhere" ? T.close_other : T.retry);
    $("refusal").hidden = false;
    document.body.classList.add("refused");
    refusal = { onEnter: gone ? function () { window.location.href = cfg.indexUrl; } : claimAndJoin };
    if (document.activeElement) document.activeElement.blur();
  }
  function unrefuse() {
    $("refusal").hidden = true;
    document.body.classList.remove("refused");
    refusal = null;
  }
  function claimAndJoin() {
    return Khidmat.api("POST", cfg.claimUrl, { counter: COUNTER, console: consoleId }).then(function (r) {
      if (!r.ok) { refuse(r.data || {}); return; }
      unrefuse();
      if (live) { live.socket.emit("join", joinData()); return; }
      live = Khidmat.live({
        join: joinData(),
        timeoutMessage: T.offline,
        on: {
          snapshot: function (s) { unrefuse(); applyState(s); },
          refused: refuse,
          queue_changed: onQueueChanged,
          counter_changed: onCounterChanged,
          token_changed: onTokenChanged,
          token_called: function (p) { if (p.token && p.token.counter === cfg.counter.number) refreshSoon(); },
          link: function (up) { document.body.classList.toggle("offline", !up); },
        },
      });
      live.socket.on("request_changed", refreshSoon);
    });
  }
  function joinData() { return { screen: "console", counter: COUNTER, console: consoleId }; }

  // Live events -----------------------------------------------------------------------
  function onQueueChanged(payload) {
    if (!state || !payload.services) return;
    var byId = {};
    payload.services.forEach(function (s) { byId[s.id] = s; });
    state.profile.forEach(function (p) {
      var s = byId[p.id];
      p.waiting = s ? s.waiting : 0;
      p.longest_wait_seconds = s ? s.longest_wait_seconds : 0;
    });
    queueAt = Date.now();
    renderQueue();
  }
  function onCounterChanged(payload) {
    var c = payload.counter;
    if (!state || !c) return;
    if (c.id === COUNTER) { refreshSoon(); return; }
    state.counters = state.counters.map(function (x) { return x.id === c.id ? c : x; });
  }
  function onTokenChanged(payload) {
    var t = payload.token;
    if (!state || !t) return;
    var mine = t.counter === cfg.counter.number ||
      (state.current && state.current.id === t.id) ||
      state.parked.some(function (p) { return p.id === t.id; }) ||
      state.no_shows.some(function (p) { return p.id === t.id; });
    if (mine || t.state === "waiting" || t.state === "no_show") refreshSoon();
  }

  // Drawing ---------------------------------------------------------------------------
  function applyState(s) {
    // Replies can arrive out of order: never go back to an older picture (a gap of more
    // than a minute is the server's clock being set back, not an old reply).
    var back = state ? Date.parse(state.server_time) - Date.parse(s.server_time) : 0;
    if (back > 0 && back < 60000) return;
    state = s;
    receivedAt = queueAt = Date.now();
    offset = Date.parse(s.server_time) - receivedAt;
    $("console").setAttribute("aria-busy", "false");
    if (selected) {
      var still = s.requests.filter(function (r) { return r.id === selected.id; })[0];
      var current = s.current && s.current.request;
      if (current && current.id === selected.id) choose(null);
      else if (still && still.state !== selected.state) loadSelected(selected.id);
    }
    render();
  }
  function render() {
    renderHeader();
    renderCurrent();
    renderRequest();
    renderQueue();
    renderParked();
    renderRequests();
    renderLegend();
  }
  function renderHeader() {
    var pill = $("counter-state");
    pill.dataset.state = state.counter.state;
    pill.textContent = T["counter_" + state.counter.state] || state.counter.state;
    $("served-today").textContent = state.served_today;
    $("pause-label").textContent = state.counter.state === "paused" ? T.resume : T.pause;
    document.body.dataset.counterState = state.counter.state;
  }
  function renderCurrent() {
    var box = $("current");
    box.textContent = "";
    var t = state.current;
    if (!t) {
      box.appendChild(el("p", { cls: "idle", id: "idle", text: state.counter.state === "paused" ? T.paused : T.idle }));
      return;
    }
    var label = t.state === "serving" ? T.serving : T.called;
    box.appendChild(el("div", { cls: "token-line" }, [
      el("span", { cls: "token-number", id: "current-number", data: { state: t.state } }, [num(t.number)]),
      el("div", { cls: "token-facts" }, [
        el("div", { cls: "token-state " + t.state, id: "current-state" }, [label + " ", el("span", { cls: "timer num", id: "timer" })]),
        el("div", { cls: "token-service", text: name(t.service) }),
        el("div", { cls: "token-extra" }, [
          t.state === "called" ? el("span", { cls: "recalls", id: "recalls" }, [T.recalls + " ", num(t.recalls + "/" + state.max_recalls)]) : null,
          t.priority !== "normal" ? el("span", { cls: "badge priority", text: T.priority }) : null,
          t.target_counter ? el("span", { cls: "badge", text: T.direct }) : null,
        ]),
      ]),
    ]));
    tick();
  }
  function currentRequest() {
    if (selected) return selected;
    return state && state.current && state.current.request ? state.current.request : null;
  }
  function renderRequest() {
    var r = currentRequest();
    var form = $("request-form");
    $("request-empty").hidden = !!r;
    form.hidden = !r;
    $("request-ref").textContent = r ? r.reference : "";
    var pill = $("request-state");
    pill.textContent = r ? (T["state_" + r.state] || r.state) : "";
    pill.dataset.state = r ? r.state : "";
    $("request-panel").classList.toggle("selected", !!selected);
    if (!r) { formFor = null; dirty = false; return; }
    var meta = $("request-meta");
    meta.textContent = "";
    meta.appendChild(el("span", {}, [num(r.token.number), " · ", name(r.service)]));
    if (r.due_at) meta.appendChild(el("span", { cls: "due", id: "request-due", data: { due: r.due_at, state: r.state } }, [T.due + " ", num(localTime(r.due_at))]));
    if (r.is_late) meta.appendChild(el("span", { cls: "badge late", text: T.late }));
    var editable = r.state === "open" || r.state === "in_process";
    if (formFor !== r.id || !dirty) {
      $("f-name").value = r.applicant_name || "";
      $("f-cnic").value = r.cnic || "";
      $("f-phone").value = r.phone || "";
      $("f-fee").value = r.fee_received ? String(r.fee_received) : "";
      $("f-notes").value = r.notes || "";
      var docs = $("f-docs");
      docs.textContent = "";
      (r.documents || []).forEach(function (d, i) {
        var box = el("input", { type: "checkbox", value: d.en, id: "doc-" + i });
        box.checked = !!d.checked;
        docs.appendChild(el("label", { cls: "doc", for: "doc-" + i }, [box, " " + (UR ? d.ur || d.en : d.en)]));
      });
      formFor = r.id;
      dirty = false;
      clearFieldErrors();
    }
    $("fee-due").textContent = r.fee ? fmt(T.fee_due, { fee: r.fee }) : "";
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (i) { i.disabled = !editable; });
    $("advance-label").textContent = r.next_state ? T["next_" + r.next_state] : T.advance;
  }
  function renderQueue() {
    var body = $("queue");
    body.textContent = "";
    var elapsed = (Date.now() - queueAt) / 1000;
    state.profile.forEach(function (p) {
      var longest = p.waiting ? p.longest_wait_seconds + elapsed : 0;
      var over = p.waiting && longest > p.target_wait_minutes * 60;
      body.appendChild(el("tr", { data: { service: p.code }, cls: over ? "over" : "" }, [
        el("td", {}, [el("kbd", { cls: "prefix", text: p.prefix }), " " + name(p)]),
        el("td", { cls: "n waiting" }, [num(p.waiting)]),
        el("td", { cls: "n longest", data: { base: p.longest_wait_seconds, waiting: p.waiting } }, [num(p.waiting ? clock(longest) : "–")]),
      ]));
    });
    $("direct").textContent = state.direct.length ? fmt(T.direct_count, { count: state.direct.length }) + ": " + state.direct.map(function (t) { return t.number; }).join(", ") : "";
  }
  function renderParked() {
    var list = $("parked");
    list.textContent = "";
    if (!state.parked.length) { list.appendChild(el("li", { cls: "muted", text: T.none_parked })); return; }
    state.parked.forEach(function (t) {
      list.appendChild(el("li", { data: { token: t.number } }, [num(t.number), " · " + name(t.service)]));
    });
  }
  function renderRequests() {
    var list = $("requests");
    list.textContent = "";
    if (!state.requests.length) { list.appendChild(el("li", { cls: "muted", text: "–" })); return; }
    var elapsed = (Date.now() - receivedAt) / 1000;
    state.requests.slice(0, 9).forEach(function (r, i) {
      var left = r.seconds_left === null ? null : r.seconds_left - elapsed;
      var cls = "req" + (selected && selected.id === r.id ? " chosen" : "") + (left !== null && left < 1800 ? " urgent" : "") + (r.is_late ? " late" : "");
      list.appendChild(el("li", { cls: cls, data: { reference: r.reference, id: r.id } }, [
        el("kbd", { text: String(i + 1) }),
        el("span", { cls: "req-main" }, [
          el("span", { cls: "req-line" }, [num(r.token.number), " ", el("span", { cls: "pill small", data: { state: r.state }, text: T["state_" + r.state] || r.state }), " ", el("span", { cls: "req-name", text: r.applicant_name || "—" })]),
          el("span", { cls: "req-line muted" }, [num(r.reference), r.cnic ? " · " : "", r.cnic ? num(r.cnic) : null, " · " + name(r.service)]),
        ]),
        el("span", { cls: "req-left", data: { left: r.seconds_left === null ? "" : r.seconds_left } }, [r.is_late ? T.late + " · " : "", left === null ? "" : timeLeft(left)]),
      ]));
    });
    if (state.requests.length > 9) list.appendChild(el("li", { cls: "muted", text: fmt(T.more, { count: state.requests.length - 9 }) }));
  }
  function enabledActions() {
    var t = state.current, paused = state.counter.state !== "open";
    var r = currentRequest();
    var on = {
      call_next: !t && !paused,
      recall: t && t.state === "called" && t.recalls < state.max_recalls,
      start: t && t.state === "called",
      no_show: t && t.state === "called",
      park: t && t.state === "serving",
      unpark: !t && state.parked.length > 0,
      transfer: t && t.state === "serving",
      complete: t && t.state === "serving",
      requeue: state.no_shows.length > 0,
      edit: r && (r.state === "open" || r.state === "in_process"),
      advance: r && !!r.next_state,
      collect: r && (r.state === "in_process" || r.state === "ready"),
      reject: r && ["open", "in_process", "ready"].indexOf(r.state) >= 0,
      withdraw: r && ["open", "in_process", "ready"].indexOf(r.state) >= 0,
      pause: state.counter.state !== "closed",
      issue: state.counter.state !== "closed" && state.services.length > 0,
      close: !t,
      escape: true,
    };
    return on;
  }
  function renderLegend() {
    var on = enabledActions();
    Array.prototype.forEach.call(document.querySelectorAll("#legend .key"), function (k) {
      k.classList.toggle("off", !on[k.dataset.action]);
      k.setAttribute("aria-disabled", on[k.dataset.action] ? "false" : "true");
    });
  }
  function tick() {
    if (!state) return;
    var t = state.current;
    var timer = $("timer");
    if (t && timer) {
      var since = t.state === "serving" ? t.started_at : t.called_at;
      timer.textContent = since ? clock((now() - Date.parse(since)) / 1000) : "";
    }
    var queueElapsed = (Date.now() - queueAt) / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("#queue td.longest"), function (td) {
      if (Number(td.dataset.waiting)) td.firstChild.textContent = clock(Number(td.dataset.base) + queueElapsed);
    });
    var elapsed = (Date.now() - receivedAt) / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("#requests .req-left"), function (span) {
      if (span.dataset.left === "") return;
      var left = Number(span.dataset.left) - elapsed;
      var late = span.parentNode.classList.contains("late");
      span.textContent = (late ? T.late + " · " : "") + timeLeft(left);
      span.parentNode.classList.toggle("urgent", left < 1800);
    });
  }

  // Requests --------------------------------------------------------------------------
  // The server answers a console's messages each in its own thread, so a detail asked for
  // before an action can come back after the action's own answer: only the newest counts.
  function choose(request) {
    chosenAt++;
    selected = request;
  }
  function loadSelected(id) {
    var asked = ++chosenAt;
    return send("request_detail", { request: id }).then(function (reply) {
      if (asked !== chosenAt) return;
      if (reply && reply.ok) { choose(reply.request); dirty = false; formFor = null; render(); }
      else if (reply) toast(reply.message, "error");
    });
  }
  function formFields() {
    var docs = Array.prototype.filter.call(document.querySelectorAll("#f-docs input"), function (b) { return b.checked; })
      .map(function (b) { return b.value; });
    return {
      applicant_name: $("f-name").value,
      cnic: $("f-cnic").value,
      phone: $("f-phone").value,
      documents: docs,
      fee_received: $("f-fee").value.trim() === "" ? 0 : $("f-fee").value.trim(),
      notes: $("f-notes").value,
    };
  }
  function clearFieldErrors() {
    Array.prototype.forEach.call(document.querySelectorAll("#request-form .invalid"), function (i) { i.classList.remove("invalid"); i.removeAttribute("aria-invalid"); });
    $("request-error").hidden = true;
  }
  function showFieldError(reply) {
    var ids = { applicant_name: "f-name", cnic: "f-cnic", phone: "f-phone", fee_received: "f-fee", notes: "f-notes", documents: "f-docs" };
    $("request-error").textContent = reply.message;
    $("request-error").hidden = false;
    var input = reply.field && $(ids[reply.field]);
    if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); if (input.focus) input.focus(); }
  }
  function saveRequest() {
    var r = currentRequest();
    if (!r) { toast(T.nothing_selected, "error"); return; }
    if (feeShortConfirm(r)) return;
    saveRequestNow(r);
  }
  // A fee below the amount due is most often a typing slip: ask before recording it.
  function feeShortConfirm(r) {
    var raw = $("f-fee").value.trim();
    if (!r.fee || raw === "" || !/^[0-9]+$/.test(raw) || Number(raw) >= r.fee) return false;
    confirmDialog(T.fee_short_title, fmt(T.confirm_fee_short, { received: raw, fee: r.fee }), function () { saveRequestNow(r); });
    return true;
  }
  function saveRequestNow(r) {
    clearFieldErrors();
    var wasSelected = !!selected;
    act("request_save", { request: r.id, fields: formFields(), record: r.state === "open", expect: r.state }).then(function (reply) {
      if (!reply) return;
      if (!reply.ok) { showFieldError(reply); return; }
      dirty = false;
      formFor = null;
      if (wasSelected) choose(reply.request);
      render();
      toast(r.state === "open" ? T.recorded : T.saved, "ok");
      if (document.activeElement) document.activeElement.blur();
    });
  }
  function requestAction(action, extra) {
    var r = currentRequest();
    if (!r) { toast(T.nothing_selected, "error"); return Promise.resolve(null); }
    var wasSelected = !!selected;
    return act(action, Object.assign({ request: r.id, expect: r.state }, extra || {})).then(function (reply) {
      if (reply && reply.ok && wasSelected) { choose(reply.request); formFor = null; dirty = false; render(); }
      return reply;
    });
  }
  function advance() {
    var r = currentRequest();
    if (!r) { toast(T.nothing_selected, "error"); return; }
    if (r.state === "open" || dirty) { saveRequest(); return; }
    requestAction("request_advance", { to: r.next_state });
  }
  function collect() {
    var r = currentRequest();
    requestAction("request_collection_call").then(function (reply) {
      if (reply && reply.ok) toast(fmt(T.collection_called, { number: r.token.number, reference: r.reference }), "ok");
    });
  }

  // Dialogs ---------------------------------------------------------------------------
  function openDialog(title, build, onKey) {
    $("dialog-title").textContent = title;
    var body = $("dialog-body");
    body.textContent = "";
    build(body);
    body.appendChild(el("p", { cls: "muted small dialog-foot" }, [el("kbd", { text: "Esc" }), " " + T.esc_cancel]));
    dialogButtons(body, onKey);
    $("dialog").hidden = false;
    dialog = { onKey: onKey };
    var input = body.querySelector("input");
    if (input) input.focus(); else if (document.activeElement) document.activeElement.blur();
  }
  // Every dialog answers a click or a touch as it answers Enter and Esc.
  function dialogButtons(body, onKey) {
    function press(key) {
      return function () { onKey({ key: key, code: key, preventDefault: function () {}, target: document.body }); };
    }
    var ok = el("button", { cls: "dialog-button ok", text: T.dialog_ok }, []);
    var cancel = el("button", { cls: "dialog-button cancel", text: T.dialog_cancel }, []);
    ok.type = "button"; cancel.type = "button";
    ok.dataset.key = "Enter"; cancel.dataset.key = "Escape";
    ok.addEventListener("click", press("Enter"));
    cancel.addEventListener("click", press("Escape"));
    body.appendChild(el("div", { cls: "dialog-buttons" }, [ok, cancel]));
  }
  function closeDialog() {
    $("dialog").hidden = true;
    dialog = null;
  }
  function digitOf(ev) {
    var m = /^(Digit|Numpad)([0-9])$/.exec(ev.code);
    return m ? Number(m[2]) : null;
  }
  function letterOf(ev) {
    var m = /^Key([A-Z])$/.exec(ev.code);
    return m ? m[1] : null;
  }
  function pickDialog(title, help, items, label, onPick) {
    openDialog(title, function (body) {
      body.appendChild(el("p", { cls: "muted", text: help }));
      var list = el("ol", { cls: "pick-list" });
      items.slice(0, 9).forEach(function (item, i) {
        list.appendChild(el("li", {}, [el("kbd", { text: String(i + 1) }), " ", label(item)]));
      });
      body.appendChild(list);
    }, function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog(); return; }
      var d = digitOf(ev);
      if (d && d <= items.length && d <= 9) { ev.preventDefault(); closeDialog(); onPick(items[d - 1]); }
    });
  }
  function transferDialog() {
    var t = state.current;
    var target = null, digits = "";
    var line;
    function describe() {
      Array.prototype.forEach.call($("dialog-body").querySelectorAll("li.chosen"), function (li) { li.classList.remove("chosen"); });
      if (target && target.service) $("dialog-body").querySelector('li[data-prefix="' + target.service.prefix + '"]').classList.add("chosen");
      if (target && target.counter) {
        var li = $("dialog-body").querySelector('li[data-counter="' + target.counter + '"]');
        if (li) li.classList.add("chosen");
      }
      if (!target) { line.textContent = ""; return; }
      var what = target.service ? target.service.prefix + " · " + name(target.service) : fmt(T.to_counter, { number: target.counter });
      line.textContent = fmt(T.transfer_confirm, { number: t.number, target: what });
    }
    openDialog(fmt(T.transfer_title, { number: t.number }), function (body) {
      body.appendChild(el("p", { cls: "muted", text: T.transfer_help }));
      var cols = el("div", { cls: "transfer-cols" });
      var services = el("ul", { cls: "pick-list services" });
      state.services.forEach(function (s) {
        services.appendChild(el("li", { data: { prefix: s.prefix }, cls: s.code === t.service.code ? "here" : "" }, [el("kbd", { text: s.prefix }), " " + name(s)]));
      });
      var counters = el("ul", { cls: "pick-list counters" });
      state.counters.forEach(function (c) {
        counters.appendChild(el("li", { data: { counter: c.number }, cls: c.state }, [el("kbd", { text: String(c.number) }), " ", T["counter_" + c.state] || c.state, c.clerk ? " · " + c.clerk : ""]));
      });
      cols.appendChild(el("div", {}, [el("h3", { text: T.services }), services]));
      cols.appendChild(el("div", {}, [el("h3", { text: T.counters }), counters]));
      body.appendChild(cols);
      line = el("p", { cls: "confirm-line", id: "transfer-target" });
      body.appendChild(line);
    }, function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog(); return; }
      if (ev.key === "Enter") {
        ev.preventDefault();
        if (!target) return;
        closeDialog();
        var extra = { token: t.id, expect: t.state };
        if (target.service) extra.service = target.service.code; else extra.to_counter = target.counter;
        act("transfer", extra).then(function (reply) { if (reply && reply.ok) toast(fmt(T.transferred, { number: t.number }), "ok"); });
        return;
      }
      if (ev.key === "Backspace") { digits = digits.slice(0, -1); target = digits ? { counter: Number(digits) } : null; describe(); return; }
      var d = digitOf(ev);
      if (d !== null) { ev.preventDefault(); digits += String(d); target = { counter: Number(digits) }; describe(); return; }
      var letter = letterOf(ev);
      if (letter) {
        ev.preventDefault();
        var s = state.services.filter(function (x) { return x.prefix === letter; })[0];
        if (s) { digits = ""; target = { service: s }; describe(); }
      }
    });
  }
  // Issuing a token at the counter (no kiosk there): a service letter, a priority digit, Enter.
  var PRIORITIES = ["normal", "senior", "disabled"];
  function issueDialog() {
    var service = null, priority = "normal", line;
    function describe() {
      Array.prototype.forEach.call($("dialog-body").querySelectorAll("li.chosen"), function (li) { li.classList.remove("chosen"); });
      if (service) $("dialog-body").querySelector('li[data-prefix="' + service.prefix + '"]').classList.add("chosen");
      $("dialog-body").querySelector('li[data-priority="' + priority + '"]').classList.add("chosen");
      line.textContent = service ? fmt(T.issue_confirm, { service: service.prefix + " · " + name(service), priority: T["priority_" + priority] }) : "";
    }
    openDialog(T.issue_title, function (body) {
      body.appendChild(el("p", { cls: "muted", text: T.issue_help }));
      var cols = el("div", { cls: "transfer-cols" });
      var services = el("ul", { cls: "pick-list services" });
      state.services.forEach(function (s) {
        services.appendChild(el("li", { data: { prefix: s.prefix } }, [el("kbd", { text: s.prefix }), " " + name(s)]));
      });
      var classes = el("ul", { cls: "pick-list priorities" });
      PRIORITIES.forEach(function (p, i) {
        classes.appendChild(el("li", { data: { priority: p } }, [el("kbd", { text: String(i + 1) }), " " + T["priority_" + p]]));
      });
      cols.appendChild(el("div", {}, [el("h3", { text: T.services }), services]));
      cols.appendChild(el("div", {}, [el("h3", { text: T.priority }), classes]));
      body.appendChild(cols);
      line = el("p", { cls: "confirm-line", id: "issue-target" });
      body.appendChild(line);
    }, function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog(); return; }
      if (ev.key === "Enter") {
        ev.preventDefault();
        if (!service) return;
        closeDialog();
        act("issue", { service: service.code, priority: priority }).then(function (reply) {
          if (reply && reply.ok && reply.issued) issuedDialog(reply.issued);
        });
        return;
      }
      var d = digitOf(ev);
      if (d !== null && d >= 1 && d <= PRIORITIES.length) { ev.preventDefault(); priority = PRIORITIES[d - 1]; describe(); return; }
      var letter = letterOf(ev);
      if (letter) {
        ev.preventDefault();
        var s = state.services.filter(function (x) { return x.prefix === letter; })[0];
        if (s) { service = s; describe(); }
      }
    });
    describe();
  }
  function issuedDialog(t) {
    var p = t.print || {};
    openDialog(fmt(T.issued_title, { number: t.number }), function (body) {
      body.appendChild(el("p", { cls: "issued-number", id: "issued-number" }, [num(t.number)]));
      body.appendChild(el("p", { text: name(t.service) + " · " + fmt(T.issued_ahead, { count: t.ahead }) }));
      var note = p.printed ? T.issued_printed : (p.configured ? fmt(T.issued_not_printed, { status: p.status }) : T.issued_no_printer);
      body.appendChild(el("p", { cls: "issued-print " + (p.printed ? "ok" : (p.configured ? "error" : "info")), id: "issued-print", text: note }));
      if (!p.printed) {
        if (t.ticket_url) body.appendChild(el("img", { cls: "issued-ticket", id: "issued-ticket", src: t.ticket_url, alt: fmt(T.issued_title, { number: t.number }) }));
        body.appendChild(el("p", { cls: "small" }, [T.tracking + ": ", el("bdi", { cls: "num", id: "issued-tracking", text: t.tracking_url })]));
      }
      body.appendChild(el("p", { cls: "muted small", text: T.issued_close }));
    }, function (ev) {
      if (ev.key === "Escape" || ev.key === "Enter") { ev.preventDefault(); closeDialog(); }
    });
  }
  function reasonDialog(outcome) {
    var r = currentRequest();
    if (!r) { toast(T.nothing_selected, "error"); return; }
    var input;
    openDialog(outcome === "reject" ? T.reject_title : T.withdraw_title, function (body) {
      body.appendChild(el("label", { for: "reason-input", text: fmt(outcome === "reject" ? T.reason_reject : T.reason_withdraw, { reference: r.reference }) }));
      input = el("input", { id: "reason-input", maxlength: "500", cls: "reason" });
      body.appendChild(input);
    }, function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog(); return; }
      if (ev.key === "Enter") {
        ev.preventDefault();
        var reason = input.value;
        closeDialog();
        requestAction(outcome === "reject" ? "request_reject" : "request_withdraw", { reason: reason });
      }
    });
  }
  function confirmDialog(title, text, onYes) {
    openDialog(title, function (body) {
      body.appendChild(el("p", { cls: "confirm-line", text: text }));
    }, function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog(); return; }
      if (ev.key === "Enter") { ev.preventDefault(); closeDialog(); onYes(); }
    });
  }
  function completeCurrent() {
    var t = state.current;
    var r = t.request;
    if (dirty && !selected) { toast(T.save_first, "error"); return; }
    if (r && r.untouched) {
      var outcomes = ["referred", "documents_missing", "not_eligible", "other"];
      pickDialog(fmt(T.outcome_title, { number: t.number }), T.confirm_complete, outcomes,
        function (o) { return T["outcome_" + o]; },
        function (o) { act("complete", { token: t.id, expect: t.state, outcome: o }); });
      return;
    }
    var outcome = "served";
    if (r && r.state === "rejected") outcome = "not_eligible";
    if (r && r.state === "withdrawn") outcome = "other";
    act("complete", { token: t.id, expect: t.state, outcome: outcome });
  }

  // Keys ------------------------------------------------------------------------------
  function tokenAction(action, needs) {
    var t = state.current;
    if (!t) { toast(T.needs_token, "error"); return; }
    if (needs && t.state !== needs) { toast(needs === "called" ? T.needs_called : T.needs_serving, "error"); return; }
    act(action, { token: t.id, expect: t.state });
  }
  var KEYS = {
    KeyN: function () {
      act("call_next").then(function (reply) { if (reply && reply.ok && !reply.token) toast(T.nobody, "info"); });
    },
    KeyR: function () { tokenAction("recall"); },
    KeyS: function () { tokenAction("start"); },
    KeyX: function () { tokenAction("no_show"); },
    KeyP: function () { tokenAction("park"); },
    KeyU: function () {
      if (!state.parked.length) { toast(T.none_parked, "error"); return; }
      var unpark = function (t) { act("unpark", { token: t.id, expect: t.state }); };
      if (state.parked.length === 1) { unpark(state.parked[0]); return; }
      pickDialog(T.parked_title, T.pick_parked, state.parked, function (t) { return el("span", {}, [num(t.number), " · " + name(t.service)]); }, unpark);
    },
    KeyT: function () {
      if (!state.current || state.current.state !== "serving") { toast(T.needs_serving, "error"); return; }
      if (dirty && !selected) { toast(T.save_first, "error"); return; }
      transferDialog();
    },
    KeyC: function () {
      if (!state.current) { toast(T.needs_token, "error"); return; }
      if (state.current.state !== "serving") { tokenAction("complete"); return; }
      completeCurrent();
    },
    KeyQ: function () {
      if (!state.no_shows.length) { toast(T.none_no_show, "error"); return; }
      pickDialog(T.no_show_title, T.pick_no_show, state.no_shows,
        function (t) { return el("span", {}, [num(t.number), " · " + name(t.service), t.counter ? " · " + fmt(T.taken_by, { number: t.counter }) : ""]); },
        function (t) {
          act("requeue", { token: t.id, expect: t.state }).then(function (reply) {
            if (reply && reply.ok) toast(fmt(T.requeued, { number: t.number }), "ok");
          });
        });
    },
    KeyE: function () {
      var r = currentRequest();
      if (!r) { toast(T.nothing_selected, "error"); return; }
      $("f-name").focus();
    },
    KeyA: advance,
    KeyL: collect,
    KeyJ: function () { reasonDialog("reject"); },
    KeyW: function () { reasonDialog("withdraw"); },
    KeyB: function () { act(state.counter.state === "paused" ? "resume" : "pause"); },
    KeyI: function () {
      if (!state.services.length || state.counter.state === "closed") return;
      issueDialog();
    },
    KeyZ: function () {
      confirmDialog(T.close_title, fmt(T.confirm_close, { number: cfg.counter.number }), function () { act("close"); });
    },
  };

  document.addEventListener("keydown", function (ev) {
    if (refusal) {
      if (ev.key === "Enter") { ev.preventDefault(); refusal.onEnter(); }
      return;
    }
    if (dialog) { dialog.onKey(ev); return; }
    var target = ev.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
    if (typing) {
      if (ev.key === "Escape") { ev.preventDefault(); target.blur(); }
      else if (ev.key === "Enter") { ev.preventDefault(); saveRequest(); }
      return;
    }
    if (ev.ctrlKey || ev.altKey || ev.metaKey || !state) return;
    if (ev.key === "Escape") {
      if (selected) { choose(null); formFor = null; dirty = false; render(); }
      return;
    }
    var d = digitOf(ev);
    if (d !== null) {
      ev.preventDefault();
      if (d === 0) { choose(null); formFor = null; dirty = false; render(); return; }
      var r = state.requests[d - 1];
      if (r) loadSelected(r.id);
      return;
    }
    var handler = KEYS[ev.code];
    if (handler) { ev.preventDefault(); handler(); }
  });
  document.getElementById("request-form").addEventListener("input", function () { dirty = true; });
  document.getElementById("request-form").addEventListener("submit", function (ev) { ev.preventDefault(); saveRequest(); });

  // The legend's keys are buttons too: a click or a touch does what the key does.
  function bindLegendButtons() {
    var codes = { call_next: "KeyN", recall: "KeyR", start: "KeyS", no_show: "KeyX", park: "KeyP", unpark: "KeyU",
      transfer: "KeyT", complete: "KeyC", requeue: "KeyQ", edit: "KeyE", advance: "KeyA", collect: "KeyL",
      reject: "KeyJ", withdraw: "KeyW", issue: "KeyI", pause: "KeyB", close: "KeyZ", escape: "Escape" };
    Array.prototype.forEach.call(document.querySelectorAll("#legend .key"), function (k) {
      k.addEventListener("click", function () {
        k.blur();
        if (refusal || dialog || !state || k.classList.contains("off")) return;
        var code = codes[k.dataset.action];
        if (code === "Escape") {
          if (selected) { choose(null); formFor = null; dirty = false; render(); }
          return;
        }
        if (KEYS[code]) KEYS[code]();
      });
    });
  }

  bindLegendButtons();
  setInterval(tick, 1000);
  claimAndJoin();
})();
