"""The search box's answer: what matches, where each hit leads, and the clusters it takes part in.

The box finds clusters, accounts and handles, ASNs (by number or by
organisation), IPs and devices (:func:`app.web.queries.search`); each hit
links to its page and names the clusters of the latest run it belongs to
or whose members used it, so a search is already a pivot.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from app.web import cache, queries, traffic_summary
from app.web.components import cluster_href, entity_href
from app.web.state import current
from graph.schema import IP

__all__ = ["asn_names", "search_keys", "search_view"]

_KIND_WORD = {"cluster": "Cluster", "account": "Account", "asn": "ASN", "ip": "IP", "device": "Device"}
_CLUSTERS_SHOWN = 3


def asn_names() -> dict[int, str]:
    """AS number -> organisation, rebuilt when the number of IPs changes (as :func:`app.web.cache.handles`)."""
    state = current()
    ips = state.store.counts().get(IP, 0)
    return state.cached(("asn-names", ips), lambda: queries.asn_index(state.store))


def search_keys() -> pd.DataFrame:
    """What the box matches, once a version of the data: as ``ingest``/``detect`` kept it if current, else read live."""
    state = current()
    version = state.data_version()

    def read() -> pd.DataFrame:
        kept = traffic_summary.load_search_keys(state.workspace, version)
        return kept if kept is not None else queries.search_keys(state.con())

    return state.cached(("search-keys", *version), read)


def search_view(text: str | None) -> object:
    """The hits for ``text`` as a list of links, each with its clusters."""
    if not (text or "").strip():
        return None
    state = current()
    hits = queries.search(state.con(), state.store, text or "", members=cache.run_members(cache.latest_run_id()),
                          handles=cache.handles(), asns=asn_names(), keys=search_keys())
    if not hits:
        return dbc.Alert(f"Nothing matches {text!r}.", color="light", className="py-2 small mb-0")
    items = []
    for hit in hits:
        href = cluster_href(hit["key"]) if hit["kind"] == "cluster" else entity_href(hit["kind"], hit["key"])
        clusters = hit["clusters"]
        extra = []
        if clusters:
            extra = [" · in "]
            for i, cluster_id in enumerate(clusters[:_CLUSTERS_SHOWN]):
                extra += [", " if i else "", dcc.Link(cluster_id, href=cluster_href(cluster_id),
                                                      className="search-cluster")]
            if len(clusters) > _CLUSTERS_SHOWN:
                extra.append(f" +{len(clusters) - _CLUSTERS_SHOWN} more")
        elif hit["kind"] != "cluster":
            extra = [" · in no cluster"]
        items.append(dbc.ListGroupItem([
            dbc.Badge(_KIND_WORD[hit["kind"]], color="secondary", className="me-2"),
            dcc.Link(f"AS{hit['key']}" if hit["kind"] == "asn" else hit["key"], href=href,
                     className="mono fw-semibold"),
            html.Span([f" · {hit['detail']}", *extra], className="text-secondary small"),
        ], className="py-1"))
    return dbc.ListGroup(items, flush=True, className="border rounded")
