// Polls an import job's progress while it runs and reloads the page when it has finished.
// The status URL comes from the script tag's data-status-url (no inline script: the CSP forbids it).
(function () {
  var script = document.currentScript;
  var url = script && script.dataset.statusUrl;
  if (!url) return;
  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      if (s.finished) { window.location.reload(); return; }
      var bar = document.getElementById("progress");
      bar.max = s.rows_total || 1; bar.value = s.rows_done;
      document.getElementById("progress-text").textContent = s.rows_done + " of " + s.rows_total + " rows";
      setTimeout(poll, 1000);
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
