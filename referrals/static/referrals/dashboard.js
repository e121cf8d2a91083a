// Copy buttons on the SkillPoints dashboard. Served from 'self' (CSP forbids inline scripts).
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (local runs): fall back to a selected textarea and execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "position-absolute start-0 top-0 opacity-0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy-target"));
      var status = document.getElementById(button.getAttribute("data-copy-status"));
      copyText(source.value || source.textContent).then(
        function () { if (status) { status.textContent = "Copied to the clipboard."; } },
        function () {
          source.select && source.select();
          if (status) { status.textContent = "Press Ctrl+C (or Cmd+C) to copy."; }
        }
      );
    });
  });
})();
