"""Every sample cluster's briefing, in both editions and all three formats, says one thing.

One exposure figure with the UI and the exports, a clock that agrees with
the attribution, no local path, ICD 203's estimative language, plurals and
statuses in words, and the analysts' notes only when asked.
"""

from __future__ import annotations

import re

import pytest
from exportcase import ACTOR

from app.brief import collect_briefing, pdf_text, render_text, write_briefing
from app.brief.estimative import estimative_problems
from app.export import Filters, read_content
from app.present.clock import country_offsets
from app.present.evidence import exposed_accounts
from app.present.quantities import utc_label
from graph import warehouse
from graph.store import open_store

EDITIONS = ("full", "public")


@pytest.fixture(scope="module")
def briefings(sample_case, tmp_path_factory):
    """(cluster row, edition, facts, {format: text}) for every sample cluster and edition."""
    workspace = sample_case.workspace()
    store = open_store(workspace)
    out = tmp_path_factory.mktemp("briefings")
    found = []
    try:
        for cluster in store.clusters():
            for edition in EDITIONS:
                facts = collect_briefing(workspace, store, [cluster["cluster_id"]], edition_name=edition)
                texts = {fmt: render_text(facts, fmt) for fmt in ("html", "md")}
                pdf = write_briefing(facts, out / f"{cluster['cluster_id']}-{edition}.pdf")
                texts["pdf"] = "\n".join(pdf_text(pdf))
                found.append((cluster, edition, facts, texts))
        yield found
    finally:
        store.close()
        warehouse.close_all()


def prose(text: str) -> str:
    """What a reader reads: no markup, styles or embedded images."""
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", text, flags=re.DOTALL)
    return re.sub(r"data:[^)\"\s]+", "", text)


def test_every_briefing_keeps_to_the_icd_203_scale(briefings):
    assert len(briefings) == 2 * len({c["cluster_id"] for c, *_ in briefings}) >= 10
    for cluster, edition, _, texts in briefings:
        for fmt, text in texts.items():
            problems = estimative_problems(prose(text))
            assert not problems, f"{cluster['cluster_id']} {edition} {fmt}: {problems}"


def test_the_icd_check_catches_what_it_should():
    assert estimative_problems("We assess with moderate confidence that the operator is very likely Iranian.")
    assert estimative_problems("The accounts were probably created in one batch.")
    assert not estimative_problems("It is very unlikely that address books produce this pattern.")


def test_exposure_is_one_figure_in_the_briefing_the_ui_and_the_exports(briefings, sample_case):
    workspace = sample_case.workspace()
    store = open_store(workspace)
    try:
        for cluster, edition, facts, texts in briefings:
            exported = read_content(workspace, store, Filters(cluster_ids=(cluster["cluster_id"],)))
            exposure = exported.tables["cluster_details"][0]["exposure"]
            assert facts.scale["accounts_exposed"] == exposed_accounts(cluster["exposure"]) == exposed_accounts(exposure)
            assert facts.scale["numbers_matched"] == cluster["exposure"]["numbers_matched"]
            assert sum(row["accounts"] for row in facts.exposure) >= facts.scale["accounts_exposed"] > 0
            shown = f"{facts.scale['numbers_matched']:,}"
            assert all(shown in prose(text) for text in texts.values()), (cluster["cluster_id"], edition)
    finally:
        store.close()


def test_the_clock_never_disagrees_with_the_attribution(briefings):
    attributed = 0
    for cluster, _, facts, texts in briefings:
        for a in facts.attribution:
            if not a.get("country") or facts.clock is None:
                continue
            attributed += 1
            allowed = country_offsets(a["country"], cluster.get("first_seen"))
            assert facts.clock["offset_hours"] in allowed
            for text in texts.values():
                said = set(re.findall(r"UTC[+-]\d{1,2}(?::\d\d)?", prose(text)))
                assert said <= {utc_label(o) for o in allowed}, (cluster["cluster_id"], said)
    assert attributed >= 2  # the attributed cluster, in both editions


def test_no_local_path_leaves_the_machine(briefings, sample_case):
    root = sample_case.root.resolve()
    for cluster, edition, facts, texts in briefings:
        assert facts.reproduce["workspace"] == root.name
        for fmt, text in texts.items():
            assert str(root.parent) not in text and "/tmp/" not in text, (cluster["cluster_id"], edition, fmt)
            if edition == "full" and fmt != "pdf":  # the PDF may break the name across a line
                assert root.name in text


def test_plurals_statuses_and_glossary_read_as_prose(briefings):
    for cluster, _, _, texts in briefings:
        for fmt, text in texts.items():
            words = prose(text)
            assert not re.search(r"\b1 (?:accounts|clusters|devices|blocks|requests|IP addresses|networks)\b", words)
            assert "(s)" not in words and "in_review" not in words and "IP addresss" not in words
            assert "Glossary" in words and "Sharding" in words and "Hit ratio" in words, (cluster["cluster_id"], fmt)


def test_public_edition_names_no_one_and_prints_no_hashed_id(briefings, sample_case):
    for cluster, edition, facts, texts in briefings:
        if edition != "public":
            continue
        ids = {cluster["cluster_id"], facts.reproduce["run_id"], facts.reproduce["data_fingerprint"]}
        for fmt, text in texts.items():
            words = set(re.findall(r"[\w.\-]+", prose(text)))
            assert not words & sample_case.account_ids, fmt
            assert not any(i and i in text for i in ids), fmt
            assert "acct_" not in text and "Enumerated number blocks" not in text and "Indicators" not in text
            assert not re.search(r"\b[0-9a-f]{10}…", text)  # shortened block hashes
            assert not any(ip["ip"] in text for ip in facts.top_ips)
        assert "Key judgements" in texts["html"] and texts["html"].count("data:image/png;base64,") >= 4


def test_analysts_notes_only_when_asked(sample_case):
    workspace = sample_case.workspace()
    store = open_store(workspace)
    try:
        plain = render_text(collect_briefing(workspace, store, [sample_case.state_cluster]), "md")
        noted = render_text(collect_briefing(workspace, store, [sample_case.state_cluster], include_notes=True), "md")
        public = render_text(collect_briefing(workspace, store, [sample_case.state_cluster], edition_name="public",
                                              include_notes=True), "md")
    finally:
        store.close()
    assert "Analyst notes" in noted and "looked up" in noted.split("Analyst notes")[1]
    assert "Analyst notes" not in plain and "Analyst notes" not in public
    assert ACTOR in public  # the key judgement on attribution stays


def test_docs_examples_hold_both_editions_rendered_to_png_pages():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "docs" / "examples"
    for stem in ("briefing-state-linked", "briefing-state-linked-public"):
        pages = sorted((examples / "pages").glob(f"{stem}-[0-9]*.png"))
        assert len(pages) >= 3 and all(p.read_bytes().startswith(b"\x89PNG") for p in pages), stem
        assert (examples / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    full = (examples / "briefing-state-linked.md").read_text(encoding="utf-8")
    public = (examples / "briefing-state-linked-public.md").read_text(encoding="utf-8")
    assert "Glossary" in full and "Indicators" in full and "Analyst notes" in full
    assert "Glossary" in public and not re.search(r"\bC-[0-9a-f]{6,}", public) and "Indicators" not in public
    assert not estimative_problems(prose(full)) and not estimative_problems(prose(public))
