"""Entity page (account, IP, device): what it did, and its neighbourhood, expanded step by step.

Expansion is bounded on purpose: the analyst picks a node, a relationship
type and a time window, sees how many relationships that would add, and
adds at most ``limit`` of them (busiest first). Each expansion is one step
that Undo takes back, so exploring never leaves an unreadable hairball.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
from dash import Input, Output, State, ctx, dcc, html

from app.web import cache, cytoscape, ids, queries
from app.web.components import (
    card,
    cluster_href,
    counted,
    entity_href,
    fmt_int,
    fmt_time,
    kv_list,
    link,
    shown,
    status_badge,
    table,
    tag_chip,
)
from app.web.pages.overview import WINDOW_LABELS, window_for
from app.web.state import current
from graph import triage
from graph.schema import ACCOUNT, DEVICE, IP, PHONE, node_kind
from graph.store.base import Neighbourhood

PATH_TEMPLATE = "/entity/<kind>/<key>"
MAX_ELEMENTS = 1500
ONE_HOP = 25  # relationships the page opens with, busiest first
_LABEL_NAME = {ACCOUNT: "Account", IP: "IP address", DEVICE: "Device", PHONE: "Phone (pseudonym)",
               cytoscape.NETWORK: "Network", cytoscape.AS_NUMBER: "ASN"}
#: entity kinds without a node in the graph store, and the label their centre is drawn under
_DRAWN_AS = {"prefix": cytoscape.NETWORK, "asn": cytoscape.AS_NUMBER}


def _centre(kind: str, key: str, ips: list[dict], total: int) -> tuple[str, dict | None]:
    """The centre's node label and its properties (a network or ASN: what its IPs, busiest first, say of it)."""
    state = current()
    if kind in queries.ENTITY_LABELS:
        label = queries.ENTITY_LABELS[kind]
        return label, state.store.get_node(label, key)
    found = state.store.get_node(IP, ips[0]["ip"]) if ips else None
    facts = {"IPs seen": total}
    if found and kind == "asn":
        facts["as_org"] = found.get("as_org")
    elif found:
        facts |= {"asn": found.get("asn"), "as_org": found.get("as_org"), "country": found.get("country")}
    return _DRAWN_AS[kind], facts if ips else None


def start_elements(kind: str, key: str, label: str, node: dict | None, users: dict | None,
                   ips: list[dict]) -> list[dict]:
    """The drawing the page opens with: the centre, its one-hop neighbourhood and the clusters that use it
    (and a network's or ASN's busiest ``ips``)."""
    state = current()
    center = {"_label": label, "_key": key, **(node or {})}
    if kind in queries.ENTITY_LABELS and node is not None:
        nb = state.store.neighbourhood(label, key, limit=ONE_HOP)
    else:
        nb = Neighbourhood(center=center)
    nb = cytoscape.with_pivots(Neighbourhood(center=center, nodes=nb.nodes, edges=nb.edges),
                               run_id=cache.latest_run_id(), clusters=(users or {}).get("clusters", []), ips=ips)
    elements = cytoscape.neighbourhood_elements(nb)
    elements[0]["classes"] += " center"
    return elements


def layout(kind: str | None = None, key: str | None = None, **_query) -> html.Div:
    kind, key = (kind or "").lower(), unquote(key or "")
    if kind not in queries.ENTITY_KINDS:
        return html.Div([html.H1("Unknown entity kind", className="page-title"),
                         html.P(f"Entities are accounts, IPs, devices, networks and ASNs, not {kind!r}.")])
    if kind == "asn":
        key = key.upper().removeprefix("AS")
        if not key.isdigit():
            return html.Div([html.H1("Not an ASN", className="page-title"),
                             html.P("An ASN is a number such as 58224.", className="text-secondary")])
    state = current()
    ips, total = queries.entity_ips(state.con(), kind, key, limit=ONE_HOP) if kind in _DRAWN_AS else ([], 0)
    label, node = _centre(kind, key, ips, total)
    activity = queries.entity_activity(state.con(), kind, key)
    if node is None and not activity["requests"]:
        return html.Div([html.H1("Not found", className="page-title"),
                         html.P(f"No {kind} {key!r} in this workspace.", className="text-secondary"),
                         dcc.Link("Back to the overview", href="/")])
    users = queries.entity_users(state.con(), kind, key, cache.run_members(cache.latest_run_id()))
    start = start_elements(kind, key, label, node, users, ips)
    cluster_id = cache.membership(cache.latest_run_id()).get(key) if kind == "account" else None
    controls = html.Div([
        html.Div("Expand from", className="small fw-semibold text-secondary"),
        html.Div(id=ids.ENTITY_STATUS, className="mono small mb-2"),
        dbc.Row([
            dbc.Col([dbc.Label("Relationship", className="small mb-0"),
                     dbc.Select(id=ids.ENTITY_REL_TYPE, size="sm")], md=4),
            dbc.Col([dbc.Label("Time window", className="small mb-0"),
                     dbc.Select(id=ids.ENTITY_WINDOW, size="sm", value="all",
                                options=[{"label": v, "value": k} for k, v in WINDOW_LABELS.items()])], md=3),
            dbc.Col([dbc.Label("At most", className="small mb-0"),
                     dbc.Input(id=ids.ENTITY_LIMIT, type="number", min=1, max=200, step=1, value=25, size="sm")],
                    md=2),
            dbc.Col(html.Div([
                dbc.Button("Expand", id=ids.ENTITY_EXPAND, size="sm", color="primary"),
                dbc.Button("Undo", id=ids.ENTITY_UNDO, size="sm", color="secondary", outline=True),
            ], className="button-row"), md=3, className="d-flex align-items-end"),
        ], className="g-2"),
        html.Div(id=ids.ENTITY_COUNTS, className="mt-2"),
    ])
    graph = cyto.Cytoscape(id=ids.ENTITY_GRAPH, elements=start, stylesheet=cytoscape.NEIGHBOURHOOD_STYLESHEET,
                           className="entity-graph", style={"width": "100%", "height": "600px"},
                           layout={"name": "cose", "animate": False, "idealEdgeLength": 80}, responsive=True,
                           minZoom=0.15, maxZoom=1.6)
    focus = {"label": label, "key": key, "href": start[0]["data"].get("href")}
    shown_key = f"AS{key}" if kind == "asn" else key
    title = [html.H1([_LABEL_NAME[label], " ", html.Span(shown(shown_key), className="mono")],
                     className="page-title d-inline me-2")]
    if kind == "asn" and node and node.get("as_org"):
        title.append(html.Span(shown(node["as_org"]), className="me-2 fw-semibold"))
    if cluster_id:
        title.append(dcc.Link(f"member of {cluster_id}", href=cluster_href(cluster_id), className="small"))
    side = [card("What the requests say", activity_view(activity))]
    if kind != "account":
        side.append(card("Used by", users_view(users), id=ids.ENTITY_USERS,
                         hint="the clusters and accounts behind its requests"))
    side.append(card("Properties", html.Div(properties_view(node), id=ids.ENTITY_DETAILS)))
    if kind in queries.ENTITY_LABELS:  # analysts label graph entities; a network or an ASN is a pivot, not one
        side.append(card("Analyst labels", judgement_view(triage.judgement(state.store, kind, key))))
    return html.Div([
        dcc.Store(id=ids.ENTITY_KEY, data={"kind": kind, "label": label, "key": key}),
        dcc.Store(id=ids.ENTITY_ELEMENTS, data=start),
        dcc.Store(id=ids.ENTITY_FOCUS, data=focus),
        html.Div(title, className="section-gap"),
        dbc.Row([
            dbc.Col([card("Neighbourhood", [html.Div(controls, className="p-3 border-bottom"), graph],
                          hint="one hop drawn; click a node to expand from it or open its page",
                          body_class="p-0")], xl=8),
            dbc.Col(side, xl=4),
        ]),
    ])


def users_view(users: dict) -> object:
    """The clusters whose members used the entity, then the accounts (clustered first): the pivot back."""
    if not users["accounts"]:
        return html.Div("No account's requests came through it.", className="text-secondary small")
    clusters = html.Ul([html.Li([dcc.Link(c["cluster_id"], href=cluster_href(c["cluster_id"]), className="mono"),
                                 html.Span(f"{counted(c['accounts'], 'account')} · {fmt_int(c['requests'])} requests")])
                        for c in users["clusters"]], className="count-list mb-2", id=ids.ENTITY_CLUSTERS) \
        if users["clusters"] else html.Div("In no cluster of the latest run.", className="text-secondary small mb-2",
                                           id=ids.ENTITY_CLUSTERS)
    rows = [{"account": link(a["account_id"], entity_href("account", a["account_id"])),
             "cluster": link(a["cluster_id"], cluster_href(a["cluster_id"])) if a["cluster_id"] else "",
             "requests": a["requests"], "first": fmt_time(a["first_seen"]), "last": fmt_time(a["last_seen"])}
            for a in users["accounts"]]
    listed = len(rows)
    note = (f"{fmt_int(listed)} of {fmt_int(users['total_accounts'])} accounts listed"
            if users["total_accounts"] > listed else counted(listed, 'account'))
    return html.Div([
        clusters,
        html.Div(note, className="small text-secondary"),
        table(ids.ENTITY_ACCOUNTS, rows, [("account", "Account", "markdown"), ("cluster", "Cluster", "markdown"),
                                          ("requests", "Requests"), ("first", "First"), ("last", "Last")],
              page_size=10),
    ])


def activity_view(activity: dict) -> object:
    if not activity["requests"]:
        return html.Div("No requests in the events table.", className="text-secondary small")
    return html.Div([
        kv_list([("Requests", fmt_int(activity["requests"])), ("First", fmt_time(activity["first_seen"])),
                 ("Last", fmt_time(activity["last_seen"])), ("Callers", fmt_int(activity["accounts"])),
                 ("IPs", fmt_int(activity["ips"])), ("Devices", fmt_int(activity["devices"]))]),
        html.Div("Endpoints", className="small fw-semibold text-secondary mt-2"),
        html.Ul([html.Li([html.Span(e), html.Span(fmt_int(n))]) for e, n in activity["endpoints"]],
                className="count-list"),
        html.Div("IP countries", className="small fw-semibold text-secondary mt-2"),
        html.Ul([html.Li([html.Span(c), html.Span(fmt_int(n))]) for c, n in activity["countries"]],
                className="count-list"),
    ])


def properties_view(node: dict | None) -> object:
    if not node:
        return html.Div("Not in the graph store.", className="text-secondary small")
    return kv_list({k: (fmt_time(v) if isinstance(v, datetime) else str(v)) for k, v in node.items()
                    if v not in (None, "", {}) and not k.startswith("_")})


def judgement_view(judgement: triage.EntityJudgement) -> object:
    parts = [kv_list([("Status", status_badge(judgement.status)) if judgement.status != "new" else ("", None)])]
    parts += [tag_chip(t) for t in judgement.tags]
    parts += [html.Div(shown(f"{label.get('value')} ({label.get('source') or 'input'})"), className="small")
              for label in judgement.labels]
    parts += [html.Div([html.B(shown(c["by"])), f": {shown(c['text'])}"], className="small")
              for c in judgement.comments]
    if len(parts) == 1 and judgement.status == "new":
        return html.Div("No labels.", className="text-secondary small")
    return html.Div(parts)


def _window_bounds(choice: str | None) -> tuple[datetime | None, datetime | None]:
    window = window_for(choice)
    return window.since, window.until


def counts_view(label: str, key: str, choice: str | None) -> tuple[list[dict], object]:
    """Relationship-type options with counts for the focused node, and the count summary."""
    if label in _DRAWN_AS.values():  # not a node of the graph store: nothing to expand from it
        return [], html.Div("Click an IP or a cluster in the drawing to expand from it.", className="small")
    since, until = _window_bounds(choice)
    counts = current().store.neighbour_counts(label, key, since=since, until=until)
    options = [{"label": f"{rel} ({n:,})", "value": rel} for rel, n in counts.items() if n]
    parts = [html.Span("Relationships in this window: ", className="text-secondary")]
    for rel, n in counts.items():
        parts += [html.Span(f"{rel} ", className="mono"), html.B(f"{n:,}"), html.Span(" · ")]
    return options, html.Div(parts[:-1], className="small")


def expand(elements: list[dict], label: str, key: str, rel: str, choice: str | None, limit: int) -> tuple[list, str]:
    """Add one bounded expansion step to ``elements``; returns the elements and what happened."""
    since, until = _window_bounds(choice)
    limit = max(1, min(int(limit or 25), 200))
    nb = current().store.neighbourhood(label, key, rel_types=[rel], since=since, until=until, limit=limit)
    step = max((el["data"].get("step", 0) for el in elements), default=0) + 1
    added = cytoscape.neighbourhood_elements(nb, step=step)
    merged = cytoscape.merge_elements(elements, added)
    if len(merged) > MAX_ELEMENTS:
        return elements, f"Not expanded: the graph would exceed {MAX_ELEMENTS} elements. Undo a step or lower the limit."
    new = len(merged) - len(elements)
    shown = len(nb.edges)
    more = f" ({nb.total - shown:,} more not added)" if nb.truncated else ""
    return merged, f"Added {new} elements: {shown} of {nb.total:,} {rel} relationships{more}."


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template=PATH_TEMPLATE, name="Entity", title="Entity · sybilscope",
                       layout=layout)

    @app.callback(
        Output(ids.ENTITY_FOCUS, "data"),
        Input(ids.ENTITY_GRAPH, "tapNodeData"),
        prevent_initial_call=True,
    )
    def focus(node):
        if not node or node.get("node_label") is None:
            raise dash.exceptions.PreventUpdate
        return {"label": node["node_label"], "key": node["key"], "href": node.get("href")}

    @app.callback(
        Output(ids.ENTITY_REL_TYPE, "options"),
        Output(ids.ENTITY_REL_TYPE, "value"),
        Output(ids.ENTITY_COUNTS, "children"),
        Output(ids.ENTITY_STATUS, "children"),
        Input(ids.ENTITY_FOCUS, "data"),
        Input(ids.ENTITY_WINDOW, "value"),
    )
    def counts(focus_node, choice):
        options, summary = counts_view(focus_node["label"], focus_node["key"], choice)
        name = _LABEL_NAME.get(focus_node["label"]) or node_kind(focus_node["label"]).label
        where = [f"{name} {focus_node['key']}"]
        if focus_node.get("href"):
            where += [" · ", dcc.Link("open its page", href=focus_node["href"], id=ids.ENTITY_OPEN)]
        return options, (options[0]["value"] if options else None), summary, where

    @app.callback(
        Output(ids.ENTITY_ELEMENTS, "data"),
        Output(ids.ENTITY_GRAPH, "elements"),
        Output(ids.ENTITY_COUNTS, "children", allow_duplicate=True),
        Input(ids.ENTITY_EXPAND, "n_clicks"),
        Input(ids.ENTITY_UNDO, "n_clicks"),
        State(ids.ENTITY_ELEMENTS, "data"),
        State(ids.ENTITY_FOCUS, "data"),
        State(ids.ENTITY_REL_TYPE, "value"),
        State(ids.ENTITY_WINDOW, "value"),
        State(ids.ENTITY_LIMIT, "value"),
        prevent_initial_call=True,
    )
    def change(_expand, _undo, elements, focus_node, rel, choice, limit):
        if ctx.triggered_id == ids.ENTITY_UNDO:
            kept = cytoscape.undo_last_step(elements)
            message = "Undid the last expansion." if len(kept) < len(elements) else "Nothing to undo."
            return kept, kept, dbc.Alert(message, color="light", className="py-1 px-2 small mb-0")
        if not rel:
            return dash.no_update, dash.no_update, dbc.Alert("This node has no relationships in the window.",
                                                             color="light", className="py-1 px-2 small mb-0")
        merged, message = expand(elements, focus_node["label"], focus_node["key"], rel, choice, limit)
        return merged, merged, dbc.Alert(message, color="info", className="py-1 px-2 small mb-0")
