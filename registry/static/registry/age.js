// Shows the age at diagnosis (days) as the coordinator types the dates. Display only:
// the registry computes and checks the age itself when the patient is saved.
(function () {
  var birth = document.getElementById("id_date_of_birth");
  var diagnosis = document.getElementById("id_diagnosis_date");
  var out = document.getElementById("age-at-diagnosis");
  if (!birth || !diagnosis || !out) return;
  function update() {
    var b = Date.parse(birth.value), d = Date.parse(diagnosis.value);
    if (isNaN(b) || isNaN(d)) { out.textContent = ""; return; }
    var days = Math.round((d - b) / 86400000);
    out.textContent = "Age at diagnosis: " + days + " days" +
      (days < 0 ? " (diagnosis before birth?)" : days >= 365 ? " (not an infant: under 365 days only)" : days < 90 ? " (under 3 months)" : "");
  }
  birth.addEventListener("input", update);
  diagnosis.addEventListener("input", update);
  update();
})();
