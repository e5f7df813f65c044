"""The cluster page's drawing: members and shared infrastructure, groups that open, and a panel on the node clicked.

A residential-proxy operation draws hundreds of IPs; past
:data:`GROUP_OVER` nodes its IPs fold into groups by network, ASN or
country (:func:`app.web.cytoscape.cluster_graph_elements`). Clicking a
group opens it and closes the one open before, so the drawing never holds
more than one group's IPs. Clicking any node opens the panel beside the
drawing: what the node is, the clusters that use it and a link to its
page, so the analyst never scrolls away from the graph to learn about it.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import pandas as pd
from dash import Input, Output, State, dcc, html

from app.web import cache, cytoscape, ids, queries
from app.web.components import card, cluster_href, counted, fmt_int, fmt_time, kv_list, shown
from app.web.state import current
from graph.schema import ACCOUNT, DEVICE, IP

__all__ = ["GRAPH_CAP", "GROUP_OVER", "graph_card", "node_panel", "opened", "register"]

GRAPH_CAP = 1500
#: more nodes than this and the IPs are grouped
GROUP_OVER = 60
_LABELS = {"account": ACCOUNT, "ip": IP, "device": DEVICE}
_KIND_WORD = {"account": "Account", "ip": "IP address", "device": "Device", "group": "Group of IPs"}
_LEVEL_WORD = {"prefix": "network", "asn": "ASN", "country": "country"}


def elements_for(cluster: dict, expanded: str | None = None, *, members: list[dict] | None = None,
                 links: pd.DataFrame | None = None) -> tuple[list[dict], dict]:
    """The drawing of ``cluster`` with group ``expanded`` open (the others closed).

    ``members`` and ``links`` (:func:`app.web.queries.member_links`) are read
    when not given: the page hands in those it read for its tables.
    """
    state = current()
    if members is None:
        members = state.store.members(cluster["cluster_id"], cluster["run_id"])
    if links is None:
        links = queries.member_links(state.con(), [m["account_id"] for m in members])
    ips = links[links["kind"] == "ip"] if not links.empty else links
    orgs = (queries.as_names(state.store, ips.groupby("asn")["key"].first().tolist())
            if not ips.empty and ips["asn"].notna().any() else {})
    return cytoscape.cluster_graph_elements(members, links, cap=GRAPH_CAP, group_over=GROUP_OVER,
                                            expanded=expanded, as_orgs=orgs)


def opened(cluster_id: str, group_id: str | None) -> tuple[list[dict], list[str]]:
    """The drawing with group ``group_id`` open (``None``: all closed) and its note, from the cluster's cached facts."""
    cluster, members, links = cache.cluster_facts(cluster_id)
    elements, stats = elements_for(cluster, group_id, members=members, links=links)
    return elements, graph_note(stats)


def graph_note(stats: dict) -> list[str]:
    note = [f"{stats['members']} members, {stats['infra']} IPs/devices, {stats['hubs']} hubs collapsed"]
    if stats["grouped_by"]:
        note.append(f" · IPs in {stats['groups']} groups by {_LEVEL_WORD[stats['grouped_by']]}: "
                    "click a group to open it")
    if stats["members_hidden"] or stats["infra_hidden"]:
        note.append(f" · not drawn: {stats['members_hidden']} weaker members, "
                    f"{stats['infra_hidden']} IPs/devices (cap {GRAPH_CAP} elements)")
    return note


def graph_card(cluster: dict, members: list[dict], links: pd.DataFrame) -> dbc.Card:
    """The drawing across the page's width, the node panel at its right."""
    elements, stats = elements_for(cluster, members=members, links=links)
    legend = html.Span([
        html.Span("● account", style={"color": "#2e5bff"}), "  ",
        html.Span("■ IP", style={"color": "#f79009"}), "  ",
        html.Span("■ group of IPs", style={"color": "#b54708"}), "  ",
        html.Span("◆ device", style={"color": "#12b76a"}), "  ",
        html.Span("red ring = hosting/VPN", style={"color": "#d92d20"}),
    ], className="hint")
    graph = cyto.Cytoscape(
        id=ids.CLUSTER_GRAPH, elements=elements, stylesheet=cytoscape.CLUSTER_STYLESHEET,
        className="cluster-graph", style={"width": "100%", "height": "600px"},
        layout={"name": "cose", "animate": False, "nodeRepulsion": 9000, "idealEdgeLength": 60, "numIter": 600},
        minZoom=0.1, maxZoom=1.6, responsive=True,
    )
    panel = html.Div(html.Div("Click a node: what it is, the clusters that use it, its page. Hover for labels.",
                              className="text-secondary small"), id=ids.CLUSTER_NODE_PANEL, className="node-panel")
    body = [
        dcc.Store(id=ids.CLUSTER_GRAPH_EXPANDED, data=None),
        dbc.Row([dbc.Col(graph, lg=9, className="pe-lg-0"), dbc.Col(panel, lg=3, className="ps-lg-0")],
                className="g-0"),
        html.Div(graph_note(stats), id=ids.CLUSTER_GRAPH_NOTE, className="small text-secondary px-3 py-2"),
    ]
    return card("Members and shared infrastructure", body, extra=legend, body_class="p-0")


def node_panel(cluster_id: str, node: dict) -> list:
    """What the panel says of a clicked node: kind and key, properties, the clusters using it, its page."""
    kind, key = node.get("kind"), str(node.get("key") or "")
    head = [html.Div(_KIND_WORD.get(kind, kind), className="small text-secondary"),
            html.Div(shown(node.get("label") if kind == "group" else key), className="mono fw-semibold mb-2",
                     id=ids.CLUSTER_NODE_TITLE)]
    facts = [("Members using it", fmt_int(node.get("members"))), ("Their requests", fmt_int(node.get("requests")))]
    if kind == "group":
        facts.insert(0, ("IPs", fmt_int(node.get("ips"))))
    elif kind == "account":
        facts = [("Member score", str(node.get("score", "")))]
    state = current()
    found = state.store.get_node(_LABELS[kind], key) if kind in _LABELS else None
    properties = [(name.replace("_", " "), fmt_time(value) if hasattr(value, "strftime") else str(value))
                  for name, value in (found or {}).items()
                  if value not in (None, "", {}) and not name.startswith("_") and name not in ("ip", "device_id",
                                                                                              "account_id")]
    parts = [*head, kv_list(facts + properties)]
    users_kind = kind if kind in _LABELS else node.get("level") if node.get("level") in ("prefix", "asn") else None
    if users_kind:
        users = queries.entity_users(state.con(), users_kind, key, cache.run_members(cache.latest_run_id()))
        parts.append(html.Div("Clusters that use it", className="small fw-semibold text-secondary mt-2"))
        parts.append(html.Ul([html.Li([dcc.Link(c["cluster_id"], href=cluster_href(c["cluster_id"]), className="mono"),
                                       html.Span(counted(c["accounts"], "account")
                                                 + (" · this one" if c["cluster_id"] == cluster_id else ""))])
                              for c in users["clusters"]], className="count-list", id=ids.CLUSTER_NODE_CLUSTERS))
    if node.get("href"):
        parts.append(dcc.Link("Open its page →", href=node["href"], className="btn btn-sm btn-outline-primary mt-2",
                              id=ids.CLUSTER_NODE_LINK))
    if kind == "group":
        parts.append(html.Div("A click opens a group (its IPs drawn inside it) or closes it; one is open at a time.",
                              className="small text-secondary mt-2"))
    return parts


def register(app: dash.Dash) -> None:
    """Clicking a group opens it (closing the open one); clicking any node fills the panel."""

    @app.callback(
        Output(ids.CLUSTER_GRAPH, "elements"),
        Output(ids.CLUSTER_GRAPH_NOTE, "children"),
        Output(ids.CLUSTER_GRAPH_EXPANDED, "data"),
        Input(ids.CLUSTER_GRAPH, "tapNodeData"),
        State(ids.CLUSTER_GRAPH_EXPANDED, "data"),
        State(ids.CLUSTER_ID, "data"),
        prevent_initial_call=True,
    )
    def open_group(node, expanded, cluster_id):
        if not node or node.get("kind") != "group":
            raise dash.exceptions.PreventUpdate
        chosen = None if node["id"] == expanded else node["id"]
        return *opened(cluster_id, chosen), chosen

    @app.callback(
        Output(ids.CLUSTER_NODE_PANEL, "children"),
        Input(ids.CLUSTER_GRAPH, "tapNodeData"),
        State(ids.CLUSTER_ID, "data"),
        prevent_initial_call=True,
    )
    def panel(node, cluster_id):
        if not node or node.get("kind") not in _KIND_WORD:
            raise dash.exceptions.PreventUpdate
        return node_panel(cluster_id, node)
