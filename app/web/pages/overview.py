"""Overview: the traffic at a glance and the triage queue, the analyst's home page."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import flask_login
from dash import Input, Output, State, dcc, html

from app.present.countries import country_name
from app.web import cache, ids, queries
from app.web import judgement as judgement_form
from app.web.components import (
    STATUS_LABELS,
    card,
    empty_figure,
    entity_href,
    figure,
    fmt_int,
    fmt_time,
    kpi,
    link,
    table,
    txt,
)
from app.web.geo import TOPOJSON_URL, alpha3, map_countries
from app.web.state import current
from graph import triage
from graph.schema import CLUSTER_STATUSES

PATH = "/"
QUEUE_KIND = "queue-filter-kind"
QUEUE_TAG = "queue-filter-tag"
QUEUE_COMPARE = "queue-compare"  # link to the compare page for the selected rows
QUEUE_BRIEF = "queue-brief"  # one briefing on the selected rows as one operation (served by app.web.downloads)
QUEUE_BRIEF_FILE = "queue-brief-file"
GRAPH_CONFIG = {"displaylogo": False, "topojsonURL": TOPOJSON_URL, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
# time windows relative to the end of the data (cases are historical, "now" means nothing)
WINDOWS = {"all": None, "7d": 7, "1d": 1, "6h": 0.25}
WINDOW_LABELS = {"all": "All", "7d": "Last 7 days", "1d": "Last 24 h", "6h": "Last 6 h"}


def window_for(choice: str | None) -> queries.Window:
    """The query window for a window choice, anchored on the last request in the workspace."""
    days = WINDOWS.get(choice or "all")
    _, end = queries.data_window(current().con())
    return queries.Window.last(days, end)


def layout(**_query) -> html.Div:
    first, last = queries.data_window(current().con())
    span = f"Requests from {fmt_time(first)} to {fmt_time(last)}" if first else "No requests ingested yet"
    run_id = cache.latest_run_id()
    clusters = cache.run_clusters(run_id)
    countries = sorted({code for row in clusters for code in triage.cluster_country_codes(row)})
    kinds = sorted({triage.cluster_tradecraft_name(row) for row in clusters})
    tags = sorted({tag for j in triage.cluster_judgements(current().store).values() for tag in j.tags})
    header = dbc.Row([
        dbc.Col([html.H1("Overview", className="page-title"), html.Div(span, className="page-subtitle")]),
        dbc.Col(dbc.RadioItems(
            id=ids.OVERVIEW_WINDOW, value="all", inline=True, input_class_name="btn-check",
            label_class_name="btn btn-sm btn-outline-secondary", label_checked_class_name="active",
            options=[{"label": label, "value": key} for key, label in WINDOW_LABELS.items()],
        ), width="auto", className="d-flex align-items-center"),
    ], className="section-gap align-items-center")

    traffic = dbc.Row([
        dbc.Col(card("Requests over time by endpoint", dcc.Graph(id=ids.TIMELINE_GRAPH, config=GRAPH_CONFIG),
                     hint="UTC"), lg=7),
        dbc.Col(card("Request volume by IP country", [
            dcc.Graph(id=ids.WORLD_MAP, config=GRAPH_CONFIG),
            html.Div(id=ids.COUNTRY_BARS),
        ]), lg=5),
    ])
    tops = dbc.Row([
        dbc.Col(card("Top IP addresses", html.Div(id=ids.TOP_IPS)), lg=6),
        dbc.Col(card("Top autonomous systems", html.Div(id=ids.TOP_ASNS)), lg=6),
    ])
    filters = dbc.Row([
        dbc.Col([dbc.Label("Status", className="small fw-semibold text-secondary mb-0"),
                 dcc.Dropdown(id=ids.QUEUE_STATUS, multi=True, placeholder="any status",
                              options=[{"label": STATUS_LABELS[s], "value": s} for s in CLUSTER_STATUSES])], md=3),
        dbc.Col([dbc.Label("Minimum score", className="small fw-semibold text-secondary mb-0"),
                 dcc.Slider(id=ids.QUEUE_MIN_SCORE, min=0, max=1, step=0.05, value=0,
                            marks={0: "0", 0.5: "0.5", 1: "1"}, tooltip={"placement": "bottom"})], md=3),
        dbc.Col([dbc.Label("IP country", className="small fw-semibold text-secondary mb-0"),
                 dcc.Dropdown(id=ids.QUEUE_COUNTRY, placeholder="any country",
                              options=[{"label": f"{c} · {country_name(c)}", "value": c} for c in countries])], md=2),
        dbc.Col([dbc.Label("Tradecraft", className="small fw-semibold text-secondary mb-0"),
                 dcc.Dropdown(id=QUEUE_KIND, multi=True, placeholder="any tradecraft", options=kinds)], md=2),
        dbc.Col([dbc.Label("Tag", className="small fw-semibold text-secondary mb-0"),
                 dcc.Dropdown(id=QUEUE_TAG, multi=True, placeholder="any tag", options=tags)], md=2),
    ], className="g-3 mb-2")
    search = dbc.Row(dbc.Col([
        dbc.Label("Find account, @handle, IP, device or cluster", className="small fw-semibold text-secondary mb-0"),
        dbc.InputGroup([
            dbc.Input(id=ids.SEARCH_INPUT, placeholder="e.g. 5.160.10.1 or @nightowl_88"),
            dbc.Button("Search", id=ids.SEARCH_BUTTON, color="primary"),
        ], size="sm")], md=6), className="g-3 mb-2")
    queue = card(
        ["Triage queue ", html.Span(id=ids.QUEUE_COUNT, className="hint")],
        [filters, search, html.Div(id=ids.SEARCH_RESULTS, className="mb-2"), dcc.Store(id=ids.QUEUE_REFRESH, data=0),
         html.Div(id=ids.QUEUE_BULK_FEEDBACK, className="mb-2"), html.Div(id=ids.QUEUE_TABLE)],
        hint=f"run {run_id}" if run_id else "no detection run yet",
        extra=html.Div(id=ids.QUEUE_ACTIONS, className="button-row"),
    )
    kpis = html.Div(id=ids.OVERVIEW_KPIS, className="section-gap")
    return html.Div([header, kpis, queue, traffic, tops])


# -- figures and tables (pure shaping of query results) -------------------------------


def timeline_figure(frame) -> dict:
    if frame.empty:
        return empty_figure("No requests in this window")
    wide = frame.pivot_table(index="bucket", columns="endpoint", values="requests", aggfunc="sum", fill_value=0)
    x = [ts.isoformat() for ts in wide.index]
    traces = [{"type": "scatter", "mode": "lines", "stackgroup": "requests", "name": endpoint, "x": x,
               "y": wide[endpoint].tolist(), "line": {"width": 1, "shape": "hv"},
               "hovertemplate": f"{endpoint}: %{{y:,}}<extra></extra>"}
              for endpoint in wide.sum().sort_values(ascending=False).index]
    return figure(traces, height=320, yaxis={"title": {"text": "requests / bucket"}}, hovermode="x unified")


def world_figure(frame) -> dict:
    if frame.empty:
        return empty_figure("No requests in this window", height=300)
    known = frame[frame["country"] != "??"].copy()
    known["iso3"] = known["country"].map(alpha3)
    known = known.dropna(subset=["iso3"])
    everywhere = list(map_countries())
    base = {"type": "choropleth", "locations": everywhere, "z": [0] * len(everywhere), "locationmode": "ISO-3",
            "colorscale": [[0, "#eef0f3"], [1, "#eef0f3"]], "showscale": False, "hoverinfo": "skip",
            "marker": {"line": {"color": "#ffffff", "width": 0.4}}}
    volume = {
        "type": "choropleth", "locations": known["iso3"].tolist(), "z": known["requests"].tolist(),
        "locationmode": "ISO-3", "text": [f"{country_name(c)} ({c})" for c in known["country"]],
        "customdata": known[["accounts", "ips"]].values.tolist(),
        "hovertemplate": "<b>%{text}</b><br>%{z:,} requests<br>%{customdata[0]:,} callers"
                         "<br>%{customdata[1]:,} IPs<extra></extra>",
        "colorscale": [[0, "#e0e8ff"], [0.5, "#5b7cff"], [1, "#1a237e"]],
        "marker": {"line": {"color": "#ffffff", "width": 0.4}}, "colorbar": {"thickness": 8, "len": 0.6},
    }
    geo = {"showframe": False, "showcoastlines": False, "showland": False, "showcountries": False,
           "showocean": False, "showlakes": False, "showrivers": False, "bgcolor": "rgba(0,0,0,0)",
           "projection": {"type": "natural earth"}, "lataxis": {"range": [-58, 84]},
           "lonaxis": {"range": [-170, 190]}}
    return figure([base, volume], height=300, legend=False, geo=geo, margin={"l": 0, "r": 0, "t": 0, "b": 0})


def country_list(frame) -> html.Div:
    total = int(frame["requests"].sum()) if not frame.empty else 0
    items = [
        html.Li([html.Span(f"{row.country} · {country_name(row.country)}"),
                 html.Span(f"{fmt_int(row.requests)} ({100 * row.requests / max(total, 1):.0f}%)")])
        for row in frame.head(6).itertuples()
    ]
    return html.Ul(items, className="count-list mt-2")


def _kpis(totals: dict) -> dbc.Row:
    labels = [("Requests", "requests"), ("Callers", "accounts"), ("Client IPs", "ips"), ("Devices", "devices"),
              ("Phone lookups", "lookups"), ("Lookups that matched", "matched")]
    return dbc.Row([dbc.Col(kpi(title, fmt_int(totals.get(key, 0)))) for title, key in labels], className="g-2")


def _ip_table(frame) -> object:
    rows = [{"ip": link(r.ip, entity_href("ip", r.ip)), "country": txt(r.country), "asn": f"AS{int(r.asn)}" if txt(r.asn) else "",
             "kind": txt(r.kind), "requests": int(r.requests), "accounts": int(r.accounts)}
            for r in frame.itertuples()]
    return table(ids.TOP_IPS + "-table", rows, [("ip", "IP", "markdown"), ("country", "Country"), ("asn", "ASN"),
                                                ("kind", "Network"), ("requests", "Requests"),
                                                ("accounts", "Callers")])


def _asn_table(frame, names: dict[int, str]) -> object:
    rows = [{"asn": f"AS{int(r.asn)}", "org": names.get(int(r.asn), ""), "country": txt(r.country),
             "requests": int(r.requests), "ips": int(r.ips), "accounts": int(r.accounts),
             "hosting": f"{100 * (r.hosting_share or 0):.0f}%"} for r in frame.itertuples()]
    return table(ids.TOP_ASNS + "-table", rows, [("asn", "ASN"), ("org", "Organisation"), ("country", "Country"),
                                                 ("requests", "Requests"), ("ips", "IPs"), ("accounts", "Callers"),
                                                 ("hosting", "Hosting/VPN")])


def queue_rows(queue: list[dict]) -> list[dict]:
    """Queue items as table rows: links, readable times, status words."""
    return [{
        "id": item["cluster_id"],  # the row's id: what the bulk status change applies to
        "cluster": link(item["cluster_id"], f"/cluster/{item['cluster_id']}"),
        "score": round(item["score"] or 0.0, 3),
        "size": item["size"],
        "tradecraft": item["tradecraft"],
        "headline": item["headline"],
        "status": STATUS_LABELS.get(item["status"], item["status"]),
        "assignee": item["assignee"] or "",
        "exposed": item["exposed"],
        "countries": item["countries"],
        "attribution": item["attribution"],
        "tlp": item["tlp"] or "",
        "tags": ", ".join(item["tags"]),
        "first_seen": fmt_time(item["first_seen"]),
        "last_seen": fmt_time(item["last_seen"]),
        "updated_at": fmt_time(item["updated_at"]),
    } for item in queue]


# data time (the requests) and analyst time (the labels) are separate columns, each named for what it is
QUEUE_COLUMNS = [("cluster", "Cluster", "markdown"), ("score", "Score"), ("size", "Accounts"),
                 ("tradecraft", "Tradecraft"), ("headline", "What sets it apart"), ("status", "Status"),
                 ("assignee", "Assignee"), ("exposed", "Accounts exposed"), ("countries", "IP countries"),
                 ("attribution", "Attribution (analyst)"), ("tlp", "TLP"), ("tags", "Tags"),
                 ("first_seen", "First request (data, UTC)"), ("last_seen", "Last request (data, UTC)"),
                 ("updated_at", "Last analyst update (UTC)")]


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Overview", title="Overview · sybilscope", layout=layout, order=0)

    @app.callback(
        Output(ids.OVERVIEW_KPIS, "children"),
        Output(ids.TIMELINE_GRAPH, "figure"),
        Output(ids.WORLD_MAP, "figure"),
        Output(ids.COUNTRY_BARS, "children"),
        Output(ids.TOP_IPS, "children"),
        Output(ids.TOP_ASNS, "children"),
        Input(ids.OVERVIEW_WINDOW, "value"),
    )
    def traffic(choice):
        return traffic_view(choice)

    @app.callback(
        Output(ids.QUEUE_TABLE, "children"),
        Output(ids.QUEUE_COUNT, "children"),
        Input(ids.QUEUE_STATUS, "value"),
        Input(ids.QUEUE_MIN_SCORE, "value"),
        Input(ids.QUEUE_COUNTRY, "value"),
        Input(ids.OVERVIEW_WINDOW, "value"),
        Input(ids.QUEUE_REFRESH, "data"),
        Input(QUEUE_KIND, "value"),
        Input(QUEUE_TAG, "value"),
    )
    def queue(statuses, min_score, country, choice, _refresh, kinds, tags):
        return queue_view(statuses, min_score, country, choice, kinds, tags)

    @app.callback(
        Output(QUEUE_COMPARE, "href"),
        Output(QUEUE_COMPARE, "className"),
        Output(QUEUE_BRIEF, "disabled"),
        Input(ids.QUEUE_TABLE + "-rows", "selected_row_ids"),
    )
    def compare_link(selected):
        return *compare_href(selected or []), not selected

    @app.callback(
        Output(ids.QUEUE_BULK_FEEDBACK, "children"),
        Output(ids.QUEUE_REFRESH, "data"),
        Input(ids.QUEUE_BULK_SUBMIT, "n_clicks"),
        Input(ids.QUEUE_BULK_REASON, "n_submit"),
        State(ids.QUEUE_TABLE + "-rows", "selected_row_ids"),
        State(ids.QUEUE_BULK_STATUS, "value"),
        State(ids.QUEUE_BULK_REASON, "value"),
        State(ids.QUEUE_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def bulk(_clicks, _submits, selected, status, reason, refresh):
        message, changed = bulk_status(selected or [], status, reason, flask_login.current_user)
        return message, (refresh or 0) + 1 if changed else dash.no_update

    @app.callback(
        Output(ids.SEARCH_RESULTS, "children"),
        Input(ids.SEARCH_BUTTON, "n_clicks"),
        Input(ids.SEARCH_INPUT, "n_submit"),
        State(ids.SEARCH_INPUT, "value"),
        prevent_initial_call=True,
    )
    def search(_clicks, _submits, text):
        return search_view(text)


def traffic_view(choice: str | None) -> tuple:
    """Everything above the queue for one time window (the callback's body, timed by the benchmark).

    Computed once for each window and version of the data (:meth:`WebState.data_version`).
    """
    state = current()
    return state.cached(("traffic", choice or "all", *state.data_version()), lambda: _traffic(choice))


def _traffic(choice: str | None) -> tuple:
    state = current()
    con = state.con()
    window = window_for(choice)
    by_country = queries.requests_by_country(con, window)
    asns = queries.top_asns(con, window)
    names = queries.as_names(state.store, asns["sample_ip"].tolist()) if not asns.empty else {}
    return (
        _kpis(queries.overview_totals(con, window)),
        timeline_figure(queries.requests_over_time(con, window)),
        world_figure(by_country),
        country_list(by_country),
        _ip_table(queries.top_ips(con, window)),
        _asn_table(asns, names),
    )


def queue_view(statuses, min_score, country, choice, kinds=None, tags=None) -> tuple:
    """The filtered triage queue."""
    run_id = cache.latest_run_id()
    if run_id is None:
        return (html.Div("No detection run yet: run `sybilscope detect` on this workspace.",
                         className="text-secondary"), "")
    rows = queries.triage_queue(
        current().store, clusters=cache.run_clusters(run_id), countries=cache.run_countries(run_id),
        statuses=statuses or None, min_score=float(min_score or 0), country=country, window=window_for(choice),
        kinds=kinds, tags=tags,
    )
    counts = queries.status_counts(rows)
    summary = f"{len(rows)} clusters · " + " · ".join(f"{counts[s]} {STATUS_LABELS[s].lower()}"
                                                      for s in CLUSTER_STATUSES)
    score_styles = [
        {"if": {"filter_query": "{score} >= 0.8", "column_id": "score"}, "backgroundColor": "#fee4e2", "fontWeight": 600},
        {"if": {"filter_query": "{score} >= 0.5 && {score} < 0.8", "column_id": "score"}, "backgroundColor": "#fef0c7"},
        {"if": {"filter_query": '{status} = "Confirmed"', "column_id": "status"}, "color": "#b42318", "fontWeight": 600},
        {"if": {"filter_query": '{status} = "In review"', "column_id": "status"}, "color": "#b54708", "fontWeight": 600},
        {"if": {"filter_query": '{status} = "Dismissed"', "column_id": "status"}, "color": "#027a48"},
    ]
    queue_table = table(ids.QUEUE_TABLE + "-rows", queue_rows(rows), QUEUE_COLUMNS, page_size=20,
                        style_data_conditional=score_styles, row_selectable="multi", selected_rows=[])
    return html.Div([bulk_bar(bool(rows)), queue_table]), summary


def bulk_bar(any_rows: bool) -> html.Div:
    """Set one status, with one reason, on every selected row (analysts; viewers see it disabled)."""
    off = not (any_rows and getattr(flask_login.current_user, "can_label", False))
    return html.Div([
        html.Span("Selected rows:", className="small fw-semibold text-secondary"),
        dbc.Select(id=ids.QUEUE_BULK_STATUS, value="in_review", size="sm", disabled=off,
                   options=[{"label": STATUS_LABELS[s], "value": s} for s in CLUSTER_STATUSES]),
        dbc.Input(id=ids.QUEUE_BULK_REASON, placeholder="Reason (required)", size="sm", disabled=off),
        dbc.Button("Set status", id=ids.QUEUE_BULK_SUBMIT, size="sm", color="primary", disabled=off),
        dcc.Link("Compare selected", id=QUEUE_COMPARE, href=compare_href([])[0], className=compare_href([])[1]),
        dbc.Button("Briefing for selected", id=QUEUE_BRIEF, size="sm", color="primary", outline=True, disabled=True,
                   title="One PDF briefing on the selected clusters as one operation"),
        dcc.Download(id=QUEUE_BRIEF_FILE),
        html.Span(["keys: ", html.Kbd("j"), "/", html.Kbd("k"), " move, ", html.Kbd("x"), " select, ",
                   html.Kbd("c"), " confirm, ", html.Kbd("d"), " dismiss, ", html.Kbd("?"), " help"],
                  className="hint ms-auto"),
    ], className="bulk-bar")


def compare_href(cluster_ids: list[str]) -> tuple[str, str]:
    """The compare page for the selected clusters, and the link's class (greyed out below two)."""
    query = urlencode([("c", cluster_id) for cluster_id in cluster_ids])
    enabled = len(cluster_ids) >= 2
    return f"/compare?{query}" if query else "/compare", "btn btn-sm btn-outline-primary" + ("" if enabled else " disabled")


def bulk_status(cluster_ids: list[str], status: str | None, reason: str | None, user) -> tuple[object, bool]:
    """Set ``status`` on each of ``cluster_ids``, each its own label and audit event; the message and whether any changed.

    The first refusal stops the rest (the same status and reason go to every
    cluster, so a bad one is refused before anything is written) and the
    message names what was set before it.
    """
    if not cluster_ids:
        return judgement_form.feedback("Not saved: select the clusters first (tick their rows, or x on the "
                                       "keyboard).", ok=False), False
    done: list[str] = []
    for cluster_id in cluster_ids:
        try:
            judgement_form.apply_label_action(cluster_id, "status", {"status": status, "reason": reason}, user)
        except Exception as exc:  # noqa: BLE001 - every refusal is shown, see judgement.refusal()
            before = f" Set before that: {', '.join(done)}." if done else ""
            said = f"{judgement_form.refusal(exc)} Refused on {cluster_id}.{before}"
            return judgement_form.feedback(said, ok=False), bool(done)
        done.append(cluster_id)
    word = STATUS_LABELS.get(status or "", status)
    return judgement_form.feedback(f"Set {len(done)} cluster{'s' if len(done) > 1 else ''} to {word}: "
                                   f"{', '.join(done)}.", ok=True), True


_KIND_WORD = {"cluster": "Cluster", "account": "Account", "ip": "IP", "device": "Device"}


def search_view(text: str | None) -> object:
    state = current()
    run_id = cache.latest_run_id()
    hits = queries.search(state.con(), state.store, text or "", members=cache.run_members(run_id),
                          handles=cache.handles())
    if not (text or "").strip():
        return None
    if not hits:
        return dbc.Alert(f"Nothing matches {text!r}.", color="light", className="py-2 small mb-0")
    items = []
    for hit in hits:
        href = f"/cluster/{hit['key']}" if hit["kind"] == "cluster" else entity_href(hit["kind"], hit["key"])
        extra = [" · in ", dcc.Link(hit["cluster_id"], href=f"/cluster/{hit['cluster_id']}")] if hit["cluster_id"] else []
        items.append(dbc.ListGroupItem([
            dbc.Badge(_KIND_WORD[hit["kind"]], color="secondary", className="me-2"),
            dcc.Link(hit["key"], href=href, className="mono fw-semibold"),
            html.Span([f" · {hit['detail']}", *extra], className="text-secondary small"),
        ], className="py-1"))
    return dbc.ListGroup(items, flush=True, className="border rounded")
