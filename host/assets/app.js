// ThinkFleet Connections: the little the pages do with JavaScript. Every page works
// without it; this adds auto-submit of the project picker, confirmation before a
// delete, an external id that follows the name, the OAuth2 popup, "New connection…"
// in a step's Connection dropdown, and copy-to-clipboard.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // A step's "New connection…" leaves for the New Connection form at once (the server
  // keeps the step's values in the way back).
  document.querySelectorAll("select[data-new-connection]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.value === "__new__") { select.form.submit(); }
    });
  });
  // The external id follows the name (as the server's default does) until it is edited.
  document.querySelectorAll("input[data-slug-from]").forEach(function (input) {
    var source = document.getElementById(input.getAttribute("data-slug-from"));
    var edited = false;
    input.addEventListener("input", function () { edited = true; });
    if (!source) { return; }
    source.addEventListener("input", function () {
      if (edited) { return; }
      var slug = source.value.toLowerCase().replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "").slice(0, 128);
      input.value = slug || "connection";
      var shown = document.getElementById("external_id-shown");
      if (shown) { shown.textContent = input.value; }
    });
  });
  // OAuth2: Connect and Reconnect open the provider in a popup; when the popup reports
  // back, the page goes to the connection (or back to the flow it was made for), or
  // shows why it did not connect.
  document.querySelectorAll("form[data-popup]").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.open("about:blank", form.target, "popup,width=560,height=720");
    });
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data ||
        event.data.source !== "thinkfleet-oauth") { return; }
    if (event.data.ok && event.data.connection) {
      var key = encodeURIComponent(event.data.connection.external_id);
      var back = document.querySelector("form[data-popup][data-return]");
      if (back) {
        window.location.assign(back.getAttribute("data-return") +
          (back.hasAttribute("data-add-connection") ? "&connection=" + key : ""));
      } else {
        window.location.assign("/connections/" + key + "?done=connected");
      }
    } else {
      var box = document.getElementById("oauth-error");
      if (box) { box.textContent = event.data.error || "Not connected."; box.hidden = false; }
    }
  });
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (navigator.clipboard) {
        navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
          button.textContent = "Copied";
        });
      }
    });
  });
})();
