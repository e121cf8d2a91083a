// "Copy link" on article pages: copies the canonical URL, says so for screen readers too.
(function () {
  "use strict";
  function fallbackCopy(text) {
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "visually-hidden";
    document.body.appendChild(field);
    field.select();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    document.body.removeChild(field);
    return copied ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-link]");
    if (!button) { return; }
    var url = button.getAttribute("data-copy-link");
    var status = button.parentElement.querySelector(".copy-status");
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(url)
      : fallbackCopy(url);
    copy.then(function () {
      if (status) { status.textContent = "Link copied"; }
    }, function () {
      if (status) { status.textContent = "Copy this link: " + url; }
    });
  });
})();
