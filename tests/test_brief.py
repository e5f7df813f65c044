"""Briefings on the triaged sample case: HTML, Markdown and PDF, their facts, markings and privacy."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import in_ci
from exportcase import ACTOR, raw_digit_runs
from ingestcase import run_cli

from app.brief import brief, collect_briefing, pdf_to_png, render_text
from graph import warehouse
from graph.detect.tradecraft import TRADECRAFTS
from graph.store import open_store


@pytest.fixture(scope="module")
def opened(sample_case):
    workspace = sample_case.workspace()
    store = open_store(workspace)
    yield workspace, store
    store.close()
    warehouse.close_all()


def test_facts_agree_with_the_store_and_the_events(opened, sample_case):
    workspace, store = opened
    facts = collect_briefing(workspace, store, [sample_case.state_cluster])
    cluster = next(c for c in store.clusters() if c["cluster_id"] == sample_case.state_cluster)
    members = [m["account_id"] for m in store.members(sample_case.state_cluster)]
    assert facts.scale["accounts"] == cluster["size"] == len(members)
    cursor = warehouse.connect(workspace.db_path)
    requests, lookups = cursor.execute(
        "SELECT count(*), count(phone_hash) FROM events WHERE account_id IN (SELECT unnest($ids))", {"ids": members}
    ).fetchone()
    cursor.close()
    assert (facts.scale["requests"], facts.scale["lookups"]) == (requests, lookups)
    assert sum(row["requests"] for row in facts.timeline) == requests
    assert facts.reproduce["data_fingerprint"] == store.latest_run()["data_fingerprint"]
    assert facts.tlp == "TLP:AMBER"  # no TLP tag on this cluster: the default
    clock = (cluster.get("attribution") or {}).get("utc_offset") or {}
    assert facts.utc_offset is not None and facts.utc_offset == clock.get("offset_hours")  # local-time axis
    tradecraft = facts.tradecraft
    assert tradecraft["sharding"] in ("by_number", "by_block", "none")
    assert 0 <= tradecraft["single_account_number_share"] <= 1


def test_estimative_language_follows_the_recorded_confidence(opened, sample_case):
    workspace, store = opened
    attributed = collect_briefing(workspace, store, [sample_case.state_cluster])
    texts = " ".join(k["text"] for k in attributed.key_judgements)
    assert f"We assess with moderate confidence that {ACTOR}" in texts
    other = collect_briefing(workspace, store, [sample_case.strict_cluster])
    lone = [k for k in other.key_judgements if "automated signals" in k["text"]]
    assert lone and lone[0]["confidence"] == "low"
    assert other.tlp == "TLP:AMBER+STRICT"


def test_html_and_markdown_hold_the_sections_and_no_phone_number(opened, sample_case, tmp_path):
    workspace, store = opened
    for suffix in ("html", "md"):
        path = brief(workspace, store, [sample_case.state_cluster], tmp_path / f"b.{suffix}", user="tester",
                     include_notes=True)
        text = path.read_text(encoding="utf-8")
        for heading in ("Key judgements", "Scale", "Timeline", "Infrastructure", "Tradecraft", "Attribution",
                        "Exposure", "How we detected it", "Indicators", "Reproducing"):
            assert heading in text, f"{suffix} lacks {heading}"
        assert text.count("data:image/png;base64,") >= 4
        assert "TLP:AMBER" in text and ACTOR in text
        assert not raw_digit_runs(text) & sample_case.raw_digits
        masked = "[phone number removed]" if suffix == "html" else r"\[phone number removed\]"  # Markdown-escaped
        assert masked in text  # the number typed into a comment is masked
    events = [e for e in store.audit_events() if e["action"] == "brief"]
    assert {e["after"]["format"] for e in events} >= {"html", "md"}


def test_a_custom_template_is_used(opened, sample_case, tmp_path):
    workspace, store = opened
    template = tmp_path / "mine.md.j2"
    template.write_text("{{ tlp }} | {{ b.subject }} | {{ b.scale.accounts }}\n", encoding="utf-8")
    path = brief(workspace, store, [sample_case.state_cluster], tmp_path / "b.md", template=template)
    assert path.read_text(encoding="utf-8") == f"TLP:AMBER | {ACTOR} | {len(store.members(sample_case.state_cluster))}\n"


def test_redacted_briefing_names_no_account(opened, sample_case, tmp_path):
    workspace, store = opened
    path = brief(workspace, store, [sample_case.state_cluster], tmp_path / "r.md", redact=True)
    words = set(re.findall(r"[\w.\-]+", path.read_text(encoding="utf-8")))
    assert not words & sample_case.account_ids


def test_cli_brief_picks_the_format_from_the_suffix(sample_case, tmp_path):
    code, _, err = run_cli("--workspace", str(sample_case.root), "brief", sample_case.state_cluster,
                           "--out", str(tmp_path / "x.md"), "--tlp", "tlp:red")
    assert code == 0, err
    assert (tmp_path / "x.md").read_text(encoding="utf-8").startswith("**TLP:RED**")
    code, _, err = run_cli("--workspace", str(sample_case.root), "brief", sample_case.state_cluster,
                           "--out", str(tmp_path / "x.txt"))
    assert code != 0 and ".pdf" in err


@pytest.mark.slow
def test_pdf_renders_with_the_marking_on_every_page(opened, sample_case, tmp_path):
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        message = "pdftoppm/pdftotext (poppler-utils) are needed to check the PDF"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    workspace, store = opened
    pdf = brief(workspace, store, [sample_case.strict_cluster], tmp_path / "b.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = pdf_to_png(pdf, tmp_path / "png", dpi=40)
    assert len(pages) >= 2 and all(p.stat().st_size > 1000 for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    sheets = text.split("\f")
    sheets = [s for s in sheets if s.strip()]
    assert len(sheets) == len(pages)
    assert all("TLP:AMBER+STRICT" in sheet for sheet in sheets)
    assert not raw_digit_runs(text) & sample_case.raw_digits


def test_the_briefing_says_what_the_ui_says(opened, sample_case):
    workspace, store = opened
    facts = collect_briefing(workspace, store, [sample_case.state_cluster])
    cluster = next(c for c in store.clusters() if c["cluster_id"] == sample_case.state_cluster)
    exposure = cluster["exposure"]
    assert facts.scale["accounts_exposed"] == exposure["exposed_accounts"]  # one count, self-matches left out
    assert facts.scale["numbers_matched"] == exposure["numbers_matched"]
    assert facts.clusters[0]["tradecraft"] in TRADECRAFTS and facts.clusters[0]["headline"]
    assert facts.clock and facts.clock["confidence"] in ("strong", "moderate", "weak")
    text = render_text(facts, "md")
    assert "Monday to Friday" not in text and "log-odds" in text
    prose = re.sub(r"data:[^)\"\s]+", "", text)  # the figures' base64 may hold any letters
    assert not re.search(r"\d[eE][-+]\d", prose), re.search(r".{60}\d[eE][-+]\d.{20}", prose)
