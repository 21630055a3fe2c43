/* The board: drag a card to another column, or open its "Move" control,
   and the deal moves on the server with the version the card was drawn from.
   Dropping on the lost column asks for the reason first. The server answers
   with the card as it now is and fresh column headers; a stale version
   answers 409 and the card is redrawn as someone else left it. */
(function () {
  "use strict";

  var board, status, dialog, pendingLost = null;

  function announce(message, kind) {
    status.textContent = "";
    status.className = "board-status" + (kind ? " board-status--" + kind : "");
    // A fresh text node after clearing makes screen readers read a repeated message again.
    window.setTimeout(function () { status.textContent = message; }, 30);
  }

  function column(stageId) {
    return board.querySelector('[data-column][data-stage="' + stageId + '"]');
  }

  function csrfToken(card) {
    var field = card.querySelector('input[name="csrfmiddlewaretoken"]');
    return field ? field.value : "";
  }

  function fromHtml(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  function placeCard(oldCard, html, stageId) {
    var fresh = fromHtml(html);
    var target = column(stageId);
    oldCard.remove();
    if (target && fresh) {
      var zone = target.querySelector("[data-dropzone]");
      zone.insertBefore(fresh, zone.firstChild);
      if (window.htmx) window.htmx.process(fresh);
    }
    return fresh;
  }

  function updateHeaders(columns) {
    Object.keys(columns || {}).forEach(function (stageId) {
      var target = column(stageId);
      if (target) target.querySelector("[data-column-meta]").innerHTML = columns[stageId];
    });
  }

  function move(card, stageId, lostReason, fromKeyboard) {
    var body = new FormData();
    body.append("stage", stageId);
    body.append("version", card.dataset.version);
    if (lostReason) body.append("lost_reason", lostReason);
    var query = board.dataset.moveQuery;
    card.classList.add("card--busy");
    card.setAttribute("aria-busy", "true");
    return fetch(card.dataset.moveUrl + (query ? "?" + query : ""), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(card) }
    })
      .then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      })
      .then(function (answer) {
        var data = answer.data;
        card.classList.remove("card--busy");
        card.removeAttribute("aria-busy");
        if (data.needs_lost_reason) {
          askLostReason(card, stageId, fromKeyboard);
          return;
        }
        if (data.card) {
          var fresh = placeCard(card, data.card, data.stage);
          updateHeaders(data.columns);
          if (fresh && fromKeyboard) {
            var link = fresh.querySelector(".card__name a");
            if (link) link.focus();
          }
        }
        announce(data.message, data.ok ? "ok" : (answer.status === 409 ? "conflict" : "error"));
      })
      .catch(function () {
        card.classList.remove("card--busy");
        card.removeAttribute("aria-busy");
        announce("The move could not be saved: the server did not answer. Try again.", "error");
      });
  }

  function askLostReason(card, stageId, fromKeyboard) {
    pendingLost = { card: card, stageId: stageId, fromKeyboard: fromKeyboard };
    dialog.querySelector("[data-lost-deal]").textContent = card.dataset.name;
    dialog.querySelector("[data-lost-error]").hidden = true;
    dialog.querySelector("select").value = "";
    dialog.showModal();
  }

  function request(card, stageId, fromKeyboard) {
    if (String(stageId) === card.dataset.stage) return;
    var target = column(stageId);
    var kind = target ? target.dataset.kind : null;
    if (!kind) {
      var option = card.querySelector('select[name="stage"] option[value="' + stageId + '"]');
      kind = option ? option.dataset.kind : "open";
    }
    if (kind === "lost") {
      askLostReason(card, stageId, fromKeyboard);
    } else {
      move(card, stageId, null, fromKeyboard);
    }
  }

  function setUpDialog() {
    var form = dialog.querySelector("[data-lost-form]");
    var select = form.querySelector("select");
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.value === "confirm" && !select.value) {
        event.preventDefault();
        var error = form.querySelector("[data-lost-error]");
        error.hidden = false;
        select.setAttribute("aria-invalid", "true");
        select.focus();
      }
    });
    dialog.addEventListener("close", function () {
      var pending = pendingLost;
      pendingLost = null;
      select.removeAttribute("aria-invalid");
      if (!pending) return;
      if (dialog.returnValue === "confirm" && select.value) {
        move(pending.card, pending.stageId, select.value, pending.fromKeyboard);
      } else {
        announce("Not moved: no lost reason was given.", "");
        var back = pending.card.querySelector('select[name="stage"]');
        if (pending.fromKeyboard && back) {
          back.closest("details").open = true;
          back.focus();
        }
      }
      dialog.returnValue = "";
    });
  }

  function setUpDragging() {
    var dragged = null;
    board.addEventListener("dragstart", function (event) {
      var card = event.target.closest && event.target.closest("[data-card]");
      if (!card) return;
      dragged = card;
      card.classList.add("card--dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.deal);
    });
    board.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("card--dragging");
      board.querySelectorAll(".column--over").forEach(function (c) { c.classList.remove("column--over"); });
      dragged = null;
    });
    board.addEventListener("dragover", function (event) {
      var target = event.target.closest && event.target.closest("[data-column]");
      if (!target || !dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      board.querySelectorAll(".column--over").forEach(function (c) {
        if (c !== target) c.classList.remove("column--over");
      });
      target.classList.add("column--over");
    });
    board.addEventListener("drop", function (event) {
      var target = event.target.closest && event.target.closest("[data-column]");
      if (!target) return;
      event.preventDefault();
      target.classList.remove("column--over");
      var card = dragged || board.querySelector('[data-card][data-deal="' + event.dataTransfer.getData("text/plain") + '"]');
      if (card) request(card, target.dataset.stage, false);
    });
  }

  function setUpMoveForms() {
    board.addEventListener("submit", function (event) {
      var form = event.target.closest("[data-move-form]");
      if (!form) return;
      event.preventDefault();
      var card = form.closest("[data-card]");
      request(card, form.querySelector('select[name="stage"]').value, true);
    });
  }

  function setUpMoveMenus() {
    // Escape closes an open "Move" control and puts the focus back on its button.
    board.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      var menu = event.target.closest && event.target.closest("details[open]");
      if (!menu) return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  }

  function setUpLoadMore() {
    document.body.addEventListener("htmx:afterSettle", function () {
      var first = board.querySelector("[data-first-new]");
      if (!first) return;
      first.removeAttribute("data-first-new");
      var link = first.querySelector(".card__name a");
      if (link) link.focus();
    });
  }

  function start() {
    board = document.querySelector("[data-board]");
    if (!board) return;
    status = document.getElementById("board-status");
    dialog = document.getElementById("lost-dialog");
    setUpDialog();
    setUpDragging();
    setUpMoveForms();
    setUpMoveMenus();
    setUpLoadMore();
    board.classList.add("board--ready");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
