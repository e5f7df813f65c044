"""The events access object: views of some accounts or a time range, explicit frames, and whether events exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from graph import warehouse
from graph.detect import behaviour, enumeration
from graph.detect.frames import Events, among, events_frame
from graph.detect.projection import workspace_events
from graph.errors import SybilscopeError

DAY = 86_400_000
CHRISTMAS = 1_577_232_000_000  # 2019-12-25T00:00:00Z


def _events() -> Events:
    """Three accounts (one with a quote in its id), each looking up one number a day for four days."""
    rows = [{"ts": CHRISTMAS + d * DAY + 6 * 3_600_000, "ip": "1.1.1.1", "account_id": account,
             "phone_hash": f"{account}-{d}", "block_hash": "b", "block_ordinal": d}
            for account in ("a", "b", "o'c") for d in range(-1, 3)]
    return Events.from_frame(events_frame(rows))


def _accounts(events: Events) -> dict[str, int]:
    found = events.query("SELECT account_id, count(*) AS n FROM {events} GROUP BY 1 ORDER BY 1")
    return dict(zip(found["account_id"], found["n"], strict=True))


def test_for_accounts_reads_only_their_events_and_their_lookups():
    events = _events()
    mine = events.for_accounts(["o'c", "a", "a"])
    assert _accounts(mine) == {"a": 4, "o'c": 4}
    assert len(mine) == 8
    assert set(enumeration.lookup_stats(mine).index) == {"a", "o'c"}
    assert mine.query("SELECT DISTINCT account_id FROM {lookups} ORDER BY 1")["account_id"].tolist() == ["a", "o'c"]
    assert len(events) == 12 and set(enumeration.lookup_stats(events).index) == {"a", "b", "o'c"}


def test_for_no_accounts_is_no_events():
    assert len(_events().for_accounts([])) == 0


def test_window_includes_its_start_and_excludes_its_end():
    events = _events()
    christmas = datetime(2019, 12, 25, tzinfo=UTC)
    assert len(events.window(christmas, christmas + timedelta(days=2))) == 6
    assert len(events.window(christmas + timedelta(hours=6), christmas + timedelta(days=1, hours=6))) == 3
    assert len(events.window(since="2019-12-26")) == 6
    assert len(events.window(until="2019-12-25T00:00:00Z")) == 3
    assert len(events.window()) == 12


def test_window_ends_without_a_time_zone_are_utc():
    events = _events()
    naive = events.window(datetime(2019, 12, 25, 6), datetime(2019, 12, 25, 7))
    eastern = events.window(datetime(2019, 12, 25, 1, tzinfo=timezone(timedelta(hours=-5))),
                            datetime(2019, 12, 25, 2, tzinfo=timezone(timedelta(hours=-5))))
    assert len(naive) == len(eastern) == 3


def test_a_window_must_not_end_before_it_starts():
    with pytest.raises(ValueError, match="must not end"):
        _events().window("2019-12-26", "2019-12-25")


def test_views_compose():
    events = _events()
    assert _accounts(events.window(since="2019-12-26").for_accounts(["b"])) == {"b": 2}
    assert _accounts(events.for_accounts(["b"]).window(since="2019-12-26")) == {"b": 2}


def test_registered_frames_are_read_by_their_key_until_released():
    events = _events()
    events.register("watched", pd.DataFrame({"account_id": ["b"]}))
    sql = "SELECT count(*) AS n FROM {events} JOIN {watched} USING (account_id)"
    assert events.query(sql)["n"].tolist() == [4]
    assert events.scalar(sql) == 4
    events.register("watched", pd.DataFrame({"account_id": ["a", "b"]}))
    assert events.scalar(sql) == 8
    # a query's own frame is read for that query only, and wins over a registered one
    assert events.query(sql, watched=pd.DataFrame({"account_id": ["a"]}))["n"].tolist() == [4]
    assert events.scalar(sql) == 8
    events.release()
    with pytest.raises(KeyError):
        events.scalar(sql)


def test_frames_are_registered_under_private_names():
    events = _events()
    other = Events(events.connection, events.table)  # a second reader of the same connection
    events.register("list", pd.DataFrame({"account_id": ["a"]}))
    other.register("list", pd.DataFrame({"account_id": ["a", "b"]}))
    names = {row[0] for row in events.connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "list" not in names and sum(name.startswith("_detect_list_") for name in names) == 2
    sql = "SELECT count(*) FROM {events} JOIN {list} USING (account_id)"
    assert (events.scalar(sql), other.scalar(sql)) == (4, 8)
    events.unregister("list")
    events.unregister("list")
    with pytest.raises(KeyError):
        events.scalar("SELECT count(*) FROM {list}")


def test_events_and_lookups_are_not_keys_a_frame_may_take():
    events = _events()
    for key in ("events", "lookups"):
        with pytest.raises(ValueError, match="another key"):
            events.register(key, pd.DataFrame({"account_id": ["a"]}))


def test_exists_says_whether_the_events_table_is_there(tmp_path):
    cursor = warehouse.connect(tmp_path / "sybilscope.duckdb")
    try:
        assert not Events(cursor).exists()
        assert not Events(cursor).for_accounts(["a"]).exists()
        cursor.execute(f"CREATE TABLE {warehouse.EVENTS_TABLE} (ts TIMESTAMPTZ, account_id VARCHAR)")
        assert Events(cursor).exists()
        assert Events(cursor).window(since="2019-12-25").for_accounts(["a"]).exists()
    finally:
        warehouse.close_all()


def test_a_workspace_without_events_says_to_ingest(workspace):
    with pytest.raises(SybilscopeError, match="sybilscope ingest"):
        workspace_events(workspace)


def test_values_are_named_parameters_and_rows_come_by_column_name():
    events = _events().for_accounts(["a", "b"])
    sql = "SELECT account_id, count(*) AS n FROM {events} WHERE ts >= $since GROUP BY 1 ORDER BY 1"
    since = {"since": datetime(2019, 12, 26, tzinfo=UTC)}
    assert events.rows(sql, since) == [{"account_id": "a", "n": 2}, {"account_id": "b", "n": 2}]
    assert events.one(sql, since) == {"account_id": "a", "n": 2}
    assert events.one("SELECT * FROM {events} WHERE account_id = $who", {"who": "nobody"}) == {}
    assert events.query(sql, since)["n"].tolist() == [2, 2]
    assert events.scalar("SELECT count(*) FROM {events} WHERE block_ordinal = $d", {"d": 0}) == 2
    watched = pd.DataFrame({"account_id": ["b"]})
    assert events.rows("SELECT count(*) AS n FROM {events} JOIN {watched} USING (account_id) WHERE ts >= $since",
                       since, watched=watched) == [{"n": 2}]


def test_a_view_of_accounts_registers_them_only_while_a_query_runs():
    events = _events()
    mine = events.for_accounts(f"x{i}" for i in range(5_000))
    assert len(mine) == 0 and len(events.for_accounts(["a", *(f"x{i}" for i in range(5_000))])) == 4
    assert mine.derived("busy", "SELECT account_id FROM {events}")
    names = {row[0] for row in events.connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert not {name for name in names if name.startswith("_detect_accounts_")}
    mine.release()


def test_a_view_is_an_object_of_the_kind_it_narrows():
    class Reader(Events):
        pass

    events = Reader(_events().connection, "events")
    assert type(events.for_accounts(["a"]).window(since="2019-12-26")) is Reader


@pytest.mark.parametrize("values", [
    {"b", "o'c"}, ["b"], pd.Index(["a", "zz"]), pd.Series(["o'c", None]), {"a": 1}.keys(), set(), {"b", None},
    ["b", 7], ("a",),
])
def test_among_answers_as_isin_does_for_every_kind_of_column_and_values(values):
    """The fast membership test is a drop-in for ``isin``: same answers, same type, same index."""
    arrow = pd.Series(["a", "b", None, "o'c", "b"], index=[9, 8, 7, 6, 5])
    chunked = pd.concat([arrow.iloc[:2], arrow.iloc[2:]])  # an Arrow column of two chunks
    for column in (arrow, chunked, arrow.astype(object), pd.Index(arrow), pd.Series([1, 2, 7])):
        expected = column.isin(list(values) if not isinstance(values, (set, list, tuple)) else values)
        found = among(column, values)
        assert type(found) is type(expected)
        assert list(found) == list(expected)
        if isinstance(column, pd.Series):
            assert found.index.equals(expected.index) and found.dtype == bool


def test_weekly_histograms_count_each_accounts_requests_by_half_hour_of_the_week():
    monday = 1_577_059_200_000  # 2019-12-23T00:00:00Z, a Monday
    rows = [{"ts": monday + 9 * 3_600_000 + i * 60_000, "account_id": "a", "ip": "1.1.1.1"} for i in range(3)]
    rows += [{"ts": monday + 6 * DAY + 47 * 1_800_000, "account_id": "b", "ip": "1.1.1.1"},
             {"ts": monday + 7 * DAY, "account_id": "b", "ip": "1.1.1.1"}]  # Sunday's last half hour, next Monday's first
    weeks = behaviour.weekly_histograms(Events.from_frame(events_frame(rows)), ["a", "b", "nobody"])
    assert sorted(weeks) == ["a", "b"]
    assert weeks["a"][18] == 3 and weeks["a"].sum() == 3
    assert weeks["b"][behaviour.HALF_HOURS_PER_WEEK - 1] == 1 and weeks["b"][0] == 1 and weeks["b"].sum() == 2
