"""Workspaces and settings: where they live, what wins, and what is never written or shown."""

from __future__ import annotations

import json
import stat

import numpy as np
import pyarrow as pa
import pytest

from graph import warehouse
from graph.errors import ConfigError
from graph.workspace import DEFAULT_WORKSPACE, Settings, Workspace, resolve_workspace_path


def test_default_workspace_path_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_workspace_path() == (tmp_path / DEFAULT_WORKSPACE).resolve()
    monkeypatch.setenv("SYBILSCOPE_WORKSPACE", str(tmp_path / "from-env"))
    assert resolve_workspace_path() == tmp_path / "from-env"
    assert resolve_workspace_path(tmp_path / "from-flag") == tmp_path / "from-flag"
    assert resolve_workspace_path("relative") == tmp_path / "relative"


def test_opening_creates_the_folder_settings_and_subfolders(tmp_path):
    ws = Workspace.open(tmp_path / "case")
    assert ws.root == tmp_path / "case"
    assert json.loads((ws.root / "settings.json").read_text()) == {"neo4j_database": "neo4j", "store": "embedded"}
    assert ws.quarantine_dir.is_dir()
    assert ws.exports_dir.is_dir()
    assert ws.settings.store == "embedded"
    assert ws.db_path.parent == ws.root


def test_a_file_where_the_workspace_should_be_is_a_config_error(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file"):
        Workspace.open(tmp_path / "taken")


def test_broken_settings_json_names_the_file(tmp_path):
    root = tmp_path / "case"
    root.mkdir()
    (root / "settings.json").write_text("{not json")
    with pytest.raises(ConfigError, match="settings.json is not valid JSON"):
        Workspace.open(root)


def test_settings_precedence_flags_then_environment_then_file(tmp_path, monkeypatch):
    root = tmp_path / "case"
    root.mkdir()
    (root / "settings.json").write_text(
        json.dumps({"neo4j_uri": "bolt://file:7687", "neo4j_user": "file-user", "neo4j_database": "filedb"})
    )
    from_file = Workspace.open(root).settings
    assert (from_file.store, from_file.neo4j_uri, from_file.neo4j_user, from_file.neo4j_database) == (
        "neo4j", "bolt://file:7687", "file-user", "filedb",
    )
    monkeypatch.setenv("SYBILSCOPE_NEO4J_DATABASE", "envdb")
    monkeypatch.setenv("SYBILSCOPE_NEO4J_USER", "env-user")
    from_env = Workspace.open(root).settings
    assert (from_env.neo4j_uri, from_env.neo4j_user, from_env.neo4j_database) == (
        "bolt://file:7687", "env-user", "envdb",
    )
    from_flags = Workspace.open(root, neo4j_database="flagdb").settings
    assert (from_flags.neo4j_user, from_flags.neo4j_database) == ("env-user", "flagdb")
    assert Workspace.open(root, store="embedded").settings.store == "embedded"


def test_the_neo4j_uri_in_the_environment_selects_the_neo4j_store(tmp_path, monkeypatch):
    assert Workspace.open(tmp_path / "a").settings.store == "embedded"
    monkeypatch.setenv("SYBILSCOPE_NEO4J_URI", "bolt://127.0.0.1:7687")
    settings = Workspace.open(tmp_path / "a").settings
    assert (settings.store, settings.neo4j_uri) == ("neo4j", "bolt://127.0.0.1:7687")


def test_the_neo4j_store_without_a_uri_is_a_config_error():
    with pytest.raises(ConfigError, match="SYBILSCOPE_NEO4J_URI"):
        Settings(store="neo4j")
    with pytest.raises(ConfigError, match="embedded"):
        Settings(store="postgres")


def test_the_password_is_never_written_or_shown(tmp_path, monkeypatch):
    password = "s3cret-Passw0rd-xyz"
    monkeypatch.setenv("SYBILSCOPE_NEO4J_URI", "bolt://127.0.0.1:7687")
    monkeypatch.setenv("SYBILSCOPE_NEO4J_USER", "neo4j")
    monkeypatch.setenv("SYBILSCOPE_NEO4J_PASSWORD", password)
    ws = Workspace.open(tmp_path / "case", neo4j_database="graph")
    ws.save_settings()
    assert ws.settings.neo4j_password() == password
    stored = (ws.root / "settings.json").read_text()
    assert password not in stored
    assert json.loads(stored)["neo4j_database"] == "graph"
    shown = ws.settings.describe()
    assert shown["password"] == "(set)"
    assert password not in json.dumps(shown)
    assert password not in repr(ws.settings)
    assert password not in repr(ws)


def test_the_password_can_come_from_a_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "neo4j-password"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("SYBILSCOPE_NEO4J_URI", "bolt://127.0.0.1:7687")
    monkeypatch.setenv("SYBILSCOPE_NEO4J_PASSWORD_FILE", str(secret_file))
    ws = Workspace.open(tmp_path / "case")
    assert ws.settings.neo4j_password() == "from-a-file"
    assert "from-a-file" not in (ws.root / "settings.json").read_text()
    secret_file.unlink()
    with pytest.raises(ConfigError, match="cannot read the Neo4j password file"):
        ws.settings.neo4j_password()


def test_no_password_is_described_as_none(tmp_path, monkeypatch):
    monkeypatch.setenv("SYBILSCOPE_NEO4J_URI", "bolt://127.0.0.1:7687")
    assert Workspace.open(tmp_path / "case").settings.describe()["password"] == "(none)"


def test_the_secret_is_created_once_readable_by_the_owner_only(tmp_path):
    ws = Workspace.open(tmp_path / "case")
    path = ws.root / "secret.key"
    assert not path.exists()
    first = ws.secret()
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ws.secret() == first
    assert Workspace.open(tmp_path / "case").secret() == first
    assert Workspace.open(tmp_path / "other").secret() != first


def test_checkpoints_leave_bulk_loaded_row_groups_in_place(tmp_path):
    """A workspace database never rewrites a bulk load to merge its partly filled row groups.

    At incident scale that rewrite made every checkpoint after an ingest
    (a detection's, on closing) take seconds and gigabytes.
    """
    cur = warehouse.connect(tmp_path / "w.duckdb")
    try:
        cur.execute("SET threads = 2")
        cur.execute("SET preserve_insertion_order = false")
        cur.execute("CREATE TABLE t (id BIGINT, s VARCHAR)")
        cur.execute("BEGIN")
        for part in range(3):  # each insert leaves a partly filled row group a thread
            ids = np.arange(part * 300_000, (part + 1) * 300_000)
            rows = pa.Table.from_batches(  # noqa: F841 - read by SQL
                pa.table({"id": ids, "s": pa.array([f"x{i}" for i in ids])}).to_batches(max_chunksize=20_000))
            cur.execute("INSERT INTO t SELECT * FROM rows")
        cur.execute("COMMIT")
        layout = "SELECT count(DISTINCT row_group_id), list(DISTINCT block_id ORDER BY block_id) FROM pragma_storage_info('t')"
        before = cur.execute(layout).fetchall()
        cur.execute("CHECKPOINT")
        assert cur.execute(layout).fetchall() == before
        assert before[0][0] > 900_000 // 122_880 + 1  # there were partly filled row groups to merge
    finally:
        warehouse.close_all()
