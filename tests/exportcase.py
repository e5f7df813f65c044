"""The sample case ingested, detected and triaged, for the export and briefing tests.

Built the way a user builds it (``sybilscope ingest`` and ``detect`` on
``sample_data/case``), then judged through :mod:`graph.triage`: the largest
cluster of a state-linked campaign is confirmed and attributed, another is
marked ``TLP:AMBER+STRICT``, and analyst free text names an account id and
types a raw phone number, so redaction and phone scrubbing have something
to miss. :class:`Sample` keeps the raw numbers, account ids and handles of
the input so tests can scan every output for them.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingestcase import run_cli, seed_secret

from graph import triage, warehouse
from graph.store import open_store
from graph.workspace import Workspace
from ingest.simulate.scenario import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CASE = ROOT / "sample_data" / "case"
SAMPLE_TRUTH = ROOT / "sample_data" / "truth.json"
ACTOR = "IRN-LOOKUP-1"
_PHONE_LIKE = re.compile(r"\+?\d[\d \-().]{5,20}\d")


@dataclass
class Sample:
    """The triaged sample workspace and the input facts outputs are checked against."""

    root: Path
    state_cluster: str
    strict_cluster: str
    raw_digits: set[str] = field(default_factory=set)
    account_ids: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    typed_phone: str = ""

    def workspace(self) -> Workspace:
        return Workspace.open(self.root)


def largest_state_linked(clusters: list[dict], members: dict[str, list[str]], truth: dict) -> str:
    """The biggest cluster most of whose members belong to one state-linked campaign of the truth."""
    campaigns = truth["campaigns"]
    state_linked = {name for name in SCENARIOS["state-linked"].campaigns if name in campaigns}
    best = None
    for cluster in clusters:
        ids = members[cluster["cluster_id"]]
        for name in state_linked:
            share = len(set(ids) & set(campaigns[name]["accounts"])) / max(1, len(ids))
            if share > 0.5 and (best is None or cluster["size"] > best["size"]):
                best = cluster
    if best is None:
        raise AssertionError("no detected cluster matches a state-linked campaign of the sample")
    return best["cluster_id"]


def raw_digit_runs(text: str) -> set[str]:
    """Every phone-shaped run in ``text``, reduced to its digits (to compare with the input's numbers)."""
    return {re.sub(r"\D", "", m.group()) for m in _PHONE_LIKE.finditer(text)}


def _input_facts(sample: Sample) -> None:
    with gzip.open(SAMPLE_CASE / "requests.csv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["phone"]:
                sample.raw_digits.add(row["phone"].lstrip("+"))
            for key in ("account_id", "matched_account_id"):
                if row[key]:
                    sample.account_ids.add(row[key])
    with gzip.open(SAMPLE_CASE / "accounts.csv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            sample.account_ids.add(row["account_id"])
            if row["handle"]:
                sample.handles.add(row["handle"])


def build_sample(root: Path) -> Sample:
    """Ingest, detect and triage the sample case in ``root``; returns what tests compare with."""
    seed_secret(root)
    for args in (("ingest", str(SAMPLE_CASE)), ("detect",)):
        code, out, err = run_cli("--workspace", str(root), *args)
        assert code == 0, f"sybilscope {args[0]} failed:\n{out}\n{err}"
    workspace = Workspace.open(root)
    store = open_store(workspace)
    try:
        clusters = store.clusters()
        members = {c["cluster_id"]: [m["account_id"] for m in store.members(c["cluster_id"])] for c in clusters}
        truth = json.loads(SAMPLE_TRUTH.read_text(encoding="utf-8"))
        state = largest_state_linked(clusters, members, truth)
        strict = next(c["cluster_id"] for c in clusters if c["cluster_id"] != state and c["score"] >= 0.5)
        sample = Sample(root, state, strict)
        _input_facts(sample)
        typed = sorted(sample.raw_digits)[0]
        sample.typed_phone = f"+{typed[:2]} {typed[2:5]} {typed[5:]}"
        seed = members[state][0]
        triage.set_status(store, state, "confirmed", "office-hours enumeration from shared hosting", "alice")
        triage.set_attribution(
            store, "cluster", state, actor=ACTOR, country="IR", confidence="moderate",
            rationale=f"Iran Standard Time working week and Iranian hosting, as with {seed}'s earlier network",
            user="alice",
        )
        triage.add_comment(store, "cluster", state, f"{seed} looked up {sample.typed_phone} twice", "bob")
        triage.set_status(store, strict, "in_review", "checking with the regional team", "bob")
        triage.add_tag(store, "cluster", strict, "TLP:AMBER+STRICT", "bob")
    finally:
        store.close()
        warehouse.close_all()
    return sample
