// The OAuth2 popup's last page: tells the page that opened it how the authorization
// ended (same origin only), then closes. Without an opener it just stays readable.
(function () {
  "use strict";
  var outcome = document.getElementById("outcome");
  if (!outcome || !window.opener) { return; }
  var ok = outcome.getAttribute("data-ok") === "true";
  window.opener.postMessage({
    source: "thinkfleet-oauth",
    ok: ok,
    connection: ok ? { external_id: outcome.getAttribute("data-external-id") } : null,
    error: ok ? null : outcome.getAttribute("data-message")
  }, window.location.origin);
  window.close();
})();
