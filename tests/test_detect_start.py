"""An operation's squads, fired at once by its scheduler, are one operation even when nothing else ties them."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from test_detect_slots import DAY, HOUR, START, _circles  # circles of friends on home lines

from graph.detect import find_networks
from graph.detect.frames import events_frame

FIRED = START + 7 * DAY + 22 * HOUR + 5 * 60_000  # 22:05 UTC on the case's eighth day


def _squad(name: str, exit_ip: str, start: int, rng: np.random.Generator, *, region: str = "TR") -> list[dict]:
    """Eight accounts behind a hosting address of the squad's own, each walking a range of its own.

    Each starts within seconds of ``start`` and looks up 150 consecutive numbers, in
    blocks nobody else works, finding almost nobody: each squad is an enumeration
    network on its own, and no address, device, block or number ties two squads.
    """
    rows = []
    for k in range(8):
        account = f"{name}{k}"
        begin = start + int(rng.integers(0, 40_000))
        rows += [{
            "ts": begin + i * 3_000, "ip": exit_ip, "ip_kind": "hosting", "ip_prefix": exit_ip.rsplit(".", 1)[0] + ".0/24",
            "endpoint": "contacts/lookup", "account_id": account, "device_id": f"d-{account}",
            "phone_hash": f"tel-{name}-{k}-{i}", "block_hash": f"blk-{name}-{k}-{i // 100}", "block_ordinal": i % 100,
            "matched_account_id": f"someone-{name}-{k}" if i == 77 else None, "phone_region": region, "ip_country": "DE",
        } for i in range(150)]
    return rows


def _case() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    rows = _circles(60, 5, rng)
    rows += _squad("a", "88.1.1.1", FIRED, rng) + _squad("b", "88.1.2.1", FIRED, rng)
    # another operator's squad on another country's numbers, fired the same minute, and one more
    # squad like the first two started a day later
    rows += _squad("c", "88.1.3.1", FIRED, rng, region="BR") + _squad("d", "88.1.4.1", FIRED + DAY, rng)
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 600 * DAY})
    return events_frame(rows), accounts


def _holding(clusters, prefix: str) -> list:
    return [c for c in clusters if c.flagged and any(m.startswith(prefix) and m[1:].isdigit() for m in c.members)]


def test_squads_started_in_the_same_two_minutes_working_one_countrys_numbers_are_one_operation():
    events, accounts = _case()
    clusters = find_networks(events, accounts=accounts).clusters
    (joined,) = _holding(clusters, "a")
    assert _holding(clusters, "b") == [joined]
    assert sorted(joined.members) == sorted([f"a{k}" for k in range(8)] + [f"b{k}" for k in range(8)])
    assert sorted(Counter(joined.sub_groups.values()).values()) == [8, 8]
    for row in joined.evidence["sub_groups"]:
        assert "one start (most of its accounts' lookups began within two minutes of the rest's, at 2019-12-25 22:0" in row["ties"]
    # a squad on another country's numbers, or started another day, is another cluster
    for other in ("c", "d"):
        (held,) = _holding(clusters, other)
        assert held is not joined and sorted(held.members) == [f"{other}{k}" for k in range(8)]
