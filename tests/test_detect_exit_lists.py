"""A small operation working one leaked list from residential exits, each account with friends for cover."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detect import find_networks, networks
from graph.detect.acquaintance import crowd_pairs, rare_links
from graph.detect.frames import as_events, events_frame
from graph.detect.results import DetectionParams

DAY = 86_400_000
START = 1_576_627_200_000  # 2019-12-18T00:00:00Z


def _lookup(account: str, number: str, ip: str, ts: int, matched: bool, region: str = "US") -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": "residential", "ip_asn": 7922, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "ip_country": "US", "endpoint": "contacts/upload", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{number}", "block_hash": f"blk-{number}", "block_ordinal": 7,
        "matched_account_id": number if matched else None, "phone_region": region,
    }


def _circle(rng: np.random.Generator, created: dict, name: str, size: int, ips: list[str]) -> list[dict]:
    """Aged friends who look each other up and ten of the dozen contacts they share who are not users yet,
    each from ``ips[k]``."""
    members = [f"{name}-{k}" for k in range(size)]
    rows = []
    for k, me in enumerate(members):
        created[me] = START - int(rng.integers(200, 900)) * DAY
        ts = START + int(rng.integers(0, 10 * DAY))
        rows += [_lookup(me, friend, ips[k], ts, True) for friend in members if friend != me]
        rows += [_lookup(me, f"{name}-book-{j}", ips[k], ts, False) for j in rng.choice(12, size=10, replace=False)]
    return rows


def _population(rng: np.random.Generator, created: dict) -> list[dict]:
    """Forty circles of friends on their own home addresses, and twelve households of four behind one router
    each, whose books share a dozen relatives and hold each other."""
    rows = []
    for c in range(40):
        rows += _circle(rng, created, f"c{c:02d}", 5, [f"73.{c}.{k}.1" for k in range(5)])
        # and a few colleagues from other circles, who do not know each other
        for k in range(5):
            others = [(int(o), int(rng.integers(0, 5))) for o in rng.choice(40, size=4, replace=False) if o != c]
            rows += [_lookup(f"c{c:02d}-{k}", f"c{o:02d}-{j}", f"73.{c}.{k}.1", START, True) for o, j in others]
    for h in range(12):
        family = [f"h{h:02d}-{k}" for k in range(4)]
        for me in family:
            created[me] = START - int(rng.integers(200, 900)) * DAY
            ts = START + int(rng.integers(0, 10 * DAY))
            rows += [_lookup(me, other, f"24.{h}.0.1", ts, True) for other in family if other != me]
            rows += [_lookup(me, f"relative-{h}-{j}", f"24.{h}.0.1", ts, j % 3 == 0) for j in range(12)]
    return rows


def _operation(rng: np.random.Generator, created: dict, n: int = 8) -> list[dict]:
    """``n`` aged accounts, each behind two residential exits it shares with the next account and a resident,
    looking up 30 numbers drawn from one leaked list of 120 diaspora journalists abroad (a third of them
    users) and its own circle of friends, who know each other, for cover."""
    rows = []
    for k in range(n):
        me = f"op{k}"
        created[me] = START - int(rng.integers(200, 900)) * DAY
        exits = [f"98.{k}.0.1", f"98.{(k + 1) % n}.0.1"]
        for number in rng.choice(120, size=30, replace=False):
            rows.append(_lookup(me, f"listed-{number}", exits[int(number) % 2], START + int(rng.integers(0, 10 * DAY)),
                                int(number) % 3 == 0, region="IR"))
        cover = _circle(rng, created, f"cover{k}", 6, [f"76.{k}.{j}.1" for j in range(6)])
        rows += cover + [_lookup(me, f"cover{k}-{j}", exits[0], START + int(rng.integers(0, 10 * DAY)), True)
                         for j in range(6)]
    # each exit is someone's home: a resident with their own friends reaches the service through it too
    for k in range(n):
        rows += _circle(rng, created, f"resident{k}", 3, [f"98.{k}.0.1", f"67.{k}.1.1", f"67.{k}.2.1"])
    return rows


def _find(rows: list[dict], created: dict):
    accounts = pd.DataFrame({"account_id": list(created), "created_at": list(created.values())})
    return find_networks(events_frame(rows), accounts=accounts)


def test_a_small_list_operation_on_residential_exits_is_one_flagged_cluster(monkeypatch):
    rng = np.random.default_rng(5)
    created: dict = {}
    rows = _population(rng, created) + _operation(rng, created)
    found = _find(rows, created)
    assert [sorted(c.members) for c in found.clusters if c.flagged] == [[f"op{k}" for k in range(8)]]
    # the ties say what holds them: one list's numbers behind exits few others use
    assert found.graph.has_edge("op0", "op1") and "exits" in found.graph["op0"]["op1"]
    # no other door opens this case: each account finds its friends and misses nothing, no exit pools
    # enough of them, and none was made in a burst
    monkeypatch.setattr(networks, "_exit_lists", lambda *args: crowd_pairs({}))
    assert [c.members for c in _find(rows, created).clusters if c.flagged] == []


def test_households_behind_their_routers_sharing_relatives_are_not_a_list_operation():
    rng = np.random.default_rng(6)
    created: dict = {}
    rows = _population(rng, created)
    # one extended family's households, chained by visits: each router also serves the next household's
    # members, and all of them look up the same dozen relatives (and each other)
    for h in range(12):
        rows += [_lookup(f"h{(h + 1) % 12:02d}-0", f"relative-{h}-{j}", f"24.{h}.0.1", START, False) for j in range(6)]
    found = _find(rows, created)
    assert [c.members for c in found.clusters if c.flagged] == []
    assert not [c for c in found.clusters if any(m.startswith("h") for m in c.members)]
    # they share the routers and the relatives' numbers, but they find each other: the door ties none of them
    source = as_events(events_frame(rows))
    links = rare_links(source, pd.Index(sorted(created)))
    assert set(links["a"]) & {f"h{h:02d}-0" for h in range(12)}
    assert networks._exit_lists(source, links, set(), DetectionParams()).empty
