"""The ingest ledger (``ingest_batches``): one row a file loaded, which makes ingest idempotent and resumable.

A file is a *batch* named by its table and the sha256 of its bytes, so the
same file is skipped however it is named, and a changed file is a new
batch. Its row says ``events_loaded`` once the file's rows commit (in the
same transaction), ``graph_synced`` once the graph holds them, and
``truncated`` when the file broke off: such a file is loaded again whole
the next time it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from graph.warehouse_schema import BATCHES_TABLE, DIRTY_IPS_TABLE
from ingest.loader import FileLoad
from ingest.readers import SourceFile

__all__ = ["batch_of", "mark_synced", "needs_loading", "record", "unsynced"]


def batch_of(source: SourceFile) -> tuple[str, str]:
    """The file's batch id and the sha256 of its bytes."""
    with open(source.path, "rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    return f"{source.table}-{sha[:20]}", sha


def needs_loading(cur, batch_id: str) -> bool:
    """Whether the batch was never loaded, or broke off when it last was."""
    status = cur.execute(f"SELECT status FROM {BATCHES_TABLE} WHERE batch_id = ?", [batch_id]).fetchall()
    return not status or status[0][0] == "truncated"


def record(cur, file: FileLoad, sha: str, truncated: bool, run_id: str) -> None:
    """Write the file's row, replacing the one of a load that broke off, inside the file's transaction."""
    source = file.source
    cur.execute(f"DELETE FROM {BATCHES_TABLE} WHERE batch_id = ?", [file.batch_id])
    cur.execute(
        f"INSERT INTO {BATCHES_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
        [file.batch_id, source.table, str(source.path), sha, source.path.stat().st_size,
         "truncated" if truncated else "events_loaded", file.read, file.inserted, file.quarantined,
         file.existing, datetime.now(UTC), run_id],
    )


def unsynced(cur) -> list[str]:
    """The batches loaded but not yet in the graph, oldest first."""
    return [r[0] for r in cur.execute(
        f"SELECT batch_id FROM {BATCHES_TABLE} WHERE synced_at IS NULL ORDER BY loaded_at"
    ).fetchall()]


def mark_synced(cur, batch_ids: Sequence[str]) -> None:
    """The graph now holds these batches (a truncated one keeps saying so); their changed addresses are done."""
    ids = list(batch_ids)
    cur.execute(
        f"UPDATE {BATCHES_TABLE} SET synced_at = $now, "
        "status = CASE WHEN status = 'truncated' THEN status ELSE 'graph_synced' END "
        "WHERE list_contains($ids, batch_id)",
        {"now": datetime.now(UTC), "ids": ids},
    )
    cur.execute(f"DELETE FROM {DIRTY_IPS_TABLE} WHERE list_contains($ids, batch_id)", {"ids": ids})
