"""The questions the web UI asks, as plain functions: a DuckDB cursor or a store in, plain data out.

Callbacks only call these and shape the answer into components, so every
number on screen is tested here without a browser. Heavy work is one
aggregate SQL query over the request events (DuckDB scans millions of rows
in milliseconds), read through :class:`app.events.EventReader`; nothing
here pulls raw events into memory beyond a page of rows. Graph facts
(clusters, members, labels, audit) come through the
:class:`~graph.store.base.GraphStore` interface, so both backends serve the UI.

One module a page: :mod:`.overview` (the case in a time window),
:mod:`.queue` (the triage queue and a cluster's squads), :mod:`.cluster`
(what the members' requests say), :mod:`.entity` (one account, IP or
device, network or ASN, the clusters and accounts that use it, and the
search box), :mod:`.evidence` (all the requests behind an evidence row, a
page at a time) and :mod:`.audit`. The graph drawings are built
in :mod:`app.web.cytoscape`; its element builders are named here too, for
callers that reach every answer of the UI through this package, and
imported on first use: it needs Dash, which a command that only computes
answers (``ingest`` keeps the overview's) should not load.
"""

from app.events import as_utc
from app.web.queries.audit import audit_jsonl, audit_log
from app.web.queries.cluster import (
    infrastructure_table,
    member_activity,
    member_links,
    member_requests,
    traffic_mix,
)
from app.web.queries.entity import (
    ENTITY_KINDS,
    ENTITY_LABELS,
    asn_index,
    entity_activity,
    entity_ips,
    entity_users,
    handle_index,
    search,
    search_keys,
)
from app.web.queries.evidence import EVIDENCE_PAGE_SIZE, evidence_requests, evidence_selector
from app.web.queries.overview import (
    TRAFFIC_PARTS,
    Window,
    as_names,
    bucket_seconds,
    data_window,
    overview_totals,
    requests_by_country,
    requests_over_time,
    top_asns,
    top_ips,
    traffic,
)
from app.web.queries.queue import (
    cluster_countries,
    find_cluster,
    run_members,
    status_counts,
    sub_groups,
    triage_queue,
)
from graph.store.base import Neighbourhood

__all__ = [
    "ENTITY_KINDS",
    "ENTITY_LABELS",
    "EVIDENCE_PAGE_SIZE",
    "Neighbourhood",
    "TRAFFIC_PARTS",
    "Window",
    "as_names",
    "as_utc",
    "asn_index",
    "audit_jsonl",
    "audit_log",
    "bucket_seconds",
    "cluster_countries",
    "cluster_graph_elements",
    "data_window",
    "entity_activity",
    "entity_ips",
    "entity_users",
    "evidence_requests",
    "evidence_selector",
    "find_cluster",
    "handle_index",
    "infrastructure_table",
    "member_activity",
    "member_links",
    "member_requests",
    "merge_elements",
    "neighbourhood_elements",
    "overview_totals",
    "requests_by_country",
    "requests_over_time",
    "run_members",
    "search",
    "search_keys",
    "status_counts",
    "sub_groups",
    "top_asns",
    "top_ips",
    "traffic",
    "traffic_mix",
    "triage_queue",
    "undo_last_step",
]

_DRAWINGS = ("cluster_graph_elements", "merge_elements", "neighbourhood_elements", "undo_last_step")


def __getattr__(name: str) -> object:
    if name not in _DRAWINGS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from app.web import cytoscape

    return getattr(cytoscape, name)
