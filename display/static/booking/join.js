/* Joining the queue from the phone: a service and a mobile number, then the token's own
 * tracking page (its place, and the check-in code for the kiosk). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("join-config").textContent);
  var form = document.getElementById("join-form");
  if (!form) return;
  var select = document.getElementById("join-service");
  cfg.services.forEach(function (s) {
    var o = document.createElement("option");
    o.value = s.code;
    o.textContent = s.name;
    select.appendChild(o);
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var error = document.getElementById("join-error");
    var button = document.getElementById("join-go");
    error.textContent = "";
    button.disabled = true;
    fetch("/api/v1/centres/" + encodeURIComponent(cfg.centre) + "/remote-tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "Accept-Language": cfg.lang },
      body: JSON.stringify({ service: select.value, phone: document.getElementById("join-phone").value, language: cfg.lang }),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        button.disabled = false;
        if (r.status === 201) { window.location.assign("/t/" + encodeURIComponent(data.public_code) + "?lang=" + cfg.lang); return; }
        error.textContent = data.message || cfg.strings.failed;
      });
    }, function () { button.disabled = false; error.textContent = cfg.strings.failed; });
  });
})();
