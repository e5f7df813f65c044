"""Cluster investigation: why these accounts are one network, and the analyst's judgement on it."""

from __future__ import annotations

from urllib.parse import unquote

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import flask_login
import pandas as pd
from dash import ALL, Input, Output, State, ctx, dcc, html

from app.present.countries import country_name
from app.present.evidence import (
    SECTION_TITLES,
    attribution_summary,
    evidence_sections,
    exposed_accounts,
    exposure_summary,
    format_cell,
)
from app.present.quantities import SCORE_UNITS
from app.present.tradecraft import cluster_tradecraft
from app.web import cytoscape, ids, queries
from app.web import judgement as judgement_form
from app.web.components import (
    card,
    empty_figure,
    entity_href,
    figure,
    fmt_int,
    fmt_time,
    hbar_figure,
    kv_list,
    link,
    score_pill,
    shown,
    status_badge,
    table,
    txt,
)
from app.web.state import current
from graph import triage
from graph.schema import ACCOUNT

PATH_TEMPLATE = "/cluster/<cluster_id>"
GRAPH_CAP = 1500
SQUADS_SHOWN = 5  # member links a sub-group's row shows before "+n more"
# evidence the page shows in a card of its own rather than in the evidence list
SHOWN_APART = ("sub_groups",)
GRAPH_CONFIG = {"displaylogo": False}
# the placeholders the page's two later callbacks fill
GRAPH_PART = "cluster-graph-part"
EVIDENCE_PART = "cluster-evidence-part"

def _members(cluster: dict) -> list[dict]:
    return current().store.members(cluster["cluster_id"], cluster["run_id"])


def layout(cluster_id: str | None = None, **_query) -> html.Div:
    """The header and the judgement, at once; the graph and the evidence follow in callbacks of their own.

    The page used to arrive as one response of several hundred kilobytes
    after seconds of queries. Now the first response holds what the analyst
    reads and decides on first; :func:`graph_part` and :func:`evidence_part`
    fill their placeholders in parallel requests, each behind a spinner.
    """
    cluster_id = unquote(cluster_id or "")
    state = current()
    cluster = queries.find_cluster(state.store, cluster_id)
    if cluster is None:
        return html.Div([html.H1("Cluster not found", className="page-title"),
                         html.P(f"No detection run found a cluster {cluster_id!r}.", className="text-secondary"),
                         dcc.Link("Back to the triage queue", href="/")])
    judgement = triage.judgement(state.store, "cluster", cluster_id)
    right = [
        card("Analyst judgement", judgement_form.label_panel(judgement, flask_login.current_user, cluster), id=ids.LABEL_PANEL,
             class_name="section-gap label-panel"),
        card("Audit trail", html.Div(judgement_form.audit_view(state.store.audit_events(target=f"cluster:{cluster_id}")),
                                     id=ids.CLUSTER_AUDIT), hint="append-only"),
    ]
    sections = evidence_sections(cluster.get("evidence"), skip=SHOWN_APART)
    left = [dcc.Loading(html.Div(id=GRAPH_PART, className="part-placeholder"), type="circle"),
            dcc.Loading(html.Div(id=EVIDENCE_PART, className="part-placeholder"), type="circle")]
    return html.Div([
        dcc.Store(id=ids.CLUSTER_ID, data=cluster_id),
        dcc.Store(id=ids.EVIDENCE_EVENTS, data={f"{sec['key']}:{i}": ev for sec in sections
                                                for i, ev in enumerate(sec["event_ids"]) if ev}),
        header(cluster, judgement.status),
        dbc.Row([dbc.Col(left, xxl=9, xl=8), dbc.Col(right, xxl=3, xl=4)]),
    ])


def _cluster_facts(cluster_id: str) -> tuple[dict, list[dict], object]:
    """The cluster row, its members and their links, read once a version of the data and shared by both parts."""
    state = current()

    def read() -> tuple[dict, list[dict], object]:
        cluster = queries.find_cluster(state.store, cluster_id)
        members = _members(cluster)
        return cluster, members, queries.member_links(state.con(), [m["account_id"] for m in members])

    return state.cached(("cluster-facts", cluster_id, *state.data_version()), read)


def graph_part(cluster_id: str) -> list:
    """The graph of members and infrastructure, and the members' and infrastructure's tables.

    Nothing in it changes until the data does, so it is drawn once a version
    of the data (:meth:`~app.web.state.WebState.data_version`).
    """
    state = current()

    def draw() -> list:
        _, members, links = _cluster_facts(cluster_id)
        return [dbc.Row([dbc.Col(graph_card(members, links), xl=7), dbc.Col(tables_card(members, links), xl=5)])]

    return state.cached(("cluster-graph", cluster_id, *state.data_version()), draw)


def evidence_part(cluster_id: str) -> list:
    """Everything below the graph: squads, evidence, activity, traffic mix, attribution, exposure, requests, history.

    All but the attribution hints (which read the analysts' attribution) is
    drawn once a version of the data.
    """
    state = current()
    cluster, members, _ = _cluster_facts(cluster_id)
    drawn = state.cached(("cluster-evidence", cluster_id, *state.data_version()),
                         lambda: _evidence_cards(cluster, members))
    analysts = triage.judgement(state.store, "cluster", cluster_id).attribution
    attribution = card("Attribution hints", html.Div(attribution_view(cluster, analysts),
                                                     id=ids.CLUSTER_ATTRIBUTION_HINTS))
    return [*drawn["above"], dbc.Row([dbc.Col(attribution, lg=6), dbc.Col(drawn["exposure"], lg=6)]), *drawn["below"]]


def _evidence_cards(cluster: dict, members: list[dict]) -> dict[str, list | object]:
    state = current()
    con = state.con()
    accounts = [m["account_id"] for m in members]
    squads = queries.sub_groups(cluster, members)
    return {
        "above": [
            card("Sub-groups", html.Div(sub_groups_view(squads), id=ids.CLUSTER_SUB_GROUPS),
                 hint=f"one operation in {len(squads)} squads; what ties each together") if squads else None,
            card("Evidence", html.Div(evidence_view(cluster), id=ids.CLUSTER_EVIDENCE),
                 hint="what the score rests on; open a section, then its requests"),
            card("Member activity over time", dcc.Graph(id=ids.CLUSTER_HEATMAP, figure=heatmap_figure(
                queries.member_activity(con, accounts)), config=GRAPH_CONFIG),
                hint="one row a member, darker = more requests; vertical stripes are lockstep"),
            mix_row(queries.traffic_mix(con, accounts)),
        ],
        "exposure": card("Exposure", html.Div(exposure_view(cluster.get("exposure")), id=ids.CLUSTER_EXPOSURE),
                         hint="accounts whose phone numbers the lookups matched"),
        "below": [
            card("Underlying requests", html.Div(requests_table(queries.member_requests(con, accounts)),
                                                 id=ids.CLUSTER_REQUESTS),
                 hint="newest first; click an IP or device in the graph to filter"),
            card("History across detection runs", html.Div(history_view(state.store.cluster_history(cluster["cluster_id"])),
                                                            id=ids.CLUSTER_HISTORY)),
        ],
    }


def header(cluster: dict, status: str) -> html.Div:
    reasons = cluster.get("reasons") or []
    words = cluster_tradecraft(cluster)
    facts = [
        html.Span(["score ", score_pill(cluster.get("score"))], className="me-3"),
        html.Span(f"{fmt_int(cluster.get('size'))} accounts", className="me-3"),
        html.Span(words["tradecraft"], className="me-3 fw-semibold", id=ids.CLUSTER_TRADECRAFT),
        html.Span(f"mostly {country_name(cluster.get('top_ip_country'))}", className="me-3")
        if cluster.get("top_ip_country") else None,
        html.Span(f"{fmt_time(cluster.get('first_seen'))} → {fmt_time(cluster.get('last_seen'))}",
                  className="me-3"),
        html.Span(f"run {cluster.get('run_id')}", className="text-secondary"),
    ]
    return html.Div([
        dbc.Row([
            dbc.Col([
                html.Div([html.H1(["Cluster ", html.Span(cluster["cluster_id"], className="mono")],
                                  className="page-title d-inline me-2"),
                          html.Span(status_badge(status), id=ids.CLUSTER_STATUS_BADGE)],
                         id=ids.CLUSTER_HEADER),
                html.Div(words["headline"], className="lead mt-1 mb-0", id=ids.CLUSTER_HEADLINE)
                if words["headline"] else None,
                html.Div(facts, className="page-subtitle mt-1"),
            ]),
            dbc.Col(html.Div(id=ids.CLUSTER_ACTIONS, className="button-row justify-content-end"), width="auto"),
        ], className="align-items-center"),
        html.Ul([html.Li(shown(reason)) for reason in reasons], className="mt-2 mb-0 small") if reasons else None,
    ], className="section-gap")


# -- graph and tables --------------------------------------------------------------------


def graph_card(members: list[dict], links) -> dbc.Card:
    elements, stats = cytoscape.cluster_graph_elements(members, links, cap=GRAPH_CAP)
    note = [f"{stats['members']} members, {stats['infra']} IPs/devices, {stats['hubs']} hubs collapsed"]
    if stats["members_hidden"] or stats["infra_hidden"]:
        note.append(f" · not drawn: {stats['members_hidden']} weaker members, "
                    f"{stats['infra_hidden']} IPs/devices (cap {GRAPH_CAP} elements)")
    legend = html.Span([
        html.Span("● account", style={"color": "#2e5bff"}), "  ",
        html.Span("■ IP", style={"color": "#f79009"}), "  ",
        html.Span("◆ device", style={"color": "#12b76a"}), "  ",
        html.Span("red ring = hosting/VPN", style={"color": "#d92d20"}),
    ], className="hint")
    graph = cyto.Cytoscape(
        id=ids.CLUSTER_GRAPH, elements=elements, stylesheet=cytoscape.CLUSTER_STYLESHEET,
        className="cluster-graph", style={"width": "100%", "height": "560px"},
        layout={"name": "cose", "animate": False, "nodeRepulsion": 9000, "idealEdgeLength": 60, "numIter": 600},
        minZoom=0.1, maxZoom=1.6, responsive=True,
    )
    return card("Members and shared infrastructure",
                [graph, html.Div(note, id=ids.CLUSTER_GRAPH_NOTE, className="small text-secondary px-3 py-2")],
                extra=legend, body_class="p-0")


def tables_card(members: list[dict], links) -> dbc.Card:
    infra = queries.infrastructure_table(links)
    per_member = (links.groupby(["account_id", "kind"])["key"].nunique().unstack(fill_value=0)
                  if not links.empty else None)
    volume = links[links["kind"] == "ip"].groupby("account_id")["requests"].sum() if not links.empty else {}
    nodes = {n["account_id"]: n for n in current().store.get_nodes(ACCOUNT, [m["account_id"] for m in members[:500]])}
    divided = any(m.get("sub_group") for m in members)
    member_rows = []
    for m in members[:500]:
        acct = m["account_id"]
        node = nodes.get(acct, {})
        member_rows.append({
            "account": link(acct, entity_href("account", acct)),
            "sub_group": m.get("sub_group") or "",
            "handle": f"@{node['handle']}" if node.get("handle") else "",
            "score": round(m.get("member_score") or 0.0, 3),
            "requests": int(volume.get(acct, 0)) if len(volume) else 0,
            "ips": int(per_member.loc[acct].get("ip", 0)) if per_member is not None and acct in per_member.index else 0,
            "devices": int(per_member.loc[acct].get("device", 0))
            if per_member is not None and acct in per_member.index else 0,
            "created": fmt_time(node.get("created_at")),
        })
    infra_rows = [{
        "kind": r.kind, "key": link(r.key, entity_href("device" if r.kind == "device" else "ip", r.key)),
        "members": int(r.members), "requests": int(r.requests),
        "country": txt(r.country), "asn": f"AS{int(r.asn)}" if txt(r.asn) else "", "network": txt(r.ip_kind),
    } for r in infra.head(300).itertuples()]
    tabs = dbc.Tabs([
        dbc.Tab(table(ids.CLUSTER_MEMBERS, member_rows,
                      [("account", "Account", "markdown"), *([("sub_group", "Sub-group")] if divided else []),
                       ("handle", "Handle"), ("score", "Member score"), ("requests", "Requests"), ("ips", "IPs"),
                       ("devices", "Devices"), ("created", "Created")],
                      page_size=14), label=f"Members ({len(members)})", tab_id="members"),
        dbc.Tab(table(ids.CLUSTER_INFRA, infra_rows,
                      [("kind", "Kind"), ("key", "IP / device", "markdown"), ("members", "Members"),
                       ("requests", "Requests"), ("country", "Country"), ("asn", "ASN"), ("network", "Network")],
                      page_size=14), label=f"Infrastructure ({len(infra)})", tab_id="infra"),
    ], active_tab="members")
    return card("Accounts and infrastructure", tabs)


def sub_groups_view(squads: list[dict]) -> object:
    """The operation's squads (:func:`app.web.queries.sub_groups`): label, size, what ties it, members."""
    rows = [{
        "sub_group": squad["sub_group"],
        "size": squad["size"],
        "ties": squad["ties"],
        "members": ", ".join(link(a, entity_href("account", a)) for a in squad["accounts"][:SQUADS_SHOWN])
        + (f" +{len(squad['accounts']) - SQUADS_SHOWN} more" if len(squad["accounts"]) > SQUADS_SHOWN else ""),
    } for squad in squads]
    return table(ids.CLUSTER_SUB_GROUPS + "-table", rows,
                 [("sub_group", "Sub-group"), ("size", "Accounts"), ("ties", "What ties it"),
                  ("members", "Strongest members", "markdown")],
                 style_cell_conditional=[{"if": {"column_id": "ties"}, "whiteSpace": "normal", "maxWidth": "520px"}])


# -- charts ---------------------------------------------------------------------------------


def heatmap_figure(activity: dict) -> dict:
    if not activity["y"]:
        return empty_figure("No requests from the members", height=260)
    rows = len(activity["y"])
    note = []
    if activity["rows_hidden"]:
        note = [{"text": f"busiest {rows} members shown; {activity['rows_hidden']} more not drawn",
                 "xref": "paper", "yref": "paper", "x": 1, "y": 1.06, "showarrow": False, "xanchor": "right",
                 "font": {"size": 10, "color": "#667085"}}]
    trace = {"type": "heatmap", "x": [t.isoformat() for t in activity["x"]], "y": activity["y"], "z": activity["z"],
             "colorscale": [[0, "#ffffff"], [0.02, "#dbe4ff"], [0.4, "#5b7cff"], [1, "#101a5e"]],
             "hovertemplate": "%{y}<br>%{x}<br>%{z} requests<extra></extra>", "colorbar": {"thickness": 8},
             "xgap": 0, "ygap": 1}
    return figure([trace], height=max(220, min(560, 60 + 9 * rows)), legend=False, annotations=note,
                  yaxis={"showticklabels": rows <= 40, "tickfont": {"size": 9}, "autorange": "reversed"})


def _bar(frame, column: str, labels=None) -> dict:
    if frame.empty:
        return empty_figure("no data", height=120)
    shown = frame.head(8)
    names = [labels(v) if labels else str(v) for v in shown[column]]
    return hbar_figure(names, shown["requests"].tolist())


def mix_row(mix: dict) -> dbc.Row:
    names = queries.as_names(current().store, mix["asn"]["sample_ip"].tolist()) if not mix["asn"].empty else {}
    return dbc.Row([
        dbc.Col(card("By IP country", dcc.Graph(figure=_bar(mix["country"], "country"),
                                                config=GRAPH_CONFIG), id=ids.CLUSTER_MIX), md=4),
        dbc.Col(card("By ASN", dcc.Graph(figure=_bar(mix["asn"], "asn", labels=lambda a: (
            f"AS{int(a)} {names.get(int(a), '')}".strip() if pd.notna(a) else "unknown")),
            config=GRAPH_CONFIG)), md=4),
        dbc.Col(card("By network kind", dcc.Graph(figure=_bar(mix["ip_kind"], "ip_kind"),
                                                  config=GRAPH_CONFIG)), md=4),
    ])


# -- evidence, attribution, exposure, history -----------------------------------------


def evidence_view(cluster: dict) -> object:
    """Score contributions as bars, then one collapsible table per evidence section."""
    evidence = cluster.get("evidence") if isinstance(cluster.get("evidence"), dict) else {}
    parts = []
    contributions = evidence.get("contributions")
    if isinstance(contributions, dict) and contributions:
        ranked = sorted(contributions.items(), key=lambda kv: -kv[1])
        parts.append(html.Div("Score contributions", className="small fw-semibold text-secondary"))
        parts.append(html.Div(SCORE_UNITS, className="small text-secondary", id=ids.CLUSTER_SCORE_UNITS))
        parts.append(dcc.Graph(figure=hbar_figure([k.replace("_", " ") for k, _ in ranked], [v for _, v in ranked],
                                                  colour="#7a5af8", text_format="{:.2f}"), config=GRAPH_CONFIG))
    items = []
    for section in evidence_sections(evidence, skip=SHOWN_APART):
        head = html.Thead(html.Tr([html.Th(c) for c in section["columns"]] + [html.Th("")]))
        body = html.Tbody([
            html.Tr([html.Td(cell, className="mono" if len(cell) > 8 else None) for cell in row] + [html.Td(
                dbc.Button(f"{len(section['event_ids'][i])} requests", size="sm", color="link", className="p-0",
                           id={"type": ids.EVIDENCE_REQUESTS, "index": f"{section['key']}:{i}"})
                if section["event_ids"][i] else None)])
            for i, row in enumerate(section["rows"])
        ])
        shown = len(section["rows"])
        more = f" (top {shown} of {fmt_int(section['total'])})" if section["total"] > shown else ""
        items.append(dbc.AccordionItem(dbc.Table([head, body], size="sm", hover=True, responsive=True,
                                                 className="mb-0"),
                                       title=f"{section['title']}: {fmt_int(section['total'])}{more}",
                                       item_id=section["key"]))
    statistics = evidence.get("statistics")
    if isinstance(statistics, dict) and statistics:
        items.append(dbc.AccordionItem(kv_list([(k.replace("_", " "), format_cell(k, v))
                                                for k, v in statistics.items()]),
                                       title=f"Statistics: {len(statistics)}", item_id="statistics"))
    if items:
        parts.append(dbc.Accordion(items, start_collapsed=True, always_open=True, flush=True, className="mt-2"))
    return html.Div(parts) if parts else html.Div("No evidence recorded.", className="text-secondary small")


def attribution_view(cluster: dict, analysts: dict | None) -> object:
    """Detection's hints, the clock reconciled with the analysts' attribution (``analysts``), if any."""
    pairs = attribution_summary(cluster.get("attribution"), (analysts or {}).get("country"), cluster.get("first_seen"))
    if not pairs:
        return html.Div("No attribution hints.", className="text-secondary small")
    return kv_list(pairs)


def exposure_view(exposure) -> object:
    by_country, facts = exposure_summary(exposure)
    parts = [kv_list(facts)] if facts else []
    if by_country:
        items = sorted(by_country.items(), key=lambda kv: -kv[1])
        parts.insert(0, html.Div(f"{fmt_int(exposed_accounts(exposure))} exposed accounts in {len(items)} countries",
                                 className="small fw-semibold"))
        parts.append(dcc.Graph(figure=hbar_figure([f"{k} · {country_name(k)}" for k, _ in items[:12]],
                                                  [v for _, v in items[:12]], colour="#f04438"),
                               config=GRAPH_CONFIG))
    return html.Div(parts) if parts else html.Div("No exposure recorded.", className="text-secondary small")


def history_view(history: list[dict]) -> object:
    if not history:
        return html.Div("Only this run.", className="text-secondary small")
    runs = {run["run_id"]: run for run in current().store.runs()}
    rows = [{"run": h["run_id"], "started": fmt_time((runs.get(h["run_id"]) or {}).get("started_at")),
             "score": round(h.get("score") or 0.0, 3), "size": h.get("size"), "kind": h.get("kind") or "",
             "country": h.get("top_ip_country") or "", "last_seen": fmt_time(h.get("last_seen"))}
            for h in history]
    return table(ids.CLUSTER_HISTORY + "-table", rows[::-1],
                 [("run", "Run"), ("started", "Run started"), ("score", "Score"), ("size", "Accounts"),
                  ("kind", "Kind"), ("country", "Top country"), ("last_seen", "Last request")])


def requests_table(frame) -> object:
    if frame.empty:
        return html.Div("No requests.", className="text-secondary small")
    rows = []
    for r in frame.itertuples():
        ordinal = fmt_int(r.block_ordinal)
        rows.append({
            "ts": fmt_time(queries.as_utc(r.ts), seconds=True), "account": txt(r.account_id),
            "endpoint": txt(r.endpoint), "ip": txt(r.ip), "country": txt(r.ip_country),
            "asn": f"AS{int(r.ip_asn)}" if txt(r.ip_asn) else "",
            "network": txt(r.ip_kind), "device": txt(r.device_id), "client": txt(r.user_agent_family),
            "status": fmt_int(r.status),
            "phone": f"{txt(r.phone_region) or '?'} #{int(r.block_ordinal):03d}" if ordinal else "",
            "matched": txt(r.matched_account_id),
        })
    return table(ids.CLUSTER_REQUESTS + "-table", rows,
                 [("ts", "Time"), ("account", "Account"), ("endpoint", "Endpoint"), ("ip", "IP"),
                  ("country", "Country"), ("asn", "ASN"), ("network", "Network"), ("device", "Device"),
                  ("client", "Client"), ("status", "HTTP"), ("phone", "Number (region #pos in block)"),
                  ("matched", "Matched account")], page_size=12)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template=PATH_TEMPLATE, name="Cluster", title="Cluster · sybilscope",
                       layout=layout)

    judgement_form.register(app)

    @app.callback(Output(GRAPH_PART, "children"), Input(ids.CLUSTER_ID, "data"))
    def graph(cluster_id):
        return graph_part(cluster_id)

    @app.callback(Output(EVIDENCE_PART, "children"), Input(ids.CLUSTER_ID, "data"))
    def evidence(cluster_id):
        return evidence_part(cluster_id)

    @app.callback(
        Output(ids.CLUSTER_REQUESTS, "children", allow_duplicate=True),
        Input({"type": ids.EVIDENCE_REQUESTS, "index": ALL}, "n_clicks"),
        State(ids.EVIDENCE_EVENTS, "data"),
        prevent_initial_call=True,
    )
    def evidence_requests(_clicks, events):
        if not ctx.triggered or not ctx.triggered[0]["value"] or not isinstance(ctx.triggered_id, dict):
            raise dash.exceptions.PreventUpdate
        index = ctx.triggered_id["index"]
        return evidence_requests_view(index, (events or {}).get(index, []))

    @app.callback(
        Output(ids.CLUSTER_REQUESTS, "children"),
        Input(ids.CLUSTER_GRAPH, "tapNodeData"),
        State(ids.CLUSTER_ID, "data"),
        prevent_initial_call=True,
    )
    def requests_through(node, cluster_id):
        if not node or node.get("kind") not in ("ip", "device", "account"):
            raise dash.exceptions.PreventUpdate
        return requests_view(cluster_id, node)


def requests_view(cluster_id: str, node: dict) -> html.Div:
    """The requests behind one graph node: through an IP or device, or by one member."""
    state = current()
    cluster = queries.find_cluster(state.store, cluster_id)
    accounts = [node["key"]] if node["kind"] == "account" else [m["account_id"] for m in _members(cluster)]
    frame = queries.member_requests(state.con(), accounts, ip=node["key"] if node["kind"] == "ip" else None,
                                    device_id=node["key"] if node["kind"] == "device" else None)
    what = {"ip": "IP", "device": "device", "account": "account"}[node["kind"]]
    return html.Div([
        html.Div([f"Requests through {what} " if node["kind"] != "account" else "Requests by account ",
                  html.Span(node["key"], className="mono fw-semibold"), " · ",
                  dcc.Link("open its page", href=entity_href(node["kind"], node["key"]))],
                 className="small mb-2"),
        requests_table(frame),
    ])


def evidence_requests_view(index: str, event_ids: list[str]) -> html.Div:
    """The requests detection cited for one evidence row."""
    frame = queries.requests_by_ids(current().con(), event_ids)
    section, _, row = index.partition(":")
    title = SECTION_TITLES.get(section, section)
    return html.Div([html.Div(f"Requests behind {title.lower()}, row {int(row) + 1}: {len(frame)} shown",
                              className="small mb-2"), requests_table(frame)])
