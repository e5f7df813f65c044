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

from graph.phone_text import mask_phone_numbers
from graph.warehouse_schema import QUARANTINE_TABLE
from ingest.free_text import FREE_TEXT
from ingest.pseudonymize import mask_phone
from ingest.readers import RowProblem, SourceFile, mask_digit_runs

__all__ = [
    "QUARANTINE_TABLE",
    "QUARANTINE_FILE",
    "add_problems",
    "counts_by_reason",
    "export_jsonl",
    "mask_record",
    "PHONE_FIELDS",
]

QUARANTINE_FILE = "quarantine.jsonl"

#: per table, the columns that may hold a raw phone number
PHONE_FIELDS = {"requests": ("phone",), "labels": ("id",)}

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
