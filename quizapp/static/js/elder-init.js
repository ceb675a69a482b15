// Elder mode (长辈模式) before the first paint. A classic script in <head>, on purpose:
// a module would run only after the page is drawn, and the text would jump. The device's
// own choice ("qm-elder": "1"/"0") wins over the event's default (<html data-elder-default>).
(function () {
  var root = document.documentElement;
  var choice = null;
  try { choice = window.localStorage.getItem("qm-elder"); } catch (e) { /* storage blocked */ }
  if (choice === "1" || (choice === null && root.hasAttribute("data-elder-default"))) {
    root.classList.add("elder");
  }
})();
