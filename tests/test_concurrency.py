"""The web UI and the CLI on one workspace at once (issue #15, item 8), in a real headless Chromium.

A real ``sybilscope serve`` (a subprocess, as in ``tests/test_web_browser.py``)
serves the sample case's first days. A signed-in browser reads the triage
queue and keeps searching it while ``ingest`` (the remaining days),
``export`` and ``brief`` run as separate processes on the same workspace,
and then ``detect``. Every command succeeds, every page answers, the queue
keeps showing the old run while ``detect`` runs, and once its run is saved
the page offers the new one, which a reload shows.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from test_web_browser import (  # noqa: F401 - browser is a fixture
    ADMIN_PASSWORD,
    ROOT,
    SAMPLE_CASE,
    SERVERS,
    SYBILSCOPE,
    _clean_env,
    _close,
    _page,
    _serve,
    _sybilscope,
    browser,
)

from app.web import run_banner

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: the sample's requests up to this time are the first batch, the rest arrive while the UI is open
SPLIT = "2019-12-24T00:00:00"


def _split_case(into: Path) -> tuple[Path, Path]:
    """The sample case as two batches: the first days with every other table, then the remaining requests."""
    first, second = into / "batch-1", into / "batch-2"
    first.mkdir(parents=True)
    second.mkdir()
    for table in SAMPLE_CASE.iterdir():
        if table.name != "requests.csv.gz":
            shutil.copy(table, first / table.name)
    with gzip.open(SAMPLE_CASE / "requests.csv.gz", "rt", newline="") as source:
        rows = csv.reader(source)
        header = next(rows)
        with gzip.open(first / "requests.csv.gz", "wt", newline="") as early, \
                gzip.open(second / "requests.csv.gz", "wt", newline="") as late:
            outs = csv.writer(early), csv.writer(late)
            for out in outs:
                out.writerow(header)
            for row in rows:
                outs[row[0] >= SPLIT].writerow(row)
    return first, second


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The first batch ingested and detected, served; yields (address, workspace, second batch, scratch)."""
    scratch = tmp_path_factory.mktemp("concurrency")
    first, second = _split_case(scratch / "case")
    workspace = scratch / "workspace"
    env = _clean_env()
    _sybilscope(workspace, "ingest", str(first), env=env)
    _sybilscope(workspace, "detect", env=env)
    for base in _serve(workspace, env):
        # the server logs every request to a pipe: read it, or a busy test fills it and the server stops
        threading.Thread(target=SERVERS[base].stdout.read, daemon=True).start()
        yield base, workspace, second, scratch


def _start(workspace: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([SYBILSCOPE, "--workspace", str(workspace), *args], cwd=ROOT, env=_clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(command: subprocess.Popen) -> str:
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, f"{' '.join(command.args[3:])} failed:\n{out}\n{err}"
    return out


def _cli_json(workspace: Path, *args: str) -> dict:
    return json.loads(_finished(_start(workspace, *args)))


def _search(page, text: str) -> None:
    """One round trip the browser makes on the open page: search the queue, wait for the answer."""
    page.fill("#search-input", "")
    page.fill("#search-input", text)
    page.press("#search-input", "Enter")
    page.wait_for_selector("#search-results .list-group-item")


def _banner(page) -> str:
    return page.locator(f"#{run_banner.BANNER}").inner_text()


def _keep_reading(page, commands: list[subprocess.Popen], cluster_id: str) -> int:
    """Search the queue again and again until every command has ended; returns how many searches answered."""
    answered = 0
    while any(c.poll() is None for c in commands) or not answered:
        _search(page, cluster_id[: 4 + answered % 4])
        answered += 1
        page.wait_for_timeout(300)  # an analyst's pace, not a load test
    return answered


def test_ingest_export_brief_and_detect_run_while_the_browser_reads_the_queue(browser, case):  # noqa: F811
    base, workspace, second_batch, scratch = case
    before = _cli_json(workspace, "queue", "--json")
    page = _page(browser, base, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-table-rows td[data-dash-column=cluster] a")
    top = before["clusters"][0]["cluster_id"]
    assert top in page.locator("#queue-table-rows").inner_text()

    # new logs arrive, and an analyst's scripts export and brief, all while the page is in use
    ingest = _start(workspace, "ingest", str(second_batch), "--json")
    export = _start(workspace, "export", "--format", "csv", "--out", str(scratch / "export"))
    brief = _start(workspace, "brief", top, "--out", str(scratch / "brief.md"))
    assert _keep_reading(page, [ingest, export, brief], top) >= 1
    loaded = json.loads(_finished(ingest))["tables"]["requests"]
    assert loaded["loaded"] > 0
    for command in (export, brief):
        _finished(command)
    manifest = json.loads((scratch / "export" / "manifest.json").read_text())
    assert manifest["detection_run"]["run_id"] == before["run_id"]  # no run was half written meanwhile
    with (scratch / "export" / "clusters.csv").open(newline="") as exported:
        assert [r["cluster_id"] for r in csv.DictReader(exported)] == [c["cluster_id"] for c in before["clusters"]]
    assert top in (scratch / "brief.md").read_text()
    assert _banner(page) == ""  # ingest made no new run

    # detection over both batches: the page keeps the old run until the new one is saved
    detect = _start(workspace, "detect")
    offered = set()
    while detect.poll() is None:
        _search(page, top[:5])
        page.wait_for_timeout(300)
        offered.add(_banner(page))
    _finished(detect)
    after = _cli_json(workspace, "queue", "--json")
    assert after["run_id"] != before["run_id"]
    # detect lets go of the workspace only once its run is saved whole (its process may take a moment more
    # to end): the page never offered anything but that run
    assert all(after["run_id"] in text for text in offered - {""})
    _search(page, top[:5])  # the page still works, and offers the new run within a poll
    offer = page.locator(f"#{run_banner.BANNER} .alert")
    offer.wait_for(timeout=run_banner.POLL_MS + 15_000)
    assert after["run_id"] in offer.inner_text() and before["run_id"] in offer.inner_text()
    # the reload is a new page load: the old page's queue may already hold the new run's top cluster (ids
    # carry over between runs), so waiting for it alone could return before the reload and see the old banner
    with page.expect_navigation():
        page.click(f"#{run_banner.RELOAD}")
    page.wait_for_selector(f"#queue-table-rows >> text={after['clusters'][0]['cluster_id']}")
    page.wait_for_timeout(run_banner.POLL_MS + 1_000)
    assert _banner(page) == ""
    assert after["run_id"] in page.content()
    _close(page)

