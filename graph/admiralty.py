"""Admiralty grades: how reliable the source of a judgement is, and how credible its information.

The Admiralty (NATO) system grades a judgement twice, independently: the
source's reliability from ``A`` (completely reliable) to ``F`` (cannot be
judged) and the information's credibility from ``1`` (confirmed by other
sources) to ``6`` (truth cannot be judged). Analysts grade their status and
attribution labels so that a reader downstream weighs "confirmed, B2" and
"confirmed, E5" differently. Grades are optional: labels written before
grading existed, or without grades, keep working and are simply ungraded.

Exports carry them in the vocabulary of each tool: MISP's
``admiralty-scale`` taxonomy tags, and STIX ``confidence`` by the STIX 2.1
specification's own Admiralty Credibility scale (appendix "Confidence
Scales"), which maps only the information credibility: 1 → 90, 2 → 70,
3 → 50, 4 → 30, 5 → 10, and 6 (cannot be judged) → no confidence at all.
"""

from __future__ import annotations

__all__ = ["RELIABILITY", "CREDIBILITY", "grades", "grading", "stix_confidence", "misp_tags"]

RELIABILITY = {
    "A": "completely reliable",
    "B": "usually reliable",
    "C": "fairly reliable",
    "D": "not usually reliable",
    "E": "unreliable",
    "F": "reliability cannot be judged",
}
CREDIBILITY = {
    "1": "confirmed by other sources",
    "2": "probably true",
    "3": "possibly true",
    "4": "doubtful",
    "5": "improbable",
    "6": "truth cannot be judged",
}
_STIX_CONFIDENCE = {"1": 90, "2": 70, "3": 50, "4": 30, "5": 10}


def grades(reliability: object = None, credibility: object = None) -> dict[str, str]:
    """The grades to store on a label, checked: ``{}`` when ungraded.

    Either grade may be given alone; an empty one is left out. ``ValueError``
    names what is allowed.

    Examples
    --------
    >>> grades("b", 2)
    {'reliability': 'B', 'credibility': '2'}
    >>> grades(None, "")
    {}
    """
    found: dict[str, str] = {}
    letter = str(reliability or "").strip().upper()
    if letter:
        if letter not in RELIABILITY:
            raise ValueError(f"source reliability must be one of {', '.join(RELIABILITY)}, not {letter!r}")
        found["reliability"] = letter
    digit = str(credibility if credibility is not None else "").strip()
    if digit:
        if digit not in CREDIBILITY:
            raise ValueError(f"information credibility must be one of {', '.join(CREDIBILITY)}, not {digit!r}")
        found["credibility"] = digit
    return found


def grading(details: object) -> str:
    """The compact Admiralty notation of a label's grades (``B2``, ``B``, ``2``), ``""`` when ungraded."""
    details = details if isinstance(details, dict) else {}
    return f"{details.get('reliability') or ''}{details.get('credibility') or ''}"


def stix_confidence(details: object) -> int | None:
    """STIX ``confidence`` of a graded label (its credibility, STIX 2.1's Admiralty scale); ``None`` if none."""
    details = details if isinstance(details, dict) else {}
    return _STIX_CONFIDENCE.get(str(details.get("credibility") or ""))


def misp_tags(details: object) -> list[str]:
    """The MISP ``admiralty-scale`` taxonomy tags of a label's grades.

    Examples
    --------
    >>> misp_tags({"reliability": "B", "credibility": "2"})
    ['admiralty-scale:source-reliability="b"', 'admiralty-scale:information-credibility="2"']
    """
    details = details if isinstance(details, dict) else {}
    tags = []
    if details.get("reliability"):
        tags.append(f'admiralty-scale:source-reliability="{str(details["reliability"]).lower()}"')
    if details.get("credibility"):
        tags.append(f'admiralty-scale:information-credibility="{details["credibility"]}"')
    return tags
