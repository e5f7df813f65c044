"""Detection through a Spark Connect server: the CLI, end to end, gives DuckDB's clusters.csv and members.csv.

The server is a separate process (``tests/spark_connect_server.py``), reached
only at ``SYBILSCOPE_SPARK_REMOTE``, and the CLI runs as its own process as a
user runs it (PySpark refuses a Connect session in a process that already
holds a classic one, as the test process may). The classic path is
:mod:`tests.test_spark_replay`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sparkcase import copy_case

SYBILSCOPE = Path(sys.executable).parent / "sybilscope"


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    result = subprocess.run([str(SYBILSCOPE), "--workspace", str(root), *args], capture_output=True, text=True,
                            timeout=1200, env={**environment, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_detect_through_spark_connect_gives_duckdbs_clusters_and_members(tmp_path, spark_sample, spark_connect):
    copy_case(spark_sample, tmp_path)
    _cli(tmp_path / "ws", "detect")
    _cli(tmp_path / "ws-spark", "detect", "--engine", "spark",
         env={"SYBILSCOPE_SPARK_REMOTE": spark_connect, "SYBILSCOPE_EVENTS_DIR": str(tmp_path / "lake")})
    for name in ("ws", "ws-spark"):
        _cli(tmp_path / name, "export", "--format", "csv", "--out", str(tmp_path / f"out-{name}"))
    for exported in ("clusters.csv", "members.csv"):
        ours = (tmp_path / "out-ws" / exported).read_text()
        theirs = (tmp_path / "out-ws-spark" / exported).read_text()
        assert ours.count("\n") > 1
        assert theirs == ours, exported
