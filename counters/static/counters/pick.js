/* The counter picker, by keyboard: the counter's number (Enter when it has more digits),
 * L to log out. */
(function () {
  "use strict";
  var form = document.getElementById("pick-form");
  var typed = document.getElementById("typed");
  document.getElementById("console-id").value = window.KhidmatConsoleId;
  var buttons = Array.prototype.slice.call(form.querySelectorAll("button[data-number]"));
  var buffer = "";
  function byNumber(n) {
    return buttons.filter(function (b) { return b.dataset.number === n; })[0];
  }
  function choose(n) {
    var button = byNumber(n);
    buffer = "";
    typed.textContent = "";
    if (button && !button.disabled) form.requestSubmit(button);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    var digit = /^(Digit|Numpad)([0-9])$/.exec(ev.code);
    if (digit) {
      ev.preventDefault();
      buffer += digit[2];
      typed.textContent = buffer;
      var longer = buttons.some(function (b) { return b.dataset.number !== buffer && b.dataset.number.indexOf(buffer) === 0; });
      if (!longer) choose(buffer);
      return;
    }
    if (ev.key === "Enter" && buffer) { ev.preventDefault(); choose(buffer); return; }
    if (ev.key === "Backspace" && buffer) { buffer = buffer.slice(0, -1); typed.textContent = buffer; return; }
    if (ev.key === "Escape") { buffer = ""; typed.textContent = ""; return; }
    if (ev.code === "KeyL" && ev.target.tagName !== "INPUT") {
      ev.preventDefault();
      document.getElementById("logout-form").requestSubmit();
    }
  });
  document.body.dataset.ready = "1";
})();
