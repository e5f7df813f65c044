"""The row helpers both store backends share (``graph.store._rows``).

Each backend renders these in its own query language, so a helper that
answers differently would make the backends disagree; the contract suite
checks the outcome, these the pieces.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from graph.schema import ACCOUNT, FOUND_IN, USED_IP, node_kind, rel_kind
from graph.store import _rows

SINCE = datetime(2019, 12, 20, 6, 0, tzinfo=timezone(timedelta(hours=3)))


def test_window_bounds_give_only_the_bounds_given_in_utc():
    used_ip = rel_kind(USED_IP)
    assert _rows.window_bounds(used_ip, None, None) == {}
    bounds = _rows.window_bounds(used_ip, SINCE, None)
    assert bounds == {"since": SINCE}
    assert bounds["since"].utcoffset() == timedelta(0)
    until = datetime(2019, 12, 21)  # naive: taken as UTC
    assert list(_rows.window_bounds(used_ip, SINCE, until)) == ["since", "until"]
    assert _rows.window_bounds(used_ip, None, until)["until"].tzinfo is not None


def test_window_bounds_ignore_the_window_for_types_without_first_and_last_seen():
    assert _rows.window_bounds(rel_kind(FOUND_IN), SINCE, SINCE) == {}


def test_window_bounds_refuse_what_is_not_a_datetime():
    with pytest.raises(ValueError, match="since must be a datetime"):
        _rows.window_bounds(rel_kind(USED_IP), "2019-12-20", None)


def test_label_conditions_keep_the_given_ones():
    assert _rows.label_conditions(None, None) == {}
    assert _rows.label_conditions("account", None) == {"entity": "account"}
    assert _rows.label_conditions("account", "a1") == {"entity": "account", "entity_id": "a1"}


def test_row_keys_and_columns_of_nodes_and_relationships():
    account = node_kind(ACCOUNT)
    assert _rows.row_keys(account) == (account.key,)
    assert _rows.row_columns(account) == list(account.names)
    assert _rows.kind_name(account) == ACCOUNT
    used_ip = rel_kind(USED_IP)
    assert _rows.row_keys(used_ip) == ("src", "dst")
    assert _rows.row_columns(used_ip) == ["src", "dst", *used_ip.names]
    assert _rows.kind_name(used_ip) == USED_IP


def test_columns_of_refuses_a_missing_key_column():
    with pytest.raises(ValueError, match="USED_IP rows need 'dst'"):
        _rows.columns_of(USED_IP, ["src", "dst", "count"], [{"src": "a1", "count": 1}], keys=("src", "dst"))
    table = pa.table({"src": ["a1"], "dst": ["1.2.3.4"]})
    assert _rows.columns_of(USED_IP, ["src", "dst", "count"], table, keys=("src", "dst")) == ["src", "dst"]
