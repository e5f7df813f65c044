"""Agreement between a detection and the truth: flagged-account F1, ARI and NMI.

The quality benchmark and the choice of clustering method both need to say
how close a partition is to a known one. These are the textbook measures,
written out here so that sybilscope does not pull in a machine-learning
library for three formulas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Mapping

import numpy as np

__all__ = ["precision_recall_f1", "adjusted_rand_index", "normalized_mutual_information"]


def precision_recall_f1(predicted: Collection[Hashable], actual: Collection[Hashable]) -> tuple[float, float, float]:
    """Precision, recall and F1 of a predicted set against the true set.

    Examples
    --------
    >>> precision_recall_f1({"a", "b"}, {"b", "c"})
    (0.5, 0.5, 0.5)

    Notes
    -----
    An empty prediction has precision 1 (it claimed nothing false); an empty
    truth has recall 1.
    """
    predicted, actual = set(predicted), set(actual)
    hits = len(predicted & actual)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(actual) if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _contingency(a: Mapping[Hashable, Hashable], b: Mapping[Hashable, Hashable]) -> np.ndarray:
    common = sorted(set(a) & set(b), key=repr)
    if not common:
        return np.zeros((0, 0))
    rows = {label: i for i, label in enumerate(sorted({a[k] for k in common}, key=repr))}
    cols = {label: i for i, label in enumerate(sorted({b[k] for k in common}, key=repr))}
    table = np.zeros((len(rows), len(cols)))
    for key, count in Counter((rows[a[k]], cols[b[k]]) for k in common).items():
        table[key] = count
    return table


def adjusted_rand_index(a: Mapping[Hashable, Hashable], b: Mapping[Hashable, Hashable]) -> float:
    """Adjusted Rand index (Hubert and Arabie, 1985) of two labelings over their common items.

    Parameters
    ----------
    a, b : mapping of item to cluster label
        Items missing from either mapping are ignored.

    Returns
    -------
    float
        1 for identical partitions, about 0 for independent ones.

    Examples
    --------
    >>> adjusted_rand_index({1: "x", 2: "x", 3: "y"}, {1: 0, 2: 0, 3: 1})
    1.0
    """
    table = _contingency(a, b)
    n = table.sum()
    if n < 2:
        return 1.0

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index = pairs(table)
    rows, cols = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


def normalized_mutual_information(a: Mapping[Hashable, Hashable], b: Mapping[Hashable, Hashable]) -> float:
    """Normalized mutual information (arithmetic mean normalization) of two labelings.

    Examples
    --------
    >>> round(normalized_mutual_information({1: "x", 2: "x", 3: "y", 4: "y"}, {1: 0, 2: 0, 3: 1, 4: 1}), 6)
    1.0
    """
    table = _contingency(a, b)
    n = table.sum()
    if n == 0:
        return 1.0
    p = table / n
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mutual = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha = float(-(pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = float(-(pb[pb > 0] * np.log(pb[pb > 0])).sum())
    if ha + hb == 0:
        return 1.0
    return 2 * mutual / (ha + hb)
