/* Draw every Plotly chart of the page: each div.chart[data-figure] names the
   <script type="application/json"> that holds its figure. A chart is drawn
   when it first comes near the viewport, one chart per task, and Plotly (a
   large script, named by this script's data-plotly-src) is fetched only once
   a chart needs it: the page is readable and answers input before any chart
   is drawn, and charts nobody scrolls to cost nothing. Charts that arrive
   later through HTMX (home panels, refreshed dashboard figures) are watched
   when they land. Without Plotly the text alternatives and tables remain. */
(function () {
  "use strict";

  var CONFIG = { displayModeBar: false, responsive: true };
  var NEAR = "200px 0px";
  var script = document.currentScript;
  var plotlySrc = script && script.dataset.plotlySrc;
  var plotlyLoading = null;
  var queue = [];
  var scheduled = false;

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve();
    if (!plotlyLoading) {
      plotlyLoading = new Promise(function (resolve, reject) {
        if (!plotlySrc) {
          reject(new Error("no Plotly source"));
          return;
        }
        var tag = document.createElement("script");
        tag.src = plotlySrc;
        tag.async = true;
        tag.onload = resolve;
        tag.onerror = reject;
        document.head.appendChild(tag);
      });
    }
    return plotlyLoading;
  }

  function draw(element) {
    if (element.dataset.drawn === "true" || !element.isConnected || !window.Plotly) return;
    var source = document.getElementById(element.dataset.figure);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, CONFIG);
    element.dataset.drawn = "true";
  }

  function drawNext() {
    scheduled = false;
    var element = queue.shift();
    if (element) draw(element);
    if (queue.length) schedule();
  }

  // One chart per task, so that no single task holds the page for all of them.
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(drawNext, 0);
  }

  function want(element) {
    if (element.dataset.drawn === "true" || queue.indexOf(element) !== -1) return;
    queue.push(element);
    loadPlotly().then(schedule, function () { queue = []; });
  }

  var observer = "IntersectionObserver" in window
    ? new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          observer.unobserve(entry.target);
          want(entry.target);
        });
      }, { rootMargin: NEAR })
    : null;

  function watch(element) {
    if (element.dataset.drawn === "true") return;
    if (observer) observer.observe(element);
    else want(element);
  }

  function watchWithin(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches(".chart[data-figure]")) watch(root);
    root.querySelectorAll(".chart[data-figure]").forEach(watch);
  }

  document.addEventListener("htmx:load", function (event) { watchWithin(event.target); });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { watchWithin(document); });
  } else {
    watchWithin(document);
  }
})();
