// relay dashboard: live updates without a reload, and a confirmation for cancelling.
// Written for this package (no library, no build step). The server sends "change" over
// /api/live whenever the store commits; the page then fetches itself again and swaps
// each [data-live] block whose content changed, except a block that the user is typing
// in (it is swapped at the next change after that).
"use strict";

(function () {
  var state = document.getElementById("live-state");
  var busy = false;
  var again = false;

  function mark(name) {
    document.documentElement.dataset.live = name;
    if (state) { state.className = "live-state " + name; state.title = "live updates: " + name; }
  }

  function isEditing(block) {
    if (block.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    var fields = block.querySelectorAll("input[type=text], input[type=password], textarea");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    return false;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live]").forEach(function (block) {
      var next = block.id && fresh.getElementById(block.id);
      if (next && next.innerHTML !== block.innerHTML && !isEditing(block)) {
        block.innerHTML = next.innerHTML;
      }
    });
    document.documentElement.dataset.refreshed = String(Date.now());
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { return null; }
        return response.text();
      })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { mark("offline"); })
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function listen() {
    if (!document.querySelector("[data-live]") || !window.EventSource) { return; }
    var source = new EventSource("/api/live");
    source.addEventListener("ready", function () { mark("connected"); refresh(); });
    source.addEventListener("change", refresh);
    source.onerror = function () { mark("reconnecting"); };
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  mark("off");
  listen();
})();
