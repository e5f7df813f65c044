"""The contract's columns and the checks every input row goes through.

:data:`SPECS` is CONTRACT section 2 as data: which columns each table has,
which are required, and what kind of value each holds. From it come

* :func:`check_header`: refuses a file that cannot be used (a required
  column missing, or the wrong delimiter) with one line naming the columns
  found and the ones expected;
* :func:`column_checks`: for each column, a DuckDB expression that turns the
  raw value (text from CSV and JSON Lines, typed from Parquet) into the
  contract's type, and one that says whether the value is bad and why.

The checks are SQL so that they run column-wise over a whole chunk inside
DuckDB, not row by row in Python. Checks that need Python (is this an IP
address? is this a phone number?) run once per distinct value and are
joined in: the caller provides the joined relations named in
:class:`ColumnCheck`.

Timestamps: ISO 8601 with any offset, or none (then UTC), or integer epoch
milliseconds. The expressions assume the session time zone is UTC (see
:func:`prepare_session`), which is what makes "no offset means UTC" hold.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.enrich import IP_KINDS
from ingest.readers import Header, InputError, SourceFile

__all__ = [
    "Column",
    "TableSpec",
    "SPECS",
    "ColumnCheck",
    "MAX_FIELD_BYTES",
    "LABEL_ENTITIES",
    "REASONS",
    "check_header",
    "column_checks",
    "too_large_sql",
    "reason_sql",
    "padded_columns",
    "BLANKS_SQL",
    "longest_values",
    "prepare_session",
    "quote",
    "xml_forbidden",
    "XML_FORBIDDEN_REGEX",
]

#: a field longer than this is quarantined (a 10 MB user agent is an attack or a bug, not data)
MAX_FIELD_BYTES = 65_536

LABEL_ENTITIES = ("account", "ip", "device", "phone")

#: every reason a row can be quarantined for, as the summary counts them
REASONS = {
    "missing": "missing required value",
    "timestamp": "unparseable timestamp",
    "timestamp_range": "timestamp out of range",
    "ip": "invalid IP",
    "network": "invalid network",
    "phone": "invalid phone",
    "type": "wrong type",
    "value": "invalid value",
    "large": "field too large",
    "duplicate": "duplicate row",
}

# Timestamps outside this window are almost always epoch seconds given as
# milliseconds (1577167262 ms is 19 January 1970) or a zeroed field.
_TS_MIN = "1990-01-01 00:00:00+00"
_TS_MAX = "2100-01-01 00:00:00+00"


@dataclass(frozen=True)
class Column:
    """One contract column: its name, kind of value, and whether it is required.

    Kinds: ``str``, ``int`` (with ``low``/``high`` bounds), ``bool``,
    ``ts``, ``ip``, ``network``, ``phone``, ``country`` (ISO alpha-2),
    ``enum`` (one of ``choices``).
    """

    name: str
    kind: str = "str"
    required: bool = False
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    """A contract table: its columns in contract order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_INT32 = (-(2**31), 2**31 - 1)

SPECS: dict[str, TableSpec] = {
    "requests": TableSpec("requests", (
        Column("ts", "ts", True),
        Column("ip", "ip", True),
        Column("endpoint", "str", True),
        Column("account_id"),
        Column("device_id"),
        Column("user_agent"),
        Column("status", "int", low=0, high=999),
        Column("phone", "phone"),
        Column("matched_account_id"),
        Column("request_id"),
        Column("ip_country", "country"),
        Column("ip_asn", "int", low=0, high=_INT32[1]),
    )),
    "accounts": TableSpec("accounts", (
        Column("account_id", "str", True),
        Column("created_at", "ts"),
        Column("handle"),
        Column("phone_country", "country"),
        Column("discoverable_by_phone", "bool"),
        Column("status"),
        Column("signup_ip", "ip"),
        Column("signup_device_id"),
        Column("lang"),
        Column("followers", "int", low=0, high=2**63 - 1),
    )),
    "ip_intel": TableSpec("ip_intel", (
        Column("network", "network", True),
        Column("country", "country"),
        Column("asn", "int", low=0, high=_INT32[1]),
        Column("as_org"),
        Column("kind", "enum", choices=IP_KINDS),
    )),
    "labels": TableSpec("labels", (
        Column("entity", "enum", True, choices=LABEL_ENTITIES),
        Column("id", "str", True),
        Column("label", "str", True),
        Column("actor"),
        Column("source"),
        Column("note"),
    )),
}


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def check_header(source: SourceFile, header: Header) -> list[str]:
    """Refuse a file whose columns cannot feed its table; return its unknown columns.

    Raises
    ------
    InputError
        One line: the file, what is wrong, the columns found and the ones
        expected (and for a CSV whose header holds another delimiter, which).
    """
    spec = SPECS[source.table]
    if header.empty:
        return []
    found = header.columns
    nested = [f"column {name} holds {header.nested[name]}" for name in spec.names if name in header.nested]
    if nested:
        raise InputError(f"{source}: {'; '.join(nested)}; the contract wants one value per row "
                         "there (text, a number or a timestamp): flatten it before export")
    missing = [name for name in spec.required if name not in found]
    if not missing:
        duplicated = sorted({n for n in found if found.count(n) > 1})
        if duplicated:
            raise InputError(f"{source}: column(s) {', '.join(duplicated)} appear more than once")
        return [name for name in found if name not in spec.names]
    expected = ", ".join(spec.required)
    optional = ", ".join(n for n in spec.names if n not in spec.required)
    if header.delimiter_guess:
        shown = {"\t": "tab", ";": "';'", "|": "'|'"}[header.delimiter_guess]
        split = [c.strip() for c in found[0].split(header.delimiter_guess)] if found else []
        raise InputError(
            f"{source}: looks {shown}-delimited, but CSV here means comma-separated: "
            f"found columns {', '.join(split)} in one field {found[0]!r}; expected {expected} "
            f"(optional: {optional}). Re-export with commas."
        )
    raise InputError(
        f"{source}: missing required column(s) {', '.join(missing)}; "
        f"found {', '.join(found) or '(none)'}; expected {expected} (optional: {optional})"
    )


@dataclass(frozen=True)
class ColumnCheck:
    """SQL for one column: its raw text and its contract value.

    Both read the chunk as ``c``. For ``ip``, ``network`` and ``phone``
    columns the caller looks every distinct value up and adds the answers
    to the chunk as columns named ``join_alias + "_" + field``; the value is
    the ``<join_alias>_value`` column (the normalized value, NULL when the
    raw value is invalid). The caller selects them as ``r_<name>`` and ``v_<name>``;
    :func:`reason_sql` then reads those names, so each expression is
    evaluated once a row.
    """

    column: Column
    raw: str
    value: str
    join_alias: str | None = None

    @property
    def raw_name(self) -> str:
        return quote("r_" + self.column.name)

    @property
    def value_name(self) -> str:
        return quote("v_" + self.column.name)


#: what counts as blanks around a value (DuckDB's trim() alone removes spaces only)
BLANKS_SQL = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def _text(expr: str, trim: bool = True) -> str:
    if trim:
        return f"NULLIF(trim({expr}::VARCHAR, {BLANKS_SQL}), '')"
    return f"NULLIF({expr}::VARCHAR, '')"


def _is_text(arrow_type: pa.DataType | None) -> bool:
    return arrow_type is None or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _ts(raw_col: str, text: str, arrow_type: pa.DataType | None) -> str:
    if arrow_type is not None and pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is None:
            return f"timezone('UTC', {raw_col})"
        return f"{raw_col}::TIMESTAMPTZ"
    if arrow_type is not None and pa.types.is_date(arrow_type):
        return f"timezone('UTC', {raw_col}::TIMESTAMP)"
    if arrow_type is not None and pa.types.is_integer(arrow_type):
        return _epoch_ms(f"{raw_col}::BIGINT")
    return f"coalesce(TRY_CAST({text} AS TIMESTAMPTZ), {_epoch_ms(f'TRY_CAST({text} AS BIGINT)')})"


#: epoch milliseconds whose microseconds still fit in BIGINT (beyond, * 1000 raises instead of giving NULL)
_EPOCH_MS_LIMIT = (2**63 - 1) // 1000


def _epoch_ms(number: str) -> str:
    """Epoch milliseconds as a timestamp; NULL (so the row is quarantined) when they cannot be one."""
    return (f"make_timestamptz(CASE WHEN {number} BETWEEN -{_EPOCH_MS_LIMIT} AND {_EPOCH_MS_LIMIT} "
            f"THEN {number} * 1000 END)")


def column_checks(
    table: str, present: Mapping[str, pa.DataType], padded: Collection[str] | None = None
) -> list[ColumnCheck]:
    """The checks of every contract column of ``table`` (absent ones read as empty).

    Parameters
    ----------
    table : str
        A key of :data:`SPECS`.
    present : mapping of column name to Arrow type
        The chunk's columns; a missing optional column is a column of
        empty values (CONTRACT section 1).
    padded : collection of str, optional
        Columns that may have blanks around values (all when not given).
        Trimming is a third of the checks' cost; the caller can tell
        cheaply which columns have none (:func:`padded_columns`).
    """
    checks = []
    for column in SPECS[table].columns:
        arrow_type = present.get(column.name)
        raw_col = f"c.{quote(column.name)}" if column.name in present else "NULL::VARCHAR"
        kind = column.kind
        typed = arrow_type is not None and (
            (kind == "ts" and (pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
                               or pa.types.is_integer(arrow_type)))
            or (kind == "int" and pa.types.is_integer(arrow_type))
            or (kind == "bool" and pa.types.is_boolean(arrow_type))
        )
        # a typed Parquet value is only ever tested for NULL: formatting it as text would be waste
        raw = raw_col if typed else _text(raw_col, padded is None or column.name in padded)
        join = None
        if kind == "str":
            value = raw
        elif kind == "int":
            number = (f"{raw_col}::BIGINT" if arrow_type is not None and pa.types.is_integer(arrow_type)
                      else f"TRY_CAST({raw} AS BIGINT)")
            value = f"CASE WHEN {number} BETWEEN {column.low} AND {column.high} THEN {number} END"
        elif kind == "bool":
            if arrow_type is not None and pa.types.is_boolean(arrow_type):
                value = raw_col
            else:
                value = (f"CASE WHEN lower({raw}) IN ('true','t','1','yes','y') THEN true "
                         f"WHEN lower({raw}) IN ('false','f','0','no','n') THEN false END")
        elif kind == "ts":
            value = _ts(raw_col, raw, arrow_type)
        elif kind == "country":
            value = f"CASE WHEN regexp_full_match(upper({raw}), '[A-Z]{{2}}') THEN upper({raw}) END"
        elif kind == "enum":
            allowed = ", ".join(f"'{c}'" for c in column.choices)
            value = f"CASE WHEN lower({raw}) IN ({allowed}) THEN lower({raw}) END"
        elif kind in ("ip", "network", "phone"):
            join = f"_j_{column.name}"
            value = f"c.{quote(join + '_value')}"
        else:
            raise ValueError(f"column {column.name}: unknown kind {kind!r}")
        checks.append(ColumnCheck(column, raw, value, join))
    return checks


def too_large_sql(
    columns: Sequence[str], present: Mapping[str, pa.DataType], longest: Mapping[str, int] | None = None
) -> str | None:
    """SQL naming the first text column over :data:`MAX_FIELD_BYTES`, or ``None`` if none can be.

    ``longest`` (a column's longest value in bytes, when known) leaves out
    the columns that cannot hold a value that long.
    """
    texts = [n for n in columns if n in present and _is_text(present[n])
             and (longest is None or longest.get(n, MAX_FIELD_BYTES + 1) > MAX_FIELD_BYTES)]
    if not texts:
        return None
    whens = " ".join(
        f"WHEN strlen(c.{quote(n)}) > {MAX_FIELD_BYTES} THEN '{n.replace(chr(39), chr(39) * 2)}'"
        for n in texts
    )
    return f"CASE {whens} END"


_KIND_REASON = {
    "int": "type", "bool": "type", "country": "value", "enum": "value",
    "ip": "ip", "network": "network", "phone": "phone",
}


def reason_sql(checks: Sequence[ColumnCheck], large_name: str | None) -> tuple[str, str]:
    """SQL for a row's quarantine reason and column: the first problem in contract order.

    Reads the ``r_``/``v_`` names of the checks and, when given, the
    column named ``large_name`` holding :func:`too_large_sql`.
    """
    reasons: list[tuple[str, str, str]] = []  # (condition, reason SQL, column SQL)
    if large_name is not None:
        reasons.append((f"{large_name} IS NOT NULL", f"'{REASONS['large']}'", large_name))
    for check in checks:
        column = "'" + check.column.name.replace("'", "''") + "'"
        raw, value = check.raw_name, check.value_name
        if check.column.required:
            reasons.append((f"{raw} IS NULL", f"'{REASONS['missing']}'", column))
        kind = check.column.kind
        if kind == "ts":
            reasons.append((f"{raw} IS NOT NULL AND {value} IS NULL", f"'{REASONS['timestamp']}'", column))
            reasons.append((
                f"{value} < TIMESTAMPTZ '{_TS_MIN}' OR {value} >= TIMESTAMPTZ '{_TS_MAX}'",
                f"'{REASONS['timestamp_range']}'", column,
            ))
        elif kind in _KIND_REASON:
            reasons.append((f"{raw} IS NOT NULL AND {value} IS NULL",
                            f"'{REASONS[_KIND_REASON[kind]]}'", column))
    if not reasons:
        return "NULL::VARCHAR", "NULL::VARCHAR"
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _ in reasons) + " END"
    where = "CASE " + " ".join(f"WHEN {c} THEN {col}" for c, _, col in reasons) + " END"
    return reason, where


#: the blanks ``trim`` removes (BLANKS_SQL), as a byte lookup table: all are ASCII,
#: so a UTF-8 value starts or ends with one exactly when its first or last byte is one
_BLANK_BYTE = np.zeros(256, dtype=bool)
_BLANK_BYTE[[ord(c) for c in " \t\n\v\f\r"]] = True


def _has_padded_value(array: pa.Array) -> bool:
    """Whether a string array holds a value starting or ending with a blank.

    Reads the first and last byte of every value straight from the Arrow
    buffers (one vectorized gather each) instead of running a regex over
    every value: this runs on every text column of every chunk.
    """
    if len(array) == 0 or array.null_count == len(array):
        return False
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width)[array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else None
    if data is None:
        return False
    starts, ends = offsets[:-1], offsets[1:]
    present = ends > starts
    if array.null_count:
        present &= array.is_valid().to_numpy(zero_copy_only=False)
    starts, ends = starts[present], ends[present]
    return bool(_BLANK_BYTE[data[starts]].any() or _BLANK_BYTE[data[ends - 1]].any())


def padded_columns(data: pa.Table) -> set[str]:
    """The text columns of ``data`` with a value that starts or ends with a blank."""
    padded = set()
    for name in data.column_names:
        column = data.column(name)
        if not _is_text(column.type):
            continue
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            found = any(_has_padded_value(chunk) for chunk in column.chunks)
        else:
            found = pc.any(pc.match_substring_regex(column, r"^[ \t\n\v\f\r]|[ \t\n\v\f\r]$")).as_py()
        if found:
            padded.add(name)
    return padded


def longest_values(data: pa.Table) -> dict[str, int]:
    """The longest value of each text column of ``data``, in bytes (read from the offsets)."""
    return {
        name: (pc.max(pc.binary_length(data.column(name))).as_py() or 0)
        for name in data.column_names if _is_text(data.column(name).type)
    }


#: bytes below 0x20 that XML 1.0 allows (tab, line feed, carriage return)
_XML_CONTROLS_ALLOWED = np.zeros(256, dtype=bool)
_XML_CONTROLS_ALLOWED[[0x09, 0x0A, 0x0D]] = True
#: characters XML 1.0 forbids, as a regex: controls but tab, LF and CR; U+FFFE and U+FFFF
XML_FORBIDDEN_REGEX = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x{fffe}\\x{ffff}]"


def _may_hold_forbidden(array: pa.Array) -> bool:
    """Whether a string array could hold a character XML 1.0 forbids (no false negatives).

    Reads the Arrow data buffer once: its smallest byte tells whether any
    control character is there, its largest whether a U+FFFE or U+FFFF
    (``EF BF BE``/``BF``) can be. Only then does a regex look at the values.
    """
    if len(array) == 0 or array.null_count == len(array) or array.buffers()[2] is None:
        return False
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width)[array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    if len(data) == 0:
        return False
    if int(data.min()) < 0x20 and not _XML_CONTROLS_ALLOWED[np.unique(data[data < 0x20])].all():
        return True
    return int(data.max()) >= 0xEF


def xml_forbidden(data: pa.Table) -> dict[str, np.ndarray]:
    """For each text column of ``data`` holding a character XML 1.0 forbids, the rows that do.

    Such values (NUL, escape sequences, other control characters) are kept:
    they may be evidence, and dropping or rewriting them at ingest would
    change ids. Ingest counts them so nobody is surprised, and XML exports
    replace them.
    """
    found = {}
    for name in data.column_names:
        column = data.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        if not any(_may_hold_forbidden(chunk) for chunk in column.chunks):
            continue
        hits = pc.fill_null(pc.match_substring_regex(column, XML_FORBIDDEN_REGEX), False)
        rows = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
        if len(rows):
            found[name] = rows
    return found


def prepare_session(cursor) -> None:
    """Make "no offset means UTC" hold for this DuckDB cursor's timestamp casts."""
    cursor.execute("SET SESSION TimeZone = 'UTC'")
