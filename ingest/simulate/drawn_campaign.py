"""One drawn campaign built from its tradecraft: accounts, request rows and cover.

:func:`build_drawn_campaign` turns a tradecraft record (from
:func:`ingest.simulate.tradecraft.draw_tradecraft`) into accounts in the world
and their traffic, using the number selection of
:mod:`ingest.simulate.drawn_numbers`, the addresses and devices of
:mod:`ingest.simulate.drawn_infrastructure` and the schedule of
:mod:`ingest.simulate.drawn_timing`. Its rows are fixed at build time
(:class:`PlannedRows`); a camouflaged campaign also gets benign-looking side
activity on its accounts.
"""

from __future__ import annotations

import math

import numpy as np

from ingest.simulate.catalog import (
    COUNTRIES,
    DAY_MS,
    END_MS,
    HOUR_MS,
    LOGIN,
    LOOKUP,
    NETWORKS,
    START_MS,
    UPLOAD,
)
from ingest.simulate.drawn_infrastructure import drawn_addresses, drawn_devices
from ingest.simulate.drawn_numbers import Numbers, assign_numbers, random_numbers
from ingest.simulate.drawn_timing import active_days, session_onsets
from ingest.simulate.playbook import Campaign
from ingest.simulate.population import Population
from ingest.simulate.users import AddressBooks, Users, weekend_mask
from ingest.simulate.world import Batch, World, concat_batches

__all__ = ["PlannedRows", "build_drawn_campaign"]


class PlannedRows:
    """Request rows fixed at build time, handed out a day at a time."""

    def __init__(self, batch: Batch) -> None:
        order = np.argsort(batch["ts"], kind="stable")
        self.batch = {k: v[order] for k, v in batch.items()}

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        ts = self.batch["ts"]
        lo, hi = np.searchsorted(ts, [START_MS + day * DAY_MS, START_MS + (day + 1) * DAY_MS])
        return {k: v[lo:hi] for k, v in self.batch.items()}


def _rows(
    td: dict,
    rng: np.random.Generator,
    world: World,
    accounts: np.ndarray,
    numbers: list[np.ndarray],
    onsets: list[np.ndarray],
    ip_pools: list[np.ndarray],
    mobile: np.ndarray | None,
    device_pools: list[np.ndarray] | None,
    rotation_agents: tuple[str, ...] | None,
) -> Batch:
    """Lookup, upload and login rows of every session."""
    sess_acc = np.concatenate([np.full(len(o), i) for i, o in enumerate(onsets)])
    sess_ts = np.concatenate(onsets)
    sizes = np.concatenate(
        [
            np.diff(np.linspace(0, len(numbers[i]), len(o) + 1).astype(np.int64))
            for i, o in enumerate(onsets)
        ]
    )
    n_sess = len(sess_ts)
    ips = np.array([ip_pools[a][rng.integers(len(ip_pools[a]))] for a in sess_acc], dtype=np.int32)
    if mobile is not None and len(mobile):
        on_mobile = rng.random(n_sess) < td["mobile_share"]
        ips = np.where(on_mobile, mobile[rng.integers(len(mobile), size=n_sess)], ips)
    if device_pools is None:
        devices = world.new_devices(n_sess, rotation_agents)
    else:
        devices = np.array(
            [device_pools[a][rng.integers(len(device_pools[a]))] for a in sess_acc], dtype=np.int32
        )
    upload = rng.random(n_sess) < td["upload_share"]
    row_sess = np.repeat(np.arange(n_sess), sizes)
    m = len(row_sess)
    if td["timing"] == "cron":
        gaps = td["cadence_s"] * 1000 + rng.exponential(250.0, size=m)
    else:
        gaps = rng.exponential(td["gap_s"] * 1000 * (1 + 2 * td["camouflage"]), size=m)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gaps[first[sizes > 0]] = 0.0
    elapsed = np.cumsum(gaps)
    if m:
        elapsed -= np.repeat(elapsed[np.minimum(first, m - 1)], sizes)
    is_upload = upload[row_sess]
    ts = sess_ts[row_sess] + np.where(is_upload, 0, elapsed.astype(np.int64))
    request = np.where(upload, rng.integers(1, 2**62, size=n_sess), 0)
    logins = np.flatnonzero(rng.random(n_sess) < 0.5)
    lookups = {
        "ts": ts,
        "ip": ips[row_sess],
        "endpoint": np.where(is_upload, UPLOAD, LOOKUP),
        "account": accounts[sess_acc[row_sess]],
        "device": devices[row_sess],
        "status": np.zeros(m, dtype=np.int64),
        "phone": np.concatenate(numbers),
        "request": request[row_sess],
    }
    login = {
        "ts": sess_ts[logins] - rng.integers(1000, 60_000, size=len(logins)),
        "ip": ips[logins],
        "endpoint": np.full(len(logins), LOGIN),
        "account": accounts[sess_acc[logins]],
        "device": devices[logins],
        "status": np.full(len(logins), 200),
        "phone": np.zeros(len(logins), dtype=np.int64),
        "request": np.zeros(len(logins), dtype=np.int64),
    }
    return concat_batches([lookups, login])


def _side_activity(
    td: dict,
    rng: np.random.Generator,
    world: World,
    population: Population,
    accounts: np.ndarray,
    batch: Batch,
    all_ips: np.ndarray,
) -> Users:
    """Benign-looking use of the fake accounts, as much as the camouflage intensity buys."""
    k = len(accounts)
    camo = td["camouflage"]
    # the operation's cover books come from one stock of numbers it gathered (about two accounts
    # share each), not from every number of the country: a small simulated country would otherwise
    # make every camouflaged account's book overlap every other's, whoever runs it
    country = population.circle_numbers[td["operator_country"]]
    pool = rng.choice(country, size=min(len(country), max(200, 25 * k)), replace=False)
    books = AddressBooks.from_lists(
        [pool[rng.integers(len(pool), size=int(rng.integers(20, 80)))] for _ in range(k)]
    )
    # each account's most used address and device, so cover and work look alike
    home_ips = np.empty(k, dtype=np.int32)
    devices = np.empty(k, dtype=np.int32)
    for i, a in enumerate(accounts):
        mine = batch["account"] == a
        home_ips[i] = np.bincount(batch["ip"][mine]).argmax()
        devices[i] = np.bincount(batch["device"][mine]).argmax()
    created = world.created_of(accounts)
    offsets = np.full(k, td["utc_offset_hours"])
    uploaders = np.flatnonzero(rng.random(k) < camo)
    upload_day = rng.integers(td["active_days"][0], td["active_days"][1], size=len(uploaders))
    upload_ts = START_MS + upload_day * DAY_MS + rng.integers(0, DAY_MS, size=len(uploaders))
    keep = upload_ts > created[uploaders]
    return Users(
        accounts=accounts.astype(np.int32),
        offsets_h=offsets,
        weekend_mask=np.full(k, weekend_mask(td["operator_country"]), dtype=np.int64),
        sessions_per_day=camo * rng.gamma(2.0, 0.7, size=k),
        devices=devices,
        home_ips=home_ips,
        mobile_pool=all_ips.astype(np.int32),
        mobile_share=0.3,
        created_at=created,
        books=books,
        book_of=np.arange(k),
        upload_user=uploaders[keep],
        upload_ts=upload_ts[keep].astype(np.int64),
    )


def build_drawn_campaign(
    name: str, td: dict, world: World, population: Population, rng: np.random.Generator
) -> Campaign:
    """Add the accounts of one drawn campaign to ``world`` and plan its traffic.

    Parameters
    ----------
    name : str
        The campaign's name in the ground truth (and its accounts' group).
    td : dict
        Its tradecraft, from :func:`draw_tradecraft`.
    world, population
        The world to add to, and the benign population it hides among (leaked
        lists and address books come from it; shared infrastructure too).
    rng : numpy.random.Generator

    Returns
    -------
    Campaign
        With ``drawn`` set to ``td``; ``origin_country`` is the country its
        infrastructure is in (the writer replaces it with the country most of
        its requests came from).
    """
    k = td["accounts"]
    operator = td["operator_country"]
    weekend = COUNTRIES[operator].weekend
    days = active_days(td, weekend)
    if not len(days):
        days = np.arange(*td["active_days"])
    ip_pools, all_ips, mobile = drawn_addresses(td, world, rng, k)
    device_pools, rotation_agents = drawn_devices(td, world, rng, k)
    if td["account_age"] == "burst":
        t0 = START_MS + int(days[0]) * DAY_MS - int(td["lead_days"] * DAY_MS)
        sitting = rng.integers(0, td["bursts"], size=k)
        created = np.sort(
            t0
            - (sitting * td["bursts_apart_days"] * DAY_MS).astype(np.int64)
            + rng.integers(0, int(td["burst_hours"] * HOUR_MS), size=k)
        )
        signup_ip = np.array([p[0] for p in ip_pools], dtype=np.int32)
        signup_device = (
            np.array([p[0] for p in device_pools], dtype=np.int32)
            if device_pools is not None
            else world.new_devices(k, rotation_agents)
        )
        followers = 5.0
    else:
        created = START_MS - rng.uniform(365, td["age_years"] * 365 + 1, size=k) * DAY_MS
        signup_ip = signup_device = None
        followers = 120.0
    accounts = world.new_accounts(
        k,
        country=operator,
        created_at=created.astype(np.int64),
        group=name,
        kind="campaign",
        signup_ip=signup_ip,
        signup_device=signup_device,
        followers_median=followers,
    )
    volumes = np.maximum(
        1, np.round(td["per_account_lookups"] * rng.lognormal(0.0, 0.35, size=k)).astype(np.int64)
    )
    if td["selection"] == "leaked_list":
        volumes = np.minimum(volumes, td["list_size"])
        if td["division"] != "independent":
            volumes = np.diff(
                np.linspace(0, min(td["list_size"], volumes.sum()), k + 1).astype(np.int64)
            )
            volumes = np.maximum(volumes, 1)
    numbers = assign_numbers(td, Numbers(world, population, rng), volumes)
    numbers = [n if len(n) else _fallback(td, world, rng) for n in numbers]
    burst = td["burst"]
    n_sessions = np.array([max(1, math.ceil(len(n) / burst)) for n in numbers])
    onsets = session_onsets(td, rng, n_sessions, days)
    # nobody works before their account exists
    onsets = [
        np.clip(np.maximum(o, created[i] + 600_000), START_MS, END_MS - 1)
        for i, o in enumerate(onsets)
    ]
    batch = _rows(
        td, rng, world, accounts, numbers, onsets, ip_pools, mobile, device_pools, rotation_agents
    )
    infra_country = _infra_country(td, world, all_ips)
    camp = Campaign(
        name,
        _describe(td),
        infra_country,
        operator,
        COUNTRIES[operator].utc_offset_hours,
        weekend,
        accounts,
        camouflage=td["camouflage"] > 0,
        drawn=td,
    )
    camp.activities.append(PlannedRows(batch))
    if td["camouflage"] > 0:
        camp.activities.append(_side_activity(td, rng, world, population, accounts, batch, all_ips))
    return camp


def _fallback(td: dict, world: World, rng: np.random.Generator) -> np.ndarray:
    """One number for an account a division left without work (it still logs in and tries)."""
    return random_numbers(world, rng, td["target_countries"][0], 1)


def _infra_country(td: dict, world: World, ips: np.ndarray) -> str:
    countries = [NETWORKS[world.ip_network[int(i)]].country for i in ips]
    values, counts = np.unique(countries, return_counts=True)
    return str(values[counts.argmax()])


def _describe(td: dict) -> str:
    return (
        f"drawn: {td['selection'].replace('_', ' ')} numbers, {td['division']} division, "
        f"{td['infrastructure'].replace('_', ' ')}, {td['devices'].replace('_', ' ')}, "
        f"{td['timing'].replace('_', ' ')} timing, {td['account_age']} accounts, "
        f"{td['accounts']} accounts x ~{td['per_account_lookups']} lookups, "
        f"camouflage {td['camouflage']:.2f}"
    )
