"""The incident simulator: determinism, no leaks, and the properties each group must have.

Most checks read the committed sample case (``sample_data/``), and one test
proves that the sample is exactly what the documented command regenerates, so
the properties hold for the generator as it is now.
"""

from __future__ import annotations

import filecmp
import ipaddress
import json
import re
from pathlib import Path

import iptocc
import numpy as np
import pandas as pd
import phonenumbers
import pytest
from click.testing import CliRunner

from app.cli import cli
from ingest.simulate import SCENARIOS, TRUTH_FORMAT, simulate
from ingest.simulate import scenario as scenario_module
from ingest.simulate.catalog import NETWORKS
from ingest.simulate.population import HARD_NEGATIVES

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
REQUEST_COLUMNS = [
    "ts",
    "ip",
    "endpoint",
    "account_id",
    "device_id",
    "user_agent",
    "status",
    "phone",
    "matched_account_id",
    "request_id",
]
ACCOUNT_COLUMNS = [
    "account_id",
    "created_at",
    "handle",
    "phone_country",
    "discoverable_by_phone",
    "status",
    "signup_ip",
    "signup_device_id",
    "lang",
    "followers",
]


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if ".jsonl" in path.suffixes:
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _table(case: Path, stem: str) -> pd.DataFrame:
    files = sorted(p for p in case.iterdir() if p.name.split(".")[0].split("-")[0] == stem)
    return pd.concat([_read(p) for p in files], ignore_index=True)


@pytest.fixture(scope="module")
def sample():
    """The committed sample case, with each row's true group attached."""
    truth = json.loads((SAMPLE / "truth.json").read_text())
    requests = _table(SAMPLE / "case", "requests")
    accounts = _table(SAMPLE / "case", "accounts")
    group = {a: v["group"] for a, v in truth["accounts"].items()}
    requests["group"] = requests["account_id"].map(group)
    requests["ts_ms"] = pd.to_datetime(requests["ts"], format="ISO8601").astype("int64") // 10**6
    return truth, requests, accounts


def test_sample_is_what_the_documented_command_writes(tmp_path):
    readme = (SAMPLE / "README.md").read_text()
    assert (
        "sybilscope simulate sample_data/case --scenario default --seed 0 --scale 1 --gzip --truth sample_data/truth.json"
        in readme
    )
    summary = simulate(
        tmp_path / "case",
        scenario="default",
        seed=0,
        scale=1.0,
        compress=True,
        truth_path=tmp_path / "truth.json",
    )
    for path in summary.files:
        assert filecmp.cmp(path, SAMPLE / "case" / path.name, shallow=False), (
            f"{path.name} differs: regenerate sample_data"
        )
    assert filecmp.cmp(tmp_path / "truth.json", SAMPLE / "truth.json", shallow=False)
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 5_000_000
    assert 50_000 <= summary.rows["requests"] <= 150_000


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path, fmt):
    runs = [
        simulate(tmp_path / name, seed=seed, scale=0.3, fmt=fmt, compress=True)
        for name, seed in (("a", 5), ("b", 5), ("c", 6))
    ]
    names = [p.name for p in runs[0].files]
    assert names == [p.name for p in runs[1].files]
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False)
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()
    assert not filecmp.cmp(tmp_path / "a" / names[0], tmp_path / "c" / names[0], shallow=False)


def test_contract_columns_and_truth_layout(sample):
    truth, requests, accounts = sample
    assert list(requests.columns[: len(REQUEST_COLUMNS)]) == REQUEST_COLUMNS
    assert list(accounts.columns) == ACCOUNT_COLUMNS
    intel = _table(SAMPLE / "case", "ip_intel")
    labels = _table(SAMPLE / "case", "labels")
    assert {"network", "country", "asn", "as_org", "kind"} <= set(intel.columns)
    assert {"entity", "id", "label", "actor", "source", "note"} <= set(labels.columns)
    assert requests[["ts", "ip", "endpoint"]].notna().all().all()
    assert set(requests["endpoint"]) == {
        "contacts/lookup",
        "contacts/upload",
        "users/show",
        "auth/login",
        "timeline/home",
    }
    assert truth["format"] == TRUTH_FORMAT
    assert set(truth["campaigns"]) == set(SCENARIOS["default"].campaigns)
    # every caller is in the truth, every campaign account is a caller of its campaign
    callers = set(requests["account_id"].dropna())
    assert callers == set(truth["accounts"])
    for name, camp in truth["campaigns"].items():
        assert camp["accounts"] and all(
            truth["accounts"][a]["group"] == name for a in camp["accounts"]
        )
        assert {"tradecraft", "origin_country", "utc_offset_hours", "weekend"} <= set(camp)
    kinds = {v["kind"] for v in truth["accounts"].values()}
    assert kinds == {"campaign", "benign"}
    assert {v["hard_negative"] for v in truth["accounts"].values()} - {None} == set(HARD_NEGATIVES)
    # matched accounts exist in the accounts table
    assert set(requests["matched_account_id"].dropna()) <= set(accounts["account_id"])


def test_nothing_in_ids_or_order_gives_the_truth_away(sample):
    truth, requests, accounts = sample
    assert requests["ts_ms"].is_monotonic_increasing
    assert accounts["account_id"].is_monotonic_increasing
    shape = re.compile(r"^[a-z][a-z0-9]{11}$")
    assert accounts["account_id"].map(lambda s: bool(shape.match(s))).all()
    campaign = {a for a, v in truth["accounts"].items() if v["kind"] == "campaign"}
    ranks = accounts.index[accounts["account_id"].isin(campaign)].to_numpy() / len(accounts)
    # campaign accounts spread over the id-sorted table, not bunched at either end
    assert 0.25 < ranks.mean() < 0.75 and ranks.min() < 0.3 and ranks.max() > 0.7
    device_shape = re.compile(r"^[a-z][a-z0-9]{15}$")
    assert requests["device_id"].dropna().map(lambda s: bool(device_shape.match(s))).all()
    # handles come from one generator: the same styles appear on both sides
    styles = accounts.assign(
        style=accounts["handle"]
        .str.replace(r"[a-z]+", "w", regex=True)
        .str.replace(r"\d+", "9", regex=True)
    )
    is_campaign = styles["account_id"].isin(campaign)
    assert set(styles.loc[is_campaign, "style"]) <= set(styles.loc[~is_campaign, "style"])


def test_every_phone_is_a_valid_e164_mobile_number(sample):
    _, requests, _ = sample
    phones = requests["phone"].dropna().unique()
    assert len(phones) > 10_000
    assert all(p.startswith("+") for p in phones)
    invalid = [p for p in phones if not phonenumbers.is_valid_number(phonenumbers.parse(p))]
    assert invalid == []


def test_ip_countries_agree_with_offline_enrichment_and_ip_intel(sample):
    _, requests, _ = sample
    intel = _table(SAMPLE / "case", "ip_intel")
    networks = [
        (ipaddress.ip_network(n), c)
        for n, c in zip(intel["network"], intel["country"], strict=True)
    ]
    for ip in requests["ip"].unique():
        address = ipaddress.ip_address(ip)
        declared = [c for n, c in networks if address in n]
        assert declared == [iptocc.country_code(ip)], ip


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_catalogue_networks_sit_in_their_stated_country(name):
    net = ipaddress.ip_network(NETWORKS[name].cidr)
    hosts = np.linspace(1, net.num_addresses - 2, 9).astype(int)
    countries = {iptocc.country_code(str(net.network_address + int(h))) for h in hosts}
    assert countries == {NETWORKS[name].country}


def _hit_ratio(rows: pd.DataFrame) -> float:
    return rows["matched_account_id"].notna().mean()


def test_enumeration_hits_rarely_and_address_books_often(sample):
    _, requests, _ = sample
    lookups = requests[requests["phone"].notna()]
    benign_books = lookups[
        (lookups["group"] == "benign") & (lookups["endpoint"] == "contacts/upload")
    ]
    for name in (
        "lone_enumerator",
        "hosting_network",
        "volume_network",
        "proxy_network",
        "sharding_network",
    ):
        ratio = _hit_ratio(lookups[lookups["group"] == name])
        assert 0 < ratio < 0.05, name
    assert 0.15 < _hit_ratio(benign_books) < 0.6
    # targeted unmasking looks like an address-book sync, per account
    targeted = lookups[lookups["group"] == "targeted_unmasking"]
    assert _hit_ratio(targeted) > _hit_ratio(benign_books) * 0.8
    per_account = targeted.groupby("account_id").size()
    benign_per_account = benign_books.groupby("account_id").size()
    assert per_account.median() < benign_per_account.quantile(0.95)


def test_hard_negative_groups_have_their_defining_property(sample):
    truth, requests, accounts = sample
    hn = {a: v["hard_negative"] for a, v in truth["accounts"].items()}
    requests = requests.assign(hn=requests["account_id"].map(hn))
    intel = _table(SAMPLE / "case", "ip_intel").set_index("network")

    cgnat = requests[requests["hn"] == "cgnat"]
    assert cgnat["account_id"].nunique() >= 100 and cgnat["ip"].nunique() <= 5
    kinds = {
        intel.loc[n, "kind"]
        for n in intel.index
        for ip in cgnat["ip"].unique()
        if ipaddress.ip_address(ip) in ipaddress.ip_network(n)
    }
    assert kinds == {"mobile"}

    office = requests[requests["hn"] == "corporate_nat"]
    by_ip = office.groupby("ip")["account_id"].nunique()
    assert by_ip.max() >= 15
    egress = by_ip[by_ip >= 15].index
    hours = (
        pd.to_datetime(office.loc[office["ip"].isin(egress), "ts"], format="ISO8601").dt.hour + 1
    ) % 24
    assert hours.between(7, 19).mean() > 0.85  # Berlin office hours

    family = requests[requests["hn"] == "family_device"]
    assert (family.groupby("device_id")["account_id"].nunique() >= 3).sum() >= 5

    burst = accounts[accounts["account_id"].isin([a for a, v in hn.items() if v == "signup_burst"])]
    created = pd.to_datetime(burst["created_at"], format="ISO8601")
    assert len(burst) >= 50 and created.max() - created.min() <= pd.Timedelta(hours=1)

    per_account = requests.groupby("account_id").size()
    heavy = per_account[per_account.index.map(hn) == "heavy_user"]
    ordinary = per_account[
        per_account.index.map(hn).isna()
        & per_account.index.map(lambda a: truth["accounts"][a]["kind"] == "benign")
    ]
    assert heavy.min() > ordinary.quantile(0.99)

    club = requests[
        (requests["hn"] == "social_circle") & (requests["endpoint"] == "contacts/upload")
    ]
    books = [set(g["phone"]) for _, g in club.groupby("request_id")]
    overlaps = [len(a & b) / len(a | b) for i, a in enumerate(books) for b in books[i + 1 :]]
    assert len(books) >= 5 and np.median(overlaps) > 0.5

    vpn = requests[requests["hn"] == "vpn_users"]
    vpn_kinds = {
        intel.loc[n, "kind"]
        for n in intel.index
        for ip in vpn["ip"].unique()
        if ipaddress.ip_address(ip) in ipaddress.ip_network(n)
    }
    assert vpn_kinds == {"vpn"} and vpn.groupby("ip")["account_id"].nunique().max() >= 5


def test_campaign_tradecraft_is_visible_in_the_data(sample):
    truth, requests, accounts = sample
    camp = {name: requests[requests["group"] == name] for name in truth["campaigns"]}

    lone = camp["lone_enumerator"]
    assert lone["account_id"].nunique() <= 2 and lone["ip"].nunique() <= 2
    assert (
        len(lone)
        > 10 * requests[requests["group"] == "benign"].groupby("account_id").size().median()
    )

    assert (
        camp["volume_network"]["ip"].nunique() <= 3
        and (camp["volume_network"]["status"] == "429").any()
    )

    proxy = camp["proxy_network"]
    assert proxy["ip"].nunique() >= 100 and proxy["device_id"].nunique() <= 3
    # cron-like: each account's lookups are evenly spaced within a working day
    lookups = proxy[proxy["endpoint"] == "contacts/lookup"]
    gaps = lookups.groupby(["account_id", lookups["ts"].str[:10]])["ts_ms"].diff().dropna()
    assert len(gaps) > 100 and gaps.std() / gaps.mean() < 0.2

    shards = camp["sharding_network"]
    shards = shards[shards["phone"].notna()]
    ordinals = shards.assign(
        block=shards["phone"].str[:-3], ordinal=shards["phone"].str[-3:].astype(int)
    )
    spans = ordinals.groupby("account_id")["ordinal"].agg(["min", "max"]).sort_values("min")
    assert (spans["min"].to_numpy()[1:] > spans["max"].to_numpy()[:-1]).all()  # disjoint slices
    per_block = ordinals.groupby("block")["account_id"].nunique()
    assert per_block.max() == ordinals["account_id"].nunique()  # the same blocks, all accounts

    hosting_ips = camp["hosting_network"]["ip"].unique()
    intel = _table(SAMPLE / "case", "ip_intel")
    hosting_nets = [
        ipaddress.ip_network(n)
        for n, k in zip(intel["network"], intel["kind"], strict=True)
        if k == "hosting"
    ]
    assert all(any(ipaddress.ip_address(ip) in n for n in hosting_nets) for ip in hosting_ips)
    assert len(hosting_ips) <= 5 < camp["hosting_network"]["account_id"].nunique()

    targeted = accounts[
        accounts["account_id"].isin(truth["campaigns"]["targeted_unmasking"]["accounts"])
    ]
    created = pd.to_datetime(targeted["created_at"], format="ISO8601")
    assert created.max() - created.min() <= pd.Timedelta(hours=1)
    uploads = camp["targeted_unmasking"]
    uploads = uploads[uploads["endpoint"] == "contacts/upload"]
    reach = uploads.groupby("phone")["account_id"].nunique()
    assert (reach >= 3).sum() >= 10  # the same leaked numbers, looked up by several operators

    for name, rows in camp.items():
        countries = rows["ip"].map(iptocc.country_code).value_counts(normalize=True)
        assert countries.index[0] == truth["campaigns"][name]["origin_country"], name
        assert countries.iloc[0] > 0.5


def test_operator_clock_shows_in_working_hours(sample):
    truth, requests, _ = sample
    hosting = requests[requests["group"] == "hosting_network"]
    local = pd.to_datetime(hosting["ts"], format="ISO8601") + pd.Timedelta(
        hours=truth["campaigns"]["hosting_network"]["utc_offset_hours"]
    )
    assert local.dt.hour.between(6, 19).mean() > 0.95
    assert (local.dt.day_of_week == 4).mean() < 0.01  # Friday off in Tehran


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_format_reads_back_with_pandas(tmp_path, fmt):
    summary = simulate(tmp_path / "case", seed=1, scale=0.2, fmt=fmt, part_rows=8_000)
    assert len([p for p in summary.files if p.name.startswith("requests-")]) >= 2
    requests = _table(tmp_path / "case", "requests")
    assert len(requests) == summary.rows["requests"]
    assert list(requests.columns) == REQUEST_COLUMNS
    assert requests["phone"].dropna().astype(str).str.match(r"^\+\d{8,15}$").all()
    accounts = _table(tmp_path / "case", "accounts")
    assert len(accounts) == summary.rows["accounts"] == summary.accounts


@pytest.mark.parametrize("slice_rows", [None, 1_000])
def test_bad_rows_are_written_where_the_truth_says(tmp_path, monkeypatch, slice_rows):
    if slice_rows is not None:  # many small write slices: insertions must land across them
        monkeypatch.setattr(scenario_module, "_CHUNK_ROWS", slice_rows)
    summary = simulate(tmp_path / "case", seed=2, scale=0.2, bad_rows=9)
    truth = json.loads(summary.truth_path.read_text())
    assert len(truth["bad_rows"]) == 9
    assert {b["kind"] for b in truth["bad_rows"]} == {
        "unparseable_ts",
        "invalid_ip",
        "missing_required",
    }
    requests = _table(tmp_path / "case", "requests")
    for bad in truth["bad_rows"]:
        row = requests.iloc[bad["row"]]
        if bad["kind"] == "unparseable_ts":
            assert pd.isna(pd.to_datetime(row["ts"], format="ISO8601", errors="coerce"))
        elif bad["kind"] == "invalid_ip":
            with pytest.raises(ValueError):
                ipaddress.ip_address(row["ip"])
        else:
            assert pd.isna(row["ip"]) or pd.isna(row["endpoint"])
    good = requests.drop(index=[b["row"] for b in truth["bad_rows"]])
    assert good["ip"].map(lambda s: isinstance(s, str) and bool(ipaddress.ip_address(s))).all()


def test_camouflage_rotates_devices_jitters_and_mixes_in_benign_use(tmp_path):
    summary = simulate(tmp_path / "case", scenario="camouflage", seed=3, scale=0.5)
    truth = json.loads(summary.truth_path.read_text())
    requests = _table(tmp_path / "case", "requests")
    requests["group"] = requests["account_id"].map(
        {a: v["group"] for a, v in truth["accounts"].items()}
    )
    assert all(c["camouflage"] for c in truth["campaigns"].values())
    hosting = requests[requests["group"] == "hosting_network"]
    assert hosting.groupby("account_id")["device_id"].nunique().median() >= 3
    assert (hosting["endpoint"] == "timeline/home").sum() > 0.05 * len(hosting)
    proxy = requests[
        (requests["group"] == "proxy_network") & (requests["endpoint"] == "contacts/lookup")
    ]
    ts = pd.to_datetime(proxy["ts"], format="ISO8601").astype("int64") // 10**6
    gaps = proxy.assign(ts=ts).groupby(["account_id", proxy["ts"].str[:10]])["ts"].diff().dropna()
    assert len(gaps) > 50 and gaps.std() / gaps.mean() > 0.5


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_writes_its_campaigns(tmp_path, name):
    summary = simulate(tmp_path / "case", scenario=name, seed=4, scale=0.2)
    truth = json.loads(summary.truth_path.read_text())
    if SCENARIOS[name].drawn:  # campaigns drawn from the seed (tests/test_simulate_draws.py)
        assert 3 <= len(truth["campaigns"]) <= 6
    else:
        assert set(truth["campaigns"]) == set(SCENARIOS[name].campaigns)
    assert truth["scenario"] == name and summary.rows["requests"] > 5_000
    hard = sum(1 for v in truth["accounts"].values() if v["hard_negative"])
    campaign = sum(1 for v in truth["accounts"].values() if v["kind"] == "campaign")
    if name == "hard-negatives":
        assert hard > 10 * campaign > 0
    if name == "benign":
        assert campaign == 0


def test_bad_arguments_are_refused_with_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match="default"):
        simulate(tmp_path / "case", scenario="nope")
    with pytest.raises(ValueError, match="parquet"):
        simulate(tmp_path / "case", fmt="xlsx")
    with pytest.raises(ValueError, match="inside"):
        simulate(tmp_path / "case", scale=0.1, truth_path=tmp_path / "case" / "truth.json")


def test_cli_writes_the_case_and_prints_a_summary(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(tmp_path / "case"),
            "--scenario",
            "enumeration",
            "--scale",
            "0.2",
            "--seed",
            "7",
            "--format",
            "jsonl",
            "--gzip",
            "--bad-rows",
            "3",
            "--truth",
            str(tmp_path / "t.json"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["scenario"] == "enumeration" and report["bad_rows"] == 3
    assert (tmp_path / "case" / "requests.jsonl.gz").exists() and (tmp_path / "t.json").exists()
    assert report["rows"]["requests"] == len(_table(tmp_path / "case", "requests"))

    shown = CliRunner().invoke(
        cli, ["simulate", str(tmp_path / "again"), "--scale", "0.1", "--camouflage"]
    )
    assert shown.exit_code == 0, shown.output
    assert (
        "requests" in shown.output
        and "proxy_network" in shown.output
        and "camouflage" in shown.output
    )
    assert json.loads((tmp_path / "again.truth.json").read_text())["params"]["camouflage"] is True
