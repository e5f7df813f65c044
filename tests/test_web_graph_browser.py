"""Readable graphs, pivots both ways and evidence paging (issue 15, items 1, 3 and 10) in a real headless Chromium.

The sample case's residential-proxy cluster (15 accounts on 3 devices across
305 residential IPs) is the big drawing; the hand-made case of
``tests/webcase.py`` gives an IP whose users are known exactly. The servers,
the browser and the sign-in are those of ``tests/test_web_browser.py``.
Nodes are clicked and hovered with the real mouse, at the position
Cytoscape drew them.
"""

from __future__ import annotations

import re

import pytest
from test_web_browser import ADMIN_PASSWORD, _close, _page, _shot, browser, server, squads_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CY = "document.querySelector('#{graph}')._cyreg.cy"


def _cy(page, graph: str, script: str):
    """Evaluate ``script`` with ``cy`` bound to the Cytoscape instance of ``#graph``."""
    return page.evaluate(f"() => {{ const cy = {CY.format(graph=graph)}; return {script}; }}")


def _point(page, graph: str, node_id: str) -> tuple[float, float]:
    """Where node ``node_id`` is on the screen, once it stays put (a drawing refits when the page around it grows)."""
    where = None
    for _ in range(40):
        box = page.locator(f"#{graph}").bounding_box()
        x, y = _cy(page, graph, f"[cy.getElementById({node_id!r}).renderedPosition().x, "
                                f"cy.getElementById({node_id!r}).renderedPosition().y]")
        if where == (box["x"] + x, box["y"] + y):
            return where
        where = (box["x"] + x, box["y"] + y)
        page.wait_for_timeout(250)
    raise AssertionError(f"{node_id} never stopped moving")


def _click(page, graph: str, node_id: str, until: str) -> None:
    """Click node ``node_id`` with the mouse, then wait until the JavaScript condition ``until`` holds.

    A drawing refits itself when the page around it grows (tables arriving
    beside it), so a node can move between reading its place and the click:
    a click that did not land on the node (Cytoscape saw no tap on it) is
    tried again at its new place, three times at most. The layout is drawn
    at random, and a small node can end up under the members and edges
    drawn over it, where no click reaches it (a person would zoom in): then
    the node is tapped through Cytoscape, and what the tap does is checked
    all the same.
    """
    cy = CY.format(graph=graph)
    tapped = f"(window._tapped || []).includes({node_id!r})"
    page.evaluate(f"() => {{ window._tapped = []; {cy}"
                  ".on('tap', 'node', event => window._tapped.push(event.target.id())); }")
    for _ in range(3):
        page.mouse.click(*_point(page, graph, node_id))
        try:
            page.wait_for_function(f"() => {tapped}", timeout=1500)
            break
        except Exception:  # noqa: BLE001 - playwright's timeout: the node moved, click where it is now
            continue
    else:
        page.evaluate(f"() => {cy}.getElementById({node_id!r}).emit('tap')")
    page.wait_for_function(f"() => {tapped} && ({until})")


def _settled(page, graph: str) -> None:
    """Wait until the drawing has a layout (every node placed) and is still."""
    page.wait_for_function(f"() => {{ const el = document.querySelector('#{graph}');"
                           " return el && el._cyreg && el._cyreg.cy.nodes().length > 0; }")
    page.wait_for_timeout(1200)


def _proxy_cluster(page, base: str) -> str:
    page.wait_for_selector("#queue-table-rows td[data-dash-column=tradecraft]")
    row = page.locator("#queue-table-rows tr", has=page.locator("td[data-dash-column=tradecraft]",
                                                                 has_text="residential-proxy network"))
    cluster_id = row.locator("td[data-dash-column=cluster] a").inner_text()
    page.goto(f"{base}/cluster/{cluster_id}")
    page.wait_for_selector("#cluster-graph canvas")
    _settled(page, "cluster-graph")
    return cluster_id


def test_the_proxy_cluster_draws_groups_that_open_one_at_a_time(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    _proxy_cluster(page, server)
    groups = _cy(page, "cluster-graph", "cy.nodes('.group').map(n => [n.id(), n.data('label'), n.data('ips')])")
    assert len(groups) >= 2
    assert sum(ips for _, _, ips in groups) == 305  # every IP is in one group
    assert all(re.search(r" · \d[\d,]* IPs?$", label) for _, label, _ in groups)
    assert _cy(page, "cluster-graph", "cy.nodes().length") <= 60
    assert _cy(page, "cluster-graph", "cy.nodes('.ip').length") == 0
    note = page.locator("#cluster-graph-note").inner_text()
    assert f"IPs in {len(groups)} groups" in note
    # the drawing spans the content column, the panel sits beside it
    graph_box = page.locator("#cluster-graph").bounding_box()
    panel_box = page.locator("#cluster-node-panel").bounding_box()
    assert graph_box["width"] > 700 and abs(panel_box["y"] - graph_box["y"]) < 5
    assert panel_box["x"] >= graph_box["x"] + graph_box["width"] - 5

    first, second = groups[0][0], groups[1][0]
    opened = f"{CY.format(graph='cluster-graph')}.nodes('.group.open').map(n => n.id()).join()"
    _click(page, "cluster-graph", first, f"{opened} === {first!r}")
    _settled(page, "cluster-graph")
    inside = _cy(page, "cluster-graph", f"cy.getElementById({first!r}).children().length")
    assert 0 < inside <= dict((g, n) for g, _, n in groups)[first]  # all of them unless the element cap bit
    assert _cy(page, "cluster-graph", f"cy.nodes('.ip').filter(n => n.data('parent') !== {first!r}).length") == 0
    assert groups[0][1] in page.locator("#cluster-node-panel").inner_text()
    _shot(page, "cluster-proxy-open-group")
    _click(page, "cluster-graph", second, f"{opened} === {second!r}")
    assert _cy(page, "cluster-graph", f"cy.getElementById({first!r}).children().length") == 0
    _close(page)


def test_labels_show_on_hover_only(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    _proxy_cluster(page, server)
    device = _cy(page, "cluster-graph", "cy.nodes('.device')[0].id()")
    assert _cy(page, "cluster-graph", f"cy.getElementById({device!r}).style('label')") == ""
    page.wait_for_function("() => document.querySelector('#cluster-graph').dataset.hoverWired === '1'")
    page.mouse.move(*_point(page, "cluster-graph", device))
    page.wait_for_function(f"() => {CY.format(graph='cluster-graph')}.getElementById({device!r}).hasClass('hovered')")
    assert _cy(page, "cluster-graph", f"cy.getElementById({device!r}).style('label')").startswith("device ")
    page.mouse.move(5, 5)
    page.wait_for_function(f"() => !{CY.format(graph='cluster-graph')}.getElementById({device!r}).hasClass('hovered')")
    assert _cy(page, "cluster-graph", f"cy.getElementById({device!r}).style('label')") == ""
    _close(page)


def test_a_click_on_a_node_opens_the_panel_beside_the_graph(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    cluster_id = _proxy_cluster(page, server)
    device = _cy(page, "cluster-graph", "cy.nodes('.device')[0].data('key')")
    _click(page, "cluster-graph", f"dev:{device}",
           f"(document.querySelector('#cluster-node-title') || {{}}).innerText === {device!r}")
    panel = page.locator("#cluster-node-panel").inner_text()
    assert "Device" in panel and "Members using it" in panel
    assert cluster_id in page.locator("#cluster-node-clusters").inner_text()
    assert page.locator("#cluster-node-link").get_attribute("href") == f"/entity/device/{device}"
    _shot(page, "cluster-node-panel")
    page.click("#cluster-node-link")
    page.wait_for_selector("#entity-users")
    assert cluster_id in page.locator("#entity-clusters").inner_text()
    _close(page)


def test_an_asn_page_is_reached_from_search_and_leads_back_to_its_cluster(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-table-rows")
    page.fill("#search-input", "comcast")
    page.press("#search-input", "Enter")
    hit = page.locator("#search-results .list-group-item", has_text="AS7922")
    hit.wait_for()
    assert "Comcast" in hit.inner_text() and " · in C-" in hit.inner_text()  # its clusters, in the results
    hit.locator("a", has_text="AS7922").click()
    page.wait_for_selector("#entity-users")
    assert page.url.endswith("/entity/asn/7922")
    assert "AS7922" in page.locator("h1").inner_text()
    clusters = page.locator("#entity-clusters a").all_inner_texts()
    assert clusters
    # the page opens with its neighbourhood: its busiest IPs and the clusters that use it
    _settled(page, "entity-graph")
    assert _cy(page, "entity-graph", "cy.nodes('.ip').length") > 1
    cluster_node = _cy(page, "entity-graph", "cy.nodes('.cluster')[0].id()")
    _click(page, "entity-graph", cluster_node, f"document.querySelector(\"#entity-open[href='/cluster/{clusters[0]}']\")")
    _shot(page, "entity-asn")
    page.click("#entity-open")
    page.wait_for_selector("#cluster-header")
    assert clusters[0] in page.locator("#cluster-header").inner_text()
    # and by number, too
    page.goto(server + "/")
    page.fill("#search-input", "AS7922")
    page.press("#search-input", "Enter")
    page.locator("#search-results .list-group-item", has_text="Comcast").wait_for()
    _close(page)


def test_an_ip_page_lists_its_clusters_and_accounts(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.goto(f"{squads_server}/entity/ip/5.160.10.1")
    page.wait_for_selector("#entity-users")
    assert page.locator("#entity-clusters a").all_inner_texts() == ["C-iran"]
    assert "4 accounts" in page.locator("#entity-clusters").inner_text()
    page.wait_for_selector("#entity-accounts td[data-dash-column=account]")
    accounts = page.locator("#entity-accounts td[data-dash-column=account]").all_inner_texts()
    assert sorted(accounts) == ["ir_0", "ir_2", "ir_4", "ir_6"]
    assert set(page.locator("#entity-accounts td[data-dash-column=cluster]").all_inner_texts()) == {"C-iran"}
    # one hop drawn from the start: its 4 accounts, its devices, the cluster, and the cluster is a link
    _settled(page, "entity-graph")
    assert _cy(page, "entity-graph", "cy.nodes('.account').length") == 4
    assert _cy(page, "entity-graph", "cy.nodes('.cluster').map(n => n.data('href'))") == ["/cluster/C-iran"]
    account = _cy(page, "entity-graph", "cy.nodes('.account')[0].id()")
    _click(page, "entity-graph", account, "document.querySelector(\"#entity-open[href^='/entity/account/ir_']\")")
    # a network page and a device page list their users too
    page.goto(f"{squads_server}/entity/prefix/5.160.10.0%2F24")
    page.wait_for_selector("#entity-clusters")
    assert page.locator("#entity-clusters a").all_inner_texts() == ["C-iran"]
    page.goto(f"{squads_server}/entity/device/d_il_0")
    page.wait_for_selector("#entity-clusters")
    assert page.locator("#entity-clusters a").all_inner_texts() == ["C-israel"]
    _close(page)


def test_evidence_rows_page_through_all_their_requests(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    _proxy_cluster(page, server)
    devices = page.locator("#cluster-evidence .accordion-item", has_text="Shared devices")
    devices.locator(".accordion-button").click()
    headers = [h.lower() for h in devices.locator("th").all_inner_texts()]
    assert headers[0] == "id" and headers.index("members") < headers.index("requests")
    requests = int(devices.locator("tbody tr").first.locator("td").nth(headers.index("requests")).inner_text()
                   .replace(",", ""))
    devices.locator("button.btn-link").first.click()
    page.wait_for_selector(f"#cluster-requests >> text={requests:,} in all")
    assert "1–100 shown" in page.locator("#cluster-requests").inner_text()
    assert page.locator("#cluster-requests-table tbody tr").count() == 100 + 1  # a header row, then 100
    pages = -(-requests // 100)
    assert f"page 1 of {pages}" in page.locator("#evidence-pager").inner_text()
    assert page.locator("#evidence-previous").is_disabled()
    first_rows = page.locator("#cluster-requests-table tbody").inner_text()
    page.click("#evidence-next")
    page.wait_for_selector(f"#evidence-pager >> text=page 2 of {pages}")
    assert "101–200 shown" in page.locator("#cluster-requests").inner_text()
    assert page.locator("#cluster-requests-table tbody").inner_text() != first_rows
    page.click("#evidence-previous")
    page.wait_for_selector(f"#evidence-pager >> text=page 1 of {pages}")
    _close(page)
