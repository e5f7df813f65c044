"""The standing fuzz test: hostile request files in every format lose no row and raise no traceback.

Hypothesis writes request files as a careless or hostile supplier would:
CSV, JSON Lines (both also gzipped) and Parquet; odd timestamps, IP and phone
forms, quotes, commas, newlines and control characters in values; then it
damages them (a stray quote, bytes cut out or inserted, Latin-1 rows among
UTF-8 ones, the wrong delimiter, a cut or corrupt gzip, random bytes).

For every file either the reader refuses it with an error naming the file,
or what it returns accounts for the file: every line that is not blank lies
in exactly one row or quarantined record (a lenient reader's rows: nothing
swallowed, nothing twice, nothing past the end), a damaged gzip raises
:class:`TruncatedInput` at its last whole line, and a Parquet file gives
its number of rows. That runs on the reader layer, the whole of ingest's
reading, 300 files in a few seconds. A hundred files then go through a
full ingest (one shared workspace: a fresh one each would cost seconds), which must count ``read == loaded + quarantined +
already loaded``, read what the reader read, and fail only naming the file.

Both tests are derandomized (the same examples every run) and together take
about fifteen seconds.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import warehouse
from graph.errors import SybilscopeError
from graph.store import open_store
from graph.workspace import Workspace
from ingest import pipeline
from ingest.readers import (
    ExactReadNeeded,
    InputError,
    TruncatedInput,
    iter_chunks,
    read_header,
    source_file,
)
from ingest.validate import check_header

# pyarrow decodes a misfit row's text before it calls our handler, and prints the
# UnicodeDecodeError it swallows when the row is not UTF-8; it then raises ArrowInvalid,
# which sends the file to the exact path: noise, not a failure
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

COLUMNS = ["ts", "ip", "endpoint", "account_id", "user_agent", "phone", "request_id"]
FORMATS = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]

_TEXT = st.text(
    alphabet=st.sampled_from(list("ab ,;\t\"'\n\r\\{}[]:+-0123456789é€😀") + ["\x00", "\x1b", "\ufffe"]),
    max_size=12,
)
_TS = st.sampled_from([
    "2019-12-24T06:01:02.123Z", "2019-12-24 06:01:02", "2019-12-24T09:31:04+03:30", "1577167265000",
    "1577167265", "0", "-1", "2019-13-45T99:00:00Z", "9999-12-31T23:59:59Z", "", "yesterday", "1e18",
])
_IP = st.sampled_from([
    "5.160.10.1", " 8.8.8.8 ", "2001:db8::1", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3.04", "300.1.1.1",
    "::", "abc", "", "1.2.3.4%x", "2001:db8::1/64",
])
_PHONE = st.sampled_from([
    "+989121234567", "989121234567", "+98 912 123 4567", "+60123456789x", "12345", "", "+", "+0000000",
    "009891212345678",
])
_ROW = st.fixed_dictionaries({
    "ts": _TS, "ip": _IP, "endpoint": st.sampled_from(["contacts/lookup", "users/show", ""]) | _TEXT,
    "account_id": _TEXT, "user_agent": _TEXT, "phone": _PHONE, "request_id": _TEXT,
})


def _csv(rows: list[dict], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8", "surrogatepass")


@st.composite
def hostile_files(draw) -> tuple[str, bytes]:
    """A request file's format and bytes, as a careless or hostile supplier writes them."""
    fmt = draw(st.sampled_from(FORMATS))
    rows = draw(st.lists(_ROW, min_size=0, max_size=25))
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(pa.table({c: [r[c] for r in rows] for c in COLUMNS},
                                schema=pa.schema([(c, pa.string()) for c in COLUMNS])), sink)
        data = sink.getvalue()
        if draw(st.booleans()):  # a cut Parquet file: its footer is gone
            data = data[: draw(st.integers(0, len(data)))]
        return fmt, data
    data = _csv(rows, draw(st.sampled_from([",", ",", ",", ";", "\t"]))) if fmt.startswith("csv") else _jsonl(rows)
    damage = draw(st.sampled_from(["none", "none", "quote", "cut", "insert", "latin1", "random", "crlf"]))
    if damage == "quote" and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b'"' + data[at:]
    elif damage == "cut" and data:
        start = draw(st.integers(0, len(data)))
        data = data[:start] + data[start + draw(st.integers(1, 40)):]
    elif damage == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=20)) + data[at:]
    elif damage == "latin1":
        data = data.decode("utf-8", "surrogatepass").encode("latin-1", "replace")
    elif damage == "random":
        data = draw(st.binary(max_size=300))
    elif damage == "crlf":
        data = data.replace(b"\n", b"\r\n")
    if fmt.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
        gz_damage = draw(st.sampled_from(["none", "none", "cut", "corrupt"]))
        if gz_damage == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif gz_damage == "corrupt" and len(data) > 20:
            at = draw(st.integers(10, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return fmt, data


# --------------------------------------------------------------------------
# What a lenient reader recovers
# --------------------------------------------------------------------------


def _lenient_gunzip(data: bytes) -> tuple[bytes, bool]:
    """What zcat writes for ``data``, and whether the stream is damaged."""
    decompressor = zlib.decompressobj(31)
    try:
        out = decompressor.decompress(data)
        return out, not decompressor.eof
    except zlib.error:
        pass
    decompressor = zlib.decompressobj(31)
    parts = []
    for index in range(len(data)):
        try:
            parts.append(decompressor.decompress(data[index:index + 1]))
        except zlib.error:
            break
    return b"".join(parts), True


def _blank(fmt: str, line: bytes) -> bool:
    if fmt == "jsonl":
        return not line.strip()
    text = line.rstrip(b"\r").decode("utf-8", "surrogateescape")
    try:
        return all(not field for field in next(csv.reader([text]), []))
    except csv.Error:
        return False


def _span(fmt: str, values) -> int:
    """The lines a CSV row spans (a JSON line is one, whatever its decoded values hold)."""
    if fmt != "csv":
        return 1
    return 1 + sum(v.count("\n") for v in values if isinstance(v, str))


def read_units(path: Path) -> tuple[str, list[tuple[int, int]], TruncatedInput | None]:
    """Read a file as ingest does: ("refused", ...) or ("read", [(first line, lines), ...], truncation)."""
    source = source_file(path, "requests")
    try:
        header = read_header(source)
        check_header(source, header)
    except InputError as exc:
        assert str(path) in str(exc), exc
        return "refused", [], None
    for exact in (False, True):
        units, truncated = [], None
        try:
            for chunk in iter_chunks(source, header, exact=exact):
                for position, row in zip(chunk.positions.tolist(), chunk.data.to_pylist(), strict=True):
                    units.append((position, _span(source.format, row.values())))
                for problem in chunk.problems:
                    units.append((problem.position, _span(source.format, (problem.record or {}).values())))
        except ExactReadNeeded:
            assert not exact
            continue
        except TruncatedInput as exc:
            truncated = exc
        except InputError as exc:
            assert str(path) in str(exc), exc
            return "refused", [], None
        return "read", units, truncated
    raise AssertionError("the exact path asked for itself")


def check_accounted_for(fmt: str, path: Path, data: bytes) -> tuple[str, int]:
    """Assert the reader accounts for every line of the file; returns the outcome and rows read."""
    outcome, units, truncated = read_units(path)
    if outcome == "refused":
        return outcome, 0
    base = fmt.removesuffix(".gz")
    if base == "parquet":
        assert truncated is None
        assert sorted(p for p, _ in units) == list(range(1, pq.ParquetFile(path).metadata.num_rows + 1))
        return outcome, len(units)
    text, damaged = _lenient_gunzip(data) if fmt.endswith(".gz") else (data, False)
    if damaged:
        text = text[: text.rfind(b"\n") + 1]
        assert truncated is not None and str(path) in str(truncated)
        assert truncated.last_good == text.count(b"\n")
    else:
        assert truncated is None, truncated
    lines = text.split(b"\n")
    if text.endswith(b"\n"):
        lines.pop()
    covered: dict[int, int] = {}
    for first, count in units:
        for number in range(first, first + count):
            assert number not in covered, f"line {number} read twice"
            covered[number] = first
    assert all(1 <= n <= len(lines) for n in covered), "a row beyond the end of the file"
    first_data_line = 2 if base == "csv" else 1
    for number in range(first_data_line, len(lines) + 1):
        assert number in covered or _blank(base, lines[number - 1]), f"line {number} lost: {lines[number - 1]!r}"
    return outcome, len(units)


_FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FUZZ
@given(hostile_files())
def test_every_line_of_a_hostile_file_is_read_or_the_file_is_refused(tmp_path_factory, case):
    fmt, data = case
    path = tmp_path_factory.mktemp("fuzz") / f"requests.{fmt}"
    path.write_bytes(data)
    check_accounted_for(fmt, path, data)


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory):
    """One workspace for every full ingest of the fuzz test (a fresh one each costs seconds)."""
    root = tmp_path_factory.mktemp("fuzz-ws")
    workspace = Workspace.open(root / "ws")
    store = open_store(workspace)
    yield workspace, store
    store.close()
    warehouse.close_all()


@settings(max_examples=100, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(hostile_files())
def test_ingest_counts_every_row_of_a_hostile_file_or_fails_naming_it(shared_workspace, tmp_path_factory, case):
    fmt, data = case
    workspace, store = shared_workspace
    folder = tmp_path_factory.mktemp("fuzz-case")
    path = folder / f"requests.{fmt}"
    path.write_bytes(data)
    outcome, rows = check_accounted_for(fmt, path, data)
    try:
        summary = pipeline.ingest(workspace, store, {"requests": [source_file(path, "requests")]})
    except SybilscopeError as exc:
        assert str(path) in str(exc), exc
        assert outcome == "refused"
        return
    table = summary.tables["requests"]
    if table.files_skipped:  # the same bytes as an earlier example
        return
    assert table.read == table.loaded + table.quarantined + table.already_loaded
    assert table.read == rows
    assert all(str(path) in error for error in summary.errors)
