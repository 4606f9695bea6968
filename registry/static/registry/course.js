// The course on one page: on the patient page each event's form opens in place, is saved with
// fetch and the course is swapped in, then the next event's form opens ("Save and add ...").
// Keyboard first: focus goes to the first field (or the first field in error), Enter saves,
// Esc cancels. Without JavaScript every link and form still works as a page of its own.
// Also: "day N after diagnosis" beside each date as it is typed, and the suggested study ID
// of the chosen trial on the registration form. Display only: the server checks everything.
(function () {
  "use strict";
  var FRAGMENT_HEADER = "X-Registry-Fragment";
  var ISO = /^(\d{4})-(\d{2})-(\d{2})$/;
  var opener = null; // the link that opened the form in place, focused again on Esc

  function isoDay(text) {
    var m = ISO.exec((text || "").trim());
    if (!m) return NaN;
    var t = Date.UTC(+m[1], +m[2] - 1, +m[3]);
    var d = new Date(t);
    return d.getUTCDate() === +m[3] && d.getUTCMonth() === +m[2] - 1 ? t : NaN;
  }

  function updateDayCount(input) {
    var form = input.form;
    if (!form || !form.dataset.diagnosis) return;
    var out = form.querySelector('.day-count[data-for="' + input.id + '"]');
    if (!out) return;
    var day = isoDay(input.value), diagnosis = isoDay(form.dataset.diagnosis);
    if (isNaN(day) || isNaN(diagnosis)) { out.textContent = ""; return; }
    var days = Math.round((day - diagnosis) / 86400000);
    var words = days < 0 ? out.dataset.before : out.dataset.day;
    out.textContent = words.replace("{days}", Math.abs(days));
  }

  function fragmentUrl(url) {
    var u = new URL(url, window.location.href);
    u.searchParams.set("fragment", "1");
    return u.toString();
  }

  function wholePageUrl(url) {
    var u = new URL(url, window.location.href);
    u.searchParams.delete("fragment");
    return u.toString();
  }

  function container() { return document.getElementById("course-form"); }

  function focusFirstField(box) {
    var field = box.querySelector(".has-error input, .has-error select, .has-error textarea") ||
      box.querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus();
  }

  function showForm(html) {
    var box = container();
    if (!box) return;
    box.innerHTML = html;
    box.querySelectorAll("input.iso-date").forEach(updateDayCount);
    focusFirstField(box);
  }

  function showCourse(html) {
    var old = document.getElementById("course-section");
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var section = holder.querySelector("#course-section");
    old.replaceWith(section);
    if (section.dataset.nextForm) {
      openForm(section.dataset.nextForm, null);
    } else {
      var saved = section.querySelector("#course-saved") || section.querySelector("h2");
      if (saved) { saved.tabIndex = -1; saved.focus(); }
    }
  }

  // A response that is not one of our fragments (a refusal, a redirect to a page): show it whole.
  function handle(response, pageUrl) {
    var kind = response.headers.get(FRAGMENT_HEADER);
    if (kind === "form") return response.text().then(showForm);
    if (kind === "course") return response.text().then(showCourse);
    window.location.assign(response.redirected ? response.url : pageUrl);
  }

  function openForm(url, link) {
    opener = link;
    return fetch(fragmentUrl(url), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return handle(response, wholePageUrl(url)); });
  }

  function submitForm(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    var action = form.getAttribute("action") || window.location.pathname;
    return fetch(fragmentUrl(action), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    }).then(function (response) { return handle(response, wholePageUrl(action)); })
      .catch(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  }

  function cancel() {
    var box = container();
    if (!box || !box.firstChild) return;
    box.innerHTML = "";
    var target = opener && document.contains(opener) ? opener : document.querySelector("#course-section h2");
    if (target) { if (!opener) target.tabIndex = -1; target.focus(); }
    opener = null;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("#course-section a[data-in-place]");
    if (!link || !container() || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    openForm(link.href, link);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("#course-form")) return;
    event.preventDefault();
    submitForm(form, event.submitter);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.target.closest && event.target.closest("#course-form")) {
      event.preventDefault();
      cancel();
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("#course-form a[data-cancel]");
    if (!link) return;
    event.preventDefault();
    cancel();
  });

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input.iso-date")) updateDayCount(event.target);
    if (event.target.matches && event.target.matches("input[data-regimen-codes]")) updateRegimenNote(event.target);
  });

  // Salvage regimen: whether the typed text is a listed regimen (coded on save) or "other".
  function updateRegimenNote(input) {
    var note = document.querySelector('.regimen-coding[data-for="' + input.id + '"]');
    if (!note) return;
    var text = input.value.normalize("NFKC").replace(/\s+/g, " ").trim().toLowerCase();
    if (!text) {
      note.textContent = "";
      return;
    }
    var code = JSON.parse(input.dataset.regimenCodes)[text];
    note.textContent = code ? note.dataset.listed.replace("{code}", code) : note.dataset.other;
  }
  document.querySelectorAll("input.iso-date").forEach(updateDayCount);

  // Registration: the next free study ID of the chosen trial, unless the coordinator typed another.
  var studyId = document.getElementById("id_study_id");
  var trial = document.getElementById("id_trial");
  if (studyId && trial && studyId.dataset.suggestions) {
    var suggestions = JSON.parse(studyId.dataset.suggestions);
    var suggested = studyId.value;
    trial.addEventListener("change", function () {
      var next = suggestions[trial.value] || "";
      if (!studyId.value || studyId.value === suggested) studyId.value = next;
      suggested = next;
    });
  }
})();
