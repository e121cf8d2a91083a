// The phone-width menu button. It was the only thing Bootstrap's 80 KB script bundle did on this
// site; parsing that bundle was most of the main thread's work on a phone (Lighthouse).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-menu-toggle]");
    if (!button) { return; }
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    var open = menu.classList.toggle("show");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
