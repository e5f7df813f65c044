/* sybilscope graph labels on hover.
 *
 * A cluster of hundreds of IPs cannot print every label at once ("shared by 12" over
 * "shared by 12"), so the stylesheets (app/web/cytoscape.py) draw a node's or an edge's label
 * only when it has the "hovered" class, or is selected. This script gives the class to
 * whatever the pointer is over, in every Cytoscape drawing of the page, and takes it away
 * when the pointer leaves. Drawings come and go with Dash's page changes: each new one is
 * found when it appears and wired once.
 */
(function () {
  "use strict";

  function wire(container) {
    var registry = container._cyreg;
    if (!registry || !registry.cy || container.dataset.hoverWired === "1") {
      return;
    }
    container.dataset.hoverWired = "1";
    var cy = registry.cy;
    cy.on("mouseover", "node, edge", function (event) { event.target.addClass("hovered"); });
    cy.on("mouseout", "node, edge", function (event) { event.target.removeClass("hovered"); });
    // leaving the drawing altogether sends no mouseout to the node last under the pointer
    container.addEventListener("mouseleave", function () { cy.elements(".hovered").removeClass("hovered"); });
    container.style.cursor = "default";
    cy.on("mouseover", "node", function () { container.style.cursor = "pointer"; });
    cy.on("mouseout", "node", function () { container.style.cursor = "default"; });
  }

  function scan() {
    var drawings = document.querySelectorAll(".cluster-graph, .entity-graph");
    for (var i = 0; i < drawings.length; i++) {
      wire(drawings[i]);
    }
  }

  new MutationObserver(scan).observe(document.documentElement, { childList: true, subtree: true });
  window.setInterval(scan, 1000);  // a drawing's Cytoscape instance is made after its element appears
})();
