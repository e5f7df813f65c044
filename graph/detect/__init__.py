"""Detection of coordinated abuse networks: projection, signals, clustering, scoring.

The modules, in the order detection uses them:

``frames``          request events as a DuckDB relation (the workspace table or a DataFrame)
``projection``      the store's graph and the workspace's events, as detection reads them
``enumeration``     block coverage, hit ratio, volume against the population, sharding
``infrastructure``  shared IPs, prefixes and devices, weighted by rarity and kind
``targets``         shared looked-up numbers, and whether the lookers know each other
``synchrony``       session onsets in the same time buckets, robust to jitter
``behaviour``       sign-up bursts, client monocultures, weekly activity
``clustering``      communities of the coordination graph
``scoring``         scores with a meaning, and their reasons
``tradecraft``      the tradecraft a cluster's features show, named, with a headline from its numbers
``evidence``        traceable evidence per cluster; ``why_together`` for two accounts
``attribution``     origin mix, operators' clock and weekend, label overlap
``exposure``        whose numbers a cluster's lookups matched
``identity``        stable cluster ids across runs
``networks``        the whole detection as one pure function (``find_networks``): seeds, ties, communities
``judging``         groups' features and scores, pruning, operations, and each kept cluster's description
``results``         what detection is asked and answers (``DetectionParams``, ``Cluster``, ``Detection``)
``run``             a run on a workspace, saved atomically (``detect``)
``metrics``         F1, ARI and NMI for benchmarks
"""

import importlib

#: the module each public name lives in, imported on first use (PEP 562): the app reads events
#: through ``graph.detect.frames`` and a command such as ``ingest`` need not load SciPy and the
#: whole detection with it
_HOMES = {
    "Cluster": "results",
    "Detection": "results",
    "DetectionParams": "results",
    "DetectionResult": "run",
    "ProgressCallback": "networks",
    "detect": "run",
    "find_networks": "networks",
    "why_together": "evidence",
}

__all__ = [
    "Cluster",
    "Detection",
    "DetectionParams",
    "DetectionResult",
    "ProgressCallback",
    "detect",
    "find_networks",
    "why_together",
]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
