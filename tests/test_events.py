"""The app's reader of request events: named relations, explicit frames, rows by column name."""

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from app.events import EventReader, as_utc, events_present, read_lake
from graph.warehouse_schema import EVENT_COLUMNS, LAKE_REWRITES_TABLE, ensure_tables

T0 = datetime(2019, 12, 24, 6, tzinfo=UTC)


@pytest.fixture
def cursor():
    con = duckdb.connect()
    con.execute("""CREATE TABLE events AS SELECT * FROM (VALUES
                       ('a', TIMESTAMPTZ '2019-12-24 06:00Z'), ('a', TIMESTAMPTZ '2019-12-24 07:00Z'),
                       ('b', TIMESTAMPTZ '2019-12-24 08:00Z'), ('c', TIMESTAMPTZ '2019-12-24 09:00Z'))
                   AS t(account_id, ts)""")
    yield con
    con.close()


def test_a_workspace_without_events_reads_as_empty():
    reader = EventReader(duckdb.connect())
    assert not reader.present and not events_present(reader.cursor)
    assert reader.rows("SELECT * FROM {events}") == [] and reader.one("SELECT count(*) AS n FROM {events}") == {}
    assert reader.frame("SELECT * FROM {events}").empty


def test_scopes_narrow_the_events_and_rows_come_by_name(cursor):
    reader = EventReader(cursor)
    assert reader.one("SELECT count(*) AS requests FROM {events}") == {"requests": 4}
    members = reader.for_accounts(["a", "b", "a"])
    assert members.rows("SELECT account_id, count(*) AS n FROM {events} GROUP BY 1 ORDER BY 1") == [
        {"account_id": "a", "n": 2}, {"account_id": "b", "n": 1}]
    late = members.within(since=datetime(2019, 12, 24, 7, tzinfo=UTC), until=datetime(2019, 12, 24, 8, tzinfo=UTC))
    assert late.rows("SELECT account_id FROM {events} WHERE ts >= $from", {"from": T0}) == [{"account_id": "a"}]
    assert reader.one("SELECT count(*) AS n FROM {events}")["n"] == 4  # narrowing made new readers


def test_frames_are_registered_for_one_query_under_private_names(cursor):
    reader = EventReader(cursor)
    labels = pd.DataFrame({"account_id": ["a", "c"], "label": ["x", "y"]})
    found = reader.frame("SELECT e.account_id, label FROM {events} e JOIN {labels} l USING (account_id) ORDER BY ts",
                         labels=labels)
    assert found["label"].tolist() == ["x", "x", "y"]
    registered = {row[0] for row in cursor.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert not {name for name in registered if name.startswith("_app_")}
    with pytest.raises(duckdb.CatalogException):  # no variable is read by its name
        reader.frame("SELECT * FROM labels")


def test_as_utc():
    assert as_utc(None) is None and as_utc(pd.NaT) is None
    assert as_utc(datetime(2019, 12, 24, 6)) == T0 and as_utc(pd.Timestamp("2019-12-24T09:30+03:30")) == T0


def test_a_lake_half_way_through_a_killed_re_enrichment_reads_each_event_once_as_it_was(tmp_path):
    """Rewritten files already moved in beside the files they replace are not read until the swap is finished."""
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    ensure_tables(con)
    con.execute("INSERT INTO events (event_id, ts, ip, ip_kind) VALUES "
                "('e1', TIMESTAMPTZ '2019-12-24 06:00Z', '5.160.10.1', 'residential'), "
                "('e2', TIMESTAMPTZ '2019-12-24 07:00Z', '5.160.10.2', 'residential')")
    day = tmp_path / "lake" / "day=2019-12-24"
    day.mkdir(parents=True)
    old, new = "day=2019-12-24/run-1--part-0.parquet", "day=2019-12-24/run-1--fix-00000-00000.parquet"
    columns = ", ".join(EVENT_COLUMNS)
    con.execute(f"COPY (SELECT {columns} FROM events) TO '{tmp_path / 'lake' / old}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * REPLACE ('hosting' AS ip_kind) FROM (SELECT {columns} FROM events)) "
                f"TO '{tmp_path / 'lake' / new}' (FORMAT parquet)")
    con.execute(f"INSERT INTO {LAKE_REWRITES_TABLE} VALUES (?, ?, ?)", [old, "_fix-1/_file=0/part.parquet", new])
    con.execute("DELETE FROM events")

    def kinds() -> list[tuple]:
        reader = read_lake(con.cursor(), tmp_path / "lake")
        return reader.execute("SELECT event_id, ip_kind FROM events ORDER BY event_id").fetchall()

    assert kinds() == [("e1", "residential"), ("e2", "residential")]
    (tmp_path / "lake" / old).unlink()  # the swap goes on: the old file out
    assert kinds() == [("e1", "hosting"), ("e2", "hosting")]
    con.execute(f"DELETE FROM {LAKE_REWRITES_TABLE}")
    assert kinds() == [("e1", "hosting"), ("e2", "hosting")]
