"""sybilscope's own incident simulator: a realistic case folder plus its ground truth.

``simulate(out_dir, scenario=..., seed=..., scale=...)`` writes a case folder
per ``CONTRACT.md`` (``requests``, ``accounts``, ``ip_intel``, ``labels``) for
the two weeks 2019-12-18 .. 2019-12-31 UTC: a benign population (with the hard
negatives of :mod:`ingest.simulate.hard_negatives`) and abuse campaigns (see
:mod:`ingest.simulate.campaigns`). Every id is random and drawn from one
generator for all accounts, and rows are sorted by timestamp (ties in random
order), so the case itself carries no trace of the truth.

Scenarios (:data:`SCENARIOS`): ``default`` (all six campaigns, every hard
negative), ``camouflage`` (the same with jitter, device rotation and benign
cover traffic), ``hard-negatives`` (three times the hard-negative groups, one
small hosting network), ``enumeration`` (lone researcher, volume, sharding),
``state-linked`` (hosting, residential proxies, targeted unmasking),
``benign`` (no abuse), ``incident-2019`` (the default mix with 17.5 times
the enumeration volume: ``scale=20`` writes about 17 million lookup rows) and
``drawn``: 3 to 6 campaigns whose tradecraft is drawn from the seed (the draw
number; see :mod:`ingest.simulate.tradecraft`) among the population plus the
look-alikes of :mod:`ingest.simulate.lookalikes` (about 200k request rows at
scale 1).

The ground truth is a JSON file written *outside* the case folder
(default ``<out_dir>.truth.json``)::

    {
      "format": "sybilscope-simulation-truth/1",
      "scenario": "default",
      "description": "...",
      "params": {"seed": 0, "scale": 1.0, "camouflage": false,
                 "campaign_sizes": {...}, "hard_negative_scale": 1.0, "campaign_volume": 1.0,
                 "window": {"start": "2019-12-18T00:00:00Z", "end": "2020-01-01T00:00:00Z", ...}},
      "accounts": {                       # every account that made at least one request
        "<account_id>": {"group": "hosting_network" | "benign" | "cgnat" | ...,
                         "kind": "campaign" | "benign",
                         "hard_negative": "cgnat" | ... | null}
      },
      "campaigns": {
        "<name>": {"tradecraft": "...", "origin_country": "IR",   # country most of its requests come from
                   "operator_country": "IR", "utc_offset_hours": 3.5, "weekend": ["Fri"],
                   "camouflage": false, "accounts": ["<account_id>", ...],
                   "drawn": {"selection": "scattered", ...}}   # drawn scenario only
      },
      "hard_negatives": ["cgnat", "corporate_nat", ...],
      "matched_only_accounts": 7000,      # accounts that never call the API (all benign)
      "passive_accounts": 2900,
      "bad_rows": [{"kind": "invalid_ip", "row": 1234}, ...]   # 0-based data row in requests
    }

An account absent from ``accounts`` never made a request and is benign.
"""

from ingest.simulate.scenario import (
    FORMATS,
    SCENARIOS,
    TRUTH_FORMAT,
    Scenario,
    SimulationSummary,
    simulate,
)

__all__ = ["simulate", "SimulationSummary", "SCENARIOS", "Scenario", "FORMATS", "TRUTH_FORMAT"]
