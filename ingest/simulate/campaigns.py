"""Abuse campaigns in the style of December 2019, each with its own tradecraft.

Twitter's disclosure of 2019-12-24 (and the researcher who matched 17 million
phone numbers to accounts) describe the playbooks modelled here. Each builder
adds its fake accounts to the world and returns a :class:`Campaign`: the
activities that generate its traffic plus what the ground truth says about it
(tradecraft, the country its requests come from, the operators' clock).

``lone_enumerator``
    One researcher, two accounts and two home connections, enumerating numbers
    in random order round the clock at huge volume; almost all misses.
``hosting_network``
    A state-linked network of emulator accounts sharing a few hosting
    addresses in Iran, working office hours with a Friday weekend.
``volume_network``
    A handful of accounts pushing huge volume through two addresses, hitting
    the rate limiter, in shifts.
``proxy_network``
    Accounts spread over hundreds of residential proxy exits (mostly US), but
    sharing three device fingerprints and firing on a cron-like clock set to
    the operators' time zone.
``sharding_network``
    Accounts each covering a complementary slice of the same number blocks,
    each account looking modest, on separate ordinary connections.
``targeted_unmasking``
    Operators looking up a leaked list of dissidents and journalists through
    address-book uploads: per-account volume and hit ratio of an ordinary sync;
    only shared targets, shared addresses, a synchronized schedule and a
    creation burst give them away.

Camouflage (any campaign) adds timing jitter, device rotation and benign-looking
sessions on the abusive accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    DAY_MS,
    DAYS,
    EMULATOR_USER_AGENT,
    HOME_NETWORKS,
    LOGIN,
    LOOKUP,
    OLD_ANDROID_USER_AGENT,
    START_MS,
    UPLOAD,
)
from ingest.simulate.population import AddressBooks, Population, Users, local_times
from ingest.simulate.world import Batch, World, concat_batches

__all__ = ["Campaign", "CAMPAIGN_BUILDERS", "build_campaign"]

_HOUR_MS = 3_600_000
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
        sizes = self.books.sizes()[due]
        rows = np.repeat(np.arange(len(due)), sizes)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        phone = self.books.numbers[self.books.offsets[due][rows] + within]
        request = rng.integers(1, 2**62, size=len(due))
        m = len(rows)
        return {
            "ts": self.ts[due][rows],
            "ip": self.ip[due][rows],
            "endpoint": np.full(m, UPLOAD),
            "account": self.account[due][rows],
            "device": self.device[due][rows],
            "status": np.full(m, 200),
            "phone": phone,
            "request": request[rows],
        }


# ---- planning helpers --------------------------------------------------------------------


def _plan(
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
    ws = np.round((start_h - offset_h) * _HOUR_MS).astype(np.int64) % DAY_MS
    we = np.minimum(ws + np.round(length_h * _HOUR_MS).astype(np.int64), DAY_MS - 1)
    weight = active * (we - ws)
    alloc = np.zeros(active.shape, dtype=np.int64)
    for k in range(active.shape[1]):
        w = weight[:, k].astype(float)
        if w.sum() > 0 and volume[k] > 0:
            alloc[:, k] = rng.multinomial(int(volume[k]), w / w.sum())
    return alloc, ws, we


def _workdays(
    weekend: tuple[int, ...], n_accounts: int, first: int = 0, last: int = DAYS
) -> np.ndarray:
    days = np.arange(DAYS)
    weekday = (2 + days) % 7
    active = ~np.isin(weekday, weekend) & (days >= first) & (days < last)
    return np.repeat(active[:, None], n_accounts, axis=1)


def area_blocks(
    world: World, rng: np.random.Generator, countries: Sequence[str], n_blocks: int, populated_share: float
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


def _sweep(
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


def _established(rng: np.random.Generator, n: int, years: float = 3.0) -> np.ndarray:
    return (START_MS - rng.uniform(60 * DAY_MS, years * 365 * DAY_MS, size=n)).astype(np.int64)


def _ceil_scale(base: float, scale: float, minimum: int = 2) -> int:
    return max(minimum, int(round(base * np.sqrt(scale))))


def _device_pools(
    world: World,
    k: int,
    *,
    shared: np.ndarray | None,
    user_agent: str | None,
    camouflage: bool,
    rng,
) -> list[np.ndarray]:
    if camouflage:
        return [world.new_devices(4, APP_USER_AGENTS) for _ in range(k)]
    if shared is not None:
        return [shared for _ in range(k)]
    devices = world.new_devices(k, None if user_agent is None else (user_agent,))
    return [devices[i : i + 1] for i in range(k)]


def _cover(
    world: World,
    rng: np.random.Generator,
    campaign: Campaign,
    population: Population,
    ip_pools,
    device_pools,
) -> Users:
    """Benign-looking sessions on the abusive accounts (camouflage)."""
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


# ---- the campaigns -------------------------------------------------------------------------


def _lone_enumerator(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    country, offset, weekend = "IL", 2.0, (4, 5)
    created = np.array([START_MS - 7 * 365 * DAY_MS, START_MS - 3 * DAY_MS], dtype=np.int64)
    accounts = world.new_accounts(
        2,
        country=country,
        created_at=created,
        group="lone_enumerator",
        kind="campaign",
        discoverable_share=0.0,
    )
    camp = Campaign(
        "lone_enumerator",
        "random-order enumeration at huge volume from one or two accounts and addresses",
        country,
        country,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    ips = [world.new_ips("il_hot", 1), world.new_ips("il_cellcom", 1)]
    devices = _device_pools(
        world, 2, shared=None, user_agent=OLD_ANDROID_USER_AGENT, camouflage=camouflage, rng=rng
    )
    per_account = np.round(np.array([0.75, 0.25]) * 16_000 * scale * size * volume)
    active = np.zeros((DAYS, 2), dtype=bool)
    active[2:7] = True  # 2019-12-20 .. 2019-12-24, then the platform stopped it
    start_h = rng.uniform(6, 11, size=(DAYS, 2))
    length_h = rng.uniform(13, 18, size=(DAYS, 2))
    alloc, ws, we = _plan(rng, per_account, active, start_h, length_h, offset)
    numbers = _sweep(
        world, rng, ("IL", "US", "GB", "IR", "DE"), int(alloc.sum()), populated_share=0.5
    )
    cuts = np.cumsum(alloc.sum(axis=0))[:-1]
    camp.activities.append(
        LookupStream(
            accounts,
            alloc,
            ws,
            we,
            np.split(numbers, cuts),
            ips,
            devices,
            cron=False,
            throttle=0.01,
        )
    )
    world.suspended.update({int(a): START_MS + 7 * DAY_MS for a in accounts})
    if camouflage:
        camp.activities.append(_cover(world, rng, camp, pop, ips, devices))
    return camp


def _hosting_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    country, offset, weekend = "IR", 3.5, (4,)
    k = _ceil_scale(12 * size, scale)
    batches = (
        START_MS - rng.choice([41, 33, 26], size=k) * DAY_MS + rng.integers(0, 2 * _HOUR_MS, size=k)
    )
    accounts = world.new_accounts(
        k, country=country, created_at=batches, group="hosting_network", kind="campaign"
    )
    camp = Campaign(
        "hosting_network",
        "state-linked emulator accounts sharing hosting addresses, office hours",
        country,
        country,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    hosting = np.concatenate(
        [
            world.new_ips("ir_hostiran", 2),
            world.new_ips("ir_netmihan", 2),
            world.new_ips("ir_parsdade", 1),
        ]
    )
    ip_pools = [hosting[rng.choice(len(hosting), size=2, replace=False)] for _ in range(k)]
    devices = _device_pools(
        world, k, shared=None, user_agent=EMULATOR_USER_AGENT, camouflage=camouflage, rng=rng
    )
    per_account = rng.multinomial(int(8000 * scale * size * volume), np.full(k, 1 / k))
    active = _workdays(weekend, k)
    jitter = 1.5 if camouflage else 0.3
    start_h = 8 + rng.normal(0, jitter, size=(DAYS, k))
    length_h = 8.5 + rng.normal(0, jitter, size=(DAYS, k))
    alloc, ws, we = _plan(rng, per_account, active, start_h, length_h, offset)
    queue = _sweep(world, rng, ("IR",), int(alloc.sum()), populated_share=0.8)
    cuts = np.cumsum(alloc.sum(axis=0))[:-1]
    camp.activities.append(
        LookupStream(accounts, alloc, ws, we, np.split(queue, cuts), ip_pools, devices)
    )
    suspended = accounts[rng.choice(k, size=min(2, k), replace=False)]
    world.suspended.update({int(a): START_MS + 9 * DAY_MS for a in suspended})
    world.prior_labels.extend(
        ("account", int(a), "suspended", "", "platform", "platform manipulation, 2019-12-27")
        for a in suspended
    )
    if camouflage:
        camp.activities.append(_cover(world, rng, camp, pop, ip_pools, devices))
    return camp


def _volume_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    country, offset, weekend = "MY", 8.0, (5, 6)
    k = _ceil_scale(6 * size, scale)
    accounts = world.new_accounts(
        k,
        country=country,
        created_at=_established(rng, k, 1.0),
        group="volume_network",
        kind="campaign",
    )
    camp = Campaign(
        "volume_network",
        "huge volume pushed through a few addresses, in shifts, rate limited",
        country,
        country,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    egress = world.new_ips("my_tm_biz", 2)
    ip_pools = [egress for _ in range(k)]
    devices = _device_pools(
        world, k, shared=None, user_agent=OLD_ANDROID_USER_AGENT, camouflage=camouflage, rng=rng
    )
    per_account = rng.multinomial(int(12_000 * scale * size * volume), np.full(k, 1 / k))
    active = np.zeros((DAYS, k), dtype=bool)
    active[:10] = True
    shift = np.where(np.arange(k) % 2 == 0, 7.0, 19.0)[None, :] + rng.normal(0, 0.3, size=(DAYS, k))
    alloc, ws, we = _plan(rng, per_account, active, shift, np.full((DAYS, k), 11.5), offset)
    queue = _sweep(world, rng, ("MY", "ID", "IN"), int(alloc.sum()), populated_share=0.6)
    cuts = np.cumsum(alloc.sum(axis=0))[:-1]
    camp.activities.append(
        LookupStream(
            accounts, alloc, ws, we, np.split(queue, cuts), ip_pools, devices, throttle=0.06
        )
    )
    if camouflage:
        camp.activities.append(_cover(world, rng, camp, pop, ip_pools, devices))
    return camp


def _proxy_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    origin, operator, offset, weekend = "US", "IR", 3.5, (4,)
    k = _ceil_scale(15 * size, scale)
    accounts = world.new_accounts(
        k,
        country=rng.choice(["US", "GB", "DE"], size=k, p=[0.6, 0.2, 0.2]).astype(object),
        created_at=_established(rng, k, 6.0),
        group="proxy_network",
        kind="campaign",
    )
    camp = Campaign(
        "proxy_network",
        "residential proxy exits, shared device fingerprints, cron-like timing",
        origin,
        operator,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    n_exits = max(60, int(300 * np.sqrt(scale) * size))
    n_us = int(n_exits * 0.7)
    us = np.concatenate([world.new_ips(net, n_us // 3 + 1) for net in HOME_NETWORKS["US"]])
    rest = np.concatenate(
        [
            world.new_ips("gb_bt", (n_exits - n_us) // 2 + 1),
            world.new_ips("de_vodafone", (n_exits - n_us) // 2 + 1),
        ]
    )
    exits = np.concatenate([us, rest])
    ip_pools = [exits for _ in range(k)]
    if camouflage:
        shared = world.new_devices(40, APP_USER_AGENTS)
    else:
        shared = world.new_devices(3, (APP_USER_AGENTS[0],))
    devices = [shared for _ in range(k)]
    per_account = rng.multinomial(int(6000 * scale * size * volume), np.full(k, 1 / k))
    active = _workdays(weekend, k)
    if camouflage:
        start_h = 9 + rng.normal(0, 1.5, size=(DAYS, k))
        length_h = 8 + rng.normal(0, 1.0, size=(DAYS, k))
    else:
        start_h = np.full((DAYS, k), 9.0)
        length_h = np.full((DAYS, k), 8.0)
    alloc, ws, we = _plan(rng, per_account, active, start_h, length_h, offset)
    queue = _sweep(world, rng, ("US", "IL", "IR"), int(alloc.sum()), populated_share=0.7)
    cuts = np.cumsum(alloc.sum(axis=0))[:-1]
    camp.activities.append(
        LookupStream(
            accounts,
            alloc,
            ws,
            we,
            np.split(queue, cuts),
            ip_pools,
            devices,
            cron=not camouflage,
            jitter_ms=300.0,
        )
    )
    if camouflage:
        camp.activities.append(_cover(world, rng, camp, pop, ip_pools, devices))
    return camp


def _sharding_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    country, offset, weekend = "IL", 2.0, (4, 5)
    k = _ceil_scale(8 * size, scale)
    accounts = world.new_accounts(
        k,
        country=country,
        created_at=START_MS - rng.integers(2, 9, size=k) * DAY_MS - rng.integers(0, DAY_MS, size=k),
        group="sharding_network",
        kind="campaign",
    )
    camp = Campaign(
        "sharding_network",
        "number space sharded between accounts: complementary slices of the same blocks",
        country,
        country,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    nets = HOME_NETWORKS["IL"] + ("il_cellcom",)
    ip_pools = [world.new_ips(nets[i % len(nets)], 1) for i in range(k)]
    devices = _device_pools(world, k, shared=None, user_agent=None, camouflage=camouflage, rng=rng)
    if not camouflage:
        devices = [world.new_devices(1) for _ in range(k)]
    total = int(5000 * scale * size * volume)
    n_blocks = max(1, int(np.ceil(total / 1000)))
    populated = [b for c in ("IR", "IL") for b in world.blocks[c]]
    blocks = np.array(
        [
            populated[int(i)]
            for i in rng.choice(len(populated), size=min(n_blocks, len(populated)), replace=False)
        ],
        dtype=np.int64,
    )
    if len(blocks) < n_blocks:
        blocks = np.concatenate([blocks, world.random_blocks("IR", n_blocks - len(blocks))])
    edges = np.linspace(0, 1000, k + 1).astype(np.int64)
    numbers = [
        rng.permutation(
            (blocks[:, None] * 1000 + np.arange(edges[i], edges[i + 1])[None, :]).ravel()
        )
        for i in range(k)
    ]
    per_account = np.array([len(x) for x in numbers])
    active = _workdays(weekend, k)
    jitter = 1.5 if camouflage else 0.7
    alloc, ws, we = _plan(
        rng,
        per_account,
        active,
        9 + rng.normal(0, jitter, size=(DAYS, k)),
        8.5 + rng.normal(0, jitter, size=(DAYS, k)),
        offset,
    )
    camp.activities.append(LookupStream(accounts, alloc, ws, we, numbers, ip_pools, devices))
    if camouflage:
        camp.activities.append(_cover(world, rng, camp, pop, ip_pools, devices))
    return camp


def _targeted_unmasking(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    country, offset, weekend = "IR", 3.5, (4,)
    k = _ceil_scale(10 * size, scale)
    burst = START_MS + 1 * DAY_MS + 5 * _HOUR_MS + 10 * 60_000  # 2019-12-19 08:40 Tehran
    created = burst + np.sort(rng.integers(0, 40 * 60_000, size=k))
    mobile = world.new_ips("ir_mci", 3)
    devices = world.new_devices(k, (APP_USER_AGENTS[0], APP_USER_AGENTS[4]))
    signup_ip = mobile[rng.integers(3, size=k)]
    accounts = world.new_accounts(
        k,
        country=country,
        created_at=created,
        group="targeted_unmasking",
        kind="campaign",
        signup_ip=signup_ip,
        signup_device=devices,
        followers_median=5,
    )
    camp = Campaign(
        "targeted_unmasking",
        "a leaked list of dissidents' numbers looked up through address-book uploads",
        country,
        country,
        offset,
        weekend,
        accounts,
        camouflage=camouflage,
    )
    n_targets = max(40, int(80 * np.sqrt(scale) * size))
    parts = []
    for c, share in (("IR", 0.6), ("US", 0.1), ("GB", 0.08), ("DE", 0.07)):
        pool = pop.account_numbers[c]
        parts.append(
            pool[rng.choice(len(pool), size=min(len(pool), int(n_targets * share)), replace=False)]
        )
    parts.append(world.draw_numbers("IR", int(n_targets * 0.15)))
    leaked = np.concatenate(parts)
    # synchronized working sessions: the same mornings and afternoons for everyone
    workdays = [d for d in range(2, DAYS) if (2 + d) % 7 not in weekend]
    chosen = np.sort(rng.choice(workdays, size=min(4, len(workdays)), replace=False))
    ts, acc, ip, dev, books = [], [], [], [], []
    spread = 45 * 60_000 if camouflage else 8 * 60_000
    for i in range(k):
        n_uploads = 1 + int(rng.random() < 0.25)
        for d in rng.choice(chosen, size=n_uploads, replace=False):
            slot = 10.0 if rng.random() < 0.5 else 14.5
            t = (
                START_MS
                + int(d) * DAY_MS
                + int((slot - offset) * _HOUR_MS)
                + int(rng.normal(0, spread))
            )
            ts.append(t)
            acc.append(accounts[i])
            ip.append(mobile[int(rng.integers(3))])
            dev.append(devices[i])
            books.append(
                leaked[
                    rng.choice(
                        len(leaked), size=min(len(leaked), int(rng.integers(20, 42))), replace=False
                    )
                ]
            )
    camp.activities.append(
        UploadPlan(
            np.array(ts, dtype=np.int64),
            np.array(acc, dtype=np.int32),
            np.array(ip, dtype=np.int32),
            np.array(dev, dtype=np.int32),
            AddressBooks.from_lists(books),
        )
    )
    # their ordinary-looking use of the app, in the operators' office hours
    cover = Users(
        accounts=accounts,
        offsets_h=np.full(k, offset),
        weekend_mask=np.full(k, 1 << 4, dtype=np.int64),
        sessions_per_day=np.full(k, 1.2),
        devices=devices,
        home_ips=mobile[rng.integers(3, size=k)],
        mobile_pool=mobile,
        mobile_share=0.5,
        created_at=created,
        books=AddressBooks.from_lists([]),
        book_of=np.full(k, -1),
        profile="diurnal" if camouflage else "office",
        weekend_factor=0.1,
    )
    camp.activities.append(cover)
    return camp


CAMPAIGN_BUILDERS = {
    "lone_enumerator": _lone_enumerator,
    "hosting_network": _hosting_network,
    "volume_network": _volume_network,
    "proxy_network": _proxy_network,
    "sharding_network": _sharding_network,
    "targeted_unmasking": _targeted_unmasking,
}


def build_campaign(
    name: str,
    world: World,
    population: Population,
    rng: np.random.Generator,
    *,
    scale: float,
    size: float = 1.0,
    camouflage: bool = False,
    volume: float = 1.0,
) -> Campaign:
    """Add campaign ``name`` to ``world`` and return it.

    ``size`` grows accounts and volume together; ``volume`` multiplies only the
    number of lookups (the targeted campaign stays small whatever it is: that
    is its tradecraft).
    """
    if name not in CAMPAIGN_BUILDERS:
        raise ValueError(f"unknown campaign {name!r}; choose from {', '.join(CAMPAIGN_BUILDERS)}")
    return CAMPAIGN_BUILDERS[name](world, population, rng, scale, size, camouflage, volume)
