"""What every abuse campaign is made of: its truth record, its traffic, its planning.

The playbooks of :mod:`ingest.simulate.campaigns` and the drawn tradecraft of
:mod:`ingest.simulate.tradecraft` build on these pieces: a :class:`Campaign`
(the accounts, the activities that generate their requests, and what the
ground truth says), opened for a hand-written playbook by its
:class:`Playbook` (name, tradecraft, country and clock), :class:`LookupStream` (single lookups working through a
plan, day by day) and :class:`UploadPlan` (address-book uploads fixed in
advance), plus the helpers that spread volume over working windows, pick
number blocks, age accounts and hand out devices, and :func:`cover` for the
benign-looking sessions of a camouflaged campaign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    DAY_MS,
    DAYS,
    HOUR_MS,
    LOGIN,
    LOOKUP,
    START_MS,
)
from ingest.simulate.population import Population
from ingest.simulate.users import AddressBooks, Users, local_times
from ingest.simulate.world import Batch, World, concat_batches

__all__ = [
    "Campaign",
    "Playbook",
    "LookupStream",
    "UploadPlan",
    "plan_windows",
    "workdays",
    "area_blocks",
    "sweep",
    "established",
    "ceil_scale",
    "campaign_devices",
    "cover",
    "covered",
    "swept_lookups",
]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Campaign:
    """One abuse campaign: its accounts, its traffic generators, its truth."""

    name: str
    tradecraft: str
    origin_country: str
    operator_country: str
    utc_offset_hours: float
    weekend: tuple[int, ...]
    accounts: np.ndarray
    activities: list = field(default_factory=list)
    camouflage: bool = False
    #: the tradecraft a drawn campaign was built from (:mod:`ingest.simulate.tradecraft`)
    drawn: dict | None = None

    def truth(self, account_ids: np.ndarray) -> dict:
        """The ground-truth record of this campaign (see the package docstring)."""
        record = {
            "tradecraft": self.tradecraft,
            "origin_country": self.origin_country,
            "operator_country": self.operator_country,
            "utc_offset_hours": self.utc_offset_hours,
            "weekend": [_WEEKDAYS[d] for d in self.weekend],
            "camouflage": self.camouflage,
            "accounts": sorted(str(a) for a in account_ids[self.accounts]),
        }
        if self.drawn is not None:
            record["drawn"] = self.drawn
        return record


@dataclass(frozen=True)
class Playbook:
    """A hand-written playbook as the ground truth names it, and where and when its operators work."""

    name: str
    #: where its requests come from, and its accounts' country unless :meth:`open` is told
    origin_country: str
    #: the operators' clock: their UTC offset and their weekend days (0 is Monday)
    utc_offset_hours: float
    weekend: tuple[int, ...]
    #: what the ground truth says the playbook does
    tradecraft: str
    #: the operators' own country, where it is not ``origin_country``
    operator_country: str | None = None

    def open(
        self,
        world: World,
        n: int,
        created_at: np.ndarray,
        *,
        camouflage: bool,
        country: str | np.ndarray | None = None,
        **account_options,
    ) -> Campaign:
        """A campaign of this playbook with ``n`` new accounts of its own and no activity yet.

        ``country`` is the accounts' country (the origin unless given);
        ``account_options`` go on to :meth:`~ingest.simulate.world.World.new_accounts`.
        """
        accounts = world.new_accounts(
            n,
            country=self.origin_country if country is None else country,
            created_at=created_at,
            group=self.name,
            kind="campaign",
            **account_options,
        )
        return Campaign(
            self.name,
            self.tradecraft,
            self.origin_country,
            self.operator_country or self.origin_country,
            self.utc_offset_hours,
            self.weekend,
            accounts,
            camouflage=camouflage,
        )


@dataclass
class LookupStream:
    """Single-number lookups by a set of accounts, following a precomputed plan.

    ``alloc[d, k]`` lookups by account ``k`` on day ``d`` inside the UTC window
    ``[win_start[d, k], win_end[d, k])`` (ms from the day's start); account
    ``k`` works through ``numbers[k]`` in order, so each day's slice follows
    from the plan alone and days can be generated independently.
    """

    accounts: np.ndarray
    alloc: np.ndarray
    win_start: np.ndarray
    win_end: np.ndarray
    numbers: list[np.ndarray]
    ip_pools: list[np.ndarray]
    device_pools: list[np.ndarray]
    cron: bool = False
    jitter_ms: float = 0.0
    throttle: float = 0.0

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        parts: list[Batch] = []
        day_start = START_MS + day * DAY_MS
        done = self.alloc[:day].sum(axis=0)
        for k, account in enumerate(self.accounts):
            n = int(self.alloc[day, k])
            if n == 0:
                continue
            ws, we = int(self.win_start[day, k]), int(self.win_end[day, k])
            if self.cron:
                step = (we - ws) / n
                t = (
                    ws
                    + np.arange(n) * step
                    + rng.normal(0.0, self.jitter_ms, size=n)
                    + rng.exponential(250.0, size=n)
                )
            else:
                t = np.sort(rng.uniform(ws, we, size=n))
            ts = day_start + np.clip(t, 0, DAY_MS - 1).astype(np.int64)
            phones = self.numbers[k][done[k] : done[k] + n]
            ips = self.ip_pools[k][rng.integers(len(self.ip_pools[k]), size=n)]
            devices = self.device_pools[k][rng.integers(len(self.device_pools[k]), size=n)]
            status = np.where(rng.random(n) < self.throttle, 429, 0)
            parts.append(
                {
                    "ts": ts,
                    "ip": ips,
                    "endpoint": np.full(n, LOOKUP),
                    "account": np.full(n, account),
                    "device": devices,
                    "status": status,
                    "phone": phones,
                    "request": np.zeros(n, dtype=np.int64),
                }
            )
            # a login at the start of each working window
            parts.append(
                {
                    "ts": np.array([day_start + max(ws - int(rng.integers(1000, 60_000)), 0)]),
                    "ip": ips[:1],
                    "endpoint": np.array([LOGIN]),
                    "account": np.array([account]),
                    "device": devices[:1],
                    "status": np.array([200]),
                    "phone": np.zeros(1, dtype=np.int64),
                    "request": np.zeros(1, dtype=np.int64),
                }
            )
        return concat_batches(parts)


@dataclass
class UploadPlan:
    """Address-book uploads fixed in advance: when, by whom, which numbers."""

    ts: np.ndarray
    account: np.ndarray
    ip: np.ndarray
    device: np.ndarray
    books: AddressBooks

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        lo, hi = START_MS + day * DAY_MS, START_MS + (day + 1) * DAY_MS
        due = np.flatnonzero((self.ts >= lo) & (self.ts < hi))
        if not len(due):
            return concat_batches([])
        return self.books.uploads(
            rng, due, self.ts[due], self.account[due], self.ip[due], self.device[due]
        )


# ---- planning helpers --------------------------------------------------------------------


def plan_windows(
    rng: np.random.Generator,
    volume: np.ndarray,
    active: np.ndarray,
    start_h: np.ndarray,
    length_h: np.ndarray,
    offset_h: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread each account's ``volume`` over its active days' working windows.

    ``active``, ``start_h`` (local clock) and ``length_h`` are (days, accounts)
    arrays. Returns ``alloc``, ``win_start`` and ``win_end`` (ms within the UTC day).
    """
    ws = np.round((start_h - offset_h) * HOUR_MS).astype(np.int64) % DAY_MS
    we = np.minimum(ws + np.round(length_h * HOUR_MS).astype(np.int64), DAY_MS - 1)
    weight = active * (we - ws)
    alloc = np.zeros(active.shape, dtype=np.int64)
    for k in range(active.shape[1]):
        w = weight[:, k].astype(float)
        if w.sum() > 0 and volume[k] > 0:
            alloc[:, k] = rng.multinomial(int(volume[k]), w / w.sum())
    return alloc, ws, we


def workdays(
    weekend: tuple[int, ...], n_accounts: int, first: int = 0, last: int = DAYS
) -> np.ndarray:
    """A (days, accounts) mask of working days: not the weekend, and within ``first``..``last``."""
    days = np.arange(DAYS)
    weekday = (2 + days) % 7
    active = ~np.isin(weekday, weekend) & (days >= first) & (days < last)
    return np.repeat(active[:, None], n_accounts, axis=1)


def area_blocks(
    world: World,
    rng: np.random.Generator,
    countries: Sequence[str],
    n_blocks: int,
    populated_share: float,
) -> np.ndarray:
    """``n_blocks`` distinct blocks spread evenly over ``countries``, a share of them where people live.

    The rest are valid but unpopulated ranges, as blind enumeration tries.
    Returned country by country (callers shuffle what they draw from them).
    """
    blocks: list[np.ndarray] = []
    for i, country in enumerate(countries):
        want = n_blocks // len(countries) + (1 if i < n_blocks % len(countries) else 0)
        if not want:
            continue
        lived = np.asarray(world.blocks[country], dtype=np.int64)
        n_lived = min(len(lived), int(rng.binomial(want, populated_share)))
        blocks.append(rng.choice(lived, size=n_lived, replace=False))
        blocks.append(world.random_blocks(country, want - n_lived, exclude=lived))
    return np.concatenate(blocks)


def sweep(
    world: World,
    rng: np.random.Generator,
    countries: tuple[str, ...],
    n: int,
    populated_share: float,
) -> np.ndarray:
    """``n`` numbers in random order, covering whole blocks of ``countries``' ranges.

    A share of the blocks are ones where people live (where lookups can hit);
    the rest are valid but unpopulated ranges, as blind enumeration would try.
    """
    blocks_arr = area_blocks(world, rng, countries, int(np.ceil(n / 1000)), populated_share)
    numbers = (blocks_arr[:, None] * 1000 + np.arange(1000)[None, :]).ravel()
    return rng.permutation(numbers)[:n]


def swept_lookups(
    world: World,
    rng: np.random.Generator,
    accounts: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray, np.ndarray],
    countries: tuple[str, ...],
    populated_share: float,
    ip_pools: list[np.ndarray],
    device_pools: list[np.ndarray],
    **stream,
) -> LookupStream:
    """Lookups through a :func:`sweep` of ``countries``, each account taking the next stretch.

    ``windows`` is what :func:`plan_windows` returned; every account works
    through as many numbers as it was allotted, and ``stream`` goes on to
    :class:`LookupStream` (``cron``, ``jitter_ms``, ``throttle``).
    """
    alloc, ws, we = windows
    numbers = sweep(world, rng, countries, int(alloc.sum()), populated_share=populated_share)
    cuts = np.cumsum(alloc.sum(axis=0))[:-1]
    return LookupStream(
        accounts, alloc, ws, we, np.split(numbers, cuts), ip_pools, device_pools, **stream
    )


def established(rng: np.random.Generator, n: int, years: float = 3.0) -> np.ndarray:
    """Sign-up times of ``n`` accounts made two months to ``years`` before the window."""
    return (START_MS - rng.uniform(60 * DAY_MS, years * 365 * DAY_MS, size=n)).astype(np.int64)


def ceil_scale(base: float, scale: float, minimum: int = 2) -> int:
    """An account count: ``base`` grown with the square root of ``scale``, at least ``minimum``."""
    return max(minimum, int(round(base * np.sqrt(scale))))


def campaign_devices(
    world: World, k: int, *, user_agent: str | None, camouflage: bool
) -> list[np.ndarray]:
    """Each account's devices: one of its own with ``user_agent``, or four app builds if camouflaged."""
    if camouflage:
        return [world.new_devices(4, APP_USER_AGENTS) for _ in range(k)]
    devices = world.new_devices(k, None if user_agent is None else (user_agent,))
    return [devices[i : i + 1] for i in range(k)]


def cover(
    world: World,
    rng: np.random.Generator,
    campaign: Campaign,
    population: Population,
    ip_pools: list[np.ndarray],
    device_pools: list[np.ndarray],
) -> Users:
    """Benign-looking sessions on the abusive accounts (camouflage).

    ``ip_pools`` and ``device_pools`` are the accounts' own: the first of each
    is where and on what they use the app the ordinary way.
    """
    k = len(campaign.accounts)
    pool_numbers = population.circle_numbers[campaign.operator_country]
    books = AddressBooks.from_lists(
        [
            pool_numbers[rng.integers(len(pool_numbers), size=int(rng.integers(20, 60)))]
            for _ in range(k)
        ]
    )
    offsets = np.full(k, campaign.utc_offset_hours)
    upload_ts = local_times(rng, int(rng.integers(0, DAYS)), offsets, np.full(48, 1 / 48))
    return Users(
        accounts=campaign.accounts,
        offsets_h=offsets,
        weekend_mask=np.full(k, sum(1 << d for d in campaign.weekend), dtype=np.int64),
        sessions_per_day=rng.gamma(2.0, 0.6, size=k),
        devices=np.array([p[0] for p in device_pools], dtype=np.int32),
        home_ips=np.array([p[0] for p in ip_pools], dtype=np.int32),
        mobile_pool=np.concatenate(ip_pools),
        mobile_share=0.5,
        created_at=world.created_of(campaign.accounts),
        books=books,
        book_of=np.arange(k),
        upload_user=np.arange(k),
        upload_ts=np.maximum(upload_ts, world.created_of(campaign.accounts) + 600_000),
    )


def covered(
    campaign: Campaign,
    world: World,
    rng: np.random.Generator,
    population: Population,
    ip_pools: list[np.ndarray],
    device_pools: list[np.ndarray],
) -> Campaign:
    """``campaign``, with :func:`cover` sessions added if it is camouflaged."""
    if campaign.camouflage:
        campaign.activities.append(cover(world, rng, campaign, population, ip_pools, device_pools))
    return campaign
