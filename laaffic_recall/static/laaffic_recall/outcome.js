// A cancel whose outcome is not known yet (includes/outcome_unknown.html): ask the site
// every few seconds whether it is known now, then reload the page (data-reload) or put
// the outcome in place of the sentence. The site only reads its audit log to answer.
(function () {
  "use strict";
  const EVERY_MS = 5000, FOR_MS = 15 * 60 * 1000;
  function watch(box) {
    if (box.dataset.watched) return;
    box.dataset.watched = "1";
    const started = Date.now();
    const timer = setInterval(function () {
      if (Date.now() - started > FOR_MS) { clearInterval(timer); return; }
      fetch(box.dataset.outcomeUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { known: false }; })
        .then(function (answer) {
          if (!answer.known) return;
          clearInterval(timer);
          if (box.dataset.reload) { window.location.reload(); return; }
          box.innerHTML = answer.html;
        })
        .catch(function () {});
    }, EVERY_MS);
  }
  function start() { document.querySelectorAll(".laaffic-not-known-yet[data-outcome-url]").forEach(watch); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
