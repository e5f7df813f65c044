"""What every CLI command shares: the workspace and its store, opened on demand."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from graph import warehouse
from graph.errors import StoreError
from graph.store import GraphStore, open_store
from graph.workspace import Workspace

__all__ = ["CliContext"]


@dataclass
class CliContext:
    workspace_flag: str | None = None
    verbose: bool = False
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    _workspace: Workspace | None = None
    _store: GraphStore | None = None

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_flag)
            if self._workspace.read_only:
                self.err.print(
                    f"note: workspace {self._workspace.root} cannot be written here and is opened read-only: "
                    "status, export and brief work (and are not recorded in its audit log); ingest, detect "
                    "and every other change are refused"
                )
        return self._workspace

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` up front, with what to do, when the workspace is read-only here."""
        if self.workspace.read_only:
            raise StoreError(
                f"cannot {action}: workspace {self.workspace.root} is read-only here (its folder or database "
                "cannot be written): use a copy you may write to, or ask its owner"
            )

    @property
    def store(self) -> GraphStore:
        if self._store is None:
            self._store = open_store(self.workspace)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        warehouse.close_all()
