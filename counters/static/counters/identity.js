/* This browser tab's console id: one per tab (sessionStorage survives a reload of the tab,
 * a new tab gets its own). The server lets one console act for a counter at a time. */
(function () {
  "use strict";
  var KEY = "khidmat.console";
  var id = null;
  try { id = window.sessionStorage.getItem(KEY); } catch (e) { id = null; }
  if (!id || !/^[0-9a-f]{32}$/.test(id)) {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    id = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    try { window.sessionStorage.setItem(KEY, id); } catch (e) { /* private mode: one id per page */ }
  }
  window.KhidmatConsoleId = id;
})();
