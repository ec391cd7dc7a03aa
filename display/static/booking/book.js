/* Booking from the phone: service → day → time → name and mobile → the SMS code, then the
 * booking's own page (its QR for the kiosk). Every step is the JSON API; messages from the
 * server come in the page's language. Text nodes only: nothing from data becomes HTML. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("book-config").textContent);
  if (!cfg.enabled) return;
  var S = cfg.strings;
  var api = "/api/v1";
  var chosen = { service: null, day: null, slot: null, code: null };
  function $(id) { return document.getElementById(id); }
  function t(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : String(values[k]); });
  }
  function call(method, path, body) {
    var init = { method: method, headers: { "Accept": "application/json", "Accept-Language": cfg.lang } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(api + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }
  function button(label, sub, onPick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "bk-choice";
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", "false");
    var main = document.createElement("bdi");
    main.textContent = label;
    b.appendChild(main);
    if (sub) {
      var small = document.createElement("small");
      small.textContent = sub;
      b.appendChild(small);
    }
    b.addEventListener("click", function () {
      Array.prototype.forEach.call(b.parentNode.children, function (x) { x.setAttribute("aria-checked", "false"); });
      b.setAttribute("aria-checked", "true");
      onPick();
    });
    return b;
  }
  function dayLabel(iso) {
    try {
      return new Intl.DateTimeFormat(cfg.lang === "ur" ? "ur-PK" : "en-GB", {
        weekday: "short", day: "numeric", month: "short", timeZone: "UTC",
      }).format(new Date(iso + "T12:00:00Z"));
    } catch (e) { return iso; }
  }
  function days() {
    var out = [];
    var start = new Date(cfg.today + "T12:00:00Z");
    for (var i = 0; i <= cfg.days_ahead; i++) {
      out.push(new Date(start.getTime() + i * 86400000).toISOString().slice(0, 10));
    }
    return out;
  }

  var serviceSelect = $("bk-service");
  cfg.services.forEach(function (s) {
    var o = document.createElement("option");
    o.value = s.code;
    o.textContent = s.name;
    serviceSelect.appendChild(o);
  });
  serviceSelect.addEventListener("change", function () { pickService(serviceSelect.value); });

  function pickService(code) {
    chosen.service = code;
    chosen.slot = null;
    $("bk-step-details").hidden = true;
    var box = $("bk-days");
    box.textContent = "";
    var buttons = {};
    days().forEach(function (day) {
      var b = button(dayLabel(day), "", function () { pickDay(day); });
      b.dataset.day = day;
      buttons[day] = b;
      box.appendChild(b);
    });
    // Start on the first day that still has a free time.
    var list = days();
    (function tryDay(i) {
      if (i >= list.length) { pickDay(list[0]); buttons[list[0]].setAttribute("aria-checked", "true"); return; }
      call("GET", "/centres/" + encodeURIComponent(cfg.centre) + "/slots?service=" + encodeURIComponent(code) + "&date=" + list[i])
        .then(function (r) {
          var free = r.status === 200 && r.data.slots.some(function (s) { return s.free > 0; });
          if (free) { buttons[list[i]].click(); } else { tryDay(i + 1); }
        });
    })(0);
  }

  function pickDay(day) {
    chosen.day = day;
    chosen.slot = null;
    $("bk-step-details").hidden = true;
    var box = $("bk-slots");
    box.textContent = "";
    $("bk-slots-note").textContent = "";
    call("GET", "/centres/" + encodeURIComponent(cfg.centre) + "/slots?service=" + encodeURIComponent(chosen.service) + "&date=" + day)
      .then(function (r) {
        if (r.status !== 200) { $("bk-slots-note").textContent = r.data.message || S.failed; return; }
        var any = false;
        r.data.slots.forEach(function (slot) {
          var b = button(slot.local, slot.free > 0 ? t(S.places_left, { n: slot.free }) : S.full, function () {
            chosen.slot = slot.start;
            $("bk-step-details").hidden = false;
            $("bk-name").focus();
          });
          b.dataset.slot = slot.start;
          if (slot.free <= 0) { b.disabled = true; } else { any = true; }
          box.appendChild(b);
        });
        if (!any) $("bk-slots-note").textContent = S.no_times;
      }, function () { $("bk-slots-note").textContent = S.failed; });
  }

  $("bk-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("bk-error").textContent = "";
    $("bk-book").disabled = true;
    call("POST", "/centres/" + encodeURIComponent(cfg.centre) + "/appointments", {
      service: chosen.service, slot: chosen.slot, name: $("bk-name").value, phone: $("bk-phone").value, language: cfg.lang,
    }).then(function (r) {
      $("bk-book").disabled = false;
      if (r.status !== 201) {
        $("bk-error").textContent = r.data.message || S.failed;
        if (r.data.field === "name") $("bk-name").focus();
        if (r.data.field === "phone") $("bk-phone").focus();
        if (r.data.error === "slot_full") pickDay(chosen.day);
        return;
      }
      chosen.code = r.data.code;
      $("bk-step-details").hidden = true;
      $("bk-step-otp").hidden = false;
      $("bk-otp-text").textContent = t(S.code_sent, { phone: r.data.phone });
      $("bk-otp").focus();
    }, function () { $("bk-book").disabled = false; $("bk-error").textContent = S.failed; });
  });

  $("bk-otp-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("bk-otp-error").textContent = "";
    call("POST", "/appointments/" + encodeURIComponent(chosen.code) + "/verify", { otp: $("bk-otp").value })
      .then(function (r) {
        if (r.status !== 200) { $("bk-otp-error").textContent = r.data.message || S.failed; return; }
        window.location.assign("/book/" + encodeURIComponent(cfg.centre) + "/" + encodeURIComponent(chosen.code) + "?lang=" + cfg.lang);
      }, function () { $("bk-otp-error").textContent = S.failed; });
  });

  if (cfg.services.length) pickService(cfg.services[0].code);
})();
