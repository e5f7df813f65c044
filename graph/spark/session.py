"""One Spark session per process, to a master URL or a Spark Connect server.

Starting Spark costs seconds (about 7 s for ``local[2]``, 25 s for a
``local-cluster``), so the session is made once and shared by every
:class:`~graph.spark.events.SparkEvents` of the process. Its settings are
the ones DuckDB's answers depend on: UTC (events are UTC; Spark otherwise
uses the JVM's zone) and Arrow transfer to pandas.
"""

from __future__ import annotations

import os
import sys

from graph.errors import ConfigError

__all__ = ["spark_session", "DEFAULT_MASTER", "MASTER_ENV", "REMOTE_ENV"]

DEFAULT_MASTER = "local[2]"
MASTER_ENV = "SYBILSCOPE_SPARK_MASTER"
REMOTE_ENV = "SYBILSCOPE_SPARK_REMOTE"

_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_session(master: str | None = None, remote: str | None = None, *, shuffle_partitions: int = 8):
    """The process's Spark session: to ``remote`` (``sc://host:port``) when given, else to ``master``.

    An existing session is reused. ``shuffle_partitions``: partitions of
    each shuffle (joins, aggregates); a few a core. ``ConfigError`` when PySpark is not
    installed or Java is missing, naming what to install.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("the spark engine needs PySpark: pip install -e '.[spark]'") from exc
    remote = remote or os.environ.get(REMOTE_ENV)
    builder = SparkSession.builder.appName("sybilscope")
    if remote:
        if not remote.startswith("sc://"):
            raise ConfigError(f"{REMOTE_ENV} must be a Spark Connect URL sc://host:port, not {remote!r}")
        session = builder.remote(remote).getOrCreate()
        for key, value in _CONF.items():
            session.conf.set(key, value)
        return session
    master = master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER
    # executors' Python workers (ingest's checks) run this interpreter, where sybilscope is installed
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {**_CONF, "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(shuffle_partitions)}
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        return builder.master(master).getOrCreate()
    except Exception as exc:  # the JVM failed to start: Java missing or too old
        raise ConfigError(f"Spark could not start on master {master!r}: {exc}; Spark needs Java 17 "
                          "(Debian: apt-get install openjdk-17-jre-headless)") from exc
