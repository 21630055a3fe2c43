/* Draw every Plotly chart of the page: each div.chart[data-figure] names the
   <script type="application/json"> that holds its figure. Charts that arrive
   later through HTMX (home panels, refreshed dashboard figures) are drawn
   when they land. Without Plotly the text alternatives and tables remain. */
(function () {
  "use strict";

  var CONFIG = { displayModeBar: false, responsive: true };

  function draw(element) {
    if (element.dataset.drawn === "true" || !window.Plotly) return;
    var source = document.getElementById(element.dataset.figure);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, CONFIG);
    element.dataset.drawn = "true";
  }

  function drawWithin(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches(".chart[data-figure]")) draw(root);
    root.querySelectorAll(".chart[data-figure]").forEach(draw);
  }

  document.addEventListener("htmx:load", function (event) { drawWithin(event.target); });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawWithin(document); });
  } else {
    drawWithin(document);
  }
})();
