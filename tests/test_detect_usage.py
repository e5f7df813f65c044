"""One pass over the events for every question about who used which IP or device.

Entity sizes, infrastructure edges, rare links, pooled closure and pooled
misses read the accounts' usage table (:func:`graph.detect.infrastructure.entity_usage`)
instead of scanning the events each; client builds group the raw columns
before building their names. These tests pin that each answer is what the
scan of the events it replaced gave, on events with the awkward cases: rows
without an IP, a device, a number or an account, accounts whose only
traffic on an address is not a lookup, and build names two ways to spell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.detect.acquaintance import closure_baseline, entity_closure, rare_links, target_closure
from graph.detect.behaviour import client_builds
from graph.detect.frames import Events, events_frame
from graph.detect.infrastructure import entity_sizes, entity_usage, infrastructure_edges
from graph.detect.misses import HitBaseline, entity_deficits


@pytest.fixture(scope="module")
def events() -> Events:
    rng = np.random.default_rng(3)
    accounts = [f"a{i:02d}" for i in range(40)]
    rows = []
    for n in range(3000):
        account = accounts[int(rng.integers(0, 40))]
        ip = None if rng.random() < 0.05 else f"10.0.{int(rng.integers(0, 4))}.{int(rng.integers(0, 12))}"
        looks = rng.random() < 0.6
        target = int(rng.integers(0, 400))
        rows.append({
            "ts": n * 1000, "ip": ip, "ip_prefix": ip and ip.rsplit(".", 1)[0] + ".0/24",
            "ip_kind": ip and ("hosting" if ip.startswith("10.0.0.") else "residential"),
            "ip_country": ip and "DE", "ip_asn": ip and 64500,
            "account_id": None if rng.random() < 0.02 else account,
            "device_id": None if rng.random() < 0.1 else f"d{int(rng.integers(0, 25))}",
            "phone_hash": f"p{target}" if looks else None,
            "matched_account_id": accounts[target % 40] if looks and target % 3 == 0 else None,
            "user_agent_family": ["App", "App/1", None][int(rng.integers(0, 3))],
            "app_version": ["1/2", "2", None][int(rng.integers(0, 3))],
        })
    return Events.from_frame(events_frame(rows))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_usage_table_has_one_row_per_account_and_entity(events):
    usage = events.query(f"SELECT * FROM {entity_usage(events)}")
    scanned = events.query("""
        SELECT account_id, 'ip' AS entity_type, ip AS entity, count(*) AS requests, count(phone_hash) AS lookups
        FROM {events} WHERE account_id IS NOT NULL AND ip IS NOT NULL GROUP BY 1, 3
        UNION ALL
        SELECT account_id, 'device', device_id, count(*), count(phone_hash)
        FROM {events} WHERE account_id IS NOT NULL AND device_id IS NOT NULL GROUP BY 1, 3
    """)
    columns = ["account_id", "entity_type", "entity", "requests", "lookups"]
    pd.testing.assert_frame_equal(_sorted(usage[columns]), _sorted(scanned), check_dtype=False)
    assert entity_usage(events) == entity_usage(events)  # built once


def test_entity_sizes_count_every_account_behind_an_entity(events):
    scanned = events.query("""
        SELECT 'ip' AS entity_type, ip AS entity, count(DISTINCT account_id) AS entity_accounts FROM {events}
        WHERE account_id IS NOT NULL AND ip IS NOT NULL GROUP BY 2
        UNION ALL
        SELECT 'prefix', ip_prefix, count(DISTINCT account_id) FROM {events}
        WHERE account_id IS NOT NULL AND ip_prefix IS NOT NULL GROUP BY 2
        UNION ALL
        SELECT 'device', device_id, count(DISTINCT account_id) FROM {events}
        WHERE account_id IS NOT NULL AND device_id IS NOT NULL GROUP BY 2
        ORDER BY 1, 2
    """)
    pd.testing.assert_frame_equal(entity_sizes(events), scanned, check_dtype=False)


def test_infrastructure_edges_of_some_accounts_are_theirs_of_all(events):
    everyone = infrastructure_edges(events)
    some = infrastructure_edges(events, ["a01", "a07", "a33"])
    mine = everyone[everyone["account_id"].isin(["a01", "a07", "a33"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(some, mine)
    lookups = events.query("""
        SELECT account_id, ip AS entity, count(phone_hash) AS lookups FROM {events}
        WHERE account_id IN ('a01', 'a07', 'a33') AND ip IS NOT NULL GROUP BY 1, 2
    """)
    ips = some[some["entity_type"] == "ip"][["account_id", "entity", "lookups"]]
    pd.testing.assert_frame_equal(_sorted(ips), _sorted(lookups), check_dtype=False)


def test_rare_links_and_pooled_closure_read_what_the_events_say(events):
    accounts = pd.Index([f"a{i:02d}" for i in range(0, 40, 2)])
    links = rare_links(events, accounts, max_accounts=6)
    used = events.query("""
        SELECT DISTINCT 'ip' AS t, ip AS e, account_id FROM {events} WHERE ip IS NOT NULL AND account_id IS NOT NULL
        UNION SELECT DISTINCT 'device', device_id, account_id FROM {events}
        WHERE device_id IS NOT NULL AND account_id IS NOT NULL
    """)
    size = used.groupby(["t", "e"])["account_id"].transform("size")
    rare = used[size.between(2, 6) & used["account_id"].isin(accounts)]
    pairs = rare.merge(rare, on=["t", "e"])
    pairs = pairs[pairs["account_id_x"] < pairs["account_id_y"]]
    expected = sorted(set(zip(pairs["account_id_x"], pairs["account_id_y"], strict=True)))
    assert list(zip(links["a"], links["b"], strict=True)) == expected

    closure = target_closure(events)
    pooled = entity_closure(events, closure, closure_baseline(closure), min_accounts=2)
    looked = events.query("""
        SELECT 'ip' AS entity_type, ip AS entity, count(DISTINCT account_id) AS n FROM {events}
        WHERE ip IS NOT NULL AND account_id IS NOT NULL AND phone_hash IS NOT NULL GROUP BY 2
        UNION ALL SELECT 'device', device_id, count(DISTINCT account_id) FROM {events}
        WHERE device_id IS NOT NULL AND account_id IS NOT NULL AND phone_hash IS NOT NULL GROUP BY 2
    """)
    assert not pooled.empty
    assert (pooled.merge(looked, on=["entity_type", "entity"]).eval("accounts <= n")).all()


def test_entity_deficits_pool_each_entitys_distinct_numbers(events):
    found = entity_deficits(events, HitBaseline(0.25, 0.08))
    scanned = events.query("""
        WITH per AS (
            SELECT 'ip' AS entity_type, ip AS entity, account_id, phone_hash, matched_account_id FROM {events}
            WHERE ip IS NOT NULL AND account_id IS NOT NULL AND phone_hash IS NOT NULL
            UNION ALL
            SELECT 'device', device_id, account_id, phone_hash, matched_account_id FROM {events}
            WHERE device_id IS NOT NULL AND account_id IS NOT NULL AND phone_hash IS NOT NULL
        ), numbers AS (
            SELECT entity_type, entity, phone_hash, bool_or(matched_account_id IS NOT NULL) AS matched
            FROM per GROUP BY 1, 2, 3
        ), lookers AS (
            SELECT entity_type, entity, count(DISTINCT account_id) AS lookers FROM per GROUP BY 1, 2
            HAVING count(DISTINCT account_id) >= 2
        )
        SELECT n.entity_type, n.entity, any_value(l.lookers) AS lookers, count(*) AS phones,
               count(*) FILTER (WHERE n.matched) AS matched
        FROM numbers n JOIN lookers l ON l.entity_type = n.entity_type AND l.entity = n.entity
        GROUP BY 1, 2 ORDER BY 1, 2
    """)
    columns = ["entity_type", "entity", "lookers", "phones", "matched"]
    assert len(found) > 10
    pd.testing.assert_frame_equal(found[columns], scanned, check_dtype=False)


def test_client_builds_take_each_accounts_most_used_spelling(events):
    scanned = events.query("""
        SELECT account_id, first(build ORDER BY n DESC, build) AS build FROM (
            SELECT account_id, user_agent_family || '/' || coalesce(app_version, '?') AS build, count(*) AS n
            FROM {events} WHERE account_id IS NOT NULL AND user_agent_family IS NOT NULL GROUP BY 1, 2
        ) GROUP BY 1 ORDER BY 1
    """)
    assert client_builds(events).to_dict() == dict(zip(scanned["account_id"], scanned["build"], strict=True))
