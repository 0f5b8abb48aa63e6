/* honed dashboard: a run page that updates itself while the run is in progress. The server
   sends an event whenever the run records something; the page then fetches its views again
   (server-rendered, escaped HTML from this origin) and keeps the matrix filters as they were. */
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.events || typeof EventSource === "undefined") { return; }

  function refresh() {
    var checked = {};
    live.querySelectorAll("input[type=checkbox]").forEach(function (box) { checked[box.className] = box.checked; });
    return fetch(live.dataset.fragment, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      live.innerHTML = html;
      live.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        if (box.className in checked) { box.checked = checked[box.className]; }
      });
      live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
      document.dispatchEvent(new Event("honed:swapped"));
    });
  }

  var source = new EventSource(live.dataset.events);
  source.addEventListener("update", refresh);
  source.addEventListener("done", function () {
    source.close();
    refresh().then(function () { live.dataset.done = "1"; });
  });
})();
