/* The scope and period picker: show only the "which" choices of the chosen
   kind, and switch the period to "custom" when someone types a date.
   Without JavaScript every choice stays visible and the server checks them. */
(function () {
  "use strict";

  function syncWhich(form) {
    var kindSelect = form.querySelector("[data-picker-kind]");
    var which = form.querySelector("[data-picker-which]");
    if (!kindSelect || !which) return;
    var kind = kindSelect.value;
    var firstEnabled = null;
    var selectedStillValid = false;
    which.querySelectorAll("optgroup").forEach(function (group) {
      var match = group.dataset.kind === kind;
      group.hidden = !match;
      group.disabled = !match;
    });
    which.querySelectorAll("option").forEach(function (option) {
      var usable = option.dataset.kind === kind;
      if (usable && !option.disabled && firstEnabled === null) firstEnabled = option;
      if (usable && option.selected) selectedStillValid = true;
    });
    var hasChoices = firstEnabled !== null;
    which.disabled = !hasChoices;
    which.closest(".picker__field").hidden = !hasChoices;
    if (hasChoices && !selectedStillValid) firstEnabled.selected = true;
  }

  function init(form) {
    var kindSelect = form.querySelector("[data-picker-kind]");
    var period = form.querySelector("[data-picker-period]");
    if (kindSelect) {
      kindSelect.addEventListener("change", function () { syncWhich(form); });
      syncWhich(form);
    }
    form.querySelectorAll("[data-picker-date]").forEach(function (input) {
      input.addEventListener("change", function () { period.value = "custom"; });
    });
  }

  function start() {
    document.querySelectorAll("form[data-picker]").forEach(init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
