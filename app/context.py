"""What every CLI command shares: one investigation, opened on demand, and where to print."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from app.investigation import Investigation
from graph.store import GraphStore
from graph.workspace import Workspace

__all__ = ["CliContext"]


@dataclass
class CliContext:
    """The ``--workspace`` and ``--verbose`` flags, the consoles, and the :class:`Investigation` they open.

    A command that never touches the workspace (``simulate``) never opens it.
    Only a command that sets ``create_workspace`` before opening it
    (``ingest``, which starts an investigation) may create a workspace; every
    other one needs an existing workspace and fails with one line (exit 2)
    on a folder that is not one, rather than leave an empty one behind.
    """

    workspace_flag: str | None = None
    verbose: bool = False
    create_workspace: bool = False
    #: settings a command's own flags give (``--engine``), stronger than the environment and settings.json
    settings_flags: dict = field(default_factory=dict)
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    _investigation: Investigation | None = None

    @property
    def investigation(self) -> Investigation:
        if self._investigation is None:
            workspace = Workspace.open(self.workspace_flag, create=self.create_workspace,
                                       **self.settings_flags)
            if workspace.read_only:
                self.err.print(
                    f"note: workspace {workspace.root} cannot be written here and is opened read-only: "
                    "status, export and brief work (and are not recorded in its audit log); ingest, detect "
                    "and every other change are refused"
                )
            self._investigation = Investigation(workspace)
        return self._investigation

    @property
    def workspace(self) -> Workspace:
        return self.investigation.workspace

    @property
    def store(self) -> GraphStore:
        return self.investigation.store

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` up front, with what to do, when the workspace is read-only here."""
        self.investigation.require_writable(action)

    def close(self) -> None:
        if self._investigation is not None:
            self._investigation.close()
            self._investigation = None
