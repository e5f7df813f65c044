"""A Spark Connect server for tests, started from the PySpark package (no download, no network).

PySpark 4 ships the Connect server's jar and ``bin/spark-submit``:
:class:`ConnectServer` runs ``SparkConnectServer`` as a child process on
its own ``local[1]`` master, listening on 127.0.0.1 only on a free port, in
UTC, and stops it by its own PID. Clients reach it at :attr:`ConnectServer.url`
(``sc://127.0.0.1:PORT``), which is what ``SYBILSCOPE_SPARK_REMOTE`` takes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["ConnectServer", "ConnectServerUnavailable"]

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


class ConnectServerUnavailable(RuntimeError):
    """The Connect server could not be found or started; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ConnectServer:
    """``SparkConnectServer`` from the installed PySpark, as a child process."""

    def __init__(self, startup_seconds: float = 180.0):
        self.startup_seconds = startup_seconds
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None  # made by start(), removed with its folder by stop()

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (about 15 s on an idle machine)."""
        try:
            import pyspark
        except ImportError as exc:
            raise ConnectServerUnavailable("PySpark is not installed (pip install -e '.[spark]')") from exc
        home = Path(pyspark.__file__).parent
        submit = home / "bin" / "spark-submit"
        if not any((home / "jars").glob("spark-connect_*.jar")):
            raise ConnectServerUnavailable(f"PySpark at {home} has no spark-connect jar")
        command = ["bash", str(submit), "--class", SERVER_CLASS, "--master", "local[1]", "--driver-memory", "1g",
                   "--conf", f"spark.connect.grpc.binding.port={self.port}",
                   "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                   "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                   "--conf", "spark.sql.session.timeZone=UTC", "--conf", "spark.ui.enabled=false",
                   "--conf", "spark.sql.shuffle.partitions=2"]
        env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable}
        self.log = Path(tempfile.mkdtemp(prefix="sybilscope-connect-")) / "server.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self._tail()
                self.stop()
                raise ConnectServerUnavailable(f"the Connect server exited: {tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)
        tail = self._tail()
        self.stop()
        raise ConnectServerUnavailable(f"the Connect server did not listen within {self.startup_seconds:.0f} s: {tail}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log and self.log.exists() else "(no log)"

    def stop(self) -> None:
        """Stop the server's process group (the shell and the JVM it started) and remove its log's folder."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.log is not None:
            shutil.rmtree(self.log.parent, ignore_errors=True)
            self.log = None
