// The desk's only script of its own: keeps half-written answers, prints code sheets.
// Everything works without it; htmx (vendor/htmx.min.js) adds partial page updates.
(function () {
  "use strict";
  var PREFIX = "frontline-draft:";

  function restoreDrafts(root) {
    root.querySelectorAll("textarea[data-draft]").forEach(function (area) {
      var key = PREFIX + area.dataset.draft;
      if (!area.value) {
        var saved = window.sessionStorage.getItem(key);
        if (saved) { area.value = saved; }
      }
      area.addEventListener("input", function () {
        window.sessionStorage.setItem(key, area.value);
      });
      if (area.form) {
        area.form.addEventListener("submit", function () {
          window.sessionStorage.removeItem(key);
        });
      }
    });
  }

  function wirePrint(root) {
    root.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function wire(root) { restoreDrafts(root); wirePrint(root); }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:load", function (event) { wire(event.target); });
})();
