/* Recompute without a full reload: POST the form, poll the runs' status, then swap in the
   freshly rendered report. Without JavaScript the form posts normally and the page redirects. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-recompute]");
  var box = document.getElementById("progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector(".progress-text");
  var body = document.getElementById("report-body");

  // A message of the page (data-text-* on the progress box, translated there) with {name} filled in.
  function say(name, values) {
    return (box.dataset[name] || name).replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }
  var button = form ? form.querySelector("button[type=submit]") : null;

  function show(done, total, message) {
    box.hidden = false;
    bar.max = Math.max(total, 1);
    bar.value = done;
    var progress = say("textProgress", {done: done, total: total});
    bar.setAttribute("aria-valuetext", progress);
    text.textContent = message || progress;
  }

  function finish(ok, message) {
    box.classList.add(ok ? "done" : "failed");
    text.textContent = message;
    if (button) { button.disabled = false; }
  }

  function swap(fragmentUrl) {
    return fetch(fragmentUrl, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { body.innerHTML = html; });
  }

  function poll(statusUrl, fragmentUrl) {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (s) {
        show(s.done, s.total);
        if (!s.finished) { window.setTimeout(function () { poll(statusUrl, fragmentUrl); }, 1000); return; }
        return swap(fragmentUrl).then(function () {
          if (s.failed.length) { finish(false, say("textFailed", {names: s.failed.join(", ")})); }
          else { finish(true, say("textDone", {total: s.total})); }
        });
      })
      .catch(function (e) { finish(false, say("textLost", {error: e.message})); });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      box.classList.remove("done", "failed");
      if (button) { button.disabled = true; }
      show(0, 1, say("textStarting", {}));
      bar.removeAttribute("value");  // indeterminate until the runs are queued
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: {"Accept": "application/json", "X-Requested-With": "fetch"}
      })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (data) { show(0, data.runs.length); poll(data.status_url, data.fragment_url); })
        .catch(function (e) { finish(false, say("textNotStarted", {error: e.message})); });
    });
    // Runs already pending when the page was served: follow them.
    if (form.dataset.pending) {
      var url = form.dataset.statusUrl + (form.dataset.statusUrl.indexOf("?") < 0 ? "?" : "&") + "runs=" + form.dataset.pending;
      show(0, form.dataset.pending.split(",").length);
      poll(url, form.dataset.fragmentUrl);
    }
  }
})();
