"""Choosing the engine: the default, the environment, the flag, and what `status` says about it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import cli
from graph import warehouse
from graph.errors import ConfigError
from graph.workspace import Workspace


def _status(root, env=None) -> dict:
    result = CliRunner().invoke(cli, ["--workspace", str(root), "status", "--json"], env=env or {})
    assert result.exit_code == 0, result.output
    warehouse.close_all()
    return json.loads(result.output)


def test_duckdb_is_the_default_and_settings_json_stays_as_it_was(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    assert ws.settings.engine == "duckdb"
    assert "engine" not in json.loads((ws.root / "settings.json").read_text())
    assert _status(ws.root)["engine"] == {"engine": "duckdb", "events": "the workspace database"}


def test_the_environment_chooses_spark_and_status_says_where_the_events_live(tmp_path, monkeypatch):
    Workspace.open(tmp_path / "ws")
    env = {"SYBILSCOPE_ENGINE": "spark", "SYBILSCOPE_SPARK_MASTER": "local[4]",
           "SYBILSCOPE_EVENTS_DIR": str(tmp_path / "lake")}
    assert _status(tmp_path / "ws", env)["engine"] == {"engine": "spark", "master": "local[4]",
                                                        "events": str(tmp_path / "lake")}
    env["SYBILSCOPE_SPARK_REMOTE"] = "sc://127.0.0.1:15002"
    assert _status(tmp_path / "ws", env)["engine"]["remote"] == "sc://127.0.0.1:15002"


def test_an_unknown_engine_is_refused_with_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("SYBILSCOPE_ENGINE", "dask")
    with pytest.raises(ConfigError, match="duckdb, spark"):
        Workspace.open(tmp_path / "ws")


def test_detect_on_spark_without_events_in_parquet_says_what_to_run(tmp_path):
    Workspace.open(tmp_path / "ws")
    warehouse.close_all()
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "detect", "--engine", "spark"])
    warehouse.close_all()
    assert result.exit_code != 0
    assert "no request events in Parquet" in str(result.exception)
