/* The citizen's tracking page: draws the token from the view the server embedded, then
 * keeps it current over the socket (screen "track"), or by polling the JSON API when the
 * websocket cannot connect. Rings (a WebAudio chime and a vibration) when the token is
 * called and when it is almost its turn; after service, the request and the feedback form. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("track-config").textContent);
  var S = cfg.strings;
  var code = cfg.code;
  var view = cfg.view;
  var root = document.documentElement;
  var trackUrl = "/api/v1/track/" + encodeURIComponent(code);
  var collectCall = null; // {counter} while a collection call is open
  var lastUpdate = new Date();

  function $(id) { return document.getElementById(id); }

  // What this phone already rang for, across reloads.
  var storeKey = "khidmat-track:" + code;
  var memory = (function () {
    try { return JSON.parse(window.localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; }
  })();
  function remember() {
    try { window.localStorage.setItem(storeKey, JSON.stringify(memory)); } catch (e) { /* private mode */ }
  }

  /* Put a template such as "Go to counter {counter} now" into an element, numbers isolated
   * in <bdi> so they read correctly inside Urdu text. Text nodes only: no HTML from data. */
  function fill(el, template, values) {
    el.textContent = "";
    var parts = template.split(/(\{\w+\})/);
    parts.forEach(function (part) {
      var m = /^\{(\w+)\}$/.exec(part);
      if (m && values && values[m[1]] !== undefined && values[m[1]] !== null) {
        var value = values[m[1]];
        var text = String(value);
        if (typeof value === "number" || (/\d/.test(text) && !/[\u0600-\u06FF]/.test(text))) {
          var b = document.createElement("bdi");
          b.className = "num";
          b.textContent = text;
          el.appendChild(b);
        } else {
          el.appendChild(document.createTextNode(text));
        }
      } else if (part) {
        el.appendChild(document.createTextNode(part));
      }
    });
    return el;
  }

  function localDate(iso) {
    if (!iso) return "";
    try {
      return new Intl.DateTimeFormat(cfg.lang === "ur" ? "ur-PK" : "en-GB", {
        weekday: "short", day: "numeric", month: "short", timeZone: view.timezone, numberingSystem: "latn",
      }).format(new Date(iso));
    } catch (e) { return iso.slice(0, 10); }
  }
  function localTime(date) {
    try {
      return new Intl.DateTimeFormat(cfg.lang === "ur" ? "ur-PK" : "en-GB", {
        hour: "2-digit", minute: "2-digit", hour12: false, numberingSystem: "latn",
        timeZone: (view && view.timezone) || undefined, // the centre's clock, as on the hall display
      }).format(date);
    } catch (e) { return date.toTimeString().slice(0, 5); }
  }

  // Sound and vibration -------------------------------------------------------------
  var audio = null;
  function audioContext() {
    if (!audio) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      try { audio = new AC(); } catch (e) { return null; }
    }
    if (audio.state === "suspended" && audio.resume) audio.resume();
    return audio;
  }
  function chime(strong) {
    var ctx = audioContext();
    if (!ctx) return;
    var now = ctx.currentTime + 0.02;
    var notes = strong ? [659, 880, 1319, 880, 1319] : [659, 880];
    notes.forEach(function (freq, i) {
      var at = now + i * 0.3;
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.5, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.7);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.75);
    });
    root.dataset.chimes = String(Number(root.dataset.chimes || 0) + 1);
  }
  function ring(strong) {
    chime(strong);
    if (navigator.vibrate) {
      try { navigator.vibrate(strong ? [500, 200, 500, 200, 500] : [300, 150, 300]); } catch (e) { /* not allowed */ }
    }
  }
  var soundButton = $("tk-sound");
  var soundUnavailable = !(window.AudioContext || window.webkitAudioContext) && !navigator.vibrate;
  soundButton.addEventListener("click", function () {
    // A tap is what lets a phone play sound and vibrate later.
    audioContext();
    chime(false);
    if (navigator.vibrate) { try { navigator.vibrate(80); } catch (e) { /* ignore */ } }
    soundButton.classList.add("is-on");
    soundButton.textContent = S.sound_ready;
  });

  // Drawing ---------------------------------------------------------------------------
  function serviceName() {
    return cfg.lang === "ur" ? view.service.name_ur : view.service.name_en;
  }
  function centreName() {
    return cfg.lang === "ur" ? view.centre_name_ur : view.centre_name_en;
  }

  // A collection call stays on screen while the request waits to be collected (also
  // after a reload, for a while), with the counter it was called to.
  var COLLECTION_SHOWN_MS = 15 * 60 * 1000;
  function openCollection() {
    var req = view.request;
    if (req && req.state !== "ready") { collectCall = null; return null; } // collected, or closed
    if (collectCall) return collectCall;
    if (req && req.collection_called_at && req.collect_counter !== null &&
        Date.now() - Date.parse(req.collection_called_at) < COLLECTION_SHOWN_MS) {
      return { counter: req.collect_counter, at: req.collection_called_at };
    }
    return null;
  }

  function drawCall() {
    var box = $("tk-call");
    var text = $("tk-call-text");
    var collection = openCollection();
    if (view.state === "called" && view.counter !== null) {
      fill(text, view.recalls > 0 ? S.recalled : S.called, { counter: view.counter });
      box.hidden = false;
    } else if (collection) {
      fill(text, S.collection, { counter: collection.counter });
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function drawWait() {
    var waiting = view.state === "waiting";
    $("tk-wait").hidden = !waiting;
    var almost = $("tk-almost");
    if (!waiting) { almost.hidden = true; return; }
    $("tk-ahead").textContent = String(view.ahead);
    var eta = $("tk-eta");
    if (view.eta_minutes === null || view.eta_minutes === undefined) eta.textContent = S.eta_unknown;
    else if (view.eta_minutes <= 1 || view.ahead === 0) eta.textContent = S.eta_soon;
    else fill(eta, S.eta_minutes, { n: view.eta_minutes });
    var near = view.ahead <= view.almost_turn_ahead;
    almost.hidden = !near;
    if (near) almost.textContent = view.ahead === 0 ? S.next : S.almost;
  }

  var STATUS = {
    serving: ["serving", "good"], parked: ["parked", ""], done: ["done", "good"],
    no_show: ["no_show", "bad"], cancelled: ["cancelled", "bad"], closed: ["closed", ""],
  };
  function drawStatus() {
    var box = $("tk-status");
    var entry = STATUS[view.state];
    // One story at a time: while a request waits to be collected, the request tells it
    // (where and until when), not "your visit is complete".
    var pending = view.request && ["open", "in_process", "ready"].indexOf(view.request.state) >= 0;
    if (!entry || (view.state === "done" && pending)) { box.hidden = true; return; }
    fill(box, S[entry[0]], { counter: view.counter });
    box.dataset.tone = entry[1];
    box.hidden = false;
  }

  function drawRequest() {
    var box = $("tk-request");
    var req = view.request;
    if (!req) { box.hidden = true; return; }
    box.hidden = false;
    var state = $("tk-request-state");
    state.textContent = S["req_" + req.state] || req.state;
    state.dataset.state = req.state;
    var due = $("tk-request-due");
    due.hidden = !(req.due_at && (req.state === "open" || req.state === "in_process"));
    if (!due.hidden) fill(due, S.due, { date: localDate(req.due_at) });
    var where = $("tk-request-where");
    where.hidden = req.state !== "ready";
    if (!where.hidden) {
      var values = { counter: req.collect_counter, centre: centreName(), opens: view.opens_at, closes: view.closes_at };
      fill(where, req.collect_counter ? S.collect_at_counter : S.collect_at_centre, values);
      where.appendChild(document.createTextNode(" " + S.bring_ticket));
    }
    drawDelivery(req.delivery);
  }

  /* Documents sent to the door: where they are, never the address. */
  function drawDelivery(delivery) {
    var line = $("tk-request-delivery");
    line.hidden = !delivery;
    if (!delivery) return;
    var template = S["delivery_" + delivery.state] || delivery.state;
    fill(line, template, { courier: delivery.courier, consignment: delivery.consignment });
    if (delivery.state !== "returned") $("tk-request-where").hidden = true;
  }

  /* A token taken from the phone: the code to check in with at the kiosk, until used. */
  function drawCheckIn() {
    var remote = view.remote;
    var box = $("tk-checkin");
    box.hidden = !remote || remote.checked_in || view.state !== "waiting";
    if (box.hidden) return;
    $("tk-checkin-text").textContent = S.check_in_at_kiosk;
    $("tk-checkin-code").textContent = remote.check_in_code;
  }

  function drawFeedback() {
    var fb = view.feedback || {};
    $("tk-feedback").hidden = !fb.allowed;
    var thanks = $("tk-thanks");
    if (fb.given) {
      thanks.hidden = false;
      if (fb.rating) fill(thanks, S.thanks, { rating: fb.rating });
      else if (fb.message) thanks.textContent = fb.message;
    } else {
      thanks.hidden = true;
    }
  }

  function render() {
    root.dataset.state = view.state;
    root.dataset.ahead = String(view.ahead);
    root.dataset.request = view.request ? view.request.state : "";
    $("tk").dataset.state = view.state;
    $("tk-number").textContent = view.number;
    $("tk-service").textContent = serviceName();
    drawCall();
    drawWait();
    drawStatus();
    drawRequest();
    drawCheckIn();
    drawFeedback();
    // Nothing more to ring for once the visit is over and no request waits to be collected.
    var over = ["done", "no_show", "cancelled", "closed"].indexOf(view.state) >= 0;
    var pending = view.request && ["in_process", "ready"].indexOf(view.request.state) >= 0;
    soundButton.hidden = soundUnavailable || (over && !pending);
    var title = S.title.replace("{number}", view.number);
    document.title = (view.state === "called" ? "\u25B6 " : "") + title + " \u00B7 " + centreName();
    drawFeed();
  }

  // Rings once for each call (a recall is a new call), each collection call, and once
  // when it is almost its turn.
  function alertIfDue() {
    var collection = openCollection();
    if (collection && collection.at && memory.collected !== collection.at) {
      memory.collected = collection.at;
      remember();
      ring(true);
    } else if (view.state === "called") {
      var key = (view.called_at || "") + "|" + view.recalls;
      if (memory.called !== key) {
        memory.called = key;
        remember();
        ring(true);
      }
    } else if (view.state === "waiting" && view.ahead <= view.almost_turn_ahead && !memory.almost) {
      memory.almost = true;
      remember();
      ring(false);
    }
  }

  function apply(next) {
    view = next;
    lastUpdate = new Date();
    render();
    alertIfDue();
  }

  // Live link, and polling when it is down ----------------------------------------------
  var feed = "live";
  var pollTimer = null;
  var pollGrace = null;
  function drawFeed() {
    var el = $("tk-feed");
    el.dataset.feed = feed;
    root.dataset.feed = feed;
    if (feed === "live") el.textContent = S.live;
    else if (feed === "polling") fill(el, S.polling, { n: cfg.poll_seconds });
    else el.textContent = S.offline;
    el.appendChild(document.createTextNode(" \u00B7 "));
    var updated = document.createElement("span");
    fill(updated, S.updated, { time: localTime(lastUpdate) });
    el.appendChild(updated);
  }
  function setFeed(mode) { feed = mode; drawFeed(); }

  function poll() {
    Khidmat.api("GET", trackUrl).then(function (r) {
      if (r.ok) { apply(r.data); setFeed("polling"); return; }
      if (r.status === 404) { window.location.reload(); return; } // the friendly page says why
      setFeed("offline");
    });
  }
  function startPolling() {
    if (pollTimer) return;
    poll();
    pollTimer = window.setInterval(poll, cfg.poll_seconds * 1000);
  }
  function stopPolling() {
    if (pollGrace) { window.clearTimeout(pollGrace); pollGrace = null; }
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && pollTimer) poll();
  });

  Khidmat.live({
    join: { screen: "track", code: code },
    on: {
      snapshot: function (data) { apply(data); setFeed("live"); },
      token_changed: function (data) {
        if (data.view) apply(data.view);
      },
      position: function (data) {  // still waiting: its new place in the queue
        if (data.ahead === undefined) return;
        apply(Object.assign({}, view, { state: "waiting", ahead: data.ahead, eta_minutes: data.eta_minutes }));
      },
      token_called: function (data) {
        var t = data.token || {};
        if (data.kind === "collection") {
          collectCall = { counter: t.counter, at: t.called_at };
          if (view.request) view.request = Object.assign({}, view.request, { state: "ready" });
          render();
          alertIfDue();
          return;
        }
        apply(Object.assign({}, view, {
          state: t.state || "called", counter: t.counter, called_at: t.called_at,
          recalls: t.recalls || 0, ahead: 0, eta_minutes: null,
        }));
      },
      link: function (up) {
        if (up) { stopPolling(); setFeed("live"); return; }
        // Give the websocket a moment on a first connect; then poll until it is back.
        if (!pollGrace && !pollTimer) {
          pollGrace = window.setTimeout(function () { pollGrace = null; startPolling(); }, 3000);
        }
      },
      refused: function (reply) {
        if (reply.error === "unknown_code") window.location.reload();
        else startPolling();
      },
    },
  });

  // Feedback ----------------------------------------------------------------------------
  var form = $("tk-feedback-form");
  var comment = $("tk-comment");
  var count = $("tk-count");
  var message = $("tk-feedback-msg");
  var send = $("tk-send");
  function say(text, tone) { message.textContent = text || ""; message.dataset.tone = tone || ""; }
  form.addEventListener("change", function () {
    var chosen = form.querySelector("input[name=rating]:checked");
    var value = chosen ? Number(chosen.value) : 0;
    form.querySelectorAll(".tk-star").forEach(function (label, i) { label.classList.toggle("is-on", i < value); });
    if (chosen) say("");
  });
  comment.addEventListener("input", function () { count.textContent = comment.value.length + "/500"; });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = form.querySelector("input[name=rating]:checked");
    if (!chosen) { say(S.pick_rating, "bad"); return; }
    send.disabled = true;
    say(S.sending);
    Khidmat.api("POST", trackUrl + "/feedback", { rating: Number(chosen.value), comment: comment.value })
      .then(function (r) {
        send.disabled = false;
        if (r.ok) {
          view.feedback = { allowed: false, given: true, rating: r.data.rating };
          say("");
          render();
        } else if (r.data && r.data.error === "feedback_given") {
          view.feedback = { allowed: false, given: true, rating: null, message: r.data.message };
          render();
        } else {
          say((r.data && r.data.message) || S.send_failed, "bad");
        }
      });
  });

  render();
  alertIfDue();
  window.setInterval(drawFeed, 30000);
})();
