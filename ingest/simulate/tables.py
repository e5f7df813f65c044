"""The contract's tables, made from the world's integer codes.

The simulation works on integer indices (accounts, addresses, devices,
endpoints); these functions turn them into the string columns of
``CONTRACT.md``: ``requests`` a slice at a time, ``accounts``, ``ip_intel``
and ``labels`` once at the end. Timestamps are ISO text except in Parquet
without bad rows, where they stay typed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.simulate.catalog import ENDPOINTS, NETWORKS
from ingest.simulate.world import World

__all__ = ["RequestTables", "with_bad_rows", "accounts_table", "ip_intel_table", "labels_table"]


def _iso(ms: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(ms, pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return pc.take(values, pa.array(idx, mask=idx < 0))


class RequestTables:
    """Turns integer-coded batches into the contract's string columns."""

    def __init__(self, world: World, ts_as_text: bool) -> None:
        self.world = world
        self.ts_as_text = ts_as_text
        self.ips = pa.array(world.ips, pa.string())
        self.account_ids = pa.array(list(world.account_ids), pa.string())
        self.devices = pa.array(world.devices, pa.string())
        self.user_agents = pa.array(world.device_ua, pa.string())
        self.endpoints = pa.array(list(ENDPOINTS), pa.string())

    def requests(
        self, b: dict[str, np.ndarray], matched: np.ndarray, status: np.ndarray
    ) -> pa.Table:
        phone = b["phone"]
        phone_text = pc.utf8_replace_slice(
            pa.array(phone, mask=phone <= 0).cast(pa.string()), start=0, stop=0, replacement="+"
        )
        req = b["request"]
        uniq, inverse = np.unique(req, return_inverse=True)
        req_text = pa.array([f"{int(x):016x}" for x in uniq], pa.string())
        req_idx = np.where(req > 0, inverse, -1)
        ts = _iso(b["ts"]) if self.ts_as_text else pa.array(b["ts"], pa.timestamp("ms", tz="UTC"))
        return pa.table(
            {
                "ts": ts,
                "ip": _take(self.ips, b["ip"]),
                "endpoint": _take(self.endpoints, b["endpoint"].astype(np.int64)),
                "account_id": _take(self.account_ids, b["account"]),
                "device_id": _take(self.devices, b["device"]),
                "user_agent": _take(self.user_agents, b["device"]),
                "status": pa.array(status.astype(np.int32)),
                "phone": phone_text,
                "matched_account_id": _take(self.account_ids, matched),
                "request_id": _take(req_text, req_idx),
            }
        )


def with_bad_rows(
    table: pa.Table, positions: np.ndarray, kinds: list[str], rng: np.random.Generator
) -> pa.Table:
    """Copies of real rows broken in one way each, to exercise ingest's quarantine."""
    rows = table.take(pa.array(rng.integers(0, table.num_rows, size=len(kinds)))).to_pylist()
    for row, kind in zip(rows, kinds, strict=True):
        if kind == "unparseable_ts":
            row["ts"] = str(rng.choice(["2019-12-32T25:61:00Z", "yesterday", "24/12/2019 6pm"]))
        elif kind == "invalid_ip":
            row["ip"] = str(rng.choice(["300.17.42.999", "not-an-ip", "10.0.0"]))
        else:
            row[str(rng.choice(["ip", "endpoint"]))] = None
    broken = pa.Table.from_pylist(rows, schema=table.schema)
    out = table
    # insert from the last position backwards so earlier positions stay valid
    for pos, i in sorted(zip(positions, range(len(kinds)), strict=True), reverse=True):
        out = pa.concat_tables([out.slice(0, pos), broken.slice(i, 1), out.slice(pos)])
    return out


def accounts_table(world: World, fmt: str) -> pa.Table:
    """Every account, sorted by id, with its status at the end of the window."""
    a = world.account
    status = np.full(world.n_accounts, "active", dtype=object)
    status[list(world.suspended)] = "suspended"
    order = np.argsort(world.account_ids.astype(str), kind="stable")
    created = a["created_at"][order]
    signup_ip = a["signup_ip"][order]
    signup_dev = a["signup_device"][order]
    return pa.table(
        {
            "account_id": pa.array(world.account_ids[order].tolist(), pa.string()),
            "created_at": _iso(created)
            if fmt != "parquet"
            else pa.array(created, pa.timestamp("ms", tz="UTC")),
            "handle": pa.array(world.account_handles[order].tolist(), pa.string()),
            "phone_country": pa.array(a["phone_country"][order].tolist(), pa.string()),
            "discoverable_by_phone": pa.array(a["discoverable"][order]),
            "status": pa.array(status[order].tolist(), pa.string()),
            "signup_ip": _take(pa.array(world.ips, pa.string()), signup_ip.astype(np.int64)),
            "signup_device_id": _take(
                pa.array(world.devices, pa.string()), signup_dev.astype(np.int64)
            ),
            "lang": pa.array(a["lang"][order].tolist(), pa.string()),
            "followers": pa.array(a["followers"][order]),
        }
    )


def ip_intel_table(world: World) -> pa.Table:
    """One row for every network an address was handed out in."""
    used = sorted(set(world.ip_network), key=lambda n: NETWORKS[n].cidr)
    nets = [NETWORKS[n] for n in used]
    return pa.table(
        {
            "network": [n.cidr for n in nets],
            "country": [n.country for n in nets],
            "asn": pa.array([n.asn for n in nets], pa.int64()),
            "as_org": [n.as_org for n in nets],
            "kind": [n.kind for n in nets],
        }
    )


def labels_table(world: World) -> pa.Table:
    """The prior labels (suspensions, vetted accounts and networks) the platform already had."""
    rows = []
    for entity, index, label, actor, source, note in world.prior_labels:
        ident = world.account_ids[index] if entity == "account" else world.ips[index]
        rows.append((entity, str(ident), label, actor or None, source, note))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
    names = ("entity", "id", "label", "actor", "source", "note")
    return pa.table({n: pa.array(list(c), pa.string()) for n, c in zip(names, cols, strict=True)})
