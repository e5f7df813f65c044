"""The CLI skeleton: help, version, status on both stores, and errors as one clear line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from exportcase import SAMPLE_CASE

from app.cli import COMMAND_MODULES, cli
from graph import __version__, warehouse
from graph.schema import ACCOUNT, IP, NODES, RELATIONSHIPS, USED_IP
from graph.store import open_store
from graph.workspace import Workspace

SYBILSCOPE = Path(sys.executable).parent / "sybilscope"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [str(SYBILSCOPE), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_lists_the_options_and_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for word in ("--workspace", "--verbose", "--version", "status"):
        assert word in result.output


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    listed = result.output.split("Commands:")[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(COMMAND_MODULES)


def test_ingest_loads_no_export_briefing_or_detection_library(tmp_path):
    """`sybilscope ingest` imports what it uses: MISP, STIX, matplotlib, SciPy's statistics and Dash cost seconds a run."""
    heavy = ("pymisp", "stix2", "matplotlib", "scipy.stats", "dash", "app.export", "app.brief", "app.api",
             "graph.detect.run")
    code = (
        "import sys\nfrom app.cli import main\n"
        "main(['-w', sys.argv[1], 'ingest', sys.argv[2], '--quiet'])\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws"), str(SAMPLE_CASE)],
                          capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"sybilscope, version {__version__}"


def _load_some(workspace: Workspace) -> None:
    with open_store(workspace) as store:
        store.upsert_nodes(ACCOUNT, [{"account_id": "u1"}, {"account_id": "u2"}])
        store.upsert_edges(USED_IP, [{"src": "u1", "dst": "5.160.10.1", "count": 3}])
    warehouse.close_all()


def test_status_on_the_embedded_store(tmp_path):
    root = tmp_path / "case"
    _load_some(Workspace.open(root))
    result = CliRunner().invoke(cli, ["--workspace", str(root), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["workspace"] == str(root)
    assert report["store"] == {"store": "embedded"}
    assert set(report["counts"]) == {n.label for n in NODES} | {r.type for r in RELATIONSHIPS}
    assert (report["counts"][ACCOUNT], report["counts"][IP], report["counts"][USED_IP]) == (2, 1, 1)
    assert report["latest_run"] is None

    human = CliRunner().invoke(cli, ["--workspace", str(root), "status"])
    assert human.exit_code == 0
    assert "embedded" in human.output
    assert USED_IP in human.output


@pytest.mark.bolt
def test_status_on_the_bolt_server_through_the_environment(tmp_path, monkeypatch, bolt_server):
    from conftest import wipe

    wipe(bolt_server)
    for name, value in bolt_server.env().items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "case"
    _load_some(Workspace.open(root))
    result = CliRunner().invoke(cli, ["--workspace", str(root), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["store"] == {
        "store": "neo4j",
        "uri": bolt_server.uri,
        "user": bolt_server.user,
        "database": bolt_server.database,
        "password": "(set)",
    }
    assert (report["counts"][ACCOUNT], report["counts"][IP], report["counts"][USED_IP]) == (2, 1, 1)
    assert bolt_server.password not in result.output
    assert bolt_server.password not in (root / "settings.json").read_text()


@pytest.mark.bolt
def test_a_wrong_password_is_one_line_naming_the_variables(tmp_path, bolt_server):
    env = {**bolt_server.env(), "SYBILSCOPE_NEO4J_PASSWORD": "not-the-password"}
    Workspace.open(tmp_path / "case")  # status needs an existing workspace
    result = run_cli("--workspace", str(tmp_path / "case"), "status", env=env)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    assert "SYBILSCOPE_NEO4J_PASSWORD" in result.stderr
    assert "not-the-password" not in result.stderr


def test_an_unreachable_server_is_one_line_and_verbose_adds_the_traceback(tmp_path):
    env = {"SYBILSCOPE_NEO4J_URI": f"bolt://127.0.0.1:{closed_port()}"}
    Workspace.open(tmp_path / "case")  # status needs an existing workspace
    quiet = run_cli("--workspace", str(tmp_path / "case"), "status", env=env)
    assert quiet.returncode != 0
    assert quiet.stdout == ""
    assert quiet.stderr.count("\n") == 1
    assert quiet.stderr.startswith("Error: ")
    assert "SYBILSCOPE_NEO4J_URI" in quiet.stderr
    assert "Traceback" not in quiet.stderr

    verbose = run_cli("--verbose", "--workspace", str(tmp_path / "case"), "status", env=env)
    assert verbose.returncode == quiet.returncode
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == quiet.stderr.strip()


def test_broken_settings_are_one_line_naming_the_file(tmp_path):
    root = tmp_path / "case"
    root.mkdir()
    (root / "settings.json").write_text("{oops")
    result = run_cli("--workspace", str(root), "status")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1
    assert str(root / "settings.json") in result.stderr


# every command that opens a workspace, with what it needs to get that far (ingest alone may create one)
NEEDS_A_WORKSPACE = [
    ("status",), ("queue",), ("detect",), ("export", "--format", "csv", "--out", "OUT"), ("brief", "C-1", "--out",
    "OUT/b.md"), ("label", "C-1", "--comment", "hi"), ("serve", "--port", "1"), ("users", "list"),
    ("users", "add", "carol", "--password", "carol-pass"),
]


@pytest.mark.parametrize("args", NEEDS_A_WORKSPACE, ids=lambda args: " ".join(args[:2]))
def test_a_folder_that_is_not_a_workspace_is_one_line_and_left_alone(tmp_path, args):
    missing, empty = tmp_path / "typo", tmp_path / "empty"
    empty.mkdir()
    for root in (missing, empty):
        result = run_cli("--workspace", str(root), *(a.replace("OUT", str(tmp_path / "out")) for a in args),
                         env={"SYBILSCOPE_ADMIN_PASSWORD": "admin-pass-123"})
        assert result.returncode == 2, result
        assert result.stderr == f"Error: {root} is not a sybilscope workspace (no settings.json or sybilscope.duckdb " \
            f"in it): check --workspace or $SYBILSCOPE_WORKSPACE, or start one there with " \
            f"`sybilscope --workspace {root} ingest CASE_DIR`\n"
    assert not missing.exists() and list(empty.iterdir()) == []


def test_ingest_starts_a_workspace_and_the_other_commands_then_open_it(tmp_path):
    root = tmp_path / "case"
    ingest = CliRunner().invoke(cli, ["--workspace", str(root), "ingest", "--accounts", str(_accounts(tmp_path))])
    assert ingest.exit_code == 0, ingest.output
    assert (root / "settings.json").is_file()
    status = CliRunner().invoke(cli, ["--workspace", str(root), "status", "--json"])
    assert status.exit_code == 0 and json.loads(status.output)["counts"][ACCOUNT] == 1


def _accounts(folder: Path) -> Path:
    path = folder / "accounts.csv"
    path.write_text("account_id,handle,created_at\nu1,one,2019-12-01T00:00:00Z\n")
    return path
