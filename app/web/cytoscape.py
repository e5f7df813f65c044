"""What the graph drawings hold and look like: Cytoscape elements and stylesheets.

The cluster page draws a cluster's members and the IPs and devices they
share (:func:`cluster_graph_elements`: hubs collapsed, and past a few dozen
nodes the IPs folded into groups by network, ASN or country that open one
at a time, so a big operation stays readable); the entity page draws a node's neighbourhood, one
expansion step at a time (:func:`neighbourhood_elements`,
:func:`merge_elements`, :func:`undo_last_step`). Elements are plain dicts
in dash-cytoscape's form, so they are tested without a browser. Every
node that has a page carries it in ``data.href``; labels are drawn on
hover (``app/web/assets/graph_hover.js`` adds the ``hovered`` class) and on
selection, so a big drawing is not a wall of overlapping text.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from app.present.countries import country_name
from app.web.components import cluster_href, counted, entity_href
from graph.schema import ACCOUNT, CLUSTER, DEVICE, IP, MEMBER_OF, PHONE
from graph.store.base import Neighbourhood

__all__ = ["AS_NUMBER", "CLUSTER_STYLESHEET", "GROUP_LEVELS", "IN_NETWORK", "NETWORK", "USED_BY_CLUSTER", "NEIGHBOURHOOD_STYLESHEET",
           "cluster_graph_elements", "ip_prefix", "merge_elements", "neighbourhood_elements", "node_element_id",
           "undo_last_step", "with_pivots"]

#: labels of nodes and edges, drawn only on the one under the pointer and on the selected
_HOVER = [
    {"selector": "node.hovered, node:selected", "style": {"label": "data(label)", "z-index": 20,
                                                          "text-background-color": "#ffffff",
                                                          "text-background-opacity": 0.85,
                                                          "text-background-padding": 2}},
    {"selector": "edge.hovered, edge:selected", "style": {"label": "data(label)", "font-size": 8, "color": "#475467",
                                                          "text-rotation": "autorotate", "line-color": "#667085",
                                                          "text-background-color": "#ffffff",
                                                          "text-background-opacity": 0.85}},
]

#: the cluster page's drawing: members in a box, shared infrastructure around it, hubs large, groups of IPs
CLUSTER_STYLESHEET = [
    {"selector": "node", "style": {"label": "", "font-size": 9, "color": "#344054",
                                   "text-valign": "bottom", "text-margin-y": 3}},
    {"selector": ".box", "style": {"label": "data(label)", "background-color": "#f2f5ff", "border-color": "#b3c2ff",
                                   "border-width": 1, "shape": "round-rectangle", "text-valign": "top",
                                   "font-weight": 600, "font-size": 11, "color": "#2e5bff", "padding": 14}},
    {"selector": ".account", "style": {"background-color": "#2e5bff", "width": 14, "height": 14, "border-width": 0}},
    {"selector": ".account:selected", "style": {"border-width": 2, "border-color": "#101828"}},
    {"selector": ".summary", "style": {"background-color": "#98a2b3", "shape": "round-rectangle", "width": 26,
                                       "height": 14, "font-style": "italic"}},
    {"selector": ".ip", "style": {"background-color": "#f79009", "shape": "round-rectangle", "width": 18, "height": 18}},
    {"selector": ".device", "style": {"background-color": "#12b76a", "shape": "diamond", "width": 20, "height": 20}},
    {"selector": ".hosting", "style": {"border-width": 3, "border-color": "#d92d20"}},
    {"selector": ".hub", "style": {"width": 34, "height": 34, "font-weight": 700, "font-size": 10}},
    {"selector": ".group", "style": {"label": "data(label)", "background-color": "#fdb022", "shape": "round-rectangle",
                                     "width": "mapData(ips, 1, 200, 26, 70)", "height": "mapData(ips, 1, 200, 26, 70)",
                                     "border-width": 2, "border-color": "#b54708", "font-size": 10,
                                     "font-weight": 600, "text-wrap": "ellipsis", "text-max-width": 160}},
    {"selector": ".group.open", "style": {"background-color": "#fffaeb", "background-opacity": 0.6,
                                          "border-style": "dashed", "text-valign": "top", "padding": 10}},
    {"selector": "edge", "style": {"width": 1, "line-color": "#c5cbd6", "curve-style": "haystack", "opacity": 0.8}},
    {"selector": ".hub-edge", "style": {"width": 5, "line-color": "#f79009", "opacity": 0.6,
                                        "curve-style": "bezier"}},
    {"selector": ".group-edge", "style": {"width": "mapData(weight, 1, 2000, 1, 6)", "line-color": "#fec84b",
                                          "curve-style": "bezier", "opacity": 0.7}},
    *_HOVER,
]

#: the entity page's drawing: one shape and colour a node kind, the centre ringed
NEIGHBOURHOOD_STYLESHEET = [
    {"selector": "node", "style": {"label": "", "font-size": 9, "color": "#344054",
                                   "text-valign": "bottom", "text-margin-y": 3}},
    {"selector": ".account", "style": {"background-color": "#2e5bff", "width": 16, "height": 16}},
    {"selector": ".ip", "style": {"background-color": "#f79009", "shape": "round-rectangle"}},
    {"selector": ".device", "style": {"background-color": "#12b76a", "shape": "diamond"}},
    {"selector": ".phone", "style": {"background-color": "#7a5af8", "shape": "triangle", "width": 12, "height": 12}},
    {"selector": ".cluster", "style": {"label": "data(label)", "background-color": "#f04438", "shape": "hexagon"}},
    {"selector": ".center", "style": {"label": "data(label)", "width": 30, "height": 30, "border-width": 3,
                                      "border-color": "#101828", "font-weight": 700}},
    {"selector": ":selected", "style": {"border-width": 3, "border-color": "#d92d20"}},
    {"selector": "edge", "style": {"width": 1.2, "line-color": "#c5cbd6", "curve-style": "bezier",
                                   "target-arrow-shape": "triangle", "target-arrow-color": "#c5cbd6",
                                   "arrow-scale": 0.6}},
    *_HOVER,
]

_HOSTING_KINDS = frozenset({"hosting", "vpn", "proxy", "tor"})


#: the grouping levels of a big cluster's infrastructure, finest first (see :func:`cluster_graph_elements`)
GROUP_LEVELS = ("prefix", "asn", "country")


@functools.lru_cache(maxsize=65536)
def ip_prefix(ip: str) -> str:
    """The network an IP is grouped under: its /24 (IPv4) or /48 (IPv6), as the warehouse's ``ip_prefix``."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    return str(ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False))


def _group_of(level: str, key: str, item: dict) -> str:
    if level == "prefix":
        return ip_prefix(key)
    value = item["asn"] if level == "asn" else item["country"]
    if value is None or value == "" or (not isinstance(value, str) and pd.isna(value)):
        return "unknown"
    return str(int(value)) if level == "asn" else str(value)


def _group_label(level: str, value: str, count: int, as_orgs: Mapping[int, str]) -> str:
    ips = counted(count, "IP")
    if level == "asn" and value.isdigit():
        org = as_orgs.get(int(value))
        return f"AS{value}{' ' + org if org else ''} · {ips}"
    if level == "country" and value != "unknown":
        return f"{country_name(value)} · {ips}"
    return f"{value} · {ips}"


def _infra_node(kind: str, key: str, item: dict) -> dict:
    classes = [kind]
    if kind == "ip" and item["ip_kind"] in _HOSTING_KINDS:
        classes.append("hosting")
    label = key if kind == "ip" else f"device {key}"
    if kind == "ip" and isinstance(item["country"], str) and item["country"]:
        label = f"{key} ({item['country']})"
    accounts = item["accounts"]
    members = len(accounts)
    return {"data": {"id": f"{'ip' if kind == 'ip' else 'dev'}:{key}", "label": label, "kind": kind, "key": key,
                     "members": members, "requests": int(sum(accounts.values())),
                     "href": entity_href("device" if kind == "device" else "ip", key)},
            "classes": " ".join(classes)}


def _member_edges(node_id: str, accounts: Mapping[str, int]) -> list[dict]:
    return [{"data": {"id": f"e:{node_id}:{account_id}", "source": f"acct:{account_id}", "target": node_id,
                      "weight": requests, "label": f"{requests:,} requests"}}
            for account_id, requests in accounts.items()]


def cluster_graph_elements(
    members: Sequence[dict],
    links: pd.DataFrame,
    *,
    cap: int = 1500,
    hub_min_members: int = 12,
    hub_share: float = 0.5,
    max_members: int = 400,
    group_over: int | None = 60,
    expanded: str | None = None,
    as_orgs: Mapping[int, str] | None = None,
) -> tuple[list[dict], dict]:
    """Cytoscape elements for a cluster: members, shared IPs and devices, hubs collapsed, big ones grouped.

    Parameters
    ----------
    members : member rows (``account_id``, ``member_score``), strongest first
    links : :func:`app.web.queries.cluster.member_links` of the members
    cap : most elements (nodes plus edges) to draw; dash-cytoscape slows past ~1,000
    hub_min_members, hub_share : an IP or device used by at least this many
        drawn members and this share of them is a hub: drawn once, linked to
        the members' box by one edge instead of one edge per member
    max_members : most member nodes; the weakest beyond it fold into one node
    group_over : when more nodes than this would be drawn, the IPs fold into
        groups (compound nodes), by the finest level of
        :data:`GROUP_LEVELS` (/24 or /48 prefix, ASN, country) that brings the
        count to at most this, else by country; ``None`` never groups
    expanded : the id of the one group drawn open, its IPs inside it (``grp:<level>:<value>``)
    as_orgs : AS organisation names by number, for the labels of ASN groups

    Returns
    -------
    elements : list of dict
        Nodes have ``data.id`` (``acct:``, ``ip:``, ``dev:`` + key,
        ``grp:<level>:<value>``, or ``members``, ``more-members``),
        ``data.label``, ``data.kind``, ``data.href`` (the node's page) and
        classes; edges ``data.source``/``data.target``/``data.weight``/``data.label``.
    stats : dict
        ``members``, ``members_hidden``, ``infra``, ``infra_hidden``,
        ``hubs``, ``elements``, ``groups`` and ``grouped_by`` (a level or ``None``).

    Notes
    -----
    Infrastructure is added most-shared first until the cap, so what is
    dropped first is what one member used alone. Runs in O(links).
    """
    if cap < 10:
        raise ValueError("cap must be at least 10 elements")
    ordered = sorted(members, key=lambda m: -(m.get("member_score") or 0.0))
    budget = cap - 1  # the members' box
    drawn = ordered[: min(max_members, max(1, budget // 3))]
    hidden_members = len(ordered) - len(drawn)
    drawn_ids = {m["account_id"] for m in drawn}
    elements: list[dict] = [{"data": {"id": "members", "label": f"{len(ordered)} member accounts", "kind": "box"},
                             "classes": "box"}]
    for member in drawn:
        elements.append({
            "data": {"id": f"acct:{member['account_id']}", "label": member["account_id"], "kind": "account",
                     "key": member["account_id"], "parent": "members", "href": entity_href("account", member["account_id"]),
                     "score": round(float(member.get("member_score") or 0.0), 3)},
            "classes": "account",
        })
    if hidden_members:
        elements.append({"data": {"id": "more-members", "label": f"+{hidden_members} weaker members",
                                  "kind": "summary", "parent": "members"}, "classes": "summary"})

    infra: dict[tuple[str, str], dict] = {}
    if not links.empty:
        # plain lists: iterating rows of Arrow-backed columns costs ten times more, thousands of links a click
        mine = links[links["account_id"].isin(drawn_ids)]
        columns = ("kind", "key", "account_id", "requests", "country", "asn", "ip_kind")
        for kind, key, account_id, requests, country, asn, ip_kind in zip(
                *(mine[column].tolist() for column in columns), strict=True):
            item = infra.setdefault((kind, key), {"accounts": {}, "country": country, "asn": asn,
                                                  "ip_kind": ip_kind})
            item["accounts"][account_id] = item["accounts"].get(account_id, 0) + int(requests)
    ranked = sorted(infra.items(), key=lambda kv: (-len(kv[1]["accounts"]), -sum(kv[1]["accounts"].values()), kv[0]))
    hub_floor = max(hub_min_members, math.ceil(hub_share * len(drawn)))

    def is_hub(item: dict) -> bool:
        return len(item["accounts"]) >= hub_floor and len(drawn) >= hub_min_members

    level = _grouping(ranked, len(elements), group_over)
    groups: dict[str, list] = {}
    if level:
        for (kind, key), item in ranked:
            if kind == "ip":
                groups.setdefault(f"grp:{level}:{_group_of(level, key, item)}", []).append((key, item))
    used = len(elements)
    counts = {"hubs": 0, "shown": 0, "hidden": 0}

    def place(kind: str, key: str, item: dict, parent: str | None = None) -> None:
        """Draw one IP or device (a hub with one edge to the members' box), if the cap allows."""
        nonlocal used
        hub = is_hub(item)
        cost = 2 if hub else 1 + len(item["accounts"])
        if used + cost > cap:
            counts["hidden"] += 1
            return
        node = _infra_node(kind, key, item)
        if parent:
            node["data"]["parent"] = parent
        if hub:
            counts["hubs"] += 1
            node["classes"] += " hub"
            node["data"]["label"] += f" · shared by {len(item['accounts'])}"
            elements.extend([node, {"data": {"id": f"e:{node['data']['id']}:members", "source": node["data"]["id"],
                                             "target": "members", "weight": len(item["accounts"]),
                                             "label": f"shared by {len(item['accounts'])} members"},
                                    "classes": "hub-edge"}])
        else:
            elements.extend([node, *_member_edges(node["data"]["id"], item["accounts"])])
        used += cost
        counts["shown"] += 1

    for (kind, key), item in ranked:
        if not (level and kind == "ip"):
            place(kind, key, item)
    for group_id, entries in groups.items():
        value = group_id.split(":", 2)[2]
        accounts: dict[str, int] = {}
        for _, item in entries:
            for account_id, requests in item["accounts"].items():
                accounts[account_id] = accounts.get(account_id, 0) + requests
        is_open = group_id == expanded
        elements.append({"data": {"id": group_id, "label": _group_label(level, value, len(entries), as_orgs or {}),
                                  "kind": "group", "key": value, "level": level, "ips": len(entries),
                                  "members": len(accounts), "requests": int(sum(accounts.values())),
                                  **({"href": entity_href(level, value)} if level != "country" else {})},
                         "classes": "group open" if is_open else "group"})
        used += 1
        if is_open:
            for key, item in entries:
                place("ip", key, item, parent=group_id)
            continue
        elements.extend({"data": {"id": f"e:{group_id}:{account_id}", "source": f"acct:{account_id}",
                                  "target": group_id, "weight": requests, "label": f"{requests:,} requests"},
                         "classes": "group-edge"} for account_id, requests in accounts.items())
        used += len(accounts)
        counts["shown"] += len(entries)
    stats = {"members": len(drawn), "members_hidden": hidden_members, "infra": counts["shown"],
             "infra_hidden": counts["hidden"], "hubs": counts["hubs"], "elements": len(elements),
             "groups": len(groups), "grouped_by": level}
    return elements, stats


def _grouping(ranked: list, member_nodes: int, group_over: int | None) -> str | None:
    """The finest level of :data:`GROUP_LEVELS` that draws at most ``group_over`` nodes (``None``: no need)."""
    if group_over is None or member_nodes + len(ranked) <= group_over:
        return None
    ips = [(key, item) for (kind, key), item in ranked if kind == "ip"]
    fixed = member_nodes + len(ranked) - len(ips)
    for level in GROUP_LEVELS:
        if fixed + len({_group_of(level, key, item) for key, item in ips}) <= group_over:
            return level
    return GROUP_LEVELS[-1]


#: the entity page's centres that are not nodes of the graph store: a network (/24, /48) and an ASN
NETWORK, AS_NUMBER = "Network", "ASN"
_NODE_PREFIX = {ACCOUNT: "acct", IP: "ip", DEVICE: "dev", PHONE: "phone", CLUSTER: "cluster", NETWORK: "prefix",
                AS_NUMBER: "asn"}
_LABEL_ENTITY = {ACCOUNT: "account", IP: "ip", DEVICE: "device", PHONE: "phone", CLUSTER: "cluster",
                 NETWORK: "prefix", AS_NUMBER: "asn"}
#: the drawn ties of :func:`with_pivots`: a network's or ASN's IPs, the clusters whose members used the centre
IN_NETWORK, USED_BY_CLUSTER = "IN_NETWORK", "USED_BY_CLUSTER"


def node_element_id(label: str, key: str) -> str:
    """The cytoscape id of a graph node: a short kind prefix and its key."""
    return f"{_NODE_PREFIX.get(label, label.lower())}:{key}"


def _node_caption(node: dict) -> str:
    label, key = node["_label"], node["_key"]
    if label == ACCOUNT and node.get("handle"):
        return f"@{node['handle']}"
    if label == IP and node.get("country"):
        return f"{key} ({node['country']})"
    if label == PHONE:  # a keyed hash: a short prefix is enough to tell numbers apart
        return f"phone {key[:10]}"
    if label == CLUSTER:
        return node.get("cluster_id") or key
    if label == AS_NUMBER:
        return f"AS{key} {node.get('as_org') or ''}".strip()
    return key


def _node_href(node: dict) -> dict:
    """``{"href": page}`` of a node that has a page (phones have none: a pseudonym is no entity to visit)."""
    label, key = node["_label"], node["_key"]
    if label == CLUSTER:
        return {"href": cluster_href(node.get("cluster_id") or key.rsplit("/", 1)[-1])}
    if label in (ACCOUNT, IP, DEVICE, NETWORK, AS_NUMBER):
        return {"href": entity_href(_LABEL_ENTITY[label], key)}
    return {}


def neighbourhood_elements(nb: Neighbourhood, *, step: int = 0) -> list[dict]:
    """Cytoscape elements of a :class:`~graph.store.base.Neighbourhood`.

    Every element carries ``data.step`` (which expansion added it), so that
    undo can drop the elements of the last step, and nodes with a page
    their ``data.href``.
    """
    elements: list[dict] = []
    nodes = ([nb.center] if nb.center else []) + list(nb.nodes)
    for node in nodes:
        label = node["_label"]
        elements.append({
            "data": {"id": node_element_id(label, node["_key"]), "label": _node_caption(node),
                     "kind": _LABEL_ENTITY.get(label, label.lower()), "node_label": label,
                     "key": node["_key"], "step": step, **_node_href(node)},
            "classes": _LABEL_ENTITY.get(label, "other"),
        })
    for edge in nb.edges:
        source = node_element_id(edge["src_label"], edge["src"])
        target = node_element_id(edge["dst_label"], edge["dst"])
        elements.append({
            "data": {"id": f"{edge['type']}:{source}->{target}", "source": source, "target": target,
                     "rel": edge["type"], "weight": edge.get("count") or 1, "step": step,
                     "label": edge["type"] + (f" · {edge['count']:,}" if edge.get("count") else "")},
        })
    return elements


def with_pivots(nb: Neighbourhood, *, run_id: str | None, clusters: Sequence[dict] = (),
                ips: Sequence[dict] = ()) -> Neighbourhood:
    """``nb`` with the ties the graph store does not hold drawn in: the way back to clusters, and a network's IPs.

    ``clusters`` are :func:`app.web.queries.entity_users` clusters (tied to
    the centre, weighted by their members that used it), drawn as the run's
    cluster nodes (the ids an account's MEMBER_OF draws too); ``ips`` are
    :func:`app.web.queries.entity_ips` rows, tied to a network or ASN centre.
    """
    if nb.center is None:
        return nb
    label, key = nb.center["_label"], nb.center["_key"]
    nodes, edges = list(nb.nodes), list(nb.edges)
    have = {(n["_label"], n["_key"]) for n in nodes}
    for row in ips:
        if (IP, row["ip"]) not in have:
            nodes.append({"_label": IP, "_key": row["ip"], "country": row.get("country")})
        edges.append({"type": IN_NETWORK, "src_label": IP, "src": row["ip"], "dst_label": label, "dst": key,
                      "count": row.get("requests")})
    tied = {(e["src"], e["dst"]) for e in edges}
    for row in clusters if run_id else ():
        cluster_key = f"{run_id}/{row['cluster_id']}"
        if (CLUSTER, cluster_key) not in have:
            nodes.append({"_label": CLUSTER, "_key": cluster_key, "cluster_id": row["cluster_id"]})
        if (key, cluster_key) not in tied:  # an account's own MEMBER_OF may be drawn already
            edges.append({"type": MEMBER_OF if label == ACCOUNT else USED_BY_CLUSTER, "src_label": label,
                          "src": key, "dst_label": CLUSTER, "dst": cluster_key, "count": row.get("accounts")})
    return Neighbourhood(center=nb.center, nodes=nodes, edges=edges, total=nb.total, truncated=nb.truncated)


def merge_elements(existing: Sequence[dict], added: Sequence[dict]) -> list[dict]:
    """``existing`` plus the elements of ``added`` it does not have yet (by id), order kept."""
    have = {el["data"]["id"] for el in existing}
    merged = list(existing)
    for el in added:
        if el["data"]["id"] not in have:
            have.add(el["data"]["id"])
            merged.append(el)
    return merged


def undo_last_step(elements: Sequence[dict]) -> list[dict]:
    """The elements without those added by the latest expansion (step 0 is never removed)."""
    last = max((el["data"].get("step", 0) for el in elements), default=0)
    if last == 0:
        return list(elements)
    return [el for el in elements if el["data"].get("step", 0) != last]
