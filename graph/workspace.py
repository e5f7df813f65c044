"""Workspaces and settings: one investigation's folder and how to reach its store.

A workspace holds its settings (``settings.json``), its embedded database
(``sybilscope.duckdb``: request events, bookkeeping and, by default, the
graph), its quarantine, its exports and the secret that keys phone-number
pseudonymization. Settings come from three places, strongest first: command
line flags, the environment (``SYBILSCOPE_*``), the workspace's
``settings.json``. Passwords are never written to ``settings.json`` and never
shown: they come from the environment or from a file named in the settings.

A workspace this process may not write (its folder or its database) is
opened read-only: reading commands work, and nothing is created in it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from graph import warehouse
from graph.errors import ConfigError

__all__ = ["Settings", "Workspace", "DEFAULT_WORKSPACE", "is_workspace", "resolve_workspace_path"]

DEFAULT_WORKSPACE = "./sybilscope-workspace"
SETTINGS_FILE = "settings.json"
SECRET_FILE = "secret.key"
DB_FILE = "sybilscope.duckdb"

_ENV = {
    "neo4j_uri": "SYBILSCOPE_NEO4J_URI",
    "neo4j_user": "SYBILSCOPE_NEO4J_USER",
    "neo4j_database": "SYBILSCOPE_NEO4J_DATABASE",
    "neo4j_password_file": "SYBILSCOPE_NEO4J_PASSWORD_FILE",
    "session_idle_hours": "SYBILSCOPE_SESSION_IDLE_HOURS",
    "session_max_days": "SYBILSCOPE_SESSION_MAX_DAYS",
    "engine": "SYBILSCOPE_ENGINE",
    "spark_master": "SYBILSCOPE_SPARK_MASTER",
    "spark_remote": "SYBILSCOPE_SPARK_REMOTE",
    "events_dir": "SYBILSCOPE_EVENTS_DIR",
}
#: where ingest writes and detection reads the events: the workspace's DuckDB, or Parquet read by Spark
ENGINES = ("duckdb", "spark")
#: web UI sessions end after this long without a request, and this long after sign-in whatever happens
DEFAULT_SESSION_IDLE_HOURS = 12.0
DEFAULT_SESSION_MAX_DAYS = 7.0
PASSWORD_ENV = "SYBILSCOPE_NEO4J_PASSWORD"


def resolve_workspace_path(flag: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: the flag, else ``$SYBILSCOPE_WORKSPACE``, else the default."""
    chosen = flag or os.environ.get("SYBILSCOPE_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()


def is_workspace(root: Path) -> bool:
    """Whether folder ``root`` holds a workspace: its settings or its database (a first open writes both)."""
    return (root / SETTINGS_FILE).is_file() or (root / DB_FILE).is_file()


@dataclass(frozen=True)
class Settings:
    """Which graph store and which engine a workspace uses and how to reach them.

    ``engine`` is ``"duckdb"`` (events in the workspace's database) or
    ``"spark"`` (events as day-partitioned Parquet in ``events_dir``, read
    by Spark at ``spark_master``, or through Spark Connect at
    ``spark_remote``). ``store`` is ``"embedded"`` (DuckDB in the workspace) or ``"neo4j"`` (any
    Neo4j 5 compatible Bolt server). Setting ``neo4j_uri`` selects Neo4j.
    ``session_idle_hours`` and ``session_max_days`` bound a web UI sign-in
    (``None``: the defaults, 12 hours idle and 7 days in all).
    """

    store: str = "embedded"
    neo4j_uri: str | None = None
    neo4j_user: str | None = None
    neo4j_database: str = "neo4j"
    neo4j_password_file: str | None = None
    session_idle_hours: float | None = None
    session_max_days: float | None = None
    engine: str = "duckdb"
    spark_master: str | None = None
    spark_remote: str | None = None
    events_dir: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("session_idle_hours", "session_max_days"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        if self.engine not in ENGINES:
            raise ConfigError(f"engine (--engine or $SYBILSCOPE_ENGINE) must be one of {', '.join(ENGINES)}, "
                              f"not {self.engine!r}")
        if self.store not in ("embedded", "neo4j"):
            raise ConfigError(f"store must be 'embedded' or 'neo4j', not {self.store!r}")
        if self.store == "neo4j" and not self.neo4j_uri:
            raise ConfigError(
                "the neo4j store needs a URI: set SYBILSCOPE_NEO4J_URI (e.g. bolt://127.0.0.1:7687)"
            )

    @property
    def session_idle(self) -> timedelta:
        """How long a web UI session lasts without a request."""
        return timedelta(hours=self.session_idle_hours or DEFAULT_SESSION_IDLE_HOURS)

    @property
    def session_max_age(self) -> timedelta:
        """How long a web UI session lasts at most after sign-in, however busy."""
        return timedelta(days=self.session_max_days or DEFAULT_SESSION_MAX_DAYS)

    def neo4j_password(self) -> str | None:
        """The Neo4j password from ``$SYBILSCOPE_NEO4J_PASSWORD`` or the password file."""
        if os.environ.get(PASSWORD_ENV):
            return os.environ[PASSWORD_ENV]
        if self.neo4j_password_file:
            path = Path(self.neo4j_password_file).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read the Neo4j password file {path}: {exc.strerror}") from exc
        return None

    def describe(self) -> dict[str, object]:
        """What the settings say, safe to show: no password."""
        shown: dict[str, object] = {"store": self.store}
        if self.store == "neo4j":
            shown.update(
                uri=self.neo4j_uri,
                user=self.neo4j_user,
                database=self.neo4j_database,
                password="(set)" if self.neo4j_password() else "(none)",
            )
        return shown

    def describe_engine(self) -> dict[str, object]:
        """Which engine holds the events and where they live, safe to show."""
        if self.engine == "duckdb":
            return {"engine": "duckdb", "events": "the workspace database"}
        where = {"remote": self.spark_remote} if self.spark_remote else {"master": self.spark_master or "local[2]"}
        return {"engine": "spark", **where, "events": self.events_dir or "(not ingested yet)"}

    def __repr__(self) -> str:  # never leak a password file path's content; keep it short
        return f"Settings({self.describe()})"

    @classmethod
    def load(cls, stored: Mapping[str, object] | None = None, **flags: object) -> Settings:
        """Merge the stored settings, the environment and the flags (strongest last)."""
        merged: dict[str, object] = {}
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        extra = {}
        for key, value in (stored or {}).items():
            if key in known:
                merged[key] = value
            else:
                extra[key] = value
        for key, env in _ENV.items():
            if os.environ.get(env):
                merged[key] = os.environ[env]
        for key, value in flags.items():
            if value is not None:
                merged[key] = value
        if merged.get("neo4j_uri") and "store" not in flags:
            merged["store"] = "neo4j"
        if os.environ.get(_ENV["neo4j_uri"]) and "store" not in flags:
            merged["store"] = "neo4j"
        return cls(**merged, extra=extra)

    def to_stored(self) -> dict[str, object]:
        """What goes into ``settings.json`` (no password, ever)."""
        stored = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        if stored["engine"] == "duckdb":  # the default leaves settings.json as it always was
            del stored["engine"]
        stored.update(self.extra)
        return stored


def _positive(name: str, value: object) -> float | None:
    """A positive number from settings.json or the environment (text there), or ``ConfigError``."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        env = _ENV[name]
        raise ConfigError(f"{name} (settings.json or ${env}) must be a positive number, not {value!r}")
    return number


class Workspace:
    """One investigation's folder. Opening it creates what is missing, or only an existing one (``create=False``)."""

    def __init__(self, root: Path, settings: Settings):
        self.root = root
        self.settings = settings

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True, **flags: object) -> Workspace:
        """Open the workspace at ``path`` (see :func:`resolve_workspace_path`), creating it if needed.

        With ``create=False`` a folder that is not a workspace yet (missing,
        or without its settings and database) is refused with
        ``ConfigError`` and left as it was: a mistyped ``--workspace`` must
        not leave an empty investigation behind for every command that
        only reads one.
        """
        root = resolve_workspace_path(path)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"workspace {root} is a file, not a folder: choose another --workspace")
        if not create and not is_workspace(root):
            raise ConfigError(
                f"{root} is not a sybilscope workspace (no {SETTINGS_FILE} or {DB_FILE} in it): check --workspace "
                f"or $SYBILSCOPE_WORKSPACE, or start one there with `sybilscope --workspace {root} ingest CASE_DIR`"
            )
        # a new workspace is its owner's alone: it holds personal data and the key to its pseudonyms
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored: dict[str, object] = {}
        settings_path = root / SETTINGS_FILE
        if settings_path.exists():
            try:
                stored = json.loads(settings_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{settings_path} is not valid JSON (line {exc.lineno}): fix or delete it"
                ) from exc
        settings = Settings.load(stored, **flags)
        workspace = cls(root, settings)
        if workspace.read_only:
            return workspace
        if not settings_path.exists():
            workspace.save_settings()
        for sub in (workspace.quarantine_dir, workspace.exports_dir):
            sub.mkdir(exist_ok=True)
        return workspace

    def with_settings(self, **changes: object) -> Workspace:
        return Workspace(self.root, replace(self.settings, **changes))

    def save_settings(self) -> None:
        path = self.root / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.settings.to_stored(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def read_only(self) -> bool:
        """Whether this process may not write the workspace (its folder or its database)."""
        return warehouse.unwritable(self.db_path)

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def secret(self) -> bytes:
        """The workspace's pseudonymization key, created on first use, readable by the owner only."""
        path = self.root / SECRET_FILE
        if not path.exists():
            key = secrets.token_hex(32)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                pass
            except OSError as exc:
                raise ConfigError(
                    f"the workspace has no pseudonymization key {path} and cannot be written "
                    f"({exc.strerror}): open it once where it can be written"
                ) from exc
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(key + "\n")
        return bytes.fromhex(path.read_text(encoding="ascii").strip())

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, {self.settings!r})"
