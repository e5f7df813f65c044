"""The ground truth of a simulated case: who is who, and what each campaign did.

Written apart from the case folder (see the package docstring for its
format), so that nothing in the case itself gives the answer away.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import END_MS, START_MS

__all__ = ["TRUTH_FORMAT", "truth_record", "exact_bad_rows"]

TRUTH_FORMAT = "sybilscope-simulation-truth/1"


def exact_bad_rows(log: list[dict]) -> list[dict]:
    """Shift each bad row's index by the bad rows inserted before it in the same slice."""
    out = []
    seen: dict[tuple[int, int], int] = {}
    for entry in log:
        n = seen.get(entry["chunk"], 0)
        out.append({"kind": entry["kind"], "row": entry["row"] + n})
        seen[entry["chunk"]] = n + 1
    return out


def truth_record(
    world, campaigns, called, scenario, spec, seed, scale, camo, bad_log, passive
) -> dict:
    """The truth file's JSON: every account that called, each campaign, the parameters."""
    ids = world.account_ids
    accounts = {}
    for i in np.flatnonzero(called):
        accounts[str(ids[i])] = {
            "group": str(world.account["group"][i]),
            "kind": str(world.account["kind"][i]),
            "hard_negative": world.account["hard_negative"][i],
        }
    return {
        "format": TRUTH_FORMAT,
        "scenario": scenario,
        "description": spec.description,
        "params": {
            "seed": seed,
            "scale": scale,
            "camouflage": camo,
            "campaign_sizes": {c.name: len(c.accounts) for c in campaigns}
            if spec.drawn
            else spec.campaigns,
            "hard_negative_scale": spec.hard_negative_scale,
            "campaign_volume": spec.volume,
            "window": {
                "start": "2019-12-18T00:00:00Z",
                "end": "2020-01-01T00:00:00Z",
                "start_ms": START_MS,
                "end_ms": END_MS,
            },
        },
        "accounts": accounts,
        "campaigns": {c.name: c.truth(ids) for c in campaigns},
        "hard_negatives": sorted(spec.hard_negatives),
        "matched_only_accounts": int(world.n_accounts - called.sum()),
        "passive_accounts": passive,
        "bad_rows": bad_log,
    }
