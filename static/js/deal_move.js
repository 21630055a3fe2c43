/* The deal page's "Move to stage" form: the lost reason is asked for only when
   the chosen stage is a lost one, and the form is not sent without it.
   Without JavaScript the field stays visible and the server asks instead. */
(function () {
  "use strict";

  function init(form) {
    var stage = form.querySelector("[data-move-stage]");
    var field = form.querySelector("[data-lost-field]");
    var reason = field.querySelector("select");
    var error = field.querySelector("[data-lost-error]");

    function isLost() {
      var option = stage.options[stage.selectedIndex];
      return Boolean(option) && option.dataset.kind === "lost";
    }

    function clearError() {
      error.hidden = true;
      reason.removeAttribute("aria-invalid");
    }

    function sync() {
      var lost = isLost();
      field.hidden = !lost;
      reason.disabled = !lost;
      reason.setAttribute("aria-required", lost ? "true" : "false");
      if (!lost) clearError();
    }

    stage.addEventListener("change", sync);
    reason.addEventListener("change", function () { if (reason.value) clearError(); });
    form.addEventListener("submit", function (event) {
      if (isLost() && !reason.value) {
        event.preventDefault();
        error.hidden = false;
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
      }
    });
    sync();
  }

  function start() {
    document.querySelectorAll("form[data-deal-move]").forEach(init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
