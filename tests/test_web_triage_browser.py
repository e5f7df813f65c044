"""One-step triage in a real headless Chromium against ``sybilscope serve`` (issue 15, items 6 and 9).

The judgement form saves every part with one click, bulk status from the
queue's selected rows, the keyboard (j/k, x, Enter, c, d, /, ?), refused
country codes, failed writes said as failures (never the previous success),
words that wrap whole, and the users page's admin actions, refused on the
server to anyone else. Reuses the browser and the small hand-made case of
``test_web_browser.py`` (``tests/webcase.py``: C-iran, C-israel, C-lone),
served for this module alone.
"""

from __future__ import annotations

import json

import pytest
from test_web_browser import ADMIN_PASSWORD, _close, _judge, _page, _shot, browser, squads_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# every word of the text in an element, and how many lines it is drawn on
WORDS_ON_LINES = """(selector) => {
  const counts = [];
  for (const element of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/[A-Za-z]{3,}/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
        counts.push([match[0], tops.size]);
      }
    }
  }
  return counts;
}"""


def _audit(base: str, page, target: str) -> list[dict]:
    reply = page.request.post(f"{base}/audit.jsonl?target={target}")
    assert reply.ok
    return [json.loads(line) for line in reply.text().splitlines()]


def _queue_row(page, cluster_id: str):
    return page.locator("#queue-table-rows tr", has=page.locator(f"td[data-dash-column=cluster] >> text={cluster_id}"))


def test_one_form_saves_every_part_with_one_click(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.goto(f"{squads_server}/cluster/C-iran")
    page.wait_for_selector("#label-submit")
    page.select_option("#label-status", "in_review")
    page.fill("#label-status-reason", "two hosting IPs in lockstep")
    page.fill("#label-attr-actor", "IS-TEST-IR")
    page.fill("#label-attr-country", "ir")
    page.select_option("#label-attr-confidence", "moderate")
    rationale = ("operator clock, hosting mix and shared client fingerprints across every squad of the "
                 "operation, with the same lookup cadence and the same number blocks worked in order")
    page.fill("#label-attr-rationale", rationale)
    page.select_option("#label-tlp", "TLP:AMBER")
    page.click("#label-tag-select")
    page.keyboard.type("T0150.008")
    page.get_by_text("DISARM T0150.008 Bulk Created Asset").click()
    page.keyboard.press("Escape")
    page.fill("#label-tag-free", "browser-triage")
    page.fill("#label-comment-text", "asked the platform team for the device list")
    page.click("#label-submit")
    alert = page.wait_for_selector("#label-feedback .alert-success").inner_text()
    assert "Status set to In review" in alert and "Attributed to IS-TEST-IR" in alert and "Comment added" in alert
    current = page.locator("#label-current").inner_text()
    for shown in ("In review", "IS-TEST-IR (IR, moderate confidence)", "TLP:AMBER", "DISARM:T0150.008",
                  "browser-triage", "asked the platform team"):
        assert shown in current, shown
    assert "In review" in page.locator("#cluster-status-badge").inner_text()
    # what was saved is cleared or shows as it now stands
    assert page.input_value("#label-status-reason") == "" and page.input_value("#label-comment-text") == ""
    assert page.input_value("#label-attr-country") == "IR"
    actions = [e["action"] for e in _audit(squads_server, page, "cluster:C-iran")]
    assert sorted(actions) == sorted(["label.status", "label.attribution", "label.tag", "label.tag", "label.tag",
                                      "label.comment"])
    # the rationale wraps between words, never inside one ("fing erprints")
    words = page.evaluate(WORDS_ON_LINES, "#label-current .kv dd")
    assert any(word == "fingerprints" for word, _ in words)
    assert page.locator("#label-current .kv dd").last.bounding_box()["height"] > 40  # it does wrap
    assert [word for word, lines in words if lines > 1] == []
    _shot(page, "cluster-judgement-form")

    # another TLP marking replaces the old one; nothing else is written again
    page.select_option("#label-tlp", "TLP:RED")
    page.click("#label-submit")
    page.wait_for_selector("#label-feedback .alert-success >> text=Removed tag TLP:AMBER")
    chips = page.locator("#label-current .tag-chip").all_inner_texts()
    assert "TLP:RED" in chips and "TLP:AMBER" not in chips
    assert len(_audit(squads_server, page, "cluster:C-iran")) == len(actions) + 2

    # a country no one has is refused, with an error and no success left on screen; nothing written
    page.fill("#label-attr-country", "ZZ")
    page.click("#label-submit")
    error = page.wait_for_selector("#label-feedback .alert-danger").inner_text()
    assert "'ZZ' is not an ISO alpha-2 code" in error
    assert page.locator("#label-feedback .alert-success").count() == 0
    assert page.input_value("#label-attr-country") == "ZZ"
    assert len(_audit(squads_server, page, "cluster:C-iran")) == len(actions) + 2
    _close(page)


def test_a_failed_write_shows_an_error_not_the_previous_success(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.goto(f"{squads_server}/cluster/C-israel")
    page.wait_for_selector("#label-submit")
    _judge(page, fill={"#label-comment-text": "first note"})
    # refused by the form: a reason for a status that does not change
    page.fill("#label-status-reason", "still new")
    page.click("#label-submit")
    error = page.wait_for_selector("#label-feedback .alert-danger").inner_text()
    assert "Not saved" in error and "status is New already" in error
    assert page.locator("#label-feedback .alert-success").count() == 0
    # refused before reaching the form's code: the session ended elsewhere (signed out in another tab)
    other = page.context.new_page()
    other.goto(squads_server + "/")
    other.wait_for_selector("#sign-out")
    other.click("#sign-out")
    other.wait_for_url("**/login")
    page.fill("#label-status-reason", "")
    page.fill("#label-comment-text", "second note")
    page.click("#label-submit")
    error = page.wait_for_selector("#label-feedback .alert-danger >> text=signed out").inner_text()
    assert "Not saved" in error and "still in the form" in error
    assert page.locator("#label-feedback .alert-success").count() == 0
    assert page.input_value("#label-comment-text") == "second note"
    _close(page)


def test_bulk_status_on_the_selected_rows_of_the_queue(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-bulk-submit")
    page.fill("#queue-bulk-reason", "nothing selected")
    page.click("#queue-bulk-submit")
    assert "select the clusters first" in page.wait_for_selector("#queue-bulk-feedback .alert-danger").inner_text()
    for cluster_id in ("C-israel", "C-lone"):
        _queue_row(page, cluster_id).locator("input[type=checkbox]").check()
    page.select_option("#queue-bulk-status", "dismissed")
    page.fill("#queue-bulk-reason", "test rigs of the platform's own QA team")
    page.click("#queue-bulk-submit")
    said = page.wait_for_selector("#queue-bulk-feedback .alert-success").inner_text()
    assert "Set 2 clusters to Dismissed" in said
    page.wait_for_selector("#queue-table-rows tr >> text=Dismissed")
    assert "Dismissed" in _queue_row(page, "C-israel").inner_text()
    assert "Dismissed" in _queue_row(page, "C-lone").inner_text()
    assert "Dismissed" not in _queue_row(page, "C-iran").inner_text()
    for cluster_id in ("C-israel", "C-lone"):
        events = [e for e in _audit(squads_server, page, f"cluster:{cluster_id}") if e["action"] == "label.status"]
        assert events[-1]["after"] == {"status": "dismissed", "reason": "test rigs of the platform's own QA team"}
        assert events[-1]["user"] == "admin"
    _shot(page, "queue-bulk-status")
    _close(page)


def test_keyboard_moves_selects_decides_searches_and_helps(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.wait_for_selector("#queue-bulk-submit")
    page.keyboard.press("?")
    page.wait_for_selector("#keys-help >> text=Keyboard shortcuts")
    _shot(page, "keyboard-help")
    page.keyboard.press("Escape")
    page.wait_for_selector("#keys-help", state="detached")

    cursor = "#queue-table-rows tr.kbd-cursor td[data-dash-column=cluster]"
    page.keyboard.press("j")
    assert page.inner_text(cursor) == "C-iran"
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.inner_text(cursor) == "C-lone"
    page.keyboard.press("k")
    assert page.inner_text(cursor) == "C-israel"

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-input"
    page.keyboard.type("jkcd?")  # typing in a field types; no key fires
    assert page.input_value("#search-input") == "jkcd?"
    assert page.inner_text(cursor) == "C-israel" and page.locator("#keys-help").count() == 0
    page.evaluate("document.activeElement.blur()")

    page.keyboard.press("c")  # the cursor row is selected, "Confirmed" chosen, the cursor in the reason
    assert page.evaluate("document.activeElement.id") == "queue-bulk-reason"
    assert page.input_value("#queue-bulk-status") == "confirmed"
    assert _queue_row(page, "C-israel").locator("input[type=checkbox]").is_checked()
    page.keyboard.type("same residential prefix as the Iranian squads")
    page.keyboard.press("Enter")
    assert "Set 1 cluster to Confirmed" in page.wait_for_selector("#queue-bulk-feedback .alert-success").inner_text()
    page.wait_for_selector("#queue-table-rows tr >> text=Confirmed")

    page.keyboard.press("j")
    page.keyboard.press("Enter")  # opens the cluster under the cursor
    page.wait_for_selector("#cluster-header")
    cluster_id = page.inner_text("#cluster-header .mono")
    key, status, word = (("d", "dismissed", "Dismissed") if "Confirmed" in page.inner_text("#cluster-status-badge")
                         else ("c", "confirmed", "Confirmed"))
    page.keyboard.press(key)
    assert page.input_value("#label-status") == status
    assert page.evaluate("document.activeElement.id") == "label-status-reason"
    page.keyboard.type("decided from the keyboard")
    page.click("#label-submit")
    page.wait_for_selector("#label-feedback .alert-success")
    assert word in page.inner_text("#cluster-status-badge")
    page.keyboard.press("/")  # no search box here: the overview opens with the cursor in it
    page.wait_for_url("**/?focus=search")
    page.wait_for_selector("#search-input:focus")
    assert cluster_id == "C-lone"
    _close(page)


def _dash_call(page, base: str, output_id: str, clicked: str, state: dict[str, object]) -> object:
    """Post a Dash callback by hand, as a user who does not see its page could: the server must refuse."""
    dependencies = page.request.get(base + "/_dash-dependencies").json()
    dep = next(d for d in dependencies if f"{output_id}.children" in d["output"])
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in dep["output"].strip(".").split("...")]
    payload = {
        "output": dep["output"], "outputs": outputs,
        "inputs": [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == clicked else None}
                   for i in dep["inputs"]],
        "changedPropIds": [f"{clicked}.n_clicks"],
        "state": [{"id": s["id"], "property": s["property"], "value": state.get(s["id"])} for s in dep["state"]],
    }
    return page.request.post(base + "/_dash-update-component", data=json.dumps(payload),
                             headers={"Content-Type": "application/json"})


def test_admins_change_roles_disable_and_reset_passwords_others_cannot(browser, squads_server):  # noqa: F811
    page = _page(browser, squads_server, "admin", ADMIN_PASSWORD)
    page.goto(squads_server + "/users")
    page.fill("#users-name", "tess")
    page.select_option("#users-role", "analyst")
    page.fill("#users-password", "tess-first-pass")
    page.click("#users-submit")
    page.wait_for_selector("#users-feedback .alert-success")
    page.goto(squads_server + "/users")  # the new user is in the list to change
    page.wait_for_selector("#users-pick option[value=tess]", state="attached")
    page.select_option("#users-pick", "tess")
    page.select_option("#users-new-role", "viewer")
    page.click("#users-set-role")
    assert "tess is now viewer" in page.wait_for_selector("#users-change-feedback .alert-success").inner_text()
    row = page.locator("#users-table-rows tr", has_text="tess")
    assert "viewer" in row.inner_text() and "active" in row.inner_text()
    page.click("#users-disable")
    page.wait_for_selector("#users-change-feedback .alert-success >> text=disabled")
    assert "disabled" in page.locator("#users-table-rows tr", has_text="tess").inner_text()
    refused = browser.new_context().new_page()
    refused.goto(squads_server + "/login")
    refused.fill("#login-username", "tess")
    refused.fill("#login-password", "tess-first-pass")
    refused.click("#login-submit")
    assert "Wrong user name or password" in refused.inner_text("#login-error")
    refused.context.close()
    page.click("#users-enable")
    page.wait_for_selector("#users-change-feedback .alert-success >> text=enabled again")
    page.click("#users-reset-password")
    password = page.wait_for_selector("#users-reset-password-once").inner_text()
    assert len(password) >= 12 and password != "tess-first-pass"
    _shot(page, "users-admin")
    page.select_option("#users-pick", "admin")  # not on yourself: the last admin stays an admin
    page.click("#users-disable")
    assert "your own account" in page.wait_for_selector("#users-change-feedback .alert-danger").inner_text()
    changes = [e for e in _audit(squads_server, page, "user:tess") if e["action"].startswith("users.")]
    assert sorted(e["action"] for e in changes) == sorted(["users.add", "users.role", "users.disable",
                                                           "users.enable", "users.passwd"])
    assert {e["user"] for e in changes} == {"admin"}
    assert password not in json.dumps(changes)  # the new password is shown, never recorded

    # the new password works once given; tess, a viewer, sees no user admin and the server refuses her by hand
    tess = _page(browser, squads_server, "tess", password)
    tess.goto(squads_server + "/users")
    tess.wait_for_selector("#_pages_content >> text=Only admins manage users")
    reply = _dash_call(tess, squads_server, "users-change-feedback", "users-disable", {"users-pick": "admin"})
    assert reply.ok and "Only admins manage users" in reply.text()
    reply = _dash_call(tess, squads_server, "users-feedback", "users-submit",
                       {"users-name": "mallory", "users-role": "admin", "users-password": "mallory-pass"})
    assert reply.ok and "Only admins manage users" in reply.text()
    page.goto(squads_server + "/users")
    table = page.wait_for_selector("#users-table-rows").inner_text()
    assert "mallory" not in table
    assert "disabled" not in page.locator("#users-table-rows tr", has_text="admin").first.inner_text()
    _close(tess)
    _close(page)
