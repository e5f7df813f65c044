"""Under ``CI=true`` nothing skips: a skipped test and a module that skips itself both fail the run.

A green CI has to mean the Bolt, browser and PDF suites really ran, so the
project's ``conftest.py`` turns every skip into a failure there. These run
pytest on two tiny test files with that conftest, once with ``CI=true``
and once without.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = {
    "test_skips_itself.py": "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server here')\n",
    "test_skips_its_module.py": "import pytest\n\npytest.importorskip('no_such_module_here')\n\n"
                                "def test_never_collected():\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("ci", [True, False], ids=["CI", "locally"])
def test_a_skip_fails_under_ci_and_skips_locally(tmp_path, name, ci):
    for helper in ("conftest.py", "bolt_server.py"):
        shutil.copy(HERE / helper, tmp_path / helper)
    (tmp_path / name).write_text(CASES[name], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert run.returncode != 0, run.stdout
        assert "skipped under CI=true, which counts as a failure" in run.stdout
    else:
        assert run.returncode in (0, 5), run.stdout  # 5: pytest ran no test (the module skipped itself)
        assert "1 skipped" in run.stdout
