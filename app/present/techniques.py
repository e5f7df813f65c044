"""Techniques of public frameworks, and the ones a cluster's evidence suggests.

The ids and names come from one pinned data file, ``techniques.json`` beside
this module: DISARM Red v1.6 (disinformation creators' techniques, DISARM
Foundation, CC BY-SA 4.0) and Stripe's FT3 v1 (fraud tactics and techniques,
MIT), each with its version, source commit, URL and licence. Nothing here
types an id by hand except the few the evidence maps to, and a test checks
those against the file, so a technique the frameworks never published cannot
be suggested.

A technique travels as a machine tag ``FRAMEWORK:ID`` (``DISARM:T0150.008``,
``FT3:FT027``): the same analyst tag the triage form, ``sybilscope label
--tag``, the queue's tag filter and the exports already read. What the
evidence suggests is only a suggestion: the analyst accepts, removes or adds
tags, and only tags become attack patterns in exports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from graph.detect.tradecraft import evident_tradecrafts

__all__ = ["TECHNIQUES_OF_TRADECRAFT", "Technique", "Suggestion", "frameworks", "techniques", "technique_of_tag", "suggest_techniques"]

_DATA = Path(__file__).with_name("techniques.json")


@dataclass(frozen=True)
class Technique:
    """One technique of a framework, and the tag that names it on a cluster."""

    framework: str
    id: str
    name: str
    tactic: str
    url: str

    @property
    def tag(self) -> str:
        return f"{self.framework}:{self.id}"


@dataclass(frozen=True)
class Suggestion:
    """A technique the evidence suggests, and the evidence that suggests it (in the analyst's words)."""

    technique: Technique
    because: str


@cache
def frameworks() -> dict[str, dict]:
    """Each framework's facts (name, version, publisher, url, source, licence), without its techniques."""
    data = json.loads(_DATA.read_text(encoding="utf-8"))["frameworks"]
    return {key: {k: v for k, v in framework.items() if k != "techniques"} for key, framework in data.items()}


@cache
def techniques() -> dict[str, Technique]:
    """Every technique of the pinned frameworks, by tag (``DISARM:T0150.008``), in the file's order."""
    data = json.loads(_DATA.read_text(encoding="utf-8"))["frameworks"]
    found: dict[str, Technique] = {}
    for key, framework in data.items():
        for row in framework["techniques"]:
            item = Technique(key, row["id"], row["name"], row.get("tactic") or "", row.get("url") or framework["url"])
            found[item.tag] = item
    return found


def technique_of_tag(tag: str) -> Technique | None:
    """The technique a tag names (any case of the framework prefix), ``None`` for any other tag."""
    framework, _, tid = tag.strip().partition(":")
    return techniques().get(f"{framework.upper()}:{tid.upper()}")


#: what each tradecraft the evidence shows (graph.detect.tradecraft) is evidence of;
#: a test checks every tag against the pinned file
TECHNIQUES_OF_TRADECRAFT: dict[str, tuple[str, ...]] = {
    "sign-up cohort": ("DISARM:T0150.008", "DISARM:T0150.001", "FT3:FT010"),
    "scheduled operation": ("DISARM:T0146.007",),
    "emulator farm": ("DISARM:T0146.007",),
    "hosting farm": ("DISARM:T0149.005", "DISARM:T0149.006", "FT3:FT007.005"),
    "residential-proxy network": ("DISARM:T0149.008",),
    "volume through a few IPs": ("DISARM:T0149.006",),
    "lone enumerator": ("FT3:FT027",),
    "divided enumeration": ("FT3:FT027",),
    "enumeration network": ("FT3:FT027",),
    "target-list unmasking": ("FT3:FT027",),
}


def suggest_techniques(cluster: Mapping) -> list[Suggestion]:
    """The techniques a stored cluster's evidence suggests, each once, with the evidence behind it.

    Parameters
    ----------
    cluster : mapping
        A stored cluster row (:meth:`GraphStore.clusters`): its
        ``evidence.statistics`` (the features detection recorded) are read;
        a feature an older run lacks only keeps its rule from firing.

    Returns
    -------
    list of Suggestion
        In the order of :func:`~graph.detect.tradecraft.evident_tradecrafts`
        (most distinctive first); ``because`` is the first tradecraft that
        suggests the technique, with its headline.

    Examples
    --------
    >>> [s.technique.tag for s in suggest_techniques({"evidence": {"statistics": {"size": 1, "enumerated_share": 0.9}}})]
    ['FT3:FT027']
    """
    evidence = cluster.get("evidence")
    features = evidence.get("statistics") if isinstance(evidence, Mapping) else None
    if not isinstance(features, Mapping):
        return []
    known = techniques()
    found: dict[str, Suggestion] = {}
    for name, headline in evident_tradecrafts(features).items():
        for tag in TECHNIQUES_OF_TRADECRAFT.get(name, ()):
            found.setdefault(tag, Suggestion(known[tag], f"{name}: {headline}"))
    return list(found.values())
