"""Errors that reach the user as one clear line.

Every error sybilscope expects carries a sentence that names what went wrong
and what to do; the CLI prints it without a traceback (``--verbose`` adds it).
"""

from __future__ import annotations

__all__ = ["SybilscopeError", "ConfigError", "FilterError", "StoreError", "WorkspaceBusy"]


class SybilscopeError(Exception):
    """Base class: its message is shown to the user as is."""


class ConfigError(SybilscopeError):
    """The settings are incomplete or contradict each other."""


class FilterError(SybilscopeError, ValueError):
    """A cluster filter asks for something that cannot exist (an unknown status, an empty window)."""


class StoreError(SybilscopeError):
    """The graph store refused or failed an operation."""


class WorkspaceBusy(SybilscopeError):
    """Another process holds the workspace's embedded database."""
