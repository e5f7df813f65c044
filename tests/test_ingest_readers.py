"""Readers: every format gives the same rows, with the right line numbers, and bad rows come back."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingestcase import ANDROID_UA, PHONES, csv_bytes, request_rows, write_table

from ingest import readers
from ingest.readers import (
    ExactReadNeeded,
    InputError,
    TruncatedInput,
    discover,
    iter_chunks,
    mask_digit_runs,
    read_header,
    source_file,
)
from ingest.validate import check_header

FORMATS = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]


def _read_all(source, exact=False):
    header = read_header(source)
    rows, positions, problems = [], [], []
    for chunk in iter_chunks(source, header, exact=exact):
        rows += chunk.data.to_pylist()
        positions += chunk.positions.tolist()
        problems += chunk.problems
    return rows, positions, problems


def _clean(row):
    return {k: (v if v not in ("", None) else None) for k, v in row.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_records(tmp_path, fmt):
    path = write_table(tmp_path, "requests", request_rows(), fmt)
    rows, positions, problems = _read_all(source_file(path, "requests"))
    assert not problems
    expected = [_clean(r) for r in request_rows()]
    assert [_clean(r) for r in rows] == expected
    first = 2 if fmt.startswith("csv") else 1  # the CSV header is line 1
    assert positions == list(range(first, first + len(expected)))


def test_discover_split_files_and_unknown_files(tmp_path):
    rows = request_rows()
    write_table(tmp_path, "requests-0001", rows[:4], "parquet")
    write_table(tmp_path, "requests-0002", rows[4:], "csv.gz")
    write_table(tmp_path, "accounts", [{"account_id": "a"}], "jsonl")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "requestsX.csv").write_text("ts\n")
    found, ignored = discover(tmp_path)
    assert [s.path.name for s in found["requests"]] == ["requests-0001.parquet", "requests-0002.csv.gz"]
    assert [s.path.name for s in found["accounts"]] == ["accounts.jsonl"]
    assert sorted(p.name for p in ignored) == ["notes.txt", "requestsX.csv"]


def test_csv_line_numbers_count_multiline_values_and_blank_lines(tmp_path):
    text = (
        "ts,ip,endpoint,user_agent\n"
        "2019-12-24T06:00:00Z,1.1.1.1,a,plain\n"
        "\n"
        '2019-12-24T06:00:01Z,1.1.1.2,b,"two\nlines"\n'
        '2019-12-24T06:00:02Z,1.1.1.3,c,"three\r\nlines\nhere"\n'
        "2019-12-24T06:00:03Z,1.1.1.4,d,last\n"
    )
    path = tmp_path / "requests.csv"
    path.write_bytes(text.encode())
    for exact in (False, True):
        rows, positions, problems = _read_all(source_file(path, "requests"), exact=exact)
        assert positions == [2, 4, 6, 9], exact
        assert [r["endpoint"] for r in rows] == ["a", "b", "c", "d"]
        assert not problems


def test_wrong_field_count_needs_the_exact_path_which_names_the_line(tmp_path):
    text = "ts,ip,endpoint\n2019-12-24T06:00:00Z,1.1.1.1,a\n2019-12-24T06:00:01Z,1.1.1.2\n2019-12-24T06:00:02Z,1.1.1.3,c\n"
    path = tmp_path / "requests.csv"
    path.write_text(text)
    source = source_file(path, "requests")
    with pytest.raises(ExactReadNeeded):
        _read_all(source)
    rows, positions, problems = _read_all(source, exact=True)
    assert positions == [2, 4]
    assert [(p.position, p.reason) for p in problems] == [(3, "wrong number of fields: expected 3, found 2")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_non_utf8_row_is_a_problem_not_a_mangled_value(tmp_path, fmt):
    if fmt == "csv":
        data = b"ts,ip,endpoint\n2019-12-24T06:00:00Z,1.1.1.1,a\n2019-12-24T06:00:01Z,1.1.1.2,caf\xe9\n"
    else:
        data = b'{"ts":"2019-12-24T06:00:00Z","ip":"1.1.1.1","endpoint":"a"}\n{"ts":"x","endpoint":"caf\xe9"}\n'
    path = tmp_path / f"requests.{fmt}"
    path.write_bytes(data)
    for exact in (False, True):
        rows, positions, problems = _read_all(source_file(path, "requests"), exact=exact)
        assert len(rows) == 1
        assert [(p.position, p.reason) for p in problems] == [(3 if fmt == "csv" else 2, "not UTF-8")]


def test_truncated_gzip_keeps_the_rows_before_and_names_the_file(tmp_path):
    rows = [dict(r, request_id=f"r{i}") for i, r in enumerate(request_rows() * 3000)]
    data = gzip.compress(csv_bytes(rows))
    path = tmp_path / "requests.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    source = source_file(path, "requests")
    for exact in (False, True):
        got = []
        with pytest.raises(TruncatedInput) as caught:
            for chunk in iter_chunks(source, exact=exact):
                got += chunk.positions.tolist()
        assert "requests.csv.gz" in str(caught.value) and "truncated" in str(caught.value)
        assert 0 < len(got) < len(rows)
        assert got == list(range(2, 2 + len(got)))  # every row before the damage, in order


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "requests.csv"
    empty.write_bytes(b"")
    header = read_header(source_file(empty, "requests"))
    assert header.empty and header.columns == []
    assert list(iter_chunks(source_file(empty, "requests"))) == []
    only = tmp_path / "requests-2.csv"
    only.write_text("ts,ip,endpoint\n")
    assert read_header(source_file(only, "requests")).columns == ["ts", "ip", "endpoint"]
    assert _read_all(source_file(only, "requests"))[0] == []
    empty_gz = tmp_path / "requests-3.jsonl.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    assert read_header(source_file(empty_gz, "requests")).empty


def test_semicolon_header_is_recognised(tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text("ts;ip;endpoint\n2019-12-24T06:00:00Z;1.1.1.1;a\n")
    header = read_header(source_file(path, "requests"))
    assert header.delimiter_guess == ";"
    assert header.columns == ["ts;ip;endpoint"]


def test_row_longer_than_a_block_goes_the_exact_path(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1 << 16)
    huge = "x" * 300_000
    path = tmp_path / "requests.csv"
    path.write_text(f"ts,ip,endpoint,user_agent\n2019-12-24T06:00:00Z,1.1.1.1,a,{huge}\n2019-12-24T06:00:01Z,1.1.1.2,b,ok\n")
    source = source_file(path, "requests")
    with pytest.raises(ExactReadNeeded):
        _read_all(source)
    rows, positions, _ = _read_all(source, exact=True)
    assert positions == [2, 3] and len(rows[0]["user_agent"]) == 300_000


def test_jsonl_problems_and_nested_values(tmp_path):
    lines = [
        json.dumps({"ts": "2019-12-24T06:00:00Z", "ip": "1.1.1.1", "endpoint": "a", "meta": {"k": 1}}),
        "",
        "[1, 2]",
        "{not json",
        json.dumps({"ts": 1577167265000, "ip": "1.1.1.2", "endpoint": "b", "status": 200, "flag": True}),
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows, positions, problems = _read_all(source_file(path, "requests"))
    assert positions == [1, 5]
    assert rows[0]["meta"] == '{"k":1}'
    assert rows[1]["ts"] == "1577167265000" and rows[1]["status"] == "200" and rows[1]["flag"] == "true"
    assert [(p.position, p.reason) for p in problems] == [(3, "not a JSON object"), (4, "not valid JSON")]


def test_parquet_rows_are_numbered_from_one(tmp_path):
    path = write_table(tmp_path, "requests", request_rows(), "parquet")
    _, positions, _ = _read_all(source_file(path, "requests"))
    assert positions == list(range(1, len(request_rows()) + 1))


def test_unreadable_files_name_themselves(tmp_path):
    bad_parquet = tmp_path / "requests.parquet"
    bad_parquet.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="requests.parquet"):
        read_header(source_file(bad_parquet, "requests"))
    bad_gzip = tmp_path / "accounts.csv.gz"
    bad_gzip.write_bytes(b"plain text, not gzip")
    with pytest.raises(InputError, match="accounts.csv.gz"):
        read_header(source_file(bad_gzip, "accounts"))
    with pytest.raises(InputError, match="unknown file type"):
        source_file(tmp_path / "requests.xlsx", "requests")


def test_mask_digit_runs_hides_numbers_in_raw_text():
    text = f"2019-12-24,1.1.1.1,lookup,{PHONES[0]},extra"
    masked = mask_digit_runs(text)
    assert PHONES[0] not in masked and PHONES[0][1:] not in masked
    assert masked.startswith("2019-12-24,1.1.1.1,lookup,+98")


def test_positions_are_int64_arrays(tmp_path):
    path = write_table(tmp_path, "requests", request_rows(), "csv")
    chunk = next(iter_chunks(source_file(path, "requests")))
    assert chunk.positions.dtype == np.int64


def _lenient_gunzip(data: bytes) -> bytes:
    """What zcat writes for damaged gzip data: every byte that decompresses before the damage."""
    out = []
    decompressor = zlib.decompressobj(31)
    for index in range(len(data)):
        try:
            out.append(decompressor.decompress(data[index:index + 1]))
        except zlib.error:
            break
    return b"".join(out)


@pytest.mark.parametrize("fmt", ["csv.gz", "jsonl.gz"])
@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_damaged_gzip_gives_every_whole_line_before_the_break(tmp_path, fmt, damage):
    # #13.1: a small file cut at 60% read as empty (the last MiB before a break was dropped)
    rows = [dict(r, request_id=f"r{i}") for i, r in enumerate(request_rows() * 300)]
    path = write_table(tmp_path, "requests", rows, fmt)
    data = path.read_bytes()
    if damage == "cut":
        data = data[: len(data) * 6 // 10]
    else:  # a wrong CRC: every line decompresses, and the file is still damaged
        data = data[:-8] + bytes(b ^ 0x5A for b in data[-8:-4]) + data[-4:]
    path.write_bytes(data)
    recovered = _lenient_gunzip(data)
    whole_lines = recovered[: recovered.rfind(b"\n") + 1].count(b"\n")
    expected_rows = whole_lines - (1 if fmt == "csv.gz" else 0)
    assert 100 < expected_rows <= len(rows)
    source = source_file(path, "requests")
    for exact in (False, True):
        got = []
        with pytest.raises(TruncatedInput) as caught:
            for chunk in iter_chunks(source, exact=exact):
                got += chunk.positions.tolist()
                assert not chunk.problems
        assert len(got) == expected_rows
        assert caught.value.last_good == whole_lines
        assert f"requests.{fmt}" in str(caught.value)
        assert f"last whole line is {whole_lines:,}" in str(caught.value)


def _header_error(path, table="requests") -> str:
    with pytest.raises(InputError) as caught:
        check_header(source_file(path, table), read_header(source_file(path, table)))
    return str(caught.value)


def test_unreadable_text_files_say_which_file_and_what_is_wrong(tmp_path):
    # #13.11: these gave a bare csv.Error (or a garbled "missing column" list)
    text = csv_bytes(request_rows()).decode()
    cases = {
        "random.csv": (bytes(range(128, 256)) * 8, "not UTF-8"),
        "utf16.csv": (text.encode("utf-16"), "UTF-16"),
        "utf16.jsonl": ('{"ts": 1}\n'.encode("utf-16"), "UTF-16"),
        "nul.csv": (b"ts,ip\x00,endpoint\n", "NUL"),
        "cr.csv": (text.replace("\n", "\r").encode(), "carriage return"),
    }
    for name, (data, what) in cases.items():
        path = tmp_path / name / f"requests.{name.split('.')[1]}"
        path.parent.mkdir()
        path.write_bytes(data)
        message = _header_error(path)
        assert str(path) in message and what in message, message
        assert "UTF-8" in message or "line endings" in message, message


@pytest.mark.parametrize("table, column, values", [
    ("requests", "ip", [["1.1.1.1"], ["2.2.2.2"]]),
    ("requests", "user_agent", [{"a": 1}, {"a": 2}]),
    ("labels", "id", [["1.1.1.1"], ["2.2.2.2"]]),
])
def test_parquet_list_or_struct_in_a_contract_column_is_named(tmp_path, table, column, values):
    # #13.11: this gave ArrowNotImplementedError, naming neither file nor column
    base = {"requests": {"ts": ["2019-12-24T06:00:00Z"] * 2, "ip": ["1.1.1.1"] * 2, "endpoint": ["a", "b"]},
            "labels": {"entity": ["ip", "ip"], "id": ["1.1.1.1", "2.2.2.2"], "label": ["a", "b"]}}[table]
    path = tmp_path / f"{table}.parquet"
    pq.write_table(pa.table({**base, column: values}), path)
    message = _header_error(path, table)
    assert str(path) in message and f"column {column}" in message and "one value" in message


def test_a_symlink_in_a_case_folder_is_refused(tmp_path):
    # #13.13: ingest followed it, reading whatever file it pointed at
    outside = tmp_path / "secret.csv"
    outside.write_bytes(csv_bytes(request_rows()))
    case = tmp_path / "case"
    case.mkdir()
    (case / "requests.csv").symlink_to(outside)
    with pytest.raises(InputError) as caught:
        discover(case)
    assert str(case / "requests.csv") in str(caught.value) and "symbolic link" in str(caught.value)


def _stray_quote_file(tmp_path, line: int, later_quotes: bool = False):
    """300 request rows (lines 2..301) with one unbalanced quote opening a field on ``line``."""
    rows = [dict(r, request_id=f"r{i}", user_agent=ANDROID_UA)  # no comma: no quotes
            for i, r in enumerate(request_rows() * 34)][:300]
    if later_quotes:  # a properly quoted value further on, where the stray quote's field would close
        rows[150]["user_agent"] = "quoted, with a comma"
    lines = csv_bytes(rows).decode().split("\n")
    fields = lines[line - 1].split(",")
    fields[2] = '"' + fields[2]
    lines[line - 1] = ",".join(fields)
    path = tmp_path / "requests.csv"
    path.write_text("\n".join(lines))
    return path, len(rows)


@pytest.mark.parametrize("line, later_quotes", [(6, False), (6, True), (301, False), (2, True)])
def test_a_stray_quote_quarantines_its_line_and_nothing_else(tmp_path, line, later_quotes):
    # #13.2: one unbalanced quote swallowed the rest of the file into one clipped field
    path, count = _stray_quote_file(tmp_path, line, later_quotes)
    source = source_file(path, "requests")
    with pytest.raises(ExactReadNeeded):
        _read_all(source)
    rows, positions, problems = _read_all(source, exact=True)
    assert [(p.position, p.reason) for p in problems] == [(line, "unbalanced quote")]
    assert positions == [n for n in range(2, count + 2) if n != line]
    assert all(r["endpoint"] in ("contacts/lookup", "users/show", "auth/login") for r in rows)
    assert "contacts" in problems[0].text or "users" in problems[0].text


def test_quoted_values_over_many_lines_or_over_a_whole_row_are_damage(tmp_path):
    long_value = "\n".join(f"line {n}" for n in range(150))
    text = (
        "ts,ip,endpoint,user_agent\n"
        f'2019-12-24T06:00:00Z,1.1.1.1,a,"{long_value}"\n'
        '2019-12-24T06:00:01Z,1.1.1.2,b,"fine\nover two lines, with a comma"\n'
        "2019-12-24T06:00:02Z,1.1.1.3,c,last\n"
    )
    path = tmp_path / "requests.csv"
    path.write_text(text)
    rows, positions, problems = _read_all(source_file(path, "requests"), exact=True)
    # the 150-line value is refused at its first line; its other lines are read as
    # rows on their own (here: one field each, so quarantined too), never absorbed
    assert problems[0].position == 2 and problems[0].reason == "unbalanced quote"
    assert len(problems) == 150
    assert positions == [152, 154]
    assert rows[0]["user_agent"] == "fine\nover two lines, with a comma"


def test_rows_pyarrow_cannot_place_are_never_dropped(tmp_path):
    # found by the fuzz test: a batch of nothing but misfit rows came back empty, with no
    # word; and pyarrow ends a line at a bare carriage return, the rest of ingest does not
    cases = {
        "misfits.csv": b"ts,ip,endpoint\n2019-12-24T06:00:00Z\n1.1.1.1\n",
        "cr.csv": b"ts,ip,endpoint\n2019-12-24T06:00:00Z,1.1.1.1,a\rb,c,d\n2019-12-24T06:00:01Z,1.1.1.2,e\n",
    }
    for name, data in cases.items():
        path = tmp_path / name.split(".")[0] / "requests.csv"
        path.parent.mkdir()
        path.write_bytes(data)
        source = source_file(path, "requests")
        with pytest.raises(ExactReadNeeded):
            _read_all(source)
        rows, positions, problems = _read_all(source, exact=True)
        assert sorted(positions + [p.position for p in problems]) == [2, 3], name


def test_any_json_key_becomes_a_column(tmp_path):
    # found by the fuzz test: the empty key made a JSON path DuckDB refused (a BinderException)
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps({"ts": "2019-12-24T06:00:00Z", "ip": "1.1.1.1", "endpoint": "a",
                                "": 1, "a/b": 2, "c~d": 3, "e'f\"g": 4}) + "\n")
    (row,), _, problems = _read_all(source_file(path, "requests"))
    assert not problems and (row[""], row["a/b"], row["c~d"], row["e'f\"g"]) == ("1", "2", "3", "4")


def test_a_gzip_file_cut_to_nothing_is_refused(tmp_path):
    path = tmp_path / "requests.csv.gz"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="requests.csv.gz.*empty, not even a gzip header"):
        read_header(source_file(path, "requests"))
