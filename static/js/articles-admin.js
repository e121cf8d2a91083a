// Live preview of an article's Markdown body in the admin: the server renders and sanitises it
// exactly as readers will see it, so what staff preview is what gets published.
(function () {
  "use strict";
  function csrfToken(form) {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function start() {
    var body = document.getElementById("id_body");
    var preview = document.querySelector(".article-body-preview[data-preview-url]");
    if (!body || !preview) { return; }
    var timer = null;
    var latest = 0;
    function refresh() {
      var request = ++latest;
      var data = new FormData();
      data.append("body", body.value);
      fetch(preview.getAttribute("data-preview-url"), {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(body.form) }
      }).then(function (response) {
        if (!response.ok) { throw new Error("preview failed: " + response.status); }
        return response.text();
      }).then(function (html) {
        // Ignore answers that arrive after a newer request; the HTML is sanitised server-side.
        if (request === latest) { preview.innerHTML = html; }
      }).catch(function () {
        if (request === latest) { preview.textContent = "Preview unavailable; it will show after saving."; }
      });
    }
    body.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    });
    if (!preview.innerHTML.trim() && body.value.trim()) { refresh(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
