"""Evidence: what a cluster shares, when it acts together, and the requests that show it.

An analyst must be able to check every claim a score makes and answer "why
are these two accounts together?". So each cluster carries, bounded in size
(top items with totals):

* the IPs, devices and network prefixes its members share, with kind,
  country, how many members and how many outside accounts use them;
* the number blocks it worked, with how much of each block the cluster
  tried and how many members split it;
* the sharded member pairs and the synchronized session windows;
* for each item, a few ``event_id`` values of the underlying requests, so the
  claim can be traced to the raw log rows.

:func:`why_together` answers the two-account question on demand.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from graph.detect import enumeration, infrastructure, synchrony
from graph.detect.attribution import membership_frame
from graph.detect.frames import EventsLike, among, as_events

__all__ = ["cluster_evidence", "why_together"]

_TOP = 10
_SAMPLES = 3
# min_by skips NULL arguments: wrapped in a struct, a missing event id still takes its place


def _samples(source, items: pd.DataFrame, column: str, members: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """A few event ids (the earliest) for each (cluster, value of ``column``) item."""
    if items.empty:
        return {}
    found = source.query(
        f"""
        SELECT i.cluster, i.item, list_transform(min_by({{{{'id': e.event_id}}}}, (e.ts, e.event_id), {_SAMPLES}), lambda s: s.id) AS event_ids
        FROM {{events}} e JOIN {{members}} m USING (account_id)
        JOIN {{items}} i ON i.cluster = m.cluster AND i.item = e.{column}
        GROUP BY 1, 2
        """,
        members=members,
        items=items,
    )
    return {(cluster, item): list(ids) for cluster, item, ids in found.itertuples(index=False)}


def _worked_blocks(source, members: pd.DataFrame) -> pd.DataFrame:
    """Each cluster's worked blocks; for those it may list, the block's pseudonym and sample event ids.

    Counts come from the distinct lookups (:meth:`~graph.detect.frames.Events.lookups`),
    which key blocks by a hash. A cluster lists its blocks with most numbers,
    ties broken by the pseudonym, which only the events hold: pseudonyms and
    samples are read there, in one pass, for every block whose count could
    place it among the listed ones.

    Returns
    -------
    DataFrame
        ``cluster, numbers, members, lookups, matched, block_hash, event_ids``
        sorted by cluster, numbers (largest first) and pseudonym;
        ``block_hash`` is missing for blocks that cannot be listed.
    """
    # matched numbers are counted apart: DuckDB would otherwise group every lookup by number
    blocks = source.query(
        f"""
        WITH counts AS (
            SELECT m.cluster, l.block, {enumeration.distinct_ordinals_sql("l.ordinal")} AS numbers,
                   count(DISTINCT l.account_id) AS members, sum(l.requests) AS lookups
            FROM {{lookups}} l JOIN {{members}} m USING (account_id)
            WHERE l.block IS NOT NULL
            GROUP BY 1, 2
        ), matched AS (
            SELECT m.cluster, l.block, count(DISTINCT l.phone) AS matched
            FROM {{lookups}} l JOIN {{members}} m USING (account_id)
            WHERE l.block IS NOT NULL AND l.matched
            GROUP BY 1, 2
        )
        SELECT counts.*, coalesce(matched.matched, 0) AS matched FROM counts LEFT JOIN matched USING (cluster, block)
        """,
        members=members,
    )
    # rank "min": 1 + how many blocks of the cluster have strictly more numbers
    listable = blocks[blocks.groupby("cluster")["numbers"].rank(method="min", ascending=False) <= _TOP]
    names = source.query(
        f"""
        SELECT i.cluster, i.block, any_value(e.block_hash) AS block_hash,
               list_transform(min_by({{{{'id': e.event_id}}}}, (e.ts, e.event_id), {_SAMPLES}), lambda s: s.id) AS event_ids
        FROM {{events}} e JOIN {{members}} m USING (account_id)
        JOIN {{items}} i ON i.cluster = m.cluster AND i.block = hash(e.block_hash)
        WHERE e.block_hash IS NOT NULL
        GROUP BY 1, 2
        """,
        members=members,
        items=listable[["cluster", "block"]],
    )
    blocks = blocks.merge(names, on=["cluster", "block"], how="left")
    return blocks.sort_values(["cluster", "numbers", "block_hash"], ascending=[True, False, True], na_position="last")


def _shared_entities(edges: pd.DataFrame, members: list[str], entity_type: str) -> tuple[int, list[dict]]:
    mine = edges[among(edges["account_id"], members) & (edges["entity_type"] == entity_type)]
    if mine.empty:
        return 0, []
    grouped = mine.groupby("entity", sort=True).agg(
        members=("account_id", "nunique"),
        requests=("requests", "sum"),
        lookups=("lookups", "sum"),
        accounts=("entity_accounts", "max"),
        kind=("kind", "first"),
        country=("country", "first"),
        asn=("asn", "first"),
    )
    if len(members) > 1:
        grouped = grouped[grouped["members"] >= 2]
    grouped = grouped.reset_index().sort_values(["members", "requests", "entity"], ascending=[False, False, True])
    rows = []
    for row in grouped.head(_TOP).itertuples(index=False):
        item = {
            "id": row.entity,
            "members": int(row.members),
            "outside_accounts": int(row.accounts - row.members),
            "requests": int(row.requests),
            "lookups": int(row.lookups),
        }
        if entity_type != "device":
            item.update(kind=row.kind, country=None if pd.isna(row.country) else row.country,
                        asn=None if pd.isna(row.asn) else int(row.asn))
        rows.append(item)
    return int(len(grouped)), rows


def cluster_evidence(
    events: EventsLike,
    clusters: Mapping[str, Collection[str]],
    *,
    edges: pd.DataFrame,
    onsets: pd.DataFrame,
    sharding: pd.DataFrame,
    bucket_seconds: int = 600,
) -> dict[str, dict]:
    """Bounded, traceable evidence for each cluster.

    Parameters
    ----------
    events : Events or DataFrame
    clusters : mapping of str to collection of str
        Cluster id to members.
    edges : DataFrame
        Account-to-infrastructure edges covering the members (with ``entity_accounts``).
    onsets : DataFrame
        Session onsets covering the members (:func:`graph.detect.synchrony.activity_onsets`).
    sharding : DataFrame
        Sharding ties (:func:`graph.detect.enumeration.sharding_ties`).
    bucket_seconds : int
        Synchrony window width.

    Returns
    -------
    dict
        Cluster id to ``{"ips", "devices", "prefixes", "blocks", "sharding",
        "synchronized_windows", "accounts"}``; each list section is
        ``{"total": n, "top": [...]}`` with at most 10 items, each item with
        ``event_ids`` of up to 3 underlying requests.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> from graph.detect.infrastructure import infrastructure_edges
    >>> rows = [{"event_id": f"{acc}{i}", "ts": i * 1000, "ip": "5.1.1.1", "ip_kind": "hosting",
    ...          "account_id": acc, "phone_hash": f"{acc}{i}", "block_hash": "b", "block_ordinal": i}
    ...         for acc in ("a", "b") for i in range(3)]
    >>> frame = events_frame(rows)
    >>> found = cluster_evidence(frame, {"C-1": ["a", "b"]}, edges=infrastructure_edges(frame),
    ...                          onsets=pd.DataFrame(columns=["account_id", "endpoint", "ts_ms"]),
    ...                          sharding=pd.DataFrame(columns=["a", "b"]))["C-1"]
    >>> found["ips"]["top"][0]["id"], found["ips"]["top"][0]["members"], found["ips"]["top"][0]["event_ids"]
    ('5.1.1.1', 2, ['a0', 'b0', 'a1'])
    """
    source = as_events(events)
    members_frame = membership_frame(clusters)
    blocks = _worked_blocks(source, members_frame)
    # each cluster's entities and windows are read from its members' rows: the other candidates' go once, here
    edges = edges[among(edges["account_id"], members_frame["account_id"])]
    onsets = onsets[among(onsets["account_id"], members_frame["account_id"])]
    out: dict[str, dict] = {}
    ip_items = []
    for cid, members in clusters.items():
        members = sorted(set(members))
        evidence: dict = {"accounts": {"total": len(members), "top": members[:_TOP]}}
        for entity_type, name in (("ip", "ips"), ("device", "devices"), ("prefix", "prefixes")):
            total, top = _shared_entities(edges, members, entity_type)
            evidence[name] = {"total": total, "top": top}
            if entity_type == "ip":
                ip_items.extend((cid, item["id"]) for item in top)
        mine = blocks[blocks["cluster"] == cid]
        evidence["blocks"] = {
            "total": int(len(mine)),
            "numbers": int(mine["numbers"].sum()),
            "top": [
                {
                    "block": row.block_hash,
                    "numbers": int(row.numbers),
                    "coverage": round(row.numbers / enumeration.BLOCK_SIZE, 4),
                    "members": int(row.members),
                    "lookups": int(row.lookups),
                    "matched": int(row.matched),
                    "event_ids": list(row.event_ids),
                }
                for row in mine.head(_TOP).itertuples(index=False)
            ],
        }
        inside = sharding[among(sharding["a"], members) & among(sharding["b"], members)] if len(sharding) else sharding
        if len(inside):
            inside = inside.sort_values(["complementarity", "shared_blocks", "a", "b"], ascending=[False, False, True, True])
            evidence["sharding"] = {
                "total": int(len(inside)),
                "top": [
                    {"a": r.a, "b": r.b, "shared_blocks": int(r.shared_blocks), "overlap": int(r.overlap),
                     "expected_overlap": round(float(r.expected_overlap), 2),
                     "complementarity": round(float(r.complementarity), 4)}
                    for r in inside.head(_TOP).itertuples(index=False)
                ],
            }
        else:
            evidence["sharding"] = {"total": 0, "top": []}
        evidence["synchronized_windows"] = synchrony.synchronized_windows(
            onsets, members, bucket_seconds=bucket_seconds, top=_TOP
        )
        out[cid] = evidence
    ip_samples = _samples(source, pd.DataFrame(ip_items, columns=["cluster", "item"], dtype=object), "ip", members_frame)
    for cid, evidence in out.items():
        for item in evidence["ips"]["top"]:
            item["event_ids"] = ip_samples.get((cid, item["id"]), [])
    return out


def why_together(events: EventsLike, a: str, b: str, *, bucket_seconds: int = 600, gap_seconds: int = 900) -> dict:
    """Everything that ties two accounts: shared infrastructure, blocks, targets and timing.

    Parameters
    ----------
    events : Events or DataFrame
    a, b : str
        The two accounts.
    bucket_seconds, gap_seconds : int
        Synchrony window and session onset gap (as in detection).

    Returns
    -------
    dict
        ``ips``, ``devices``, ``prefixes`` (shared, with kind and how many
        accounts use each), ``blocks`` (worked by both: numbers each, overlap,
        expected overlap), ``targets`` (numbers both looked up, and whether
        one found the other), ``synchronized`` (onset windows they share) and
        ``sentences``: the answer in plain language.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"event_id": f"{acc}{i}", "ts": i * 1000, "ip": "5.1.1.1", "ip_kind": "hosting", "account_id": acc,
    ...          "phone_hash": f"n{i}", "block_hash": "b", "block_ordinal": i + (0 if acc == "a" else 500)}
    ...         for acc in ("a", "b") for i in range(100)]
    >>> answer = why_together(events_frame(rows), "a", "b")
    >>> answer["sentences"][0]
    'both used 1 IP address(es): 5.1.1.1 (hosting, used by 2 accounts in all)'
    """
    source = as_events(events)
    pair = sorted({a, b})
    if len(pair) != 2:
        raise ValueError("why_together needs two different accounts")
    edges = infrastructure.infrastructure_edges(source, pair)
    out: dict = {"accounts": pair, "sentences": []}
    for entity_type, name, noun in (("ip", "ips", "IP address"), ("device", "devices", "device"), ("prefix", "prefixes", "network")):
        mine = edges[edges["entity_type"] == entity_type]
        both = mine.groupby("entity").filter(lambda g: g["account_id"].nunique() == 2)
        rows = []
        for entity, group in both.groupby("entity", sort=True):
            rows.append({
                "id": entity,
                "kind": group["kind"].iloc[0],
                "accounts": int(group["entity_accounts"].max()),
                "requests": {r.account_id: int(r.requests) for r in group.itertuples()},
            })
        rows.sort(key=lambda r: (r["accounts"], r["id"]))
        out[name] = rows
        if rows:
            shown = ", ".join(
                f"{r['id']} ({r['kind']}, used by {r['accounts']} accounts in all)" if entity_type != "device"
                else f"{r['id']} (used by {r['accounts']} accounts in all)"
                for r in rows[:3]
            )
            more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
            if entity_type != "prefix" or not out["ips"]:
                out["sentences"].append(f"both used {len(rows)} {noun}(es): {shown}{more}" if noun == "IP address"
                                        else f"both used {len(rows)} {noun}(s): {shown}{more}")
    coverage = enumeration.block_coverage(source, pair, min_numbers=1)
    ties = enumeration.sharding_ties(coverage, min_numbers=1)
    blocks = []
    for block, group in coverage.groupby("block_hash", sort=True):
        if group["account_id"].nunique() == 2:
            sets = {r.account_id: set(r.ordinals.tolist()) for r in group.itertuples()}
            blocks.append({"block": block, "numbers": {k: len(v) for k, v in sets.items()},
                           "overlap": len(sets[pair[0]] & sets[pair[1]])})
    blocks.sort(key=lambda r: (-sum(r["numbers"].values()), r["block"]))
    out["blocks"] = blocks[:_TOP]
    if len(ties):
        tie = ties.iloc[0]
        out["sharding"] = {"shared_blocks": int(tie["shared_blocks"]), "overlap": int(tie["overlap"]),
                           "expected_overlap": round(float(tie["expected_overlap"]), 2),
                           "complementarity": round(float(tie["complementarity"]), 4)}
        if tie["expected_overlap"] >= 5:
            out["sentences"].append(
                f"they worked {int(tie['shared_blocks'])} of the same number block(s) and tried "
                f"{int(tie['overlap'])} of the same numbers where independent enumerators would share "
                f"{tie['expected_overlap']:.0f}: they split the blocks between them"
                if tie["complementarity"] >= 0.8 else
                f"they worked {int(tie['shared_blocks'])} of the same number block(s)"
            )
    targets = source.query(
        """
        SELECT count(*) AS shared FROM (
            SELECT phone_hash FROM {events} WHERE account_id IN (SELECT account_id FROM {pair}) AND phone_hash IS NOT NULL
            GROUP BY phone_hash HAVING count(DISTINCT account_id) = 2)
        """,
        pair=pd.DataFrame({"account_id": pair}, dtype=object),
    )
    found = source.query(
        """
        SELECT DISTINCT account_id, matched_account_id FROM {events}
        WHERE account_id IN (SELECT account_id FROM {pair}) AND matched_account_id IN (SELECT account_id FROM {pair})
          AND account_id <> matched_account_id
        """,
        pair=pd.DataFrame({"account_id": pair}, dtype=object),
    )
    shared = int(targets["shared"].iloc[0])
    out["targets"] = {"shared_numbers": shared, "found_each_other": bool(len(found))}
    if shared:
        out["sentences"].append(
            f"both looked up {shared} of the same phone number(s)"
            + ("; one found the other by number (they know each other)" if len(found) else "; neither found the other")
        )
    onsets = synchrony.activity_onsets(source, pair, gap_seconds=gap_seconds)
    windows = synchrony.synchronized_windows(onsets, pair, bucket_seconds=bucket_seconds, top=_TOP)
    out["synchronized"] = windows
    if windows["total"]:
        out["sentences"].append(f"they started sessions in the same {bucket_seconds // 60}-minute window {windows['total']} time(s)")
    if not out["sentences"]:
        out["sentences"].append("nothing ties these two accounts directly")
    return out
