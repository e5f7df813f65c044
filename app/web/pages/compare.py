"""Compare: two or more clusters side by side, to judge whether one operator runs them.

Reached from the queue (tick rows, "Compare selected") or by address,
``/compare?c=C-1&c=C-2``. Three views answer the question together: when
each works (hour-of-week rhythms, overlaid), what they work through (the
addresses, prefixes, ASNs and devices two or more of them use) and whom they
look up (shared numbers, as counts, Jaccard and shortened keyed hashes).
Everything is read when the page opens, once a version of the data
(:meth:`~app.web.state.WebState.data_version`); there are no callbacks.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.web.components import card, entity_href, figure, fmt_int, fmt_time, link, table
from app.web.queries.compare import (
    INFRA_KINDS,
    MAX_CLUSTERS,
    Comparison,
    compare_clusters,
    hour_of_week_label,
)
from app.web.state import current
from graph import triage

__all__ = ["PATH", "cluster_ids", "layout", "register"]

PATH = "/compare"
COMPARE_CLUSTERS = "compare-clusters"
COMPARE_PAIRS = "compare-pairs"
COMPARE_RHYTHM = "compare-rhythm"
COMPARE_HEATMAPS = "compare-heatmaps"
COMPARE_INFRA = "compare-infrastructure"
COMPARE_NUMBERS = "compare-numbers"
GRAPH_CONFIG = {"displaylogo": False}
_INFRA_WORDS = {"ip": "IPs", "prefix": "prefixes", "asn": "ASNs", "device": "devices"}
_COLOURS = ("#2e5bff", "#f04438", "#12b76a", "#f79009", "#7a5af8", "#06aed4")


def cluster_ids(query: dict) -> list[str]:
    """The clusters a query string names: ``c`` repeated, or comma-separated."""
    given = query.get("c") or []
    values = [given] if isinstance(given, str) else list(given)
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def layout(**query) -> html.Div:
    wanted = cluster_ids(query)
    title = html.H1("Compare clusters", className="page-title")
    if len(wanted) < 2:
        return html.Div([title, html.P("Pick two or more clusters: tick their rows in the triage queue and "
                                       "choose \u201cCompare selected\u201d.", className="text-secondary"),
                         dcc.Link("Back to the triage queue", href="/")])
    if len(wanted) > MAX_CLUSTERS:
        return html.Div([title, html.P(f"Pick at most {MAX_CLUSTERS} clusters: {len(wanted)} is too many to read "
                                       "side by side.", className="text-secondary"),
                         dcc.Link("Back to the triage queue", href="/")])
    state = current()
    comparison = state.cached(("compare", tuple(wanted), *state.data_version()),
                              lambda: compare_clusters(state.con(), state.store, wanted))
    missing = html.Div(f"No detection run found {', '.join(comparison.missing)}.",
                       className="alert alert-warning py-1 small") if comparison.missing else None
    if len(comparison.clusters) < 2:
        return html.Div([title, missing, dcc.Link("Back to the triage queue", href="/")])
    return html.Div([
        title,
        html.Div("Do these look like one operator? When they work, what they work through, whom they look up.",
                 className="page-subtitle section-gap"),
        missing,
        card("Clusters", clusters_table(comparison)),
        card("One operator?", pairs_table(comparison),
             hint="pair by pair: rhythm similarity 1 = the same hours of the week; Jaccard 1 = the same numbers"),
        card("Activity by hour of week (UTC)", [
            dcc.Graph(id=COMPARE_RHYTHM, figure=rhythm_figure(comparison), config=GRAPH_CONFIG),
            dbc.Row([dbc.Col(dcc.Graph(figure=week_heatmap(cid, comparison.rhythms[cid]), config=GRAPH_CONFIG),
                             md=12 // min(len(comparison.clusters), 3))
                     for cid in comparison.rhythms], id=COMPARE_HEATMAPS),
        ], hint="overlaid: each cluster's share of its own requests in each hour"),
        card("Shared infrastructure", infrastructure_table(comparison),
             hint="addresses, /24 or /48 prefixes, ASNs and devices two or more of them use"),
        card("Target-list overlap", numbers_view(comparison),
             hint="numbers as keyed hashes, shortened; never the numbers themselves"),
    ])


def clusters_table(comparison: Comparison) -> object:
    judgements = triage.cluster_judgements(current().store)
    rows = [{
        "cluster": link(row["cluster_id"], f"/cluster/{row['cluster_id']}"),
        "tradecraft": triage.cluster_tradecraft_name(row),
        "score": round(row.get("score") or 0.0, 3),
        "size": row.get("size"),
        "status": judgements.get(row["cluster_id"], triage.EntityJudgement()).status,
        "numbers": fmt_int(comparison.numbers.get(row["cluster_id"], 0)),
        "first_seen": fmt_time(row.get("first_seen")),
        "last_seen": fmt_time(row.get("last_seen")),
    } for row in comparison.clusters]
    return table(COMPARE_CLUSTERS, rows, [
        ("cluster", "Cluster", "markdown"), ("tradecraft", "Tradecraft"), ("score", "Score"), ("size", "Accounts"),
        ("status", "Status"), ("numbers", "Numbers looked up"), ("first_seen", "First request (UTC)"),
        ("last_seen", "Last request (UTC)")])


def pairs_table(comparison: Comparison) -> object:
    rows = [{"pair": f"{p['a']} · {p['b']}", "rhythm": p["rhythm_similarity"],
             **{kind: p[kind] for kind in INFRA_KINDS}, "numbers": p["numbers_shared"], "jaccard": p["jaccard"]}
            for p in comparison.pairs]
    return table(COMPARE_PAIRS, rows, [
        ("pair", "Pair"), ("rhythm", "Rhythm similarity"),
        *((kind, f"Shared {_INFRA_WORDS[kind]}") for kind in INFRA_KINDS),
        ("numbers", "Shared numbers"), ("jaccard", "Jaccard of numbers")])


def rhythm_figure(comparison: Comparison) -> dict:
    hours = [hour_of_week_label(h) for h in range(168)]
    traces = []
    for i, (cluster_id, counts) in enumerate(comparison.rhythms.items()):
        total = sum(counts) or 1
        traces.append({"type": "scatter", "mode": "lines", "name": cluster_id, "x": hours,
                       "y": [round(100 * n / total, 2) for n in counts],
                       "line": {"width": 1.5, "color": _COLOURS[i % len(_COLOURS)], "shape": "hv"},
                       "hovertemplate": f"{cluster_id}: %{{y}}% at %{{x}}<extra></extra>"})
    return figure(traces, height=300, yaxis={"title": {"text": "% of the cluster's requests"}},
                  xaxis={"tickvals": hours[::24], "ticktext": [h.split()[0] for h in hours[::24]]},
                  hovermode="x unified")


def week_heatmap(cluster_id: str, counts: list[int]) -> dict:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    trace = {"type": "heatmap", "x": [f"{h:02d}" for h in range(24)], "y": list(days),
             "z": [counts[24 * d:24 * d + 24] for d in range(7)], "showscale": False,
             "colorscale": [[0, "#ffffff"], [0.02, "#dbe4ff"], [0.4, "#5b7cff"], [1, "#101a5e"]],
             "hovertemplate": "%{y} %{x}h UTC: %{z} requests<extra></extra>"}
    return figure([trace], height=220, legend=False, title={"text": cluster_id, "font": {"size": 12}},
                  yaxis={"autorange": "reversed"}, margin={"l": 40, "r": 10, "t": 30, "b": 30})


def infrastructure_table(comparison: Comparison) -> object:
    if not comparison.shared_infrastructure:
        return html.Div("They share no address, prefix, ASN or device.", className="text-secondary small")
    names = {"ip": "IP", "prefix": "prefix", "asn": "ASN", "device": "device"}
    rows = [{"kind": names[row["kind"]],
             "key": link(row["key"], entity_href(row["kind"], row["key"])) if row["kind"] in ("ip", "device")
             else (f"AS{row['key']}" if row["kind"] == "asn" else row["key"]),
             "clusters": ", ".join(row["clusters"]), "requests": row["requests"]}
            for row in comparison.shared_infrastructure[:300]]
    return table(COMPARE_INFRA, rows, [("kind", "Kind"), ("key", "Shared", "markdown"), ("clusters", "Used by"),
                                       ("requests", "Their requests")], page_size=12)


def numbers_view(comparison: Comparison) -> object:
    if not comparison.shared_numbers:
        return html.Div("They looked up no number in common.", className="text-secondary small",
                        id=COMPARE_NUMBERS)
    rows = [{"clusters": ", ".join(row["clusters"]), "numbers": fmt_int(row["numbers"]),
             "hashes": " ".join(row["hashes"][:6]) + (" …" if row["numbers"] > 6 else "")}
            for row in comparison.shared_numbers]
    return table(COMPARE_NUMBERS, rows, [("clusters", "Looked up by"), ("numbers", "Numbers in common"),
                                         ("hashes", "Some of them (keyed hashes)")], page_size=10)


def register(_app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Compare", title="Compare · sybilscope", layout=layout)
