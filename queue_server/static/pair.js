// The pairing form (pair.html): no inline script, so the Content-Security-Policy can forbid it.
(function () {
  "use strict";
  var form = document.getElementById("pair-form");
  if (!form) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var err = document.getElementById("pair-error");
    Khidmat.api("POST", "/api/v1/devices/pair", {
      key: document.getElementById("device-key").value,
      kind: form.dataset.kind,
      centre: form.dataset.centre
    }).then(function (r) {
      if (r.ok) { window.location.reload(); return; }
      err.textContent = (r.data && r.data.message) || form.dataset.failed;
      err.hidden = false;
    });
  });
  // A pairing link from the administration page carries the key in the fragment, which the
  // browser never sends to the server: take it, drop it from the address, and pair.
  if (window.location.hash.indexOf("#pair=") === 0) {
    document.getElementById("device-key").value = decodeURIComponent(window.location.hash.slice(6));
    history.replaceState(null, "", window.location.pathname + window.location.search);
    form.requestSubmit();
  }
})();
