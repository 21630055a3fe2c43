// The site menu's disclosures: a link to a hub page becomes a button that shows and hides its list.
// Without this script the link opens the hub page, which lists the same pages.
(function () {
  "use strict";

  function setUp(menu) {
    var link = menu.querySelector("[data-nav-toggle]");
    var list = menu.querySelector(".nav-menu__list");
    if (!link || !list) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = link.className;
    button.textContent = link.textContent;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", list.id);
    if (link.hasAttribute("aria-current")) button.setAttribute("data-current", "true");
    link.replaceWith(button);

    function items() {
      return Array.prototype.slice.call(list.querySelectorAll("a"));
    }
    function open(focusFirst) {
      list.hidden = false;
      button.setAttribute("aria-expanded", "true");
      if (focusFirst) items()[0].focus();
    }
    function close(returnFocus) {
      list.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (returnFocus) button.focus();
    }
    button.addEventListener("click", function () {
      if (list.hidden) open(false);
      else close(false);
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        open(true);
      }
    });
    list.addEventListener("keydown", function (event) {
      var links = items();
      var at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        links[(at + step + links.length) % links.length].focus();
      } else if (event.key === "Home") {
        event.preventDefault();
        links[0].focus();
      } else if (event.key === "End") {
        event.preventDefault();
        links[links.length - 1].focus();
      }
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close(true);
      }
    });
    menu.addEventListener("focusout", function (event) {
      if (!menu.contains(event.relatedTarget)) close(false);
    });
    document.addEventListener("click", function (event) {
      if (!menu.contains(event.target)) close(false);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-nav-menu]"), setUp);
})();
