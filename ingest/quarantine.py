"""The workspace's quarantine: every input row ingest refused, with where and why.

Rows are kept in the ``quarantine`` table of the workspace database
(:mod:`graph.warehouse_schema`), written
in the same transaction as the events of their file: a killed ingest leaves
neither half of a file's events nor half of its rejected rows, and a re-run
writes each once. ``quarantine/quarantine.jsonl`` is rebuilt from the table
at the end of every ingest for people and other tools (one JSON object a
line: ``table``, ``file``, ``line`` or ``row``, ``column``, ``reason``,
``record``).

Phone numbers are personal data here too: a rejected row's phone is masked
(:func:`ingest.pseudonymize.mask_phone`) before it is stored, and raw text
of rows that could not be split into fields has its long digit runs masked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from graph.phone_text import mask_phone_numbers
from graph.warehouse_schema import QUARANTINE_TABLE
from ingest.arrow_sql import arrow_sql
from ingest.free_text import FREE_TEXT, masked_name
from ingest.pseudonymize import mask_phone, mask_phone_sql
from ingest.readers import RowProblem, SourceFile, mask_digit_runs
from ingest.validate import REASONS, quote

__all__ = [
    "QUARANTINE_TABLE",
    "QUARANTINE_FILE",
    "add_problems",
    "add_rejected",
    "add_duplicates",
    "counts_by_reason",
    "export_jsonl",
    "mask_record",
    "PHONE_FIELDS",
]

QUARANTINE_FILE = "quarantine.jsonl"

#: per table, the columns that may hold a raw phone number
PHONE_FIELDS = {"requests": ("phone",), "labels": ("id",)}
#: characters of a field a quarantined record keeps
_CLIP = 1_000

def mask_record(table: str, record: dict[str, str | None]) -> dict[str, str | None]:
    """The record with every field that may hold a phone number masked.

    A label's ``id`` is masked only when its entity is ``phone``; a request's
    ``phone`` always; numbers inside free text (:data:`ingest.free_text.FREE_TEXT`)
    too. Other fields keep their values: they are what an analyst needs to
    fix the row.
    """
    masked = dict(record)
    for name in FREE_TEXT.get(table, ()):
        if masked.get(name):
            masked[name] = mask_phone_numbers(masked[name])
    for name in PHONE_FIELDS.get(table, ()):
        if name not in masked:
            continue
        if table == "labels" and (masked.get("entity") or "").strip().lower() != "phone":
            continue
        masked[name] = mask_phone(masked[name])
    return masked


def add_problems(cursor, batch_id: str, source: SourceFile, problems: Iterable[RowProblem]) -> int:
    """Quarantine rows the reader could not turn into records; returns how many."""
    rows = []
    for problem in problems:
        if problem.record is not None:
            record = json.dumps(mask_record(source.table, problem.record), ensure_ascii=False)
        else:
            record = json.dumps({"text": mask_digit_runs(problem.text or "")}, ensure_ascii=False)
        rows.append(
            (batch_id, source.table, str(source.path), source.position_name, problem.position,
             problem.column, problem.reason, record)
        )
    if rows:
        cursor.executemany(f"INSERT INTO {QUARANTINE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _clip_sql(expr: str) -> str:
    return f"CASE WHEN length({expr}) > {_CLIP} THEN left({expr}, {_CLIP}) || '...' ELSE {expr} END"


def _record_sql(table: str, columns: Sequence[str]) -> str:
    """JSON text of a chunk row as it came, phone fields and numbers in free text masked, long fields clipped."""
    parts = []
    for name in columns:
        shown = masked_name(name) if name in FREE_TEXT.get(table, ()) else name
        value = f"c.{quote(shown)}::VARCHAR"
        if name in PHONE_FIELDS.get(table, ()):
            masked = mask_phone_sql(value)
            if table == "labels":
                masked = (f"CASE WHEN lower(trim(c.entity::VARCHAR)) = 'phone' "
                          f"THEN {masked} ELSE {value} END") if "entity" in columns else masked
            value = masked
        parts.append(f"'{name.replace(chr(39), chr(39) * 2)}', {_clip_sql(value)}")
    return f"json_object({', '.join(parts)})::VARCHAR" if parts else "'{}'"


def _where(batch_id: str, source: SourceFile) -> dict:
    """The parameters every quarantine row of a file starts with."""
    return {"batch": batch_id, "table": source.table, "file": str(source.path), "pos_name": source.position_name}


def add_rejected(cursor, batch_id: str, source: SourceFile, rows: pa.Table, chunk: pa.Table,
                 columns: Sequence[str]) -> int:
    """Quarantine the checked rows that have a reason, each as its chunk row came; returns how many.

    ``rows`` are the staged rows (``_pos``, ``_column``, ``_reason``),
    ``chunk`` the chunk they were staged from, ``columns`` its columns as
    read from the file.
    """
    return _inserted(arrow_sql(
        cursor,
        f"INSERT INTO {QUARANTINE_TABLE} SELECT $batch, $table, $file, $pos_name, "
        f"r._pos, r._column, r._reason, {_record_sql(source.table, columns)} FROM {{rows}} r "
        "JOIN {chunk} c USING (_pos) WHERE r._reason IS NOT NULL", _where(batch_id, source),
        rows=rows, chunk=chunk,
    ))


def add_duplicates(cursor, batch_id: str, source: SourceFile, duplicates: pa.Table) -> int:
    """Quarantine exact copies of earlier rows of this run as ``duplicate row``; returns how many.

    ``duplicates`` holds each copy's ``pos`` and where the first one is:
    ``first_file``, ``first_key`` (``same_as_line`` or ``same_as_row``) and
    ``first_pos``.
    """
    return _inserted(arrow_sql(
        cursor,
        f"INSERT INTO {QUARANTINE_TABLE} SELECT $batch, $table, $file, $pos_name, "
        f"pos, NULL, '{REASONS['duplicate']}', CASE WHEN first_file = $file "
        "THEN json_object(first_key, first_pos) "
        "ELSE json_object('same_as_row_of', first_file, first_key, first_pos) END::VARCHAR "
        "FROM {duplicates}", _where(batch_id, source), duplicates=duplicates,
    ))


def _inserted(result: pa.Table) -> int:
    """The row count an INSERT reports."""
    return int(result.column(0)[0].as_py())


def counts_by_reason(cursor, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Quarantined rows per table and reason for these batches."""
    if not batch_ids:
        return {}
    out: dict[str, dict[str, int]] = {}
    for table, reason, count in cursor.execute(
        f"SELECT table_name, reason, count(*) FROM {QUARANTINE_TABLE} "
        "WHERE list_contains($ids, batch_id) GROUP BY ALL ORDER BY 1, 3 DESC",
        {"ids": list(batch_ids)},
    ).fetchall():
        out.setdefault(table, {})[reason] = int(count)
    return out


def export_jsonl(cursor, quarantine_dir: Path) -> Path:
    """Rewrite ``quarantine.jsonl`` from the table (atomically); returns its path."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = quarantine_dir / QUARANTINE_FILE
    tmp = quarantine_dir / f".{QUARANTINE_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        result = cursor.execute(
            f"SELECT table_name, file, position_name, position, column_name, reason, record "
            f"FROM {QUARANTINE_TABLE} ORDER BY table_name, file, position, reason"
        )
        while True:
            rows = result.fetchmany(10_000)
            if not rows:
                break
            for table, file, position_name, position, column, reason, record in rows:
                handle.write(json.dumps({
                    "table": table,
                    "file": file,
                    position_name: position,
                    "column": column,
                    "reason": reason,
                    "record": json.loads(record) if record else None,
                }, ensure_ascii=False) + "\n")
    tmp.replace(target)
    return target
