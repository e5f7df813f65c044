"""One briefing on several clusters as one operation, and the CLI's editions and notes."""

from __future__ import annotations

from ingestcase import run_cli

from app.brief import collect_briefing
from app.web.queries.compare import compare_clusters
from graph import warehouse
from graph.store import open_store


def test_brief_on_several_clusters_says_what_ties_them_as_the_compare_page_does(sample_case, tmp_path):
    workspace = sample_case.workspace()
    store = open_store(workspace)
    try:
        ids = [c["cluster_id"] for c in sorted(store.clusters(), key=lambda c: c["cluster_id"])][:3]
        facts = collect_briefing(workspace, store, ids)
        single = collect_briefing(workspace, store, ids[:1])
        con = warehouse.connect(workspace.db_path)
        try:
            comparison = compare_clusters(con, store, ids)
        finally:
            con.close()
    finally:
        store.close()
        warehouse.close_all()
    assert single.ties is None
    ties = facts.ties
    assert ties["numbers_in_common"] == sum(row["numbers"] for row in comparison.shared_numbers)
    assert sum(ties["shared"].values()) == len(comparison.shared_infrastructure)
    assert ties["pairs"] == comparison.pairs and ties["sentences"]
    assert facts.scale["accounts"] == sum(c["size"] for c in comparison.clusters)

    code, out, err = run_cli("--workspace", str(sample_case.root), "brief", *ids, "--out", str(tmp_path / "op.md"))
    assert code == 0, err
    text = (tmp_path / "op.md").read_text(encoding="utf-8")
    assert "What ties these clusters" in text and "3 clusters" in text
    assert all(cid in text for cid in ids) and ties["sentences"][0].split(";")[0][:40] in text
    assert list(tmp_path.iterdir()) == [tmp_path / "op.md"]  # one briefing, not one a cluster


def test_cli_editions_and_notes(sample_case, tmp_path):
    base = ("--workspace", str(sample_case.root), "brief", sample_case.state_cluster)
    code, _, err = run_cli(*base, "--out", str(tmp_path / "full.md"))
    assert code == 0, err
    code, _, err = run_cli(*base, "--out", str(tmp_path / "notes.md"), "--include-notes")
    assert code == 0, err
    code, _, err = run_cli(*base, "--out", str(tmp_path / "public.md"), "--edition", "public", "--include-notes")
    assert code == 0, err
    full, notes, public = ((tmp_path / f"{n}.md").read_text(encoding="utf-8") for n in ("full", "notes", "public"))
    assert sample_case.state_cluster in full and "Analyst notes" not in full and "Analyst notes" in notes
    assert sample_case.state_cluster not in public and "Analyst notes" not in public and "public edition" in public
    code, _, err = run_cli(*base, "--out", str(tmp_path / "x.md"), "--edition", "press")
    assert code != 0 and "press" in err

    workspace = sample_case.workspace()
    store = open_store(workspace)
    try:
        events = [e for e in store.audit_events() if e["action"] == "brief"]
    finally:
        store.close()
        warehouse.close_all()
    assert {(e["after"]["edition"], e["after"]["notes"]) for e in events if "edition" in e["after"]} >= {
        ("full", False), ("full", True), ("public", True)}
