"""Technique suggestions and Admiralty grades on the cluster page, in a real headless Chromium (issue 17).

The residential-proxy cluster of the browser tests' case suggests DISARM
T0149.008; "Use suggestions" puts the suggested techniques in the tag
picker, the analyst removes one and saves: what was kept becomes tags, each
one audited, and the grades chosen for the status and the attribution show
in the judgement and the audit trail.
"""

from __future__ import annotations

import json

import pytest
from test_web_browser import ADMIN_PASSWORD, _close, _page, _shot, browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _audit(base: str, page, target: str) -> list[dict]:
    reply = page.request.post(f"{base}/audit.jsonl?target={target}")
    assert reply.ok
    return [json.loads(line) for line in reply.text().splitlines()]


def test_suggested_techniques_are_accepted_edited_and_graded_judgements_saved(browser, server):  # noqa: F811
    page = _page(browser, server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-table-rows td[data-dash-column=tradecraft]")
    proxy = page.locator("#queue-table-rows tr", has=page.locator("td[data-dash-column=tradecraft]",
                                                                   has_text="residential-proxy network"))
    proxy.locator("td[data-dash-column=cluster] a").click()
    page.wait_for_selector("#label-suggested-use")
    cluster_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    panel = page.locator("#label-panel").inner_text()
    assert "DISARM:T0149.008" in panel and "Proxy IP Address Asset" in panel
    assert "residential-proxy network:" in panel  # why it is suggested
    assert page.locator("#label-current .tag-chip").count() == 0  # a suggestion is not a tag until saved

    page.click("#label-suggested-use")
    picked = page.locator("#label-tag-select .dash-dropdown-value-item")
    page.wait_for_function("() => document.querySelectorAll('#label-tag-select .dash-dropdown-value-item').length > 0")
    chosen = picked.all_inner_texts()
    assert "DISARM T0149.008 Proxy IP Address Asset" in chosen and len(chosen) > 1
    # the analyst drops one suggestion before saving: choosing a chosen option again takes it out
    dropped = chosen[-1]
    page.click("#label-tag-select")
    # typing before the open list has its options filters nothing in
    page.locator("[role=listbox] .dash-dropdown-option").first.wait_for()
    page.keyboard.type(dropped.split()[1])
    page.locator("[role=listbox]").get_by_text(dropped).click()
    page.keyboard.press("Escape")
    page.wait_for_function("(n) => document.querySelectorAll('#label-tag-select .dash-dropdown-value-item').length"
                           " === n", arg=len(chosen) - 1)
    page.select_option("#label-status", "confirmed")
    page.fill("#label-status-reason", "residential exits nobody else uses")
    page.select_option("#label-status-reliability", "B")
    page.select_option("#label-status-credibility", "2")
    page.fill("#label-attr-actor", "IS-PROXY")
    page.fill("#label-attr-rationale", "one operator's proxy pool")
    page.select_option("#label-attr-reliability", "C")
    page.select_option("#label-attr-credibility", "3")
    page.click("#label-submit")
    page.wait_for_selector("#label-feedback .alert-success")
    current = page.locator("#label-current").inner_text()
    assert "graded B2" in current and "moderate confidence, graded C3" not in current
    assert "low confidence, graded C3" in current
    chips = page.locator("#label-current .tag-chip").all_inner_texts()
    assert any("DISARM:T0149.008" in chip for chip in chips)
    assert len(chips) == len(chosen) - 1 and not any(dropped.split()[1] in chip for chip in chips)
    events = _audit(server, page, f"cluster:{cluster_id}")
    tagged = [e for e in events if e["action"] == "label.tag"]
    assert len(tagged) == len(chips)
    status = next(e for e in events if e["action"] == "label.status")
    assert (status["after"]["reliability"], status["after"]["credibility"]) == ("B", "2")
    assert "graded B2" in page.locator("#cluster-audit").inner_text()
    _shot(page, "cluster-technique-suggestions")
    _close(page)
