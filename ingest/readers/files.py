"""The files of a case: which table each belongs to, how to decode it, and the errors that stop it.

A case folder holds ``requests``, ``accounts``, ``ip_intel`` and
``labels`` files (CSV, JSON Lines, both optionally gzipped, or Parquet);
:func:`discover` sorts them into their tables, :func:`source_file`
describes one named on the command line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from graph.errors import SybilscopeError

__all__ = [
    "TABLES",
    "SourceFile",
    "Header",
    "InputError",
    "TruncatedInput",
    "ExactReadNeeded",
    "discover",
    "source_file",
]

#: the contract's tables, in the order ingest loads them (ip_intel before requests: it enriches them)
TABLES = ("ip_intel", "accounts", "labels", "requests")

_SUFFIXES = {
    ".csv": ("csv", None),
    ".csv.gz": ("csv", "gzip"),
    ".jsonl": ("jsonl", None),
    ".jsonl.gz": ("jsonl", "gzip"),
    ".ndjson": ("jsonl", None),
    ".ndjson.gz": ("jsonl", "gzip"),
    ".parquet": ("parquet", None),
}


class InputError(SybilscopeError):
    """A file cannot be used at all: its message names the file and what to do."""


class TruncatedInput(InputError):
    """A compressed file ends early; the rows up to ``last_good`` (a line or row number) were returned."""

    def __init__(self, message: str, last_good: int):
        super().__init__(message)
        self.last_good = last_good

    @classmethod
    def after(cls, source: SourceFile, last_good: int, exc: BaseException) -> TruncatedInput:
        """The error for a file that breaks off after ``last_good`` (its last whole line or row)."""
        where = source.position_name
        return cls(
            f"{source} is truncated or corrupt after {where} {last_good:,} ({exc}): its last whole "
            f"{where} is {last_good:,}, and every row up to it was read; re-export the file and "
            "ingest it again (rows already loaded are skipped)",
            last_good,
        )


class ExactReadNeeded(Exception):
    """The fast path met a row it cannot place: read the file again on the exact path."""


@dataclass(frozen=True)
class SourceFile:
    """One input file, the table it belongs to and how to decode it."""

    path: Path
    table: str
    format: str  # "csv", "jsonl" or "parquet"
    compression: str | None = None

    @property
    def position_name(self) -> str:
        """What a row position means: ``line`` in text files, ``row`` in Parquet."""
        return "row" if self.format == "parquet" else "line"

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class Header:
    """The columns a file has, and for CSV the delimiter its first line suggests."""

    columns: list[str]
    empty: bool = False
    delimiter_guess: str | None = None
    raw_columns: list[str] | None = None
    #: Parquet columns holding lists, structs or maps, with their types
    nested: dict[str, str] = field(default_factory=dict)



def _split_suffix(name: str) -> tuple[str, str] | None:
    lowered = name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return name[: -len(suffix)], suffix
    return None


def source_file(path: str | Path, table: str) -> SourceFile:
    """Describe ``path`` as a file of ``table``; :class:`InputError` for an unknown format."""
    path = Path(path)
    split = _split_suffix(path.name)
    if split is None:
        raise InputError(
            f"{path}: unknown file type; use one of {', '.join(sorted(_SUFFIXES))}"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt, compression = _SUFFIXES[split[1]]
    return SourceFile(path, table, fmt, compression)


def discover(case_dir: str | Path) -> tuple[dict[str, list[SourceFile]], list[Path]]:
    """The files of each contract table in a case folder, and the files that belong to none.

    A file belongs to a table when its stem is the table's name, alone or
    followed by a separator (``requests.csv``, ``requests-0001.parquet``,
    ``requests_2019-12-24.jsonl.gz``). Split files are returned in name
    order, which is the order their rows are numbered in the summary.
    A table's file that is a symbolic link is refused (:class:`InputError`):
    a supplied folder could otherwise make ingest read any file the user
    can, into the quarantine and the store.
    """
    root = Path(case_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; give a case folder or single files (--requests F)")
    found: dict[str, list[SourceFile]] = {name: [] for name in TABLES}
    ignored: list[Path] = []
    stems = re.compile(r"^(" + "|".join(TABLES) + r")(?:[-_.].*)?$")
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        split = _split_suffix(path.name)
        match = stems.match(split[0]) if split else None
        if match is None:
            ignored.append(path)
            continue
        if path.is_symlink():
            raise InputError(
                f"{path}: a symbolic link (to {os.readlink(path)}); a case folder must hold its "
                "files, not links that could point anywhere: copy the file in, or name it "
                "explicitly (--requests FILE, ...)"
            )
        fmt, compression = _SUFFIXES[split[1]]
        found[match.group(1)].append(SourceFile(path, match.group(1), fmt, compression))
    return found, ignored
