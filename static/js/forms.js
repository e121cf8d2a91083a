// Forms on cached pages, and campaign attribution for visitors whose page came from the cache.
//
// A page a shared cache serves to everyone cannot carry this visitor's CSRF token or a spam
// timestamp that says when they started. When the visitor starts on a form (or sends it), this
// asks the uncached token endpoint for both, once per page, and fills them in. If that fails the
// form is sent anyway: the site answers with the form filled in as typed, ready to send again.
//
// The application never sees the landing URL of a page served from the cache, so UTM parameters,
// `ref` and an external referrer are kept in a first-party cookie that the application reads on
// the visitor's next request that reaches it (skilldacity/attribution.py).
(function () {
  "use strict";
  var script = document.currentScript;
  var tokenUrl = (script && script.getAttribute("data-token-url")) || "/forms/token/";
  var CSRF_FIELD = "csrfmiddlewaretoken";
  var STARTED_SUFFIX = "form_started";
  var fetched = null;

  function needsToken(form) {
    var input = form.querySelector('input[name="' + CSRF_FIELD + '"]');
    return input !== null && input.value === "";
  }

  function fetchToken() {
    if (!fetched) {
      fetched = fetch(tokenUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("token endpoint answered " + response.status); }
          return response.json();
        })
        .catch(function (error) {
          fetched = null; // a later attempt may succeed
          throw error;
        });
    }
    return fetched;
  }

  function fill(form, token) {
    form.querySelectorAll('input[name="' + CSRF_FIELD + '"]').forEach(function (input) {
      input.value = token.csrfToken;
    });
    form.querySelectorAll('input[type="hidden"]').forEach(function (input) {
      var name = input.name || "";
      if (name.slice(-STARTED_SUFFIX.length) === STARTED_SUFFIX && input.value === "") {
        input.value = token.formStarted;
      }
    });
  }

  function fillAll(token) {
    document.querySelectorAll("form").forEach(function (form) {
      if (needsToken(form)) { fill(form, token); }
    });
    return token;
  }

  // Starting on a form is when the timestamp should be taken: "too fast" is measured from here.
  function started(event) {
    var form = event.target && event.target.form;
    if (form && needsToken(form)) {
      fetchToken().then(fillAll, function () {});
    }
  }
  document.addEventListener("focusin", started);
  document.addEventListener("input", started);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!needsToken(form) || form.hasAttribute("data-token-tried")) { return; }
    event.preventDefault();
    var submitter = event.submitter || null;
    var send = function () {
      form.setAttribute("data-token-tried", "");
      if (form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
    };
    fetchToken().then(fillAll).then(send, send);
  });

  // --- Attribution -------------------------------------------------------------------------
  var COOKIE = "skd_attribution";
  var KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "ref"];
  var MAX_LENGTH = 200;

  function readCookie() {
    var prefix = COOKIE + "=";
    var found = document.cookie.split("; ").filter(function (part) {
      return part.indexOf(prefix) === 0;
    })[0];
    return found ? new URLSearchParams(decodeURIComponent(found.slice(prefix.length))) : null;
  }

  function externalReferrer() {
    try {
      var referrer = document.referrer ? new URL(document.referrer) : null;
      return referrer && referrer.hostname !== location.hostname ? document.referrer : "";
    } catch (error) {
      return "";
    }
  }

  function remember() {
    var params = new URLSearchParams(location.search);
    var landing = new URLSearchParams();
    KEYS.forEach(function (key) {
      var value = params.get(key);
      if (value) { landing.set(key, value.slice(0, MAX_LENGTH)); }
    });
    var referrer = externalReferrer();
    if (referrer) { landing.set("referrer", referrer.slice(0, MAX_LENGTH)); }
    if (!Array.from(landing.keys()).length) { return; }
    var kept = readCookie();
    if (kept) {
      // First touch keeps the credit; only a referral code not yet known is added.
      if (kept.get("ref") || !landing.get("ref")) { return; }
      kept.set("ref", landing.get("ref"));
      landing = kept;
    } else {
      landing.set("landing_path", (location.pathname + location.search).slice(0, MAX_LENGTH));
    }
    document.cookie = COOKIE + "=" + encodeURIComponent(landing.toString()) +
      "; path=/; max-age=" + 30 * 24 * 3600 + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  remember();
})();
