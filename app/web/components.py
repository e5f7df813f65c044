"""Small building blocks every page uses, so the pages stay short and look alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dash_table, html

from app.events import as_utc
from app.web.taxonomy import tag_family

__all__ = [
    "STATUS_LABELS",
    "card",
    "kpi",
    "status_badge",
    "score_pill",
    "fmt_time",
    "fmt_int",
    "txt",
    "shown",
    "kv_list",
    "table",
    "empty_figure",
    "figure",
    "hbar_figure",
    "tag_chip",
    "link",
    "entity_href",
    "cluster_href",
    "requests_table",
    "counted",
]

STATUS_LABELS = {"new": "New", "in_review": "In review", "confirmed": "Confirmed", "dismissed": "Dismissed"}
_FONT = "Inter, Segoe UI, system-ui, -apple-system, Helvetica Neue, Arial, sans-serif"
PALETTE = ["#2e5bff", "#f79009", "#12b76a", "#f04438", "#7a5af8", "#06aed4", "#ee46bc", "#667085"]


def card(title: Any, body: Any, *, hint: str | None = None, extra: Any = None, body_class: str = "",
         class_name: str = "section-gap", id: str | None = None) -> dbc.Card:  # noqa: A002 - Dash's word
    """A titled card; ``hint`` is a muted note in the header, ``extra`` sits at its right."""
    # the Dash renderer does not look for components inside nested lists: flatten the title
    parts = list(title) if isinstance(title, list | tuple) else [title]
    header = [html.Div([*parts, html.Span(f" · {hint}", className="hint") if hint else None])]
    if extra is not None:
        header.append(extra)
    kwargs = {"id": id} if id else {}
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body, className=body_class)], className=class_name, **kwargs)


def kpi(label: str, value: Any, id: str | None = None) -> html.Div:  # noqa: A002
    kwargs = {"id": id} if id else {}
    return html.Div([html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value", **kwargs)],
                    className="kpi")


def status_badge(status: str, id: str | None = None) -> html.Span:  # noqa: A002
    kwargs = {"id": id} if id else {}
    return html.Span(STATUS_LABELS.get(status, status), className=f"status-badge status-{status}", **kwargs)


def score_colour(score: float | None) -> str:
    """Background for a score: red when it says "suspected network" (>= 0.5), amber, grey."""
    score = score or 0.0
    if score >= 0.8:
        return "#fee4e2"
    if score >= 0.5:
        return "#fef0c7"
    return "#f2f4f7"


def score_pill(score: float | None) -> html.Span:
    return html.Span(f"{(score or 0.0):.2f}", className="score-pill", style={"background": score_colour(score)})


def fmt_time(value: datetime | None, *, seconds: bool = False) -> str:
    """UTC time as analysts write it (``2019-12-24 06:01 UTC``); empty for ``None``."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def txt(value: Any) -> str:
    """A cell's text: empty for ``None``, NaN and pandas' NA (nullable columns from DuckDB)."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists and other containers
        pass
    return str(value)


# Characters that reorder or hide text on screen: C0 and C1 controls (NUL among them; tab and
# newline stay), DEL, the bidirectional embeddings, overrides, isolates and marks (a U+202E in a
# handle shows "gpj.exe" as "exe.jpg"), zero-width spaces and joiners, the word joiner and BOM.
_HIDDEN = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x061C, *range(0x200B, 0x2010),
           *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF]
_SHOWN = {code: f"[U+{code:04X}]" for code in _HIDDEN}


def shown(value: Any) -> str:
    """Text as it may be put on screen: every hidden or reordering character written as its code."""
    return txt(value).translate(_SHOWN)


def fmt_int(value: Any) -> str:
    if not txt(value):
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def counted(n: Any, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one: "1 account", "2,089 accounts"."""
    return f"{fmt_int(n)} {word}{'' if n == 1 else 's'}"


def kv_list(items: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> html.Dl:
    """A compact two-column definition list."""
    pairs = items.items() if isinstance(items, Mapping) else items
    children = []
    for key, value in pairs:
        if value is None or value == "":
            continue
        children += [html.Dt(key), html.Dd(shown(value) if isinstance(value, str) else value)]
    return html.Dl(children, className="kv")


def table(id: str, rows: Sequence[dict], columns: Sequence[tuple[str, str] | tuple[str, str, str]],  # noqa: A002
          *, page_size: int = 15, **kwargs: Any) -> dash_table.DataTable:
    """A sortable table; a column ``(field, title, "markdown")`` renders links."""
    cols = []
    for column in columns:
        spec = {"id": column[0], "name": column[1]}
        if len(column) > 2:
            spec["presentation"] = column[2]
        cols.append(spec)
    defaults = dict(
        sort_action="native",
        page_action="native" if len(rows) > page_size else "none",
        page_size=page_size,
        markdown_options={"link_target": "_self"},
        style_as_list_view=True,
        style_cell={"fontFamily": _FONT, "padding": "6px 10px", "textAlign": "left", "border": "none",
                    "borderBottom": "1px solid #eaecf0", "maxWidth": "320px", "overflow": "hidden",
                    "textOverflow": "ellipsis"},
        style_header={"borderBottom": "1px solid #d0d5dd"},
        style_table={"overflowX": "auto"},
        css=[{"selector": "p", "rule": "margin: 0;"}],
    )
    defaults.update(kwargs)
    data = [{name: shown(value) if isinstance(value, str) else value for name, value in row.items()} for row in rows]
    return dash_table.DataTable(id=id, data=data, columns=cols, **defaults)


_AXIS = {"gridcolor": "#eaecf0", "zerolinecolor": "#eaecf0", "linecolor": "#d0d5dd", "title": {"text": ""},
         "automargin": True}


def figure(data: list[dict], *, height: int = 300, legend: bool = True, xaxis: dict | None = None,
           yaxis: dict | None = None, **layout: Any) -> dict:
    """A plotly figure as a plain dict in the house look.

    Plain dicts, not ``plotly.graph_objects``: building and validating graph
    objects cost hundreds of milliseconds a page, dicts cost nothing, and
    plotly.js reads the same JSON.
    """
    base = {
        "height": height, "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "font": {"family": _FONT, "size": 11, "color": "#344054"}, "colorway": PALETTE,
        "showlegend": legend, "legend": {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 10}},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": {"font": {"family": _FONT}}, "xaxis": {**_AXIS, **(xaxis or {})},
        "yaxis": {**_AXIS, **(yaxis or {})},
    }
    base.update(layout)
    return {"data": data, "layout": base}


def empty_figure(message: str, *, height: int = 300) -> dict:
    hidden = {"visible": False}
    return figure([], height=height, legend=False, xaxis=hidden, yaxis=hidden, annotations=[{
        "text": message, "showarrow": False, "font": {"color": "#98a2b3", "size": 13},
        "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])


def hbar_figure(labels: list[str], values: list[float], *, colour: str = "#5b7cff",
                text_format: str = "{:,.0f}") -> dict:
    """Horizontal bars, biggest on top, value written beside each bar (long labels shortened)."""
    labels = [label if len(label) <= 30 else label[:29] + "…" for label in labels]
    return figure(
        [{"type": "bar", "orientation": "h", "x": list(values)[::-1], "y": list(labels)[::-1], "width": 0.6,
          "marker": {"color": colour}, "text": [text_format.format(v) for v in list(values)[::-1]], "textposition": "outside",
          "cliponaxis": False, "hovertemplate": "%{y}: %{x:,}<extra></extra>"}],
        height=50 + 26 * len(labels), legend=False, margin={"l": 10, "r": 50, "t": 5, "b": 5},
        xaxis={"showticklabels": False, "showgrid": False}, yaxis={"type": "category"},
    )


def tag_chip(tag: str, remove_id: dict | None = None) -> html.Span:
    family = tag_family(tag).lower()
    close = html.Button(className="btn-close", id=remove_id, n_clicks=0, title=f"remove {tag}") if remove_id else None
    return html.Span([shown(tag), close], className=f"tag-chip {family}")


def entity_href(kind: str, key: str) -> str:
    """The entity page of an account, IP, device, network prefix or ASN (keys are quoted: devices and prefixes hold '/')."""
    return f"/entity/{kind}/{quote(str(key), safe='')}"


def cluster_href(cluster_id: str) -> str:
    """The page of a cluster."""
    return f"/cluster/{quote(str(cluster_id), safe='')}"


def link(text: str, href: str) -> str:
    """A markdown link for table cells."""
    safe = shown(text).replace("[", "(").replace("]", ")")
    return f"[{safe}]({href})"


def requests_table(table_id: str, frame: pd.DataFrame, *, page_size: int = 12) -> object:
    """Request rows (:data:`app.web.queries.cluster.REQUEST_COLUMNS`) as a table, newest first as given.

    A looked-up number appears only as its region and position in its block:
    the raw number was never stored.
    """
    if frame.empty:
        return html.Div("No requests.", className="text-secondary small")
    rows = []
    for r in frame.itertuples():
        ordinal = fmt_int(r.block_ordinal)
        rows.append({
            "ts": fmt_time(as_utc(r.ts), seconds=True), "account": txt(r.account_id),
            "endpoint": txt(r.endpoint), "ip": txt(r.ip), "country": txt(r.ip_country),
            "asn": f"AS{int(r.ip_asn)}" if txt(r.ip_asn) else "",
            "network": txt(r.ip_kind), "device": txt(r.device_id), "client": txt(r.user_agent_family),
            "status": fmt_int(r.status),
            "phone": f"{txt(r.phone_region) or '?'} #{int(r.block_ordinal):03d}" if ordinal else "",
            "matched": txt(r.matched_account_id),
        })
    return table(table_id, rows,
                 [("ts", "Time"), ("account", "Account"), ("endpoint", "Endpoint"), ("ip", "IP"),
                  ("country", "Country"), ("asn", "ASN"), ("network", "Network"), ("device", "Device"),
                  ("client", "Client"), ("status", "HTTP"), ("phone", "Number (region #pos in block)"),
                  ("matched", "Matched account")], page_size=page_size)
