"""The two editions of a briefing: ``full`` for the trust-and-safety team, ``public`` for journalists and policy.

The public edition keeps the key judgements, the figures and the prose and
leaves out what identifies anyone or only an investigator can use: account
ids are pseudonymized by the export's redaction (:mod:`app.export.redact`)
and the pseudonyms then dropped from the text, hashed ids (cluster, run,
block, device and data fingerprints) are not printed, and neither are the
evidence and block tables, the IP addresses or the analysts' notes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.export.redact import PSEUDONYM_PREFIX, Redactor
from graph.schema import ACCOUNT
from graph.store.base import GraphStore
from graph.workspace import Workspace

__all__ = ["EDITIONS", "cleaner", "cluster_label"]

EDITIONS = ("full", "public")
_PSEUDONYM = re.compile(re.escape(PSEUDONYM_PREFIX) + r"[0-9a-f]+")


def cleaner(edition: str, workspace: Workspace, store: GraphStore, members: dict[str, str],
            redact: bool) -> Callable[[object], object]:
    """What free text goes through before a template prints it, after phone numbers are masked.

    ``full``: account ids pseudonymized when ``redact`` (the members'
    only, as the briefing names no one else). ``public``: every account id
    the store knows pseudonymized as a redacted export does, then each
    pseudonym written as "an account".
    """
    if edition not in EDITIONS:
        raise ValueError(f"unknown briefing edition {edition!r}: use {' or '.join(EDITIONS)}")
    if edition == "full":
        redactor = Redactor(workspace.secret(), members) if redact else None
        return redactor.value if redactor else (lambda value: value)
    everyone = Redactor(workspace.secret(), [*members, *(node["account_id"] for batch in store.iter_nodes(ACCOUNT)
                                                         for node in batch)])

    def public(value: object) -> object:
        value = everyone.value(value)
        if isinstance(value, str):
            return _PSEUDONYM.sub("an account", value)
        if isinstance(value, list):
            return [public(v) for v in value]
        if isinstance(value, dict):
            return {k: public(v) for k, v in value.items()}
        return value

    return public


def cluster_label(edition: str, cluster_id: str, index: int) -> str:
    """How the briefing names a cluster: its id, or in the public edition its rank ("#1")."""
    return cluster_id if edition == "full" else f"#{index + 1}"
