// Accessible names and roles the widgets Django's admin ships leave out (found by axe in
// tests/e2e/test_accessibility.py). The widgets build and rebuild their markup in the browser,
// so the fixes are applied again whenever the page changes.
(function () {
  "use strict";
  function labelText(id) {
    var label = id && document.querySelector("label[for='" + id + "']");
    return label ? label.textContent.replace(/:\s*$/, "").trim() : "";
  }
  function fix() {
    // The filter box's magnifier icon carries an aria-label, which a bare span may not have.
    document.querySelectorAll(".help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    // Autocomplete (select2) search boxes have no label of their own: name them after the field.
    document.querySelectorAll(".select2-search__field:not([aria-label])").forEach(function (box) {
      var container = box.closest(".select2");
      var select = container && container.previousElementSibling;
      var name = select ? labelText(select.id) : "";
      if (name) { box.setAttribute("aria-label", "Search " + name.toLowerCase()); }
    });
    // Split date and time inputs sit beside plain "Date:" and "Time:" text, not labels.
    document.querySelectorAll("p.datetime input:not([aria-label])").forEach(function (input) {
      var row = input.closest(".flex-container");
      var label = row && row.querySelector("label");
      var field = label ? label.textContent.replace(/:\s*$/, "").trim() : "";
      var part = /_1$/.test(input.id) ? "time" : "date";
      input.setAttribute("aria-label", (field ? field + ", " : "") + part);
    });
  }
  function start() {
    fix();
    new MutationObserver(fix).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
