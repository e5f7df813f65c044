"""Export and briefing downloads from the web UI, in a real headless Chromium against ``sybilscope serve``.

Reuses the browser and server fixtures of ``test_web_browser.py`` (the
sample case ingested and detected, served by the CLI in a subprocess).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from test_web_browser import ADMIN_PASSWORD, VIEWER, _page, _top_cluster, browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_briefing_button_downloads_a_briefing(browser, server):  # noqa: F811
    page = _page(browser, server, *VIEWER)  # viewers may download; it is audited
    cluster_id = _top_cluster(page)
    page.goto(f"{server}/cluster/{cluster_id}")
    page.wait_for_selector("#download-brief")
    page.select_option("#download-brief-format", "md")
    with page.expect_download(timeout=60_000) as info:
        page.click("#download-brief")
    download = info.value
    assert download.suggested_filename == f"briefing-{cluster_id}.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert cluster_id in text and "We assess with" in text and "TLP:" in text

    with page.expect_download(timeout=60_000) as info:
        page.click("#download-export")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert {"clusters.csv", "members.csv", "manifest.json"} <= set(archive.namelist())
    assert cluster_id in archive.read("clusters.csv").decode()

    page.goto(server + "/audit")
    page.wait_for_selector("#audit-table-rows")
    reply = page.request.post(server + "/audit.jsonl?action=brief")
    assert reply.ok and cluster_id in reply.text() and VIEWER[0] in reply.text()
    page.context.close()


def test_queue_export_downloads_the_filtered_queue(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#download-queue")
    with page.expect_download(timeout=60_000) as info:
        page.click("#download-queue")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    rows = archive.read("clusters.csv").decode().splitlines()
    assert rows[0] == "cluster_id,score,size,top_ip_country,status" and len(rows) > 1
    page.context.close()
