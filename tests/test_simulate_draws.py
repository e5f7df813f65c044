"""The ``drawn`` scenario: tradecraft drawn per campaign, look-alikes, truth that matches the files."""

from __future__ import annotations

import filecmp
import ipaddress
import json
import re
from collections import Counter
from pathlib import Path

import iptocc
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from app.cli import cli
from ingest.simulate import SCENARIOS, simulate
from ingest.simulate.catalog import COUNTRIES
from ingest.simulate.drawn_numbers import _mixed_parts
from ingest.simulate.lookalikes import LOOKALIKES
from ingest.simulate.population import HARD_NEGATIVES
from ingest.simulate.tradecraft import (
    ACCOUNT_AGES,
    CHOICES,
    DIVISIONS,
    draw_plan,
)


def _table(case: Path, stem: str) -> pd.DataFrame:
    files = sorted(p for p in case.iterdir() if p.name.split(".")[0].split("-")[0] == stem)
    return pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""]) for p in files],
        ignore_index=True,
    )


def test_a_narrowed_plan_draws_only_the_tradecraft_asked_for_and_leaves_the_splits_alone():
    wanted = {"selection": ["leaked_list"], "infrastructure": ["hosting", "vpn_exits"], "timing": ["cron"]}
    plans = [draw_plan(seed, only=wanted) for seed in range(21, 31)]
    assert plans[0] == draw_plan(21, only=wanted)  # still a function of the draw number
    assert all(3 <= len(plan) <= 6 for plan in plans)
    campaigns = [td for plan in plans for td in plan]
    assert {td["selection"] for td in campaigns} == {"leaked_list"}
    assert {td["infrastructure"] for td in campaigns} == {"hosting", "vpn_exits"}
    assert {td["timing"] for td in campaigns} == {"cron"}
    # what was not narrowed still varies
    assert len({td["division"] for td in campaigns}) == len(DIVISIONS)
    assert len({td["account_age"] for td in campaigns}) == len(ACCOUNT_AGES)
    # an empty narrowing is no narrowing: the reported draws keep their plans
    assert draw_plan(11, only={}) == draw_plan(11) == draw_plan(11, only=None)


@pytest.mark.parametrize("only, message", [
    ({"selection": ["leaked"]}, "selection takes"),
    ({"colour": ["red"]}, "no tradecraft choice 'colour'"),
    ({"timing": []}, "timing takes"),
])
def test_a_narrowing_that_names_no_tradecraft_is_refused(only, message):
    with pytest.raises(ValueError, match=message):
        draw_plan(21, only=only)


def test_only_the_drawn_scenario_narrows_its_tradecraft(tmp_path):
    with pytest.raises(ValueError, match="only a drawn scenario"):
        simulate(tmp_path / "case", scenario="default", tradecraft={"selection": ["leaked_list"]})
    assert not (tmp_path / "case").exists()


def test_a_narrowed_draw_writes_only_those_campaigns(tmp_path):
    summary = simulate(tmp_path / "case", scenario="drawn", seed=23, scale=0.3,
                       tradecraft={"selection": ["leaked_list"], "account_age": ["aged"]})
    truth = json.loads(summary.truth_path.read_text())
    drawn = [c["drawn"] for c in truth["campaigns"].values()]
    assert drawn and all(d["selection"] == "leaked_list" and d["account_age"] == "aged" for d in drawn)
    assert truth["params"]["tradecraft"] == {"account_age": ["aged"], "selection": ["leaked_list"]}


@pytest.fixture(scope="module", params=[3, 12])
def draw(request, tmp_path_factory):
    """One drawn case at scale 0.5, read back with each row's true group."""
    out = tmp_path_factory.mktemp(f"draw{request.param}") / "case"
    summary = simulate(out, scenario="drawn", seed=request.param, scale=0.5)
    truth = json.loads(summary.truth_path.read_text())
    requests = _table(out, "requests")
    requests["group"] = requests["account_id"].map(
        {a: v["group"] for a, v in truth["accounts"].items()}
    )
    requests["ts_ms"] = pd.to_datetime(requests["ts"], format="ISO8601").astype("int64") // 10**6
    return summary, truth, requests


def test_same_draw_gives_the_same_bytes_and_another_draw_does_not(tmp_path):
    runs = [
        simulate(tmp_path / name, scenario="drawn", seed=seed, scale=0.3, compress=True)
        for name, seed in (("a", 7), ("b", 7), ("c", 8))
    ]
    names = [p.name for p in runs[0].files]
    assert names == [p.name for p in runs[1].files]
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()
    assert not filecmp.cmp(tmp_path / "a" / names[0], tmp_path / "c" / names[0], shallow=False)
    drawn = [
        [
            c["drawn"]
            for c in json.loads((tmp_path / f"{x}.truth.json").read_text())["campaigns"].values()
        ]
        for x in ("a", "c")
    ]
    assert drawn[0] != drawn[1]


def test_draws_vary_every_choice_of_tradecraft():
    plans = {seed: draw_plan(seed) for seed in range(1, 21)}
    assert plans[5] == draw_plan(5)  # a function of the draw number alone
    campaigns = [td for plan in plans.values() for td in plan]
    assert all(3 <= len(plan) <= 6 for plan in plans.values())
    for key, options in CHOICES.items():
        seen = Counter(td[key] for td in campaigns)
        assert set(seen) == set(options), key
        # draws differ from each other, not only across the whole set
        assert len({tuple(td[key] for td in plan) for plan in plans.values()}) > 10, key
    sizes = [td["accounts"] for td in campaigns]
    assert min(sizes) >= 3 and max(sizes) <= 300
    assert sum(s <= 12 for s in sizes) >= 10 and sum(s > 60 for s in sizes) >= 5
    volumes = [td["per_account_lookups"] for td in campaigns]
    assert min(volumes) < 300 and max(volumes) > 1000
    camo = [td["camouflage"] for td in campaigns]
    assert 0.0 in camo and max(camo) > 0.8
    for td in campaigns:
        json.dumps(td)  # the truth file carries it as it is
        if td["selection"] == "scattered":
            assert 0.01 <= td["hit_ratio"] <= 0.05
        if td["selection"] == "leaked_list":
            assert 0.15 <= td["hit_ratio"] <= 0.40 and 200 <= td["list_size"] <= 3000
    assert all(td["camouflage"] >= 0.5 for td in draw_plan(4, camouflage=True))


def test_truth_agrees_with_the_files(draw):
    summary, truth, requests = draw
    assert truth["scenario"] == "drawn" and 3 <= len(truth["campaigns"]) <= 6
    assert 30_000 < summary.rows["requests"] < 200_000  # scale 0.5
    callers = set(requests["account_id"].dropna())
    assert callers == set(truth["accounts"])
    for name, camp in truth["campaigns"].items():
        rows = requests[requests["group"] == name]
        assert set(rows["account_id"]) == set(camp["accounts"]), name
        assert all(truth["accounts"][a]["kind"] == "campaign" for a in camp["accounts"])
        assert set(CHOICES) <= set(camp["drawn"]) and camp["drawn"]["accounts"] == len(
            camp["accounts"]
        )
        assert truth["params"]["campaign_sizes"][name] == len(camp["accounts"])
        # origin as the offline enrichment sees it: the country most requests come from
        countries = rows["ip"].map(iptocc.country_code).value_counts()
        assert countries.index[0] == camp["origin_country"], name
        assert camp["operator_country"] == camp["drawn"]["operator_country"]
    intel = _table(summary.out_dir, "ip_intel")
    networks = [
        (ipaddress.ip_network(n), c)
        for n, c in zip(intel["network"], intel["country"], strict=True)
    ]
    for ip in requests["ip"].unique():
        address = ipaddress.ip_address(ip)
        assert [c for n, c in networks if address in n] == [iptocc.country_code(ip)], ip


def test_every_look_alike_is_present_with_its_defining_property(draw):
    _, truth, requests = draw
    assert set(truth["hard_negatives"]) == set(HARD_NEGATIVES) | set(LOOKALIKES)
    hn = {a: v["hard_negative"] for a, v in truth["accounts"].items()}
    sizes = Counter(v for v in hn.values() if v)
    assert set(sizes) == set(HARD_NEGATIVES) | set(LOOKALIKES)
    assert all(sizes[name] >= 10 for name in LOOKALIKES)
    requests = requests.assign(hn=requests["account_id"].map(hn))

    staff = requests[requests["hn"] == "staff_directory"]
    assert staff["user_agent"].nunique() == 1  # one managed build
    pushed = staff[staff["endpoint"] == "contacts/upload"]
    assert (
        pushed["ip"].nunique() == 1
        and pushed["account_id"].nunique() >= 0.9 * staff["account_id"].nunique()
    )
    assert pushed["ts_ms"].max() - pushed["ts_ms"].min() < 2 * 3_600_000
    assert (
        pushed["matched_account_id"].isin(staff["account_id"]).mean() > 0.2
    )  # they find colleagues

    reunion = requests[
        (requests["hn"] == "class_reunion") & (requests["endpoint"] == "contacts/upload")
    ]
    by_ip = reunion.groupby("ip")["account_id"].nunique()
    venue = reunion[reunion["ip"] == by_ip.idxmax()]
    assert by_ip.max() >= 10 and venue["ts_ms"].max() - venue["ts_ms"].min() < 4 * 3_600_000
    assert venue["matched_account_id"].isin(venue["account_id"]).sum() >= 10  # each other
    assert (
        requests[requests["hn"] == "class_reunion"]
        .groupby("account_id")["device_id"]
        .nunique()
        .min()
        >= 1
    )
    assert requests.loc[requests["hn"] == "class_reunion", "user_agent"].nunique() > 2

    campus = requests[requests["hn"] == "campus_nat"]
    per_ip = campus["ip"].value_counts()
    nat = per_ip.index[:4]
    assert per_ip.iloc[:4].sum() > 0.4 * len(campus)  # two to four NAT addresses carry most
    assert (campus[campus["ip"].isin(nat)].groupby("ip")["account_id"].nunique() >= 20).sum() >= 2


def test_drawn_tradecraft_is_visible_in_the_data(draw):
    _, truth, requests = draw
    lookups = requests[requests["phone"].notna()]
    for name, camp in truth["campaigns"].items():
        td = camp["drawn"]
        rows = lookups[lookups["group"] == name]
        if td["camouflage"] > 0 or len(rows) < 100:
            continue  # cover traffic blurs the hit ratio on purpose
        hits = rows["matched_account_id"].notna().mean()
        per_block = rows.groupby(rows["phone"].str[:-3]).size()
        if td["selection"] == "scattered":
            assert hits < 0.08 and per_block.mean() < 1.5, name
        elif td["selection"] == "leaked_list":
            assert 0.08 < hits < 0.5, name
        elif td["selection"] == "dense_blocks":
            assert hits < 0.08 and per_block.max() > 100, name
    for name, camp in truth["campaigns"].items():
        td = camp["drawn"]
        rows = requests[requests["group"] == name]
        if td["infrastructure"] == "hosting":
            assert rows["ip"].nunique() <= td["ips"] + 20  # cover traffic shares them
        if td["devices"] == "shared_emulators":
            work = rows[rows["phone"].notna()]
            assert work["device_id"].nunique() <= td["device_count"]
        if td["devices"] == "rotation":
            assert rows["device_id"].nunique() > len(camp["accounts"])


def test_no_raw_phone_number_outside_the_requests_phone_column(draw):
    summary, truth, requests = draw
    numbers = set(requests["phone"].dropna().str.lstrip("+"))
    digits = re.compile(r"\d{8,15}")

    def leaks(text: str) -> set[str]:
        return set(digits.findall(text)) & numbers

    assert not leaks(summary.truth_path.read_text())
    others = requests.drop(columns=["phone", "ts_ms", "group"]).fillna("").astype(str)
    assert not leaks(" ".join(others.to_numpy().ravel()))
    for path in summary.files:
        if not path.name.startswith("requests"):
            assert not leaks(path.read_text()), path.name


def test_drawn_is_a_scenario_of_the_cli(tmp_path):
    assert SCENARIOS["drawn"].drawn
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(tmp_path / "case"),
            "--scenario",
            "drawn",
            "--seed",
            "2",
            "--scale",
            "0.2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    truth = json.loads((tmp_path / "case.truth.json").read_text())
    assert report["scenario"] == "drawn" and report["campaigns"] == {
        n: len(c["accounts"]) for n, c in truth["campaigns"].items()
    }
    assert set(report["hard_negatives"]) == set(HARD_NEGATIVES) | set(LOOKALIKES)
    assert np.mean([c["drawn"]["accounts"] >= 3 for c in truth["campaigns"].values()]) == 1.0


def test_squads_of_one_operation_can_weigh_its_countries_each_their_own_way():
    # a leaked list of 3,000 people, a third each in Iran, the US and Germany, split between 10 squads
    rng = np.random.default_rng(8)
    job = np.array([int(f"{COUNTRIES[c].calling_code}{COUNTRIES[c].prefixes[0]}{i:07d}")
                    for c in ("IR", "US", "DE") for i in range(1000)], dtype=np.int64)
    job = rng.permutation(job)
    volumes = np.full(10, 300)

    def shares(parts):
        return np.array([[np.mean([str(n).startswith(code) for n in part]) for code in ("98", "1", "49")]
                         for part in parts])

    for concentration, spread in ((0.3, (0.25, 1.0)), (100.0, (0.0, 0.12))):
        parts = _mixed_parts(job, volumes, concentration, np.random.default_rng(9))
        # every number of the list is worked once, each squad its volume
        assert sorted(np.concatenate(parts).tolist()) == sorted(job.tolist())
        assert [len(p) for p in parts] == volumes.tolist()
        # the first squads' mixes: far apart when squads specialise, near the list's own when not
        # (the last squads take what is left, which evens them out)
        widest = float(np.abs(shares(parts[:5]) - 1 / 3).max())
        assert spread[0] <= widest <= spread[1], concentration


def test_half_of_the_sharded_operations_draw_a_squad_mix():
    plans = [draw_plan(seed) for seed in range(1, 21)]
    sharded = [td for plan in plans for td in plan if td["division"] == "shards"]
    mixed = [td for td in sharded if "squad_mix" in td]
    assert 0.3 < len(mixed) / len(sharded) < 0.7
    assert all(0.3 <= td["squad_mix"] <= 3.0 for td in mixed)
    assert not any("squad_mix" in td for plan in plans for td in plan if td["division"] != "shards")
