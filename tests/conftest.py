"""Shared fixtures: workspaces and graph stores on both backends.

The Bolt server (ArcadeDB with its Bolt plugin, see ``tests/bolt_server.py``)
starts once per session, only when a test asks for it. When it cannot start,
tests that need it fail under ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from graph import warehouse
from graph.store import open_store
from graph.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))

from bolt_server import BoltServer, BoltServerUnavailable  # noqa: E402

STORE_BACKENDS = ["embedded", "neo4j"]


def in_ci() -> bool:
    """True under ``CI=true``: then a missing Bolt server or browser fails the run."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> None:
    """A server or runtime a test needs is missing: fail under ``CI=true``, skip otherwise."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a skip is a failure: a green CI must mean every suite really ran."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Under ``CI=true`` a module that skips itself (``importorskip``) fails too, as a test's skip does."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def pytest_collection_modifyitems(items):
    """Tests that run on the Neo4j backend need the Bolt server: mark them ``bolt``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("store") == "neo4j":
            item.add_marker(pytest.mark.bolt)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """No test sees the developer's own sybilscope settings."""
    for name in list(os.environ):
        if name.startswith("SYBILSCOPE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def bolt_server():
    """One ArcadeDB Bolt server for the whole session (about 3 s to start)."""
    server = BoltServer()
    try:
        server.start()
    except BoltServerUnavailable as exc:
        unavailable(f"the Bolt test server is unavailable: {exc}")
    yield server
    server.stop()


def wipe(server: BoltServer) -> None:
    """Delete every node and relationship in the server's database (constraints stay)."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=server.database)


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace on the embedded store."""
    yield Workspace.open(tmp_path / "workspace")
    warehouse.close_all()


@pytest.fixture
def neo4j_workspace(tmp_path, monkeypatch, bolt_server):
    """A fresh workspace whose graph lives in the (emptied) Bolt test server, via ``SYBILSCOPE_NEO4J_*``."""
    wipe(bolt_server)
    for name, value in bolt_server.env().items():
        monkeypatch.setenv(name, value)
    yield Workspace.open(tmp_path / "neo4j-workspace")
    warehouse.close_all()


@pytest.fixture(params=STORE_BACKENDS)
def store(request, tmp_path, monkeypatch):
    """A fresh, empty graph store on each backend, opened the way commands open it."""
    if request.param == "neo4j":
        server = request.getfixturevalue("bolt_server")
        wipe(server)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
    ws = Workspace.open(tmp_path / "store-workspace")
    assert ws.settings.store == request.param
    opened = open_store(ws)
    yield opened
    opened.close()
    warehouse.close_all()


@pytest.fixture(scope="session")
def sample_case(tmp_path_factory):
    """The sample case ingested, detected and triaged once a session (see ``tests/exportcase.py``)."""
    from exportcase import build_sample

    return build_sample(tmp_path_factory.mktemp("sample") / "workspace")


@pytest.fixture(scope="session")
def spark():
    """One Spark session for the whole run, on ``local-cluster[2,1,1024]``: two real executor processes.

    About 25 s to start, once. Without Java or PySpark the tests that need it
    fail under ``CI=true`` and are skipped otherwise.
    """
    import shutil

    from graph.errors import ConfigError

    problem = None
    if shutil.which("java") is None:
        problem = "no java on PATH (Debian: apt-get install openjdk-17-jre-headless; `make test` does it)"
    else:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            problem = "PySpark is not installed (pip install -e '.[spark]')"
    if problem is None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from graph.spark.session import spark_session

        try:
            # small shuffles: the test cases are small, and every partition costs a task
            session = spark_session("local-cluster[2,1,1024]", shuffle_partitions=2)
        except ConfigError as exc:
            problem = str(exc)
    if problem is not None:
        unavailable(f"Spark is unavailable: {problem}")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_sample(spark, tmp_path_factory):
    """The sample case ingested once a session on DuckDB and on Spark (``tests/sparkcase.py``): copy it to change it."""
    from sparkcase import build_lake

    root = tmp_path_factory.mktemp("spark-sample")
    build_lake(root)
    return root


@pytest.fixture(scope="session")
def spark_connect():
    """A Spark Connect server started from the PySpark package, for the session: its ``sc://`` URL.

    Its own JVM on ``local[1]`` (about 15 s to start when the machine is idle).
    When it cannot start (no Java, no PySpark), the tests that need it fail
    under ``CI=true`` and are skipped otherwise.
    """
    from spark_connect_server import ConnectServer, ConnectServerUnavailable

    server = ConnectServer()
    try:
        server.start()
    except ConnectServerUnavailable as exc:
        server.stop()
        unavailable(f"the Spark Connect server is unavailable: {exc}")
    yield server.url
    server.stop()
