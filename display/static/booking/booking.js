/* One booking's page: when to arrive, and cancelling it. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("book-config").textContent);
  var S = cfg.strings;
  var arrive = document.getElementById("bk-arrive");
  if (arrive) arrive.textContent = S.arrive.replace("{from}", cfg.arrive_from).replace("{to}", cfg.arrive_to);
  var cancel = document.getElementById("bk-cancel");
  if (!cancel) return;
  cancel.addEventListener("click", function () {
    cancel.disabled = true;
    fetch("/api/v1/appointments/" + encodeURIComponent(cfg.booking.code) + "/cancel", {
      method: "POST", headers: { "Accept": "application/json", "Accept-Language": cfg.lang },
    }).then(function (r) {
      return r.json().then(function (data) {
        var msg = document.getElementById("bk-cancel-msg");
        if (r.status === 200) { msg.textContent = S.cancelled; window.location.reload(); }
        else { msg.textContent = data.message || S.failed; cancel.disabled = false; }
      });
    }, function () { cancel.disabled = false; document.getElementById("bk-cancel-msg").textContent = S.failed; });
  });
})();
