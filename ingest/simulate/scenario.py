"""Scenarios: which campaigns and hard negatives a simulated case holds, and writing it.

A scenario builds a :class:`~ingest.simulate.world.World`, its benign
population and its campaigns, then writes the case folder one simulated day
at a time (bounded memory whatever the scale) and the ground truth apart from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.simulate.campaigns import CAMPAIGN_BUILDERS, Campaign, build_campaign
from ingest.simulate.catalog import (
    COUNTRIES,
    DAY_MS,
    DAYS,
    LOOKUP,
    NETWORKS,
    START_MS,
    UPLOAD,
)
from ingest.simulate.lookalikes import LOOKALIKES, build_lookalikes
from ingest.simulate.population import HARD_NEGATIVES, build_population
from ingest.simulate.sink import TableSink
from ingest.simulate.tables import (
    RequestTables,
    accounts_table,
    ip_intel_table,
    labels_table,
    with_bad_rows,
)
from ingest.simulate.tradecraft import draw_campaigns
from ingest.simulate.truth import TRUTH_FORMAT, exact_bad_rows, truth_record
from ingest.simulate.world import World, concat_batches

__all__ = ["Scenario", "SCENARIOS", "SimulationSummary", "simulate", "FORMATS", "TRUTH_FORMAT"]

FORMATS = ("csv", "jsonl", "parquet")
_CHUNK_ROWS = 262_144
_ALL = {name: 1.0 for name in CAMPAIGN_BUILDERS}


@dataclass(frozen=True)
class Scenario:
    """A named mix: campaign sizes (1.0 = standard), camouflage, hard-negative weight.

    A ``drawn`` scenario has no fixed campaigns: 3 to 6 are drawn from the
    seed (:func:`ingest.simulate.tradecraft.draw_campaigns`), and the extra
    look-alikes of :mod:`ingest.simulate.lookalikes` join the population.
    """

    description: str
    campaigns: dict[str, float]
    camouflage: bool = False
    hard_negative_scale: float = 1.0
    volume: float = 1.0  # multiplies the campaigns' lookups only
    drawn: bool = False

    @property
    def hard_negatives(self) -> tuple[str, ...]:
        """The hard-negative groups this scenario's population holds."""
        return HARD_NEGATIVES + LOOKALIKES if self.drawn else HARD_NEGATIVES


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(
        "all six campaigns among a benign population with every hard-negative group", _ALL
    ),
    "camouflage": Scenario(
        "the default scenario with timing jitter, device rotation and benign cover traffic",
        _ALL,
        camouflage=True,
    ),
    "hard-negatives": Scenario(
        "mostly hard negatives (three times the usual groups) and one small hosting network",
        {"hosting_network": 0.35},
        hard_negative_scale=3.0,
    ),
    "enumeration": Scenario(
        "the enumeration playbooks only: lone researcher, volume through few addresses, sharding",
        {"lone_enumerator": 1.0, "volume_network": 1.0, "sharding_network": 1.0},
    ),
    "state-linked": Scenario(
        "the coordinated networks only: hosting, residential proxies, targeted unmasking",
        {"hosting_network": 1.0, "proxy_network": 1.0, "targeted_unmasking": 1.0},
    ),
    "benign": Scenario("no abuse at all: every flag is a false positive", {}),
    "incident-2019": Scenario(
        "the default mix with enumeration volume 15 times higher, as in the December 2019 incident "
        "(scale 20 gives about 17 million lookup rows)",
        _ALL,
        volume=17.5,
    ),
    "drawn": Scenario(
        "3 to 6 campaigns whose tradecraft (number selection, division of labour, infrastructure, "
        "devices, timing, account age, volume, camouflage, size) is drawn from the seed, among a "
        "benign population with every look-alike",
        {},
        drawn=True,
    ),
}


@dataclass
class SimulationSummary:
    """What :func:`simulate` wrote and how fast."""

    out_dir: Path
    truth_path: Path
    scenario: str
    seed: int
    scale: float
    camouflage: bool
    fmt: str
    files: list[Path]
    rows: dict[str, int]
    accounts: int
    callers: int
    campaigns: dict[str, int]
    hard_negatives: dict[str, int]
    lookup_rows: int
    matched_rows: int
    bad_rows: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows.get("requests", 0) / self.seconds if self.seconds > 0 else 0.0


def simulate(
    out_dir: str | Path,
    *,
    scenario: str = "default",
    seed: int = 0,
    scale: float = 1.0,
    camouflage: bool = False,
    fmt: str = "csv",
    truth_path: str | Path | None = None,
    compress: bool = False,
    part_rows: int | None = None,
    bad_rows: int = 0,
    tradecraft: Mapping[str, Collection[str]] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> SimulationSummary:
    """Write a simulated case folder and its ground truth.

    Parameters
    ----------
    out_dir : path
        The case folder to create (tables ``requests``, ``accounts``,
        ``ip_intel``, ``labels``). Existing tables of the same names are replaced.
    scenario : str
        One of :data:`SCENARIOS`.
    seed : int
        Same seed, scenario, scale and options give byte-identical files.
    scale : float
        Multiplies the population and the campaigns' volume (campaign account
        counts grow with its square root). 1.0 writes about 100k request rows.
    camouflage : bool
        Force camouflage on (the ``camouflage`` scenario has it already).
    fmt : {"csv", "jsonl", "parquet"}
        File format of every table.
    truth_path : path, optional
        Where the ground truth goes; default ``<out_dir>.truth.json`` beside
        the folder, never inside it.
    compress : bool
        Gzip CSV and JSON Lines files (``.csv.gz``, ``.jsonl.gz``).
    part_rows : int, optional
        Split ``requests`` into ``requests-0001...`` files of at most this many rows.
    bad_rows : int
        Insert this many contract-breaking request rows (unparseable timestamp,
        invalid IP, missing required value), listed in the truth file.
    tradecraft : mapping, optional
        ``drawn`` scenario only: draw only campaigns taking these values of
        these choices (``{"selection": ["leaked_list"]}``;
        :func:`ingest.simulate.tradecraft.draw_plan`), to stress one kind of
        operation in a development draw.
    progress : callable, optional
        Called as ``progress(days_done, days_total, rows_written)``.

    Returns
    -------
    SimulationSummary
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if bad_rows < 0:
        raise ValueError(f"bad_rows must be zero or more, got {bad_rows}")
    if part_rows is not None and part_rows < 1:
        raise ValueError(f"part_rows must be at least 1, got {part_rows}")
    if tradecraft and not SCENARIOS[scenario].drawn:
        raise ValueError(f"only a drawn scenario draws its tradecraft, not {scenario!r}")
    started = time.perf_counter()
    spec = SCENARIOS[scenario]
    camo = camouflage or spec.camouflage
    out = Path(out_dir)
    truth_file = (
        Path(truth_path) if truth_path is not None else out.parent / f"{out.name}.truth.json"
    )
    if truth_file.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"the truth file {truth_file} must not be inside the case folder {out}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file() and old.name.split(".")[0].split("-")[0] in (
            "requests",
            "accounts",
            "ip_intel",
            "labels",
        ):
            old.unlink()

    world = World(np.random.default_rng([seed, 0]))
    population = build_population(world, scale, hard_negative_scale=spec.hard_negative_scale)
    if spec.drawn:
        build_lookalikes(world, population, scale)
    campaigns: list[Campaign] = [
        build_campaign(
            name,
            world,
            population,
            world.rng,
            scale=scale,
            size=size,
            camouflage=camo,
            volume=spec.volume,
        )
        for name, size in spec.campaigns.items()
    ]
    if spec.drawn:
        campaigns += draw_campaigns(world, population, seed, scale=scale, camouflage=camouflage, only=tradecraft)
    _background_labels(world)
    world.finalize()
    activities = list(population.activities) + [a for c in campaigns for a in c.activities]

    suspended_at = np.full(world.n_accounts, np.iinfo(np.int64).max, dtype=np.int64)
    for account, ts in world.suspended.items():
        suspended_at[account] = ts
    tables = RequestTables(world, ts_as_text=(fmt != "parquet" or bad_rows > 0))
    sink = TableSink(out, "requests", fmt, compress, part_rows)
    placement = np.random.default_rng([seed, 2])
    bad_days = np.sort(placement.integers(0, DAYS, size=bad_rows))
    bad_kinds = [
        ("unparseable_ts", "invalid_ip", "missing_required")[i % 3] for i in range(bad_rows)
    ]
    bad_log: list[dict] = []
    called = np.zeros(world.n_accounts, dtype=bool)
    # requests per (campaign, IP country), for the truth's origin of drawn campaigns
    countries = list(COUNTRIES) + sorted({n.country for n in NETWORKS.values()} - set(COUNTRIES))
    ip_country = np.array(
        [countries.index(NETWORKS[n].country) for n in world.ip_network], dtype=np.int64
    )
    campaign_of = np.full(world.n_accounts, -1, dtype=np.int64)
    for i, c in enumerate(campaigns):
        campaign_of[c.accounts] = i
    origin_rows = np.zeros((len(campaigns), len(countries)), dtype=np.int64)
    lookup_rows = matched_rows = 0
    for day in range(DAYS):
        batch = concat_batches(
            [
                a.emit(day, np.random.default_rng([seed, 1, i, day]))
                for i, a in enumerate(activities)
            ]
        )
        lo, hi = START_MS + day * DAY_MS, START_MS + (day + 1) * DAY_MS
        acct = batch["account"]
        keep = (
            (batch["ts"] >= lo)
            & (batch["ts"] < hi)
            & (batch["ts"] < np.where(acct >= 0, suspended_at[np.maximum(acct, 0)], hi))
        )
        batch = {k: v[keep] for k, v in batch.items()}
        day_rng = np.random.default_rng([seed, 3, day])
        order = np.lexsort((day_rng.random(len(batch["ts"])), batch["ts"]))
        batch = {k: v[order] for k, v in batch.items()}
        is_lookup = (batch["endpoint"] == LOOKUP) | (batch["endpoint"] == UPLOAD)
        matched = np.where(is_lookup & (batch["status"] != 429), world.match(batch["phone"]), -1)
        status = batch["status"].astype(np.int32)
        status = np.where(status == 0, np.where(matched >= 0, 200, 404), status)
        lookup_rows += int(is_lookup.sum())
        matched_rows += int((matched >= 0).sum())
        called[batch["account"][batch["account"] >= 0]] = True
        owner = campaign_of[np.maximum(batch["account"], 0)]
        mine = (batch["account"] >= 0) & (owner >= 0)
        np.add.at(origin_rows, (owner[mine], ip_country[batch["ip"][mine]]), 1)
        n_rows = len(batch["ts"])
        todays = np.flatnonzero(bad_days == day) if n_rows else np.empty(0, dtype=np.int64)
        positions = placement.integers(0, n_rows + 1, size=len(todays))
        kinds = [bad_kinds[i] for i in todays]
        # convert and write in slices: bounded memory and sensible Parquet row groups
        for first in range(0, n_rows, _CHUNK_ROWS):
            last = min(first + _CHUNK_ROWS, n_rows)
            part = {k: v[first:last] for k, v in batch.items()}
            table = tables.requests(part, matched[first:last], status[first:last])
            here = np.flatnonzero(
                (positions >= first)
                & ((positions < last) | (positions == n_rows) & (last == n_rows))
            )
            if len(here):
                local = positions[here] - first
                chunk_kinds = [kinds[i] for i in here]
                table = with_bad_rows(table, local, chunk_kinds, placement)
                for pos, kind in sorted(zip(local, chunk_kinds, strict=True)):
                    bad_log.append(
                        {"kind": kind, "chunk": (day, first), "row": sink.rows + int(pos)}
                    )
            sink.write(table)
        if progress is not None:
            progress(day + 1, DAYS, sink.rows)
    files = sink.close()
    # row numbers above count earlier insertions of the same day too; make them exact
    bad_log = exact_bad_rows(bad_log)

    rows = {"requests": sink.rows}
    for name, table in (
        ("accounts", accounts_table(world, fmt)),
        ("ip_intel", ip_intel_table(world)),
        ("labels", labels_table(world)),
    ):
        s = TableSink(out, name, fmt, compress, None)
        s.write(table)
        files += s.close()
        rows[name] = s.rows

    for i, c in enumerate(campaigns):
        if c.drawn is not None and origin_rows[i].any():
            c.origin_country = countries[int(origin_rows[i].argmax())]
    truth = truth_record(
        world, campaigns, called, scenario, spec, seed, scale, camo, bad_log, population.passive
    )
    if tradecraft:  # what the draw was narrowed to, to draw it again (others' truth stays as it was)
        truth["params"]["tradecraft"] = {choice: sorted(values) for choice, values in sorted(tradecraft.items())}
    truth_file.parent.mkdir(parents=True, exist_ok=True)
    truth_file.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    hard = {
        name: sum(1 for a in truth["accounts"].values() if a["hard_negative"] == name)
        for name in spec.hard_negatives
    }
    return SimulationSummary(
        out_dir=out,
        truth_path=truth_file,
        scenario=scenario,
        seed=seed,
        scale=scale,
        camouflage=camo,
        fmt=fmt,
        files=files,
        rows=rows,
        accounts=world.n_accounts,
        callers=int(called.sum()),
        campaigns={c.name: len(c.accounts) for c in campaigns},
        hard_negatives=hard,
        lookup_rows=lookup_rows,
        matched_rows=matched_rows,
        bad_rows=bad_rows,
        seconds=time.perf_counter() - started,
    )


def _background_labels(world: World) -> None:
    """Prior knowledge unrelated to the campaigns: spam suspensions, vetted networks."""
    rng = world.rng
    benign = np.flatnonzero(world.account["kind"] == "benign")
    spam = rng.choice(benign, size=max(1, len(benign) // 250), replace=False)
    for a in spam:
        world.suspended[int(a)] = int(START_MS + rng.integers(0, DAYS * DAY_MS))
        world.prior_labels.append(("account", int(a), "suspended", "", "platform", "spam"))
    heavy = np.flatnonzero(world.account["hard_negative"] == "heavy_user")
    world.prior_labels.extend(
        ("account", int(a), "benign", "", "trust-and-safety", "verified news organisation")
        for a in heavy
    )
    for ip, network in enumerate(world.ip_network):
        if network == "de_telekom_business":
            world.prior_labels.append(
                ("ip", ip, "benign", "", "trust-and-safety", "registered corporate egress")
            )
