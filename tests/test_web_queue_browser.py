"""The richer queue and the compare page in a real headless Chromium (issue 15, item 7).

Columns for exposure, attribution, TLP, assignee and tags, with data time
(first and last request) apart from analyst time (the last label); filters
by tradecraft and by tag, which "Export queue" keeps too; a cluster assigned
from its page's one form; two ticked rows compared side by side. Served on
the hand-made case of ``tests/webcase.py`` built with ``shared_operator``:
C-israel's ``il_0`` shares C-iran's hosting IP, its device and 3 of its
numbers, so the compare page has something to find.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from test_web_browser import (  # noqa: F401
    ADMIN_PASSWORD,
    _clean_env,
    _close,
    _judge,
    _page,
    _serve,
    _shot,
    browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def expect(locator):
    """Playwright's ``expect``, imported when a test runs: without playwright the ``browser`` fixture has
    already failed (CI) or skipped the test."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)

CLUSTER_CELLS = "#queue-table-rows td[data-dash-column=cluster]"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``sybilscope serve`` on the web case with C-israel sharing an operator's traces with C-iran."""
    import webcase

    from graph import warehouse
    from graph.store import open_store
    from graph.workspace import Workspace

    workspace = Workspace.open(tmp_path_factory.mktemp("browser-queue") / "workspace")
    store = open_store(workspace)
    try:
        webcase.build_case(workspace, store, shared_operator=True)
    finally:
        store.close()
        warehouse.close_all()
    yield from _serve(workspace.root, _clean_env())


def _row(page, cluster_id: str):
    return page.locator("#queue-table-rows tr", has=page.locator(f"td[data-dash-column=cluster] >> text={cluster_id}"))


def _cell(page, cluster_id: str, column: str) -> str:
    return _row(page, cluster_id).locator(f"td[data-dash-column={column}]").inner_text().strip()


def _queue_ids(page) -> list[str]:
    return page.locator(CLUSTER_CELLS).all_inner_texts()


def _pick(page, dropdown: str, option: str) -> None:
    # the options come with the queue's callback: typing before they arrive filters an empty list, and
    # options that arrive after the typing (a loaded machine) replace the filtered list and close the
    # menu; so open, type and pick again when the option does not show
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        page.click(dropdown)
        page.locator(".dash-dropdown-option").first.wait_for()
        page.keyboard.type(option)
        wanted = page.locator(".dash-dropdown-option", has_text=option).first
        try:
            wanted.click(timeout=10_000)
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            continue
        page.keyboard.press("Escape")
        return


def test_assigned_attributed_and_marked_clusters_show_in_the_queue(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server}/cluster/C-iran")
    page.wait_for_selector("#label-assignee option[value=admin]", state="attached")
    said = _judge(page, select={"#label-assignee": "admin", "#label-tlp": "TLP:AMBER"},
                  fill={"#label-attr-actor": "IS-TEST-IR", "#label-attr-country": "ir",
                        "#label-attr-rationale": "operator clock and hosting mix"})
    assert "Assigned to admin" in said
    assert "admin" in page.locator("#label-current").inner_text()
    assert page.input_value("#label-assignee") == "admin"

    page.goto(server + "/")
    page.wait_for_selector("#queue-table-rows td[data-dash-column=assignee]")
    headers = page.locator("#queue-table-rows th").all_text_contents()
    for title in ("Assignee", "Accounts exposed", "Attribution (analyst)", "TLP", "Tags",
                  "First request (data, UTC)", "Last request (data, UTC)", "Last analyst update (UTC)"):
        assert any(title in header for header in headers), (title, headers)
    assert _cell(page, "C-iran", "assignee") == "admin"
    assert _cell(page, "C-iran", "tlp") == "TLP:AMBER"
    assert _cell(page, "C-iran", "attribution") == "IR · IS-TEST-IR"
    assert _cell(page, "C-iran", "exposed") == "8"  # the 8 members' first lookups matched victim_1
    assert _cell(page, "C-iran", "first_seen") == "2019-12-20 06:00 UTC"  # data time: the first request
    assert _cell(page, "C-iran", "updated_at").startswith("20") and not _cell(page, "C-iran", "updated_at").startswith(
        "2019")  # analyst time: today's label, not the case's years
    assert _cell(page, "C-lone", "updated_at") == "" and _cell(page, "C-lone", "assignee") == ""
    _shot(page, "queue-columns")

    reply = page.request.post(f"{server}/audit.jsonl?target=cluster:C-iran")
    events = [json.loads(line) for line in reply.text().splitlines()]
    assigned = [e for e in events if e["action"] == "label.assign"]
    assert [(e["user"], e["before"], e["after"]) for e in assigned] == [("admin", {"assignee": None},
                                                                         {"assignee": "admin"})]
    _close(page)


def test_the_queue_filters_by_tradecraft_and_tag_and_exports_what_it_shows(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server}/cluster/C-lone")
    page.wait_for_selector("#label-submit")
    _judge(page, fill={"#label-tag-free": "filter-me"})

    page.goto(server + "/")
    page.wait_for_selector("#queue-table-rows td[data-dash-column=cluster]")
    assert sorted(_queue_ids(page)) == ["C-iran", "C-israel", "C-lone"]
    _pick(page, "#queue-filter-kind", "coordinated")
    expect(page.locator(CLUSTER_CELLS)).to_have_count(2)
    assert sorted(_queue_ids(page)) == ["C-iran", "C-israel"]

    page.goto(server + "/")
    page.wait_for_selector("#queue-table-rows td[data-dash-column=cluster]")
    _pick(page, "#queue-filter-tag", "filter-me")
    expect(page.locator(CLUSTER_CELLS)).to_have_count(1)
    assert _queue_ids(page) == ["C-lone"]
    assert _cell(page, "C-lone", "tags") == "filter-me"
    with page.expect_download(timeout=60_000) as info:
        page.click("#download-queue")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    exported = [row["cluster_id"] for row in csv.DictReader(io.StringIO(archive.read("clusters.csv").decode()))]
    assert exported == ["C-lone"]
    assert json.loads(archive.read("manifest.json"))["filters"]["tags"] == ["filter-me"]
    _close(page)


def test_two_ticked_rows_compare_side_by_side(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-compare")
    assert "disabled" in page.get_attribute("#queue-compare", "class")
    _row(page, "C-iran").locator("input[type=checkbox]").check()
    assert "disabled" in page.get_attribute("#queue-compare", "class")  # one is no comparison
    _row(page, "C-israel").locator("input[type=checkbox]").check()
    expect(page.locator("#queue-compare")).not_to_have_class(re.compile("disabled"))
    page.click("#queue-compare")
    page.wait_for_selector("#compare-pairs td[data-dash-column=pair]")
    assert page.url.endswith("/compare?c=C-iran&c=C-israel")
    pair = {column: page.locator(f"#compare-pairs td[data-dash-column={column}]").inner_text().strip()
            for column in ("pair", "ip", "prefix", "asn", "device", "numbers")}
    assert pair == {"pair": "C-iran · C-israel", "ip": "1", "prefix": "1", "asn": "1", "device": "1", "numbers": "3"}
    shared = page.locator("#compare-infrastructure").inner_text()
    assert "5.160.10.1" in shared and "d_shared_ir" in shared and "AS58224" in shared
    page.wait_for_selector("#compare-rhythm .scatterlayer .trace")
    assert page.locator("#compare-rhythm .scatterlayer .trace").count() == 2  # overlaid, one line a cluster
    assert page.locator("#compare-heatmaps .js-plotly-plot").count() == 2  # and side by side
    numbers = page.locator("#compare-numbers").inner_text()
    assert "C-iran, C-israel" in numbers and "+" not in numbers
    _shot(page, "compare")
    page.click("#compare-infrastructure a >> text=d_shared_ir")
    page.wait_for_url("**/entity/device/d_shared_ir")
    _close(page)


def test_briefing_for_selected_rows_is_one_briefing_on_the_operation(browser, server):  # noqa: F811
    from app.brief import pdf_text

    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-brief")
    expect(page.locator("#queue-brief")).to_be_disabled()
    _row(page, "C-iran").locator("input[type=checkbox]").check()
    _row(page, "C-israel").locator("input[type=checkbox]").check()
    expect(page.locator("#queue-brief")).to_be_enabled()
    with page.expect_download(timeout=90_000) as info:
        page.click("#queue-brief")
    download = info.value
    assert download.suggested_filename == "briefing-operation-2-clusters.pdf"
    text = " ".join(" ".join(pdf_text(Path(download.path()))).split())
    assert "What ties these clusters" in text and "C-iran" in text and "C-israel" in text
    assert "1 IP address" in text  # the shared hosting IP the compare page finds too
    _close(page)


def test_analysts_notes_go_into_the_briefing_only_when_ticked(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server}/cluster/C-israel")
    _judge(page, fill={"#label-comment-text": "ask the regional desk about il_0"})
    page.wait_for_selector("#download-brief")
    page.select_option("#download-brief-format", "md")
    texts = []
    for tick in (False, True):
        if tick:
            page.check("#download-brief-notes")
        with page.expect_download(timeout=60_000) as info:
            page.click("#download-brief")
        texts.append(Path(info.value.path()).read_text(encoding="utf-8"))
    assert "regional desk" not in texts[0] and "Analyst notes" not in texts[0]
    assert "regional desk" in texts[1] and "Analyst notes" in texts[1]
    _close(page)
