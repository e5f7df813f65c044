"""The quality benchmark's breakdown of recall by the tradecraft campaigns drew."""

import doctest
import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _campaign(accounts, **drawn):
    base = {"selection": "dense_blocks", "division": "independent", "infrastructure": "hosting",
            "devices": "rotation", "timing": "jitter", "account_age": "aged"}
    return {**base, **drawn, "accounts": accounts}


def test_recall_pools_campaigns_by_accounts_across_draws(quality):
    draws = {
        1: {"campaigns": {"op1": _campaign(10, selection="leaked_list"), "op2": _campaign(90)},
            "scores": {"sybilscope": {"campaign_recall": {"op1": 0.0, "op2": 1.0}}}},
        2: {"campaigns": {"op1": _campaign(30, selection="leaked_list", infrastructure="vpn_exits")},
            "scores": {"sybilscope": {"campaign_recall": {"op1": 0.6}}}},
    }
    rows = {(r["dimension"], r["value"]): r for r in quality.tradecraft_recall(draws)}
    leaked = rows[("selection", "leaked_list")]
    # 18 of 40 accounts, not the mean of 0.0 and 0.6: a big campaign found does not hide a small one missed
    assert (leaked["campaigns"], leaked["accounts"], leaked["missed"]) == (2, 40, 1)
    assert leaked["recall"] == pytest.approx(18 / 40)
    assert rows[("infrastructure", "hosting")]["recall"] == pytest.approx(90 / 100)
    assert rows[("selection x infrastructure", "leaked_list / hosting")]["recall"] == 0.0
    assert rows[("selection x infrastructure", "leaked_list / vpn_exits")]["missed"] == 0
    # every campaign counts once in each dimension
    for dim in quality.TRADECRAFT:
        assert sum(r["campaigns"] for r in rows.values() if r["dimension"] == dim) == 3


def test_rows_list_each_dimension_worst_first(quality):
    draws = {1: {"campaigns": {f"op{i}": _campaign(5, timing=t) for i, t in enumerate(("cron", "jitter", "office"))},
                 "scores": {"sybilscope": {"campaign_recall": {"op0": 0.5, "op1": 0.1, "op2": 0.9}}}}}
    rows = quality.tradecraft_recall(draws)
    dims = [r["dimension"] for r in rows]
    assert dims == sorted(dims, key=(*quality.TRADECRAFT, "selection x infrastructure").index)
    assert [r["value"] for r in rows if r["dimension"] == "timing"] == ["jitter", "cron", "office"]
    assert [r["missed"] for r in rows if r["dimension"] == "timing"] == [1, 0, 0]


def test_docstring_examples(quality):
    assert doctest.testmod(quality).failed == 0


def test_observing_the_first_days_cuts_the_requests_and_the_truth_of_a_drawn_case(quality, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    day = quality.DAY_MS
    start = 1_576_627_200_000 + 3 * 3_600_000  # a case whose first request is at 03:00: days count from midnight
    pq.write_table(pa.table({"ts": pa.array([start, start + day, start + 2 * day - 3 * 3_600_000],
                                            pa.timestamp("ms", tz="UTC")),
                             "account_id": ["early", "second-day", "late"]}), tmp_path / "requests.parquet")
    truth = {"campaigns": {"op1": {"accounts": ["early", "late"], "origin_country": "IR"},
                           "op2": {"accounts": ["late"], "origin_country": "MY"}},
             "accounts": {"early": {"hard_negative": None}}}
    kept = quality.observe_days(tmp_path, truth, 2)
    assert pq.read_table(tmp_path / "requests.parquet")["account_id"].to_pylist() == ["early", "second-day"]
    # an account with no request left cannot be found: it leaves its campaign, and an empty campaign the truth
    assert kept["campaigns"] == {"op1": {"accounts": ["early"], "origin_country": "IR"}}
    assert truth["campaigns"]["op1"]["accounts"] == ["early", "late"]  # the caller's truth is left alone
    assert quality.observe_days(tmp_path, truth, None) is truth


_FAKE_SCORER = '''
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--truth"); parser.add_argument("--export"); parser.add_argument("--json", action="store_true")
args = parser.parse_args()
truth = json.load(open(args.truth))
# what the scorer was given, as numbers: campaign accounts in the truth, and members exported
members = open(args.export + "/members.csv").read().splitlines()[1:]
print(json.dumps({"precision": 1.0, "recall": 1.0, "f1": 1.0, "ari": 1.0, "attribution_acc": 1.0,
                  "hard_negative_fp": 0, "flagged_accounts": len(members),
                  "flagged_clusters": sum(1 for label in truth["accounts"].values() if label != "benign")}))
'''


@pytest.mark.slow
def test_calibration_cases_are_run_as_a_user_would_and_reported_under_their_names(quality, tmp_path):
    import json

    from ingest.simulate import simulate

    folder = tmp_path / "calibration"
    for name, seed in (("alpha", 3), ("beta", 4)):
        simulate(folder / name, scenario="drawn", seed=seed, scale=0.05, fmt="parquet")
        drawn = json.loads((folder / f"{name}.truth.json").read_text())
        labels = {a: "benign" for a in drawn["accounts"]}
        labels.update({a: campaign for campaign, c in drawn["campaigns"].items() for a in c["accounts"]})
        (folder / f"{name}.truth.json").write_text(json.dumps({"accounts": labels}))  # the calibration layout
    (folder / "score.py").write_text(_FAKE_SCORER)
    whole = quality.evaluate_calibration(folder, lambda text: None)
    assert sorted(whole) == ["alpha", "beta"]
    assert set(whole["alpha"]["scores"]) == set(quality.METHODS)
    campaign_accounts = {name: sum(1 for label in json.loads((folder / f"{name}.truth.json").read_text())["accounts"]
                                   .values() if label != "benign") for name in whole}
    assert {name: r["scores"]["sybilscope"]["clusters"] for name, r in whole.items()} == campaign_accounts
    # the first day only: the scorer is handed the truth about the accounts active by then
    first = quality.evaluate_calibration(folder, lambda text: None, days=1)
    assert sorted(first) == ["alpha", "beta"]
    assert all(0 < first[n]["scores"]["sybilscope"]["clusters"] < campaign_accounts[n] for n in first)
    assert all(first[n]["scores"]["sybilscope"]["flagged"] <= whole[n]["scores"]["sybilscope"]["flagged"] for n in first)


@pytest.mark.parametrize("argv", [
    ["--only", "selection=leaked_list"],  # the report split
    ["--draws", "1-10", "--only", "selection=leaked_list"],  # the tuning draws
    ["--draws", "20-24", "--only", "selection=leaked_list"],  # reaching into the split
    ["--draws", "21-22", "--only", "selection"],  # no value
    ["--draws", "21-22", "--only", "colour=red"],  # no such choice
    ["--draws", "21-22", "--only", "selection=leaked"],  # no such value
])
def test_only_narrows_development_draws_and_nothing_else(quality, monkeypatch, capsys, argv):
    monkeypatch.setattr(quality, "evaluate_draw", lambda *a, **k: pytest.fail("no draw may run"))
    monkeypatch.setattr("sys.argv", ["quality.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        quality.main()
    assert stopped.value.code == 2
    assert "--only" in capsys.readouterr().err


def test_only_reaches_the_drawn_campaigns_of_development_draws(quality, monkeypatch, tmp_path):
    seen = []

    def evaluate(draw, scale, camouflage, days, only):
        seen.append((draw, only))
        return {"scores": {m: {"precision": 1.0, "recall": 1.0, "f1": 1.0 if m == "sybilscope" else 0.5,
                               "ari": 1.0, "attribution": 1.0, "hn_fp": 0, "campaign_recall": {}}
                           for m in ("sybilscope", "rule", "ip-components", "idf-louvain")},
                "seconds": {}, "campaigns": {}}

    monkeypatch.setattr(quality, "evaluate_draw", evaluate)
    out = tmp_path / "out.json"
    monkeypatch.setattr("sys.argv", ["quality.py", "--draws", "21-22", "--only", "selection=leaked_list",
                                     "--only", "infrastructure=hosting,vpn_exits", "--only", "selection=scattered",
                                     "--calibration", str(tmp_path / "none"), "--json", str(out)])
    quality.main()
    wanted = {"selection": ["leaked_list", "scattered"], "infrastructure": ["hosting", "vpn_exits"]}
    assert seen == [(21, wanted), (22, wanted)]
    assert json.loads(out.read_text())["only"] == wanted
