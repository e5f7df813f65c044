"""Scenarios: which campaigns and hard negatives a simulated case holds, and writing it.

A scenario builds a :class:`~ingest.simulate.world.World`, its benign
population and its campaigns, then writes the case folder one simulated day
at a time (bounded memory whatever the scale) and the ground truth apart from it.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ingest.simulate.campaigns import CAMPAIGN_BUILDERS, Campaign, build_campaign
from ingest.simulate.catalog import (
    COUNTRIES,
    DAY_MS,
    DAYS,
    END_MS,
    ENDPOINTS,
    LOOKUP,
    NETWORKS,
    START_MS,
    UPLOAD,
)
from ingest.simulate.lookalikes import LOOKALIKES, build_lookalikes
from ingest.simulate.population import HARD_NEGATIVES, build_population
from ingest.simulate.tradecraft import draw_campaigns
from ingest.simulate.world import World, concat_batches

__all__ = ["Scenario", "SCENARIOS", "SimulationSummary", "simulate", "FORMATS", "TRUTH_FORMAT"]

FORMATS = ("csv", "jsonl", "parquet")
TRUTH_FORMAT = "sybilscope-simulation-truth/1"
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


class _Sink:
    """Writes one table, chunk by chunk, in one format, optionally split into parts."""

    def __init__(
        self, out_dir: Path, stem: str, fmt: str, compress: bool, part_rows: int | None
    ) -> None:
        self.out_dir, self.stem, self.fmt, self.compress, self.part_rows = (
            out_dir,
            stem,
            fmt,
            compress,
            part_rows,
        )
        self.files: list[Path] = []
        self.rows = 0
        self._part_rows = 0
        self._handle = None
        self._raw = None
        self._parquet: pq.ParquetWriter | None = None
        self._header = True

    def _suffix(self) -> str:
        if self.fmt == "parquet":
            return ".parquet"
        return f".{self.fmt}" + (".gz" if self.compress else "")

    def _open(self, schema: pa.Schema) -> None:
        name = self.stem if self.part_rows is None else f"{self.stem}-{len(self.files) + 1:04d}"
        path = self.out_dir / f"{name}{self._suffix()}"
        self.files.append(path)
        self._part_rows = 0
        self._header = True
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, schema, compression="zstd")
            return
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in _close_part
        # mtime=0 and no file name keep gzip output byte-identical between runs
        self._handle = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
            if self.compress
            else self._raw
        )

    def _close_part(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._handle is not None:
            if self._handle is not self._raw:
                self._handle.close()
            self._raw.close()
            self._handle = self._raw = None

    def write(self, table: pa.Table) -> None:
        while table.num_rows or not self.files:
            if not self.files or (self.part_rows is not None and self._part_rows >= self.part_rows):
                self._close_part()
                self._open(table.schema)
            room = table.num_rows if self.part_rows is None else self.part_rows - self._part_rows
            piece, table = table.slice(0, room), table.slice(room)
            self._write_piece(piece)
            if not table.num_rows:
                break

    def _write_piece(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            buf = io.BytesIO()
            pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=self._header))
            self._handle.write(buf.getvalue())
        elif table.num_rows:
            self._handle.write(_json_lines(table))
        self._header = False
        self._part_rows += table.num_rows
        self.rows += table.num_rows

    def close(self) -> list[Path]:
        self._close_part()
        return self.files


def _json_value(column: pa.ChunkedArray) -> pa.Array:
    """Each value of ``column`` as JSON text (``null`` for nulls)."""
    column = column.combine_chunks()
    if pa.types.is_string(column.type):
        escaped = column
        if pc.any(pc.match_substring_regex(column, r'["\\\x00-\x1f]')).as_py():
            escaped = pc.replace_substring(escaped, "\\", "\\\\")
            escaped = pc.replace_substring(escaped, '"', '\\"')
            for code in range(32):  # control characters, as JSON requires
                escaped = pc.replace_substring(escaped, chr(code), f"\\u{code:04x}")
        text = pc.binary_join_element_wise('"', escaped, '"', "")
    elif pa.types.is_boolean(column.type):
        text = pc.if_else(column, "true", "false")
    else:
        text = column.cast(pa.string())
    return pc.fill_null(text, "null")


def _json_lines(table: pa.Table) -> bytes:
    """The table as JSON Lines, built column-wise in Arrow (no per-row Python)."""
    parts: list = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        parts.append(_json_value(table.column(name)))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "").cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _iso(ms: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(ms, pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return pc.take(values, pa.array(idx, mask=idx < 0))


class _Tables:
    """Turns integer-coded batches into the contract's string columns."""

    def __init__(self, world: World, ts_as_text: bool) -> None:
        self.world = world
        self.ts_as_text = ts_as_text
        self.ips = pa.array(world.ips, pa.string())
        self.account_ids = pa.array(list(world.account_ids), pa.string())
        self.devices = pa.array(world.devices, pa.string())
        self.user_agents = pa.array(world.device_ua, pa.string())
        self.endpoints = pa.array(list(ENDPOINTS), pa.string())

    def requests(
        self, b: dict[str, np.ndarray], matched: np.ndarray, status: np.ndarray
    ) -> pa.Table:
        phone = b["phone"]
        phone_text = pc.utf8_replace_slice(
            pa.array(phone, mask=phone <= 0).cast(pa.string()), start=0, stop=0, replacement="+"
        )
        req = b["request"]
        uniq, inverse = np.unique(req, return_inverse=True)
        req_text = pa.array([f"{int(x):016x}" for x in uniq], pa.string())
        req_idx = np.where(req > 0, inverse, -1)
        ts = _iso(b["ts"]) if self.ts_as_text else pa.array(b["ts"], pa.timestamp("ms", tz="UTC"))
        return pa.table(
            {
                "ts": ts,
                "ip": _take(self.ips, b["ip"]),
                "endpoint": _take(self.endpoints, b["endpoint"].astype(np.int64)),
                "account_id": _take(self.account_ids, b["account"]),
                "device_id": _take(self.devices, b["device"]),
                "user_agent": _take(self.user_agents, b["device"]),
                "status": pa.array(status.astype(np.int32)),
                "phone": phone_text,
                "matched_account_id": _take(self.account_ids, matched),
                "request_id": _take(req_text, req_idx),
            }
        )


def _bad_rows(
    table: pa.Table, positions: np.ndarray, kinds: list[str], rng: np.random.Generator
) -> pa.Table:
    """Copies of real rows broken in one way each, to exercise ingest's quarantine."""
    rows = table.take(pa.array(rng.integers(0, table.num_rows, size=len(kinds)))).to_pylist()
    for row, kind in zip(rows, kinds, strict=True):
        if kind == "unparseable_ts":
            row["ts"] = str(rng.choice(["2019-12-32T25:61:00Z", "yesterday", "24/12/2019 6pm"]))
        elif kind == "invalid_ip":
            row["ip"] = str(rng.choice(["300.17.42.999", "not-an-ip", "10.0.0"]))
        else:
            row[str(rng.choice(["ip", "endpoint"]))] = None
    broken = pa.Table.from_pylist(rows, schema=table.schema)
    out = table
    # insert from the last position backwards so earlier positions stay valid
    for pos, i in sorted(zip(positions, range(len(kinds)), strict=True), reverse=True):
        out = pa.concat_tables([out.slice(0, pos), broken.slice(i, 1), out.slice(pos)])
    return out


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
        campaigns += draw_campaigns(world, population, seed, scale=scale, camouflage=camouflage)
    _background_labels(world)
    world.finalize()
    activities = list(population.activities) + [a for c in campaigns for a in c.activities]

    suspended_at = np.full(world.n_accounts, np.iinfo(np.int64).max, dtype=np.int64)
    for account, ts in world.suspended.items():
        suspended_at[account] = ts
    tables = _Tables(world, ts_as_text=(fmt != "parquet" or bad_rows > 0))
    sink = _Sink(out, "requests", fmt, compress, part_rows)
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
                table = _bad_rows(table, local, chunk_kinds, placement)
                for pos, kind in sorted(zip(local, chunk_kinds, strict=True)):
                    bad_log.append(
                        {"kind": kind, "chunk": (day, first), "row": sink.rows + int(pos)}
                    )
            sink.write(table)
        if progress is not None:
            progress(day + 1, DAYS, sink.rows)
    files = sink.close()
    # row numbers above count earlier insertions of the same day too; make them exact
    bad_log = _exact_bad_rows(bad_log)

    rows = {"requests": sink.rows}
    for name, table in (
        ("accounts", _accounts_table(world, fmt)),
        ("ip_intel", _ip_intel_table(world)),
        ("labels", _labels_table(world)),
    ):
        s = _Sink(out, name, fmt, compress, None)
        s.write(table)
        files += s.close()
        rows[name] = s.rows

    for i, c in enumerate(campaigns):
        if c.drawn is not None and origin_rows[i].any():
            c.origin_country = countries[int(origin_rows[i].argmax())]
    truth = _truth(
        world, campaigns, called, scenario, spec, seed, scale, camo, bad_log, population.passive
    )
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


def _exact_bad_rows(log: list[dict]) -> list[dict]:
    """Shift each bad row's index by the bad rows inserted before it in the same slice."""
    out = []
    seen: dict[tuple[int, int], int] = {}
    for entry in log:
        n = seen.get(entry["chunk"], 0)
        out.append({"kind": entry["kind"], "row": entry["row"] + n})
        seen[entry["chunk"]] = n + 1
    return out


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


def _accounts_table(world: World, fmt: str) -> pa.Table:
    a = world.account
    status = np.full(world.n_accounts, "active", dtype=object)
    status[list(world.suspended)] = "suspended"
    order = np.argsort(world.account_ids.astype(str), kind="stable")
    created = a["created_at"][order]
    signup_ip = a["signup_ip"][order]
    signup_dev = a["signup_device"][order]
    return pa.table(
        {
            "account_id": pa.array(world.account_ids[order].tolist(), pa.string()),
            "created_at": _iso(created)
            if fmt != "parquet"
            else pa.array(created, pa.timestamp("ms", tz="UTC")),
            "handle": pa.array(world.account_handles[order].tolist(), pa.string()),
            "phone_country": pa.array(a["phone_country"][order].tolist(), pa.string()),
            "discoverable_by_phone": pa.array(a["discoverable"][order]),
            "status": pa.array(status[order].tolist(), pa.string()),
            "signup_ip": _take(pa.array(world.ips, pa.string()), signup_ip.astype(np.int64)),
            "signup_device_id": _take(
                pa.array(world.devices, pa.string()), signup_dev.astype(np.int64)
            ),
            "lang": pa.array(a["lang"][order].tolist(), pa.string()),
            "followers": pa.array(a["followers"][order]),
        }
    )


def _ip_intel_table(world: World) -> pa.Table:
    used = sorted(set(world.ip_network), key=lambda n: NETWORKS[n].cidr)
    nets = [NETWORKS[n] for n in used]
    return pa.table(
        {
            "network": [n.cidr for n in nets],
            "country": [n.country for n in nets],
            "asn": pa.array([n.asn for n in nets], pa.int64()),
            "as_org": [n.as_org for n in nets],
            "kind": [n.kind for n in nets],
        }
    )


def _labels_table(world: World) -> pa.Table:
    rows = []
    for entity, index, label, actor, source, note in world.prior_labels:
        ident = world.account_ids[index] if entity == "account" else world.ips[index]
        rows.append((entity, str(ident), label, actor or None, source, note))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
    names = ("entity", "id", "label", "actor", "source", "note")
    return pa.table({n: pa.array(list(c), pa.string()) for n, c in zip(names, cols, strict=True)})


def _truth(world, campaigns, called, scenario, spec, seed, scale, camo, bad_log, passive) -> dict:
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
