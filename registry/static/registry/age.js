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
    // The words come from the page (data-* attributes), in its language.
    var words = out.dataset;
    var note = days < 0 ? words.beforeBirth : days >= 365 ? words.notInfant : days < 90 ? words.young : "";
    out.textContent = words.age.replace("{days}", days) + (note ? " " + note : "");
  }
  birth.addEventListener("input", update);
  diagnosis.addEventListener("input", update);
  update();
})();
