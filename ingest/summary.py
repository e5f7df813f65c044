"""What an ingest reports: per table, rows read, loaded and quarantined; warnings, errors, timings.

:class:`IngestSummary` is what the CLI prints and ``ingest --json`` emits
(CONTRACT section 5). :class:`Timings` measures where a run spends its time
and memory, phase by phase.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from graph.errors import SybilscopeError
from ingest.readers import InputError, SourceFile

if TYPE_CHECKING:
    from ingest.loader import FileLoad

__all__ = ["IngestSummary", "TableSummary", "Timings", "fail_on", "summary_json"]


@dataclass
class TableSummary:
    """What happened to one table's rows in one run."""

    files: int = 0
    files_skipped: int = 0
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    already_loaded: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    #: per column, values loaded that hold characters XML 1.0 forbids (NUL, other controls)
    forbidden_characters: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestSummary:
    """The outcome of :func:`ingest`, as the CLI prints it and ``--json`` emits it."""

    tables: dict[str, TableSummary]
    graph: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quarantine_file: str | None = None
    sources: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory: dict[str, float] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(t.read for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    def add_file(self, file: FileLoad) -> None:
        """Count a loaded file in its table's summary, and warn of values XML 1.0 forbids."""
        tsum = self.tables[file.source.table]
        tsum.read += file.read
        tsum.loaded += file.inserted
        tsum.quarantined += file.quarantined
        tsum.already_loaded += file.existing
        if file.forbidden:
            self.warnings.append(_forbidden_warning(file.source, file.forbidden))
            for name, (count, _) in sorted(file.forbidden.items()):
                tsum.forbidden_characters[name] = tsum.forbidden_characters.get(name, 0) + count

    def to_dict(self) -> dict:
        """Plain data for ``--json`` (CONTRACT section 5: ``tables`` with read/loaded/quarantined)."""
        return {
            "tables": {name: asdict(t) for name, t in self.tables.items()},
            "graph": dict(self.graph),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds) if self.seconds else None,
            "quarantine_file": self.quarantine_file,
            "sources": self.sources,
            "timings": dict(self.timings),
            "peak_memory_gb_by_phase": dict(self.peak_memory),
        }


class Timings:
    """Wall time and peak memory by phase: where an ingest spends its time.

    ``seconds`` adds up each phase's blocks; ``peak_memory`` names the
    phases in which the process's peak resident memory grew, with the peak
    then (GiB).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_memory: dict[str, float] = {}
        self._peak = 0.0

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to ``phase``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
            if peak > self._peak:
                self.peak_memory[phase] = round(peak, 2)
                self._peak = peak

    def each(self, phase: str, items: Iterable) -> Iterator:
        """The items, the time spent producing each added to ``phase`` (not the caller's time with it)."""
        iterator = iter(items)
        while True:
            with self.timed(phase):
                item = next(iterator, None)
            if item is None:
                return
            yield item


def _forbidden_warning(source: SourceFile, forbidden: dict[str, list[int]]) -> str:
    """One line naming the file, its columns whose values hold characters XML 1.0 forbids, and where."""
    count = sum(c for c, _ in forbidden.values())
    name, (_, first) = min(forbidden.items(), key=lambda item: item[1][1])
    columns = ", ".join(f"{n} ({c:,})" for n, (c, _) in sorted(forbidden.items()))
    return (f"{source}: {count:,} value(s) hold NUL or other control characters XML 1.0 forbids, "
            f"in {columns}; the first is {name} on {source.position_name} {first:,}. They are "
            "loaded as they are; GraphML and GEXF exports replace them")


def summary_json(summary: IngestSummary) -> str:
    """The summary as one JSON line (what ``ingest --json`` prints)."""
    return json.dumps(summary.to_dict(), default=str)


def fail_on(summary: IngestSummary) -> SybilscopeError | None:
    """The error a command should exit with after this summary, if any."""
    if summary.errors:
        return InputError("; ".join(summary.errors))
    return None
