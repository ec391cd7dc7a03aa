/* The one shared realtime client every screen uses.
 * Connects websocket-only, authenticates (a device key or the browser session cookie),
 * joins a screen, applies `snapshot` and then the events (several of one change come as one
 * `changes`), shows when the link is down,
 * and reconnects with backoff; every (re)join brings a fresh snapshot. */
(function () {
  "use strict";
  function live(options) {
    var handlers = options.on || {};
    var status = document.getElementById("link-status");
    var socket = io({
      transports: ["websocket"],
      auth: options.key ? { key: options.key } : {},
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 8000,
      randomizationFactor: 0.5,
      timeout: 8000,
    });
    var state = { connected: false, joined: false };
    function setDown(down) {
      state.connected = !down;
      document.documentElement.dataset.link = down ? "down" : "up";
      if (status) status.hidden = !down;
      if (handlers.link) handlers.link(!down);
    }
    // The server is there but its database is not: the screen is offline until it is back.
    var TRANSIENT = ["database_unavailable", "busy", "storage_full"];
    function join(afresh) {
      socket.emit("join", options.join, function (reply) {
        state.joined = !!(reply && reply.ok);
        if (state.joined) { if (afresh === true) reloadIfUpgraded(reply.client); return; }
        if (reply && TRANSIENT.indexOf(reply.error) >= 0) {
          setDown(true);
          setTimeout(function () { if (socket.connected) join(afresh); }, 3000);
        } else if (handlers.refused) handlers.refused(reply || {});
      });
    }
    socket.on("service_state", function (payload) {
      if (!payload || !socket.connected) return;
      if (payload.database === "down") setDown(true);
      else if (payload.database === "up") { setDown(false); join(); }
    });
    socket.on("connect", function () { setDown(false); join(true); });
    socket.on("disconnect", function () { setDown(true); });
    socket.on("connect_error", function () { setDown(true); });
    socket.on("refresh", join);
    ["snapshot", "token_called", "token_changed", "position", "queue_changed", "counter_changed", "alert"].forEach(function (name) {
      socket.on(name, function (payload) { if (handlers[name]) handlers[name](payload); });
    });
    // One change's several events come in one delivery, [[event, payload], ...]: each goes
    // to whoever listens for it, in order, as if it had come alone.
    socket.on("changes", function (list) {
      (Array.isArray(list) ? list : []).forEach(function (item) {
        if (!Array.isArray(item) || typeof item[0] !== "string" || item[0] === "changes") return;
        socket.listeners(item[0]).forEach(function (listener) { listener(item[1]); });
      });
    });
    // A safety net for events published where no server could relay them (e.g. a CLI
    // command on a one-process install): redraw from a fresh snapshot now and then.
    setInterval(function () { if (state.connected) join(); }, options.resyncMs || 60000);
    setDown(true);
    return {
      socket: socket,
      state: state,
      emit: function (name, data) {
        return new Promise(function (resolve) { socket.timeout(8000).emit(name, data, function (err, reply) {
          resolve(err ? { ok: false, error: "timeout", message: options.timeoutMessage || "No answer from the server." } : reply);
        }); });
      },
    };
  }
  /* A page an upgrade left behind (its scripts are not the server's any more) loads the
   * new ones: checked when the socket (re)connects, as it does after a server restart, and
   * not more than once in five minutes (two processes mid-upgrade may disagree). */
  function reloadIfUpgraded(serverVersion) {
    var meta = document.querySelector('meta[name="khidmat-client"]');
    if (!meta || !meta.content || !serverVersion || serverVersion === meta.content) return;
    var last = 0;
    try { last = Number(window.sessionStorage.getItem("khidmat-reloaded")) || 0; } catch (e) { /* private mode */ }
    if (Date.now() - last < 300000) return;
    try { window.sessionStorage.setItem("khidmat-reloaded", String(Date.now())); } catch (e) { /* private mode */ }
    window.location.reload();
  }
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  /* fetch() for the JSON API with the CSRF header and JSON errors. */
  function api(method, url, body, key) {
    var headers = { "Accept": "application/json", "X-CSRFToken": csrfToken() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Authorization"] = "Bearer " + key;
    return fetch(url, { method: method, headers: headers, credentials: "same-origin",
                        body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        if (r.status === 204) return { ok: true, status: 204, data: null };
        return r.json().then(function (d) { return { ok: r.ok, status: r.status, data: d }; },
                             function () { return { ok: false, status: r.status, data: { error: "bad_response", message: "" } }; });
      }, function () { return { ok: false, status: 0, data: { error: "offline", message: "" } }; });
  }
  /* el("li", {cls: "x", text: "…", data: {id: 3}, "aria-label": "…"}, [child, "text"]):
   * an element built from text only (never HTML), for the screens that draw lists. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k === "data") Object.keys(attrs.data).forEach(function (d) { node.dataset[d] = attrs.data[d]; });
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  /* fill("Opens at {time}.", {time: "08:00"}): a translated template with its values set in,
   * each value isolated (FSI … PDI) so that a Latin value (a time, a token number) keeps its
   * own order and the punctuation round it stays where the Urdu sentence puts it. Digits are
   * Latin on every screen, in both languages (one style: the token numbers' own); only the
   * printed ticket spells Urdu digits. */
  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? "\u2068" + String(values[key]) + "\u2069" : whole;
    });
  }

  window.Khidmat = { live: live, api: api, csrfToken: csrfToken, el: el, fill: fill };
})();
