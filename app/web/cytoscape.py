"""What the graph drawings hold and look like: Cytoscape elements and stylesheets.

The cluster page draws a cluster's members and the IPs and devices they
share (:func:`cluster_graph_elements`, hubs collapsed so a big operation
stays readable); the entity page draws a node's neighbourhood, one
expansion step at a time (:func:`neighbourhood_elements`,
:func:`merge_elements`, :func:`undo_last_step`). Elements are plain dicts
in dash-cytoscape's form, so they are tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from graph.schema import ACCOUNT, CLUSTER, DEVICE, IP, PHONE
from graph.store.base import Neighbourhood

__all__ = ["CLUSTER_STYLESHEET", "NEIGHBOURHOOD_STYLESHEET", "cluster_graph_elements", "merge_elements",
           "neighbourhood_elements", "node_element_id", "undo_last_step"]

#: the cluster page's drawing: members in a box, shared infrastructure around it, hubs large
CLUSTER_STYLESHEET = [
    {"selector": "node", "style": {"label": "data(label)", "font-size": 9, "color": "#344054",
                                   "text-valign": "bottom", "text-margin-y": 3, "min-zoomed-font-size": 7}},
    {"selector": ".box", "style": {"background-color": "#f2f5ff", "border-color": "#b3c2ff", "border-width": 1,
                                   "shape": "round-rectangle", "text-valign": "top", "font-weight": 600,
                                   "font-size": 11, "color": "#2e5bff", "padding": 14}},
    {"selector": ".account", "style": {"background-color": "#2e5bff", "width": 14, "height": 14,
                                       "label": "", "border-width": 0}},
    {"selector": ".account:selected", "style": {"label": "data(label)", "border-width": 2, "border-color": "#101828"}},
    {"selector": ".summary", "style": {"background-color": "#98a2b3", "shape": "round-rectangle", "width": 26,
                                       "height": 14, "font-style": "italic"}},
    {"selector": ".ip", "style": {"background-color": "#f79009", "shape": "round-rectangle", "width": 18, "height": 18}},
    {"selector": ".device", "style": {"background-color": "#12b76a", "shape": "diamond", "width": 20, "height": 20}},
    {"selector": ".hosting", "style": {"border-width": 3, "border-color": "#d92d20"}},
    {"selector": ".hub", "style": {"width": 34, "height": 34, "font-weight": 700, "font-size": 10}},
    {"selector": "edge", "style": {"width": 1, "line-color": "#c5cbd6", "curve-style": "haystack", "opacity": 0.8}},
    {"selector": ".hub-edge", "style": {"width": 5, "line-color": "#f79009", "opacity": 0.6,
                                        "curve-style": "bezier"}},
]

#: the entity page's drawing: one shape and colour a node kind, the centre ringed
NEIGHBOURHOOD_STYLESHEET = [
    {"selector": "node", "style": {"label": "data(label)", "font-size": 9, "color": "#344054",
                                   "text-valign": "bottom", "text-margin-y": 3}},
    {"selector": ".account", "style": {"background-color": "#2e5bff", "width": 16, "height": 16}},
    {"selector": ".ip", "style": {"background-color": "#f79009", "shape": "round-rectangle"}},
    {"selector": ".device", "style": {"background-color": "#12b76a", "shape": "diamond"}},
    {"selector": ".phone", "style": {"background-color": "#7a5af8", "shape": "triangle", "width": 12, "height": 12}},
    {"selector": ".cluster", "style": {"background-color": "#f04438", "shape": "hexagon"}},
    {"selector": ".center", "style": {"width": 30, "height": 30, "border-width": 3, "border-color": "#101828",
                                      "font-weight": 700}},
    {"selector": ":selected", "style": {"border-width": 3, "border-color": "#d92d20"}},
    {"selector": "edge", "style": {"width": 1.2, "line-color": "#c5cbd6", "curve-style": "bezier",
                                   "target-arrow-shape": "triangle", "target-arrow-color": "#c5cbd6",
                                   "arrow-scale": 0.6}},
    {"selector": "edge:selected", "style": {"label": "data(rel)", "font-size": 7, "color": "#667085",
                                            "text-rotation": "autorotate"}},
]

_HOSTING_KINDS = frozenset({"hosting", "vpn", "proxy", "tor"})


def cluster_graph_elements(
    members: Sequence[dict],
    links: pd.DataFrame,
    *,
    cap: int = 1500,
    hub_min_members: int = 12,
    hub_share: float = 0.5,
    max_members: int = 400,
) -> tuple[list[dict], dict[str, int]]:
    """Cytoscape elements for a cluster: members, shared IPs and devices, hubs collapsed.

    Parameters
    ----------
    members : member rows (``account_id``, ``member_score``), strongest first
    links : :func:`app.web.queries.cluster.member_links` of the members
    cap : most elements (nodes plus edges) to draw; dash-cytoscape slows past ~1,000
    hub_min_members, hub_share : an IP or device used by at least this many
        drawn members and this share of them is a hub: drawn once, linked to
        the members' box by one edge instead of one edge per member
    max_members : most member nodes; the weakest beyond it fold into one node

    Returns
    -------
    elements : list of dict
        Nodes have ``data.id`` (``acct:``, ``ip:``, ``dev:`` + key, or
        ``members``, ``more-members``), ``data.label``, ``data.kind`` and
        classes; edges ``data.source``/``data.target``/``data.weight``.
    stats : dict
        ``members``, ``members_hidden``, ``infra``, ``infra_hidden``,
        ``hubs``, ``elements``.

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
                     "key": member["account_id"], "parent": "members",
                     "score": round(float(member.get("member_score") or 0.0), 3)},
            "classes": "account",
        })
    if hidden_members:
        elements.append({"data": {"id": "more-members", "label": f"+{hidden_members} weaker members",
                                  "kind": "summary", "parent": "members"}, "classes": "summary"})
    used = len(elements)

    infra: dict[tuple[str, str], dict] = {}
    if not links.empty:
        for row in links.itertuples(index=False):
            if row.account_id not in drawn_ids:
                continue
            item = infra.setdefault((row.kind, row.key), {"accounts": {}, "country": row.country,
                                                          "asn": row.asn, "ip_kind": row.ip_kind})
            item["accounts"][row.account_id] = item["accounts"].get(row.account_id, 0) + int(row.requests)
    ranked = sorted(infra.items(), key=lambda kv: (-len(kv[1]["accounts"]), -sum(kv[1]["accounts"].values()), kv[0]))
    hub_floor = max(hub_min_members, math.ceil(hub_share * len(drawn)))
    hubs = shown = hidden = 0
    for (kind, key), item in ranked:
        accounts = item["accounts"]
        is_hub = len(accounts) >= hub_floor and len(drawn) >= hub_min_members
        cost = 2 if is_hub else 1 + len(accounts)
        if used + cost > cap:
            hidden += 1
            continue
        node_id = f"{'ip' if kind == 'ip' else 'dev'}:{key}"
        classes = [kind]
        if kind == "ip" and item["ip_kind"] in _HOSTING_KINDS:
            classes.append("hosting")
        label = key if kind == "ip" else f"device {key}"
        if kind == "ip" and isinstance(item["country"], str) and item["country"]:
            label = f"{key} ({item['country']})"
        data = {"id": node_id, "label": label, "kind": kind, "key": key, "members": len(accounts),
                "requests": int(sum(accounts.values()))}
        if is_hub:
            hubs += 1
            classes.append("hub")
            data["label"] = f"{label} · shared by {len(accounts)}"
            elements.append({"data": data, "classes": " ".join(classes)})
            elements.append({"data": {"id": f"e:{node_id}:members", "source": node_id, "target": "members",
                                      "weight": len(accounts)}, "classes": "hub-edge"})
        else:
            elements.append({"data": data, "classes": " ".join(classes)})
            for account_id, requests in accounts.items():
                elements.append({"data": {"id": f"e:{node_id}:{account_id}", "source": f"acct:{account_id}",
                                          "target": node_id, "weight": requests}})
        used += cost
        shown += 1
    stats = {"members": len(drawn), "members_hidden": hidden_members, "infra": shown,
             "infra_hidden": hidden, "hubs": hubs, "elements": len(elements)}
    return elements, stats


_NODE_PREFIX = {ACCOUNT: "acct", IP: "ip", DEVICE: "dev", PHONE: "phone", CLUSTER: "cluster"}
_LABEL_ENTITY = {ACCOUNT: "account", IP: "ip", DEVICE: "device", PHONE: "phone", CLUSTER: "cluster"}


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
    return key


def neighbourhood_elements(nb: Neighbourhood, *, step: int = 0) -> list[dict]:
    """Cytoscape elements of a :class:`~graph.store.base.Neighbourhood`.

    Every element carries ``data.step`` (which expansion added it), so that
    undo can drop the elements of the last step.
    """
    elements: list[dict] = []
    nodes = ([nb.center] if nb.center else []) + list(nb.nodes)
    for node in nodes:
        label = node["_label"]
        elements.append({
            "data": {"id": node_element_id(label, node["_key"]), "label": _node_caption(node),
                     "kind": _LABEL_ENTITY.get(label, label.lower()), "node_label": label,
                     "key": node["_key"], "step": step},
            "classes": _LABEL_ENTITY.get(label, "other"),
        })
    for edge in nb.edges:
        source = node_element_id(edge["src_label"], edge["src"])
        target = node_element_id(edge["dst_label"], edge["dst"])
        elements.append({
            "data": {"id": f"{edge['type']}:{source}->{target}", "source": source, "target": target,
                     "rel": edge["type"], "weight": edge.get("count") or 1, "step": step},
        })
    return elements


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
