// The dashboard's one script: a running run's page follows the run. It polls the run's
// status through the API and reloads the page when it changes (steps finishing show on
// the next poll), stopping once the run has ended.
"use strict";
(function () {
  const body = document.body;
  const runId = body.dataset.runId;
  if (!runId || body.dataset.runStatus !== "running") {
    return;
  }
  let steps = null;
  async function poll() {
    try {
      const response = await fetch("/api/v1/runs/" + encodeURIComponent(runId), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const detail = await response.json();
        const finished = detail.steps.length;
        if (detail.run.status !== "running" || (steps !== null && finished !== steps)) {
          window.location.reload();
          return;
        }
        steps = finished;
      }
    } catch (_) {
      // The server may be restarting: try again on the next tick.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
