/* The public display: draws the hall from snapshots and events, and announces calls.
 *
 * Every (re)join brings a snapshot, from which the whole screen is redrawn; events patch it.
 * A new call flashes and is announced: the server's WAV (chime, Urdu, English) is fetched the
 * moment the event arrives and played in turn, one at a time, never over another one.
 * Everything from the server is put on the page with textContent, never as HTML. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("display-config").textContent);
  var L = cfg.labels;
  var zone = cfg.zone && cfg.zone.length ? cfg.zone : null;
  var RECENT_SHOWN = 6;
  var RECENT_KEPT = 12;
  var WAITING_PAGE_MS = 8000;
  var MAX_QUEUED = 6;

  var state = {
    centre: null,
    counters: [],     // counter_public, in the zone, by number
    services: [],     // queue_summary
    recent: [],       // token_public, newest first, in the zone
    nextUp: [],       // token_public: waiting, likely to be called next
    calls: [],        // {token, kind} still current (called, or a collection not yet collected), newest first
    latest: null,     // calls[0]: what the big panel shows
    offsetMs: 0,      // server clock minus this clock
  };
  // What the browser tests read; nothing on the page depends on it.
  var probe = window.KhidmatDisplay = { applied: [], played: [], snapshots: 0, audio: "idle" };

  function remember(list, entry) { // a TV runs for months: keep the probe small
    list.push(entry);
    if (list.length > 200) list.splice(0, list.length - 200);
  }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function num(text, cls) {
    var node = el("bdi", "num" + (cls ? " " + cls : ""), text);
    node.dir = "ltr";
    return node;
  }
  function lang(tag, code, text, cls) {
    var node = el(tag, code + (cls ? " " + cls : ""), text);
    node.lang = code;
    node.dir = code === "ur" ? "rtl" : "ltr";
    return node;
  }
  function inZone(counterNumber) {
    return !zone || (counterNumber !== null && zone.indexOf(counterNumber) >= 0);
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /* --- drawing ---------------------------------------------------------------------------- */

  function zoneServices() {
    if (!zone) return null;
    var codes = {};
    state.counters.forEach(function (c) { (c.services || []).forEach(function (code) { codes[code] = true; }); });
    return codes;
  }

  function drawHero(flash) {
    var hero = $("hero");
    var latest = state.latest;
    $("hero-empty").hidden = !!latest;
    $("hero-call").hidden = !latest;
    drawHours();
    if (!latest) { hero.dataset.tokenId = ""; hero.dataset.kind = ""; return; }
    var t = latest.token;
    hero.dataset.tokenId = String(t.id);
    hero.dataset.kind = latest.kind;
    $("hero-number").textContent = t.number;
    $("hero-counter").textContent = t.counter === null ? "" : String(t.counter);
    $("hero-service-en").textContent = (t.service && t.service.name_en) || "";
    $("hero-service-ur").textContent = (t.service && t.service.name_ur) || "";
    var kindLabel = latest.kind === "recall" ? L.recall : latest.kind === "collection" ? L.collection : null;
    $("hero-kind").hidden = !kindLabel;
    $("hero-kind-en").textContent = kindLabel ? kindLabel.en : "";
    $("hero-kind-ur").textContent = kindLabel ? kindLabel.ur : "";
    if (flash) restartAnimation(hero, "flash");
  }

  function restartAnimation(node, cls) {
    node.classList.remove(cls);
    void node.offsetWidth; // restart the CSS animation
    node.classList.add(cls);
  }

  function drawRecent() {
    var list = $("recent");
    clear(list);
    var shown = state.recent.filter(function (t) { return !state.latest || t.id !== state.latest.token.id; });
    shown.slice(0, RECENT_SHOWN).forEach(function (t) {
      var item = el("li", "recent-item");
      item.dataset.tokenId = String(t.id);
      item.appendChild(num(t.number, "recent-number"));
      var where = el("span", "recent-counter");
      where.appendChild(el("span", "arrow"));
      where.appendChild(num(t.counter === null ? "–" : String(t.counter)));
      item.appendChild(where);
      list.appendChild(item);
    });
  }

  function counterStatus(c) {
    if (c.state === "closed") return { cls: "closed", label: L.closed };
    if (c.state === "paused") return { cls: "paused", label: L.paused };
    if (!c.current) return { cls: "free", label: L.free };
    return { cls: "busy", label: null };
  }

  function drawCounters(flashNumber) {
    var grid = $("counters");
    clear(grid);
    grid.dataset.count = String(state.counters.length);
    state.counters.forEach(function (c) {
      var status = counterStatus(c);
      var tile = el("li", "counter-tile " + status.cls);
      tile.dataset.counter = String(c.number);
      var head = el("div", "tile-counter");
      head.appendChild(num(String(c.number), "tile-counter-num"));
      var label = el("span", "tile-counter-label");
      label.appendChild(lang("span", "en", L.counter.en));
      label.appendChild(lang("span", "ur", L.counter.ur));
      head.appendChild(label);
      tile.appendChild(head);
      var body = el("div", "tile-token");
      if (status.label) {
        body.appendChild(lang("span", "en", status.label.en, "tile-status"));
        body.appendChild(lang("span", "ur", status.label.ur, "tile-status"));
      } else {
        body.appendChild(num(c.current.number, "tile-token-num"));
      }
      tile.appendChild(body);
      grid.appendChild(tile);
      if (flashNumber !== undefined && c.number === flashNumber) restartAnimation(tile, "flash");
    });
  }

  var waitingPage = 0;
  var waitingPages = 1;
  function drawWaiting() {
    var codes = zoneServices();
    var rows = state.services.filter(function (s) {
      return s.is_active !== false && s.waiting > 0 && (!codes || codes[s.code]);
    });
    var list = $("waiting");
    clear(list);
    var total = 0;
    rows.forEach(function (s) {
      total += s.waiting;
      var item = el("li", "waiting-item");
      item.dataset.service = s.code;
      var names = el("span", "waiting-names");
      names.appendChild(lang("span", "en", s.name_en, "waiting-en"));
      names.appendChild(lang("span", "ur", s.name_ur, "waiting-ur"));
      item.appendChild(names);
      var eta = etaText(s.eta_minutes);
      if (eta) {
        var wait = el("span", "waiting-eta");
        wait.appendChild(lang("span", "en", eta.en, "waiting-eta-en"));
        wait.appendChild(lang("span", "ur", eta.ur, "waiting-eta-ur"));
        item.appendChild(wait);
      }
      item.appendChild(num(String(s.waiting), "waiting-count"));
      list.appendChild(item);
    });
    $("waiting-total").textContent = rows.length ? String(total) : "";
    $("waiting-none").hidden = rows.length > 0;
    paginateWaiting();
  }

  /* The expected wait for a token taken now (the kiosk's figure), in both languages. */
  function etaText(minutes) {
    if (minutes === null || minutes === undefined) return null;
    if (minutes < 1) return { en: L.eta_under.en, ur: L.eta_under.ur };
    var n = String(Math.round(minutes));
    return { en: Khidmat.fill(L.eta.en, { n: n }), ur: Khidmat.fill(L.eta.ur, { n: n }) };
  }

  /* Next up: the tokens the hall can expect next, in the order they are likely called. */
  function drawNext() {
    var codes = zoneServices();
    var rows = state.nextUp.filter(function (t) { return !codes || (t.service && codes[t.service.code]); });
    var list = $("next-up");
    clear(list);
    rows.forEach(function (t) {
      var item = el("li", "next-item");
      item.dataset.tokenId = String(t.id);
      item.appendChild(num(t.number, "next-number"));
      list.appendChild(item);
    });
    $("next-section").dataset.count = String(rows.length);
  }

  /* The idle screen (nobody called) says when the centre is open, or when it opens. */
  function hoursText(code) {
    var c = state.centre;
    if (!c) return "";
    var words = function (key) { return L[key][code]; };
    if (c.open_now) {
      if (!c.opens_at_shown) return "";
      if (c.opens_at_shown === c.closes_at) return words("open_always");
      return Khidmat.fill(words("open_today"), { opens: c.opens_at_shown, closes: c.closes_at });
    }
    if (!c.opens_local) return words("closed_no_opening");
    if (c.opens_today) return Khidmat.fill(words("closed_opens_today"), { time: c.opens_local });
    var day = c.opens_at ? fmt(code === "ur" ? "ur-PK" : "en-GB", { weekday: "long", numberingSystem: "latn" }).format(new Date(c.opens_at)) : "";
    return Khidmat.fill(words("closed_opens_on"), { day: day, time: c.opens_local });
  }
  function drawHours() {
    var en = hoursText("en");
    var ur = hoursText("ur");
    $("hours-en").textContent = en;
    $("hours-ur").textContent = ur;
    $("hero-hours").hidden = !en && !ur;
    $("display").dataset.open = state.centre && !state.centre.open_now ? "closed" : "open";
  }

  /* Show the waiting list a page at a time when it does not fit; pages turn by themselves. */
  function paginateWaiting() {
    var list = $("waiting");
    var items = list.children;
    var dots = $("waiting-pages");
    clear(dots);
    for (var i = 0; i < items.length; i++) items[i].hidden = false;
    if (!items.length) { waitingPages = 1; return; }
    var room = list.clientHeight;
    var per = Math.max(1, Math.floor(room / Math.max(1, items[0].offsetHeight + 6)));
    waitingPages = Math.max(1, Math.ceil(items.length / per));
    if (waitingPage >= waitingPages) waitingPage = 0;
    for (var j = 0; j < items.length; j++) {
      items[j].hidden = Math.floor(j / per) !== waitingPage;
    }
    if (waitingPages > 1) {
      for (var k = 0; k < waitingPages; k++) dots.appendChild(el("span", k === waitingPage ? "dot on" : "dot"));
    }
  }
  setInterval(function () {
    if (waitingPages > 1) { waitingPage = (waitingPage + 1) % waitingPages; paginateWaiting(); }
  }, WAITING_PAGE_MS);

  /* --- notice ticker: English scrolls leftwards, Urdu rightwards, one after the other -------- */

  var ticker = { segments: [], index: 0, animation: null, key: "" };
  function setNotice(centre) {
    var segments = [];
    if (centre && centre.notice_en && centre.notice_en.trim()) segments.push({ lang: "en", text: centre.notice_en.trim() });
    if (centre && centre.notice_ur && centre.notice_ur.trim()) segments.push({ lang: "ur", text: centre.notice_ur.trim() });
    if (document.documentElement.lang === "ur") segments.reverse(); // the page's language first
    var key = JSON.stringify(segments);
    if (key === ticker.key) return;
    ticker.key = key;
    ticker.segments = segments;
    ticker.index = 0;
    $("ticker").hidden = !segments.length;
    document.documentElement.dataset.notice = segments.length ? "on" : "off";
    if (ticker.animation) { ticker.animation.cancel(); ticker.animation = null; }
    if (segments.length) runTicker();
  }
  function runTicker() {
    if (!ticker.segments.length) return;
    var seg = ticker.segments[ticker.index % ticker.segments.length];
    ticker.index += 1;
    var text = $("ticker-text");
    text.textContent = seg.text;
    text.lang = seg.lang;
    text.dir = seg.lang === "ur" ? "rtl" : "ltr";
    text.className = "ticker-text " + seg.lang;
    var track = $("ticker").clientWidth;
    var width = text.scrollWidth;
    var from = seg.lang === "ur" ? -width : track;
    var to = seg.lang === "ur" ? track : -width;
    var ms = Math.max(6000, (track + width) / 110 * 1000); // about 110 px a second
    if (!text.animate) { text.style.transform = "none"; return; }
    var anim = text.animate(
      [{ transform: "translateX(" + from + "px)" }, { transform: "translateX(" + to + "px)" }],
      { duration: ms, easing: "linear" }
    );
    ticker.animation = anim;
    anim.onfinish = function () { if (ticker.animation === anim) runTicker(); };
  }

  /* --- clock in the centre's time zone, on the server's time -------------------------------- */

  var formats = {};
  function fmt(locale, options) {
    var key = locale + JSON.stringify(options);
    if (!formats[key]) {
      try {
        formats[key] = new Intl.DateTimeFormat(locale, Object.assign({ timeZone: cfg.timezone }, options));
      } catch (e) {
        formats[key] = new Intl.DateTimeFormat(locale, options);
      }
    }
    return formats[key];
  }
  function tick() {
    var now = new Date(Date.now() + state.offsetMs);
    $("clock").textContent = fmt("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(now);
    var dateOptions = { weekday: "long", day: "numeric", month: "long", year: "numeric" };
    $("date-en").textContent = fmt("en-GB", dateOptions).format(now);
    $("date-ur").textContent = fmt("ur-PK", Object.assign({ numberingSystem: "latn" }, dateOptions)).format(now);
  }
  setInterval(tick, 1000);
  tick();

  /* --- announcements: one at a time, in order ---------------------------------------------- */

  var queue = [];
  var current = null;
  var soundBlocked = false;

  function announce(token, kind) {
    var url = cfg.audio_base + encodeURIComponent(String(token.id)) + ".wav?kind=" + encodeURIComponent(kind) +
      (token.counter === null || token.counter === undefined ? "" : "&counter=" + encodeURIComponent(String(token.counter)));
    var audio = new Audio();
    audio.preload = "auto";
    audio.src = url; // fetched now, while earlier announcements still play
    var item = { audio: audio, url: url, id: token.id, counter: token.counter, number: token.number, kind: kind, fallback: false, at: Date.now() };
    if (mergeRepeat(item)) { pump(); return; }
    queue.push(item);
    while (queue.length > MAX_QUEUED) skipped(queue.shift(), "backlog"); // a backlog this long is stale; keep the latest
    pump();
  }

  function pump() {
    if (current || soundBlocked) return;
    dropStale();
    if (!queue.length) return;
    var item = queue.shift();
    current = item;
    var finished = false;
    var guard = null;
    var record = { number: item.number, kind: item.kind, url: item.url, start: Date.now(), end: null, ok: false, fallback: false };
    probe.audio = "playing";
    document.documentElement.dataset.audio = "playing";

    function finish(ok) {
      if (finished) return;
      finished = true;
      clearTimeout(guard);
      detach(item.audio);
      record.end = Date.now();
      record.ok = ok;
      remember(probe.played, record);
      current = null;
      probe.audio = "idle";
      document.documentElement.dataset.audio = "idle";
      setTimeout(pump, 300);
    }
    function detach(audio) { audio.onended = audio.onerror = audio.onloadedmetadata = null; }
    function failed(audio) {
      if (finished || audio !== item.audio) return; // a late report from a replaced element
      if (item.fallback) { finish(false); return; }
      // The speech could not be had: the chime alone still tells the hall to look up.
      detach(audio);
      item.fallback = true;
      record.fallback = true;
      item.audio = new Audio(cfg.chime);
      play(item.audio);
    }
    function play(audio) {
      clearTimeout(guard);
      guard = setTimeout(function () { finish(false); }, 30000);
      audio.onended = function () { if (audio === item.audio) finish(!item.fallback); };
      audio.onerror = function () { failed(audio); };
      audio.onloadedmetadata = function () {
        var d = audio.duration;
        if (audio === item.audio && isFinite(d) && d > 0) {
          clearTimeout(guard);
          guard = setTimeout(function () { finish(!item.fallback); }, d * 1000 + 4000);
        }
      };
      var started = audio.play();
      if (started && started.catch) {
        started.catch(function (err) {
          if (finished || audio !== item.audio) return;
          if (err && err.name === "NotAllowedError") { // the browser wants a tap before sound
            clearTimeout(guard);
            detach(audio);
            finished = true;
            current = null;
            queue.unshift(item);
            blockSound();
          } else if (!err || err.name !== "AbortError") {
            failed(audio);
          }
        });
      }
    }
    play(item.audio);
  }

  /* Burst policy (issue 14): what is said must still be true when it is said, and late.
   * - merged: a call for a token already waiting to be announced (a recall) takes that place
   *   in the queue instead of being said twice;
   * - dropped when no longer current: a token served, gone or called again elsewhere, or a
   *   counter that has called someone newer (superseded), is not announced;
   * - bounded: a waiting announcement is dropped while a newer one waits when it is older
   *   than ANNOUNCE_BOUND_MS or saying it would start the newest later than that (the newest
   *   is always said; a recall, repeating a call already heard, may come later than the
   *   bound); every call was shown large when it came.
   * bench/bench_announce_burst.py replays this on the real WAV lengths. */
  var ANNOUNCE_BOUND_MS = 15000;
  probe.skipped = [];
  function skipped(item, why) {
    remember(probe.skipped, { number: item.number, kind: item.kind, why: why, at: item.at, dropped: Date.now() });
  }
  function mergeRepeat(item) {
    for (var i = 0; i < queue.length; i += 1) {
      if (queue[i].id === item.id) {
        skipped(queue[i], "merged");
        item.at = Math.min(item.at, queue[i].at);
        queue[i] = item;
        return true;
      }
    }
    return false;
  }
  function stillCurrent(item) {
    var call = null;
    for (var i = 0; i < state.calls.length; i += 1) {
      if (state.calls[i].token.id === item.id) { call = state.calls[i]; break; }
    }
    if (!call) return "over";
    for (var j = 0; j < state.calls.length && state.calls[j] !== call; j += 1) {
      var newer = state.calls[j];
      if (newer.token.counter === item.counter && newer.kind !== "collection" && item.kind !== "collection") return "superseded";
    }
    return null;
  }
  var ANNOUNCE_GUESS_MS = 12000; // chime + Urdu + English, until the WAV's length is known
  function lengthMs(item) {
    var d = item.audio && item.audio.duration;
    return isFinite(d) && d > 0 ? d * 1000 : ANNOUNCE_GUESS_MS;
  }
  function dropStale() {
    var now = Date.now();
    // The newest first call: a recall repeats a call already heard and pushes nothing out.
    var newest = null;
    queue.forEach(function (item) { if (item.kind !== "recall") newest = item; });
    newest = newest || queue[queue.length - 1];
    queue = queue.filter(function (item, i) {
      var why = stillCurrent(item);
      // Late: this call has waited past the bound, or saying it would push the newest call
      // waiting past the bound.
      if (!why && i < queue.length - 1 && item !== newest &&
          (now - item.at > ANNOUNCE_BOUND_MS || now + lengthMs(item) + 300 - newest.at > ANNOUNCE_BOUND_MS)) why = "late";
      if (why) { skipped(item, why); return false; }
      return true;
    });
  }

  function blockSound() {
    soundBlocked = true;
    probe.audio = "blocked";
    $("sound-prompt").hidden = false;
  }
  $("sound-prompt").addEventListener("click", function () {
    soundBlocked = false;
    $("sound-prompt").hidden = true;
    pump();
  });

  /* --- applying the hall's state ------------------------------------------------------------- */

  function byNumber(a, b) { return a.number - b.number; }

  function applySnapshot(snap) {
    probe.snapshots += 1;
    state.centre = snap.centre;
    if (snap.server_time) {
      var server = Date.parse(snap.server_time);
      if (!isNaN(server)) state.offsetMs = server - Date.now();
    }
    state.counters = (snap.counters || []).filter(function (c) { return inZone(c.number); }).sort(byNumber);
    state.services = snap.services || [];
    state.recent = (snap.recent_calls || []).filter(function (t) { return inZone(t.counter); }).slice(0, RECENT_KEPT);
    // The big panel shows the latest call that is still current, as the server knows it:
    // a refresh never brings back a token that was served, nor hides a collection call.
    state.calls = (snap.calls || []).filter(function (c) { return c.token && inZone(c.token.counter); });
    state.nextUp = snap.next_up || [];
    state.latest = state.calls[0] || null;
    setNotice(snap.centre);
    drawHero(false);
    drawRecent();
    drawCounters();
    drawWaiting();
    drawNext();
    tick();
    $("display").dataset.state = "live";
  }

  function onCalled(payload) {
    var t = payload && payload.token;
    if (!t || !inZone(t.counter)) return;
    var kind = payload.kind === "recall" || payload.kind === "collection" ? payload.kind : "call";
    state.recent = [t].concat(state.recent.filter(function (r) { return r.id !== t.id; })).slice(0, RECENT_KEPT);
    state.calls = [{ token: t, kind: kind }].concat(state.calls.filter(function (c) { return c.token.id !== t.id; }));
    state.latest = state.calls[0];
    state.nextUp = state.nextUp.filter(function (n) { return n.id !== t.id; });
    drawNext();
    state.counters.forEach(function (c) {
      if (c.number === t.counter) c.current = t;
      else if (c.current && c.current.id === t.id) c.current = null;
    });
    drawHero(true);
    drawRecent();
    drawCounters(t.counter);
    remember(probe.applied, { number: t.number, kind: kind, at: Date.now() });
    announce(t, kind);
  }

  function onTokenChanged(payload) {
    var t = payload && payload.token;
    if (!t) return;
    var atCounter = t.state === "called" || t.state === "serving" || t.state === "parked";
    state.recent = state.recent.map(function (r) { return r.id === t.id ? t : r; });
    // A call is over when its token came to the counter (or left), a collection call when
    // the documents were collected: the panel falls back to the latest call still current.
    var before = state.latest;
    state.calls = state.calls.filter(function (c) {
      if (c.token.id !== t.id) return true;
      return c.kind === "collection" ? !payload.collection_over : t.state === "called";
    });
    state.latest = state.calls[0] || null;
    if (state.latest !== before) { drawHero(false); drawRecent(); }
    state.counters.forEach(function (c) {
      if (c.current && c.current.id === t.id) c.current = atCounter && c.number === t.counter ? t : null;
    });
    drawCounters();
  }

  function onCounterChanged(payload) {
    var c = payload && payload.counter;
    if (!c || !inZone(c.number)) return;
    var found = false;
    state.counters = state.counters.map(function (old) {
      if (old.id === c.id) { found = true; return c; }
      return old;
    });
    if (!found) state.counters = state.counters.concat([c]).sort(byNumber);
    drawCounters();
    drawWaiting();
  }

  function onQueueChanged(payload) {
    if (!payload || !payload.services) return;
    state.services = payload.services;
    if (payload.next_up) state.nextUp = payload.next_up;
    drawWaiting();
    drawNext();
  }

  window.addEventListener("resize", function () { paginateWaiting(); });

  probe.live = Khidmat.live({
    join: { screen: "display", centre: cfg.centre },
    on: {
      snapshot: applySnapshot,
      token_called: onCalled,
      token_changed: onTokenChanged,
      counter_changed: onCounterChanged,
      queue_changed: onQueueChanged,
      link: function (up) { $("display").dataset.link = up ? "up" : "down"; },
      refused: function (reply) {
        // Unpaired or revoked meanwhile: reload, and the server shows the pairing screen.
        if (reply && (reply.error === "unauthenticated" || reply.error === "forbidden" || reply.error === "bad_key")) {
          setTimeout(function () { window.location.reload(); }, 5000);
        }
      },
    },
  });
})();
