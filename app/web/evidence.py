"""The cluster page's evidence card, and every request behind an evidence row, a page at a time.

Each row's "requests" button lists the members' requests the row rests
on (:func:`app.web.queries.evidence_requests`): all of them, newest first,
:data:`~app.web.queries.EVIDENCE_PAGE_SIZE` a page, with Previous and Next,
in the page's "Underlying requests" card. Columns read identifier first,
then counts, then what kind of thing it is, then times.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from app.present.evidence import SECTION_TITLES, evidence_sections, format_cell
from app.present.quantities import SCORE_UNITS
from app.web import cache, ids, queries
from app.web.components import fmt_int, hbar_figure, kv_list, requests_table
from app.web.state import current

__all__ = ["HIDDEN", "SHOWN_APART", "evidence_selectors", "evidence_view", "ordered_columns", "pager", "register"]

#: evidence the page shows in a card of its own rather than in the evidence list
SHOWN_APART = ("sub_groups",)
_FIRST = ("id", "block", "a", "b", "endpoint")
_COUNTS = ("members", "accounts", "requests", "lookups", "numbers", "matched", "outside accounts", "shared blocks",
           "overlap", "expected overlap", "coverage", "complementarity")
_TIMES = ("start", "end", "first seen", "last seen", "at", "ts")


def ordered_columns(columns: list[str]) -> list[int]:
    """The reading order of evidence columns, as indexes: identifier, counts, descriptors, times.

    >>> ordered_columns(["asn", "country", "id", "kind", "members", "requests", "start"])
    [2, 4, 5, 0, 1, 3, 6]
    """
    def rank(i: int) -> tuple[int, int]:
        name = columns[i]
        for group, names in enumerate((_FIRST, _COUNTS)):
            if name in names:
                return group, names.index(name)
        return (3, _TIMES.index(name)) if name in _TIMES else (2, i)

    return sorted(range(len(columns)), key=rank)


def evidence_selectors(evidence: dict | None) -> dict[str, dict]:
    """Evidence row (``"<section>:<row>"``) -> what selects its requests (:func:`app.web.queries.evidence_selector`)."""
    found: dict[str, dict] = {}
    for section in evidence_sections(evidence, skip=SHOWN_APART):
        value = (evidence or {}).get(section["key"])
        top = value.get("top") if isinstance(value, dict) else value
        if not isinstance(top, list):
            continue
        for i in range(len(section["rows"])):
            selector = queries.evidence_selector(section["key"], top[i])
            if selector.get("values") or selector.get("event_ids"):
                found[f"{section['key']}:{i}"] = selector
    return found


def evidence_view(cluster: dict, selectors: dict[str, dict]) -> object:
    """Score contributions as bars, then one collapsible table per evidence section."""
    evidence = cluster.get("evidence") if isinstance(cluster.get("evidence"), dict) else {}
    parts = []
    contributions = evidence.get("contributions")
    if isinstance(contributions, dict) and contributions:
        ranked = sorted(contributions.items(), key=lambda kv: -kv[1])
        parts.append(html.Div("Score contributions", className="small fw-semibold text-secondary"))
        parts.append(html.Div(SCORE_UNITS, className="small text-secondary", id=ids.CLUSTER_SCORE_UNITS))
        parts.append(dcc.Graph(figure=hbar_figure([k.replace("_", " ") for k, _ in ranked], [v for _, v in ranked],
                                                  colour="#7a5af8", text_format="{:.2f}"),
                               config={"displaylogo": False}))
    items = []
    for section in evidence_sections(evidence, skip=SHOWN_APART):
        order = ordered_columns(section["columns"])
        head = html.Thead(html.Tr([html.Th(section["columns"][c]) for c in order] + [html.Th("")]))
        body = html.Tbody([
            html.Tr([html.Td(row[c], className="mono" if len(row[c]) > 8 else None) for c in order] + [html.Td(
                dbc.Button("requests →", size="sm", color="link", className="p-0",
                           id={"type": ids.EVIDENCE_REQUESTS, "index": f"{section['key']}:{i}"})
                if f"{section['key']}:{i}" in selectors else None)])
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


def pager() -> html.Div:
    """Previous, the page, Next: above the requests card, shown while an evidence row's requests are listed."""
    return html.Div([
        dbc.Button("← Previous", id=ids.EVIDENCE_PREVIOUS, size="sm", color="secondary", outline=True),
        html.Span(id=ids.EVIDENCE_PAGE_LABEL, className="small"),
        dbc.Button("Next →", id=ids.EVIDENCE_NEXT, size="sm", color="secondary", outline=True),
    ], className="button-row mb-2", id=ids.EVIDENCE_PAGER, style=HIDDEN)


HIDDEN = {"display": "none"}


def evidence_requests_view(cluster_id: str, index: str, selector: dict, page: int) -> tuple[html.Div, int]:
    """One page of the requests behind evidence row ``index``, and how many pages there are."""
    state = current()
    accounts = ([m["account_id"] for m in cache.cluster_facts(cluster_id)[1]]
                if queries.find_cluster(state.store, cluster_id) else [])
    size = queries.EVIDENCE_PAGE_SIZE
    frame, total = queries.evidence_requests(state.con(), accounts, selector, page=page, page_size=size)
    section, _, row = index.partition(":")
    title = SECTION_TITLES.get(section, section)
    said = (f"Requests behind {title.lower()}, row {int(row) + 1}: {fmt_int(total)} in all"
            + (f", {fmt_int(page * size + 1)}–{fmt_int(min(total, (page + 1) * size))} shown" if total else ""))
    return (html.Div([html.Div(said, className="small mb-2"),
                      requests_table(ids.CLUSTER_REQUESTS + "-table", frame, page_size=size)]),
            max(1, -(-total // size)))


def register(app: dash.Dash) -> None:
    """A row's button shows its first page; Previous and Next move through the rest."""

    @app.callback(
        Output(ids.CLUSTER_REQUESTS, "children", allow_duplicate=True),
        Output(ids.EVIDENCE_PAGE, "data"),
        Output(ids.EVIDENCE_PAGER, "style"),
        Output(ids.EVIDENCE_PAGE_LABEL, "children"),
        Output(ids.EVIDENCE_PREVIOUS, "disabled"),
        Output(ids.EVIDENCE_NEXT, "disabled"),
        Input({"type": ids.EVIDENCE_REQUESTS, "index": ALL}, "n_clicks"),
        Input(ids.EVIDENCE_PREVIOUS, "n_clicks"),
        Input(ids.EVIDENCE_NEXT, "n_clicks"),
        State(ids.EVIDENCE_PAGE, "data"),
        State(ids.EVIDENCE_SELECTORS, "data"),
        State(ids.CLUSTER_ID, "data"),
        prevent_initial_call=True,
    )
    def evidence_requests(_rows, _previous, _next, shown, selectors, cluster_id):
        if not ctx.triggered or not ctx.triggered[0]["value"]:
            raise dash.exceptions.PreventUpdate
        if isinstance(ctx.triggered_id, dict):
            index, page = ctx.triggered_id["index"], 0
        elif shown:
            index, page = shown["index"], shown["page"] + (1 if ctx.triggered_id == ids.EVIDENCE_NEXT else -1)
        else:
            raise dash.exceptions.PreventUpdate
        selector = (selectors or {}).get(index)
        if selector is None:
            raise dash.exceptions.PreventUpdate
        page = max(0, page)
        view, pages = evidence_requests_view(cluster_id, index, selector, page)
        return (view, {"index": index, "page": page}, {}, f"page {page + 1} of {pages}", page <= 0,
                page + 1 >= pages)
