"""What ties several clusters into one operation, in the briefing's words.

Analysts brief clusters together when they judge them one operation; the
briefing has to say why. The measures are the compare page's
(:func:`app.overlap.measure`): shared addresses, networks, autonomous
systems and devices, overlapping target lists, and how alike the clusters'
weekly rhythms are (cosine of their hour-of-week profiles).
"""

from __future__ import annotations

from app.brief.words import counted, list_names
from app.overlap import measure
from graph.store.base import GraphStore

__all__ = ["SYNCHRONIZED", "operation_ties"]

#: rhythm similarity from which two clusters' working hours read as synchronized
SYNCHRONIZED = 0.8
_NOUNS = {"ip": ("IP address", "IP addresses"), "prefix": ("network (/24, /48)", "networks (/24, /48)"),
          "asn": ("autonomous system", "autonomous systems"), "device": ("device", "devices")}


def operation_ties(cursor: object, store: GraphStore, clusters: list[dict], run_id: str) -> dict | None:
    """The ties between ``clusters`` (rows of run ``run_id``), or ``None`` for a single cluster.

    Returns ``shared`` (kind to how many distinct ones two or more clusters
    used), ``examples`` (the most used of them), ``pairs`` (each pair's shared
    counts, ``numbers_shared``, ``jaccard`` and ``rhythm_similarity``) and
    ``sentences``, the ties in words, strongest evidence first.
    """
    if len(clusters) < 2:
        return None
    comparison = measure(cursor, store, [c | {"run_id": run_id} for c in clusters])
    shared = dict.fromkeys(_NOUNS, 0)
    for row in comparison.shared_infrastructure:
        shared[row["kind"]] += 1
    sentences = []
    infra = [counted(n, *_NOUNS[kind]) for kind, n in shared.items() if n]
    if infra:
        sentences.append("The clusters share " + list_names(infra) + " (each used by two or more of them).")
    common = sum(row["numbers"] for row in comparison.shared_numbers)
    if common:
        best = max(comparison.pairs, key=lambda p: p["jaccard"])
        sentences.append(f"They looked up {counted(common, 'phone number')} in common; the closest pair's target "
                         f"lists overlap {best['jaccard']:.0%} (shared numbers over all numbers either looked up).")
    synchronized = [p for p in comparison.pairs if p["rhythm_similarity"] >= SYNCHRONIZED]
    if synchronized:
        sentences.append(f"{counted(len(synchronized), 'pair')} of {len(comparison.pairs)} kept the same hours of the "
                         f"week (rhythm similarity {SYNCHRONIZED:.1f} or more on a scale of 0 to 1): synchronized timing.")
    if not sentences:
        sentences.append("The clusters share no infrastructure, numbers or working hours that the events show: "
                         "what ties them is the analysts' judgement alone.")
    return {"shared": shared, "examples": comparison.shared_infrastructure[:12], "pairs": comparison.pairs,
            "numbers_in_common": common, "sentences": sentences}

