"""The benign population: ordinary users, their social circles, and hard negatives.

Most of a lookup API's traffic is people using the app: reading their timeline,
opening profiles, and now and then syncing an address book full of friends'
numbers. Friends' address books overlap (that is what a social circle is), and
the platform sees many people behind one address wherever a network shares it.
Those are exactly the patterns a naive coordination detector mistakes for abuse,
so the population includes them on purpose, each as a named *hard negative*
group recorded in the ground truth:

``cgnat``
    Hundreds of phones of one mobile carrier behind a handful of NAT addresses.
``corporate_nat``
    Employees behind one office egress, office hours, colleagues' numbers in
    every address book, and a phone roll-out morning when many sync at once.
``family_device``
    Households sharing one tablet and one home connection.
``signup_burst``
    A viral moment: many accounts created within an hour, each syncing its
    address book during onboarding, then behaving normally.
``heavy_user``
    A legitimate power user (a newsroom's social desk): high volume, normal rhythm.
``social_circle``
    A tight group (a university club on campus Wi-Fi) with near-identical books.
``vpn_users``
    Iranian users reaching the blocked platform through commercial VPN exits:
    shared hosting addresses, a country that is not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.simulate.catalog import (
    COUNTRIES,
    DAY_MS,
    DAYS,
    DIURNAL,
    HOME_NETWORKS,
    LOGIN,
    LOOKUP,
    MOBILE_NETWORKS,
    OFFICE,
    START_MS,
    TIMELINE,
    UPLOAD,
    USERS_SHOW,
    VPN_NETWORKS,
)
from ingest.simulate.world import Batch, World, concat_batches

__all__ = ["Users", "AddressBooks", "build_population", "HARD_NEGATIVES", "PROFILES"]

HARD_NEGATIVES = (
    "cgnat",
    "corporate_nat",
    "family_device",
    "signup_burst",
    "heavy_user",
    "social_circle",
    "vpn_users",
)

_HALF_HOUR_MS = 1_800_000


def _half_hourly(hourly: tuple[float, ...]) -> np.ndarray:
    weights = np.repeat(np.asarray(hourly, dtype=float), 2)
    return weights / weights.sum()


PROFILES = {"diurnal": _half_hourly(DIURNAL), "office": _half_hourly(OFFICE)}


def local_times(
    rng: np.random.Generator, day: int, offsets_h: np.ndarray, profile: np.ndarray
) -> np.ndarray:
    """Epoch ms inside UTC day ``day`` whose local half-hour follows ``profile``.

    The local clock wraps around the UTC day, so every event stays in its day
    (the writer emits one day at a time) while the hour-of-day profile seen in
    local time is exact.
    """
    n = len(offsets_h)
    bins = rng.choice(len(profile), size=n, p=profile)
    local_ms = bins * _HALF_HOUR_MS + rng.integers(0, _HALF_HOUR_MS, size=n)
    utc_ms = (local_ms - np.round(offsets_h * 3_600_000).astype(np.int64)) % DAY_MS
    return START_MS + day * DAY_MS + utc_ms


@dataclass
class AddressBooks:
    """Address books as compressed rows: book ``i`` is ``numbers[offsets[i]:offsets[i+1]]``."""

    offsets: np.ndarray
    numbers: np.ndarray

    @classmethod
    def from_lists(cls, books: list[np.ndarray]) -> AddressBooks:
        sizes = np.array([len(b) for b in books], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        numbers = np.concatenate(books).astype(np.int64) if books else np.empty(0, dtype=np.int64)
        return cls(offsets, numbers)

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class Users:
    """A vectorized group of people using the app the ordinary way.

    One instance describes many users that share a behaviour template (the
    clock profile, where their sessions come from); per-user arrays carry what
    differs. ``emit`` produces one UTC day of their requests.
    """

    accounts: np.ndarray
    offsets_h: np.ndarray
    weekend_mask: np.ndarray  # bit w set = weekday w is a weekend day for the user
    sessions_per_day: np.ndarray
    devices: np.ndarray
    home_ips: np.ndarray
    mobile_pool: np.ndarray  # addresses used on the go, shared within the group
    mobile_share: float
    created_at: np.ndarray
    books: AddressBooks
    book_of: np.ndarray  # index into books for each user, -1 = none
    upload_user: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    upload_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    profile: str = "diurnal"
    weekend_factor: float = 1.15
    lookup_rate: float = 0.04
    requests_per_session: float = 1.0
    second_devices: np.ndarray | None = None
    active_days: tuple[int, int] = (0, DAYS)

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        """One UTC day of sessions plus the address-book uploads due that day."""
        return concat_batches([self._sessions(day, rng), self._uploads(day, rng)])

    def _sessions(self, day: int, rng: np.random.Generator) -> Batch:
        if not (self.active_days[0] <= day < self.active_days[1]):
            return concat_batches([])
        weekday = (2 + day) % 7  # day 0 is a Wednesday
        is_weekend = (self.weekend_mask >> weekday) & 1
        rate = self.sessions_per_day * np.where(is_weekend == 1, self.weekend_factor, 1.0)
        n_sessions = rng.poisson(rate)
        user = np.repeat(np.arange(len(self.accounts)), n_sessions)
        start = local_times(rng, day, self.offsets_h[user], PROFILES[self.profile])
        keep = start >= self.created_at[user]
        user, start = user[keep], start[keep]
        n = len(user)
        on_mobile = rng.random(n) < self.mobile_share
        ip = np.where(
            on_mobile,
            self.mobile_pool[rng.integers(len(self.mobile_pool), size=n)],
            self.home_ips[user],
        )
        device = self.devices[user]
        if self.second_devices is not None:
            alt = self.second_devices[user]
            use_alt = (alt >= 0) & (rng.random(n) < 0.25)
            device = np.where(use_alt, alt, device)
        scale = self.requests_per_session
        counts = {
            LOGIN: (rng.random(n) < 0.12).astype(np.int64),
            TIMELINE: 1 + rng.poisson(1.6 * scale, size=n),
            USERS_SHOW: rng.poisson(0.9 * scale, size=n),
        }
        book = self.book_of[user]
        has_book = book >= 0
        book_sizes = self.books.sizes()
        sizes = (
            np.where(has_book, book_sizes[np.maximum(book, 0)], 0)
            if len(book_sizes)
            else np.zeros(n, dtype=np.int64)
        )
        lookups = np.where(
            (sizes > 0) & (rng.random(n) < self.lookup_rate),
            1 + rng.poisson(0.6 * scale, size=n),
            0,
        )
        counts[LOOKUP] = lookups
        session_len = rng.exponential(240_000.0, size=n).astype(np.int64) + 1000
        parts: list[Batch] = []
        for endpoint, k in counts.items():
            s = np.repeat(np.arange(n), k)
            m = len(s)
            if endpoint == LOGIN:
                offset = np.zeros(m, dtype=np.int64)
            else:
                offset = (rng.random(m) * session_len[s]).astype(np.int64) + 300
            phone = np.zeros(m, dtype=np.int64)
            if endpoint == LOOKUP and m:
                b = book[s]
                pick = self.books.offsets[b] + (rng.random(m) * sizes[s]).astype(np.int64)
                phone = self.books.numbers[pick]
            parts.append(
                {
                    "ts": start[s] + offset,
                    "ip": ip[s],
                    "endpoint": np.full(m, endpoint),
                    "account": self.accounts[user[s]],
                    "device": device[s],
                    "status": np.where(rng.random(m) < 0.004, 401, 200)
                    if endpoint == LOGIN
                    else np.where(endpoint == LOOKUP, 0, 200) * np.ones(m, dtype=np.int64),
                    "phone": phone,
                    "request": np.zeros(m, dtype=np.int64),
                }
            )
        batch = concat_batches(parts)
        day_end = START_MS + (day + 1) * DAY_MS
        keep = batch["ts"] < day_end
        return {k: v[keep] for k, v in batch.items()}

    def _uploads(self, day: int, rng: np.random.Generator) -> Batch:
        lo, hi = START_MS + day * DAY_MS, START_MS + (day + 1) * DAY_MS
        due = np.flatnonzero((self.upload_ts >= lo) & (self.upload_ts < hi))
        if not len(due):
            return concat_batches([])
        users = self.upload_user[due]
        books = self.book_of[users]
        ok = books >= 0
        due, users, books = due[ok], users[ok], books[ok]
        sizes = self.books.sizes()[books]
        rows = np.repeat(np.arange(len(due)), sizes)
        starts = np.repeat(self.books.offsets[books], sizes)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        phone = self.books.numbers[starts + within]
        on_mobile = rng.random(len(due)) < self.mobile_share
        ip = np.where(
            on_mobile,
            self.mobile_pool[rng.integers(len(self.mobile_pool), size=len(due))],
            self.home_ips[users],
        )
        request = rng.integers(1, 2**62, size=len(due))
        m = len(rows)
        return {
            "ts": self.upload_ts[due][rows],
            "ip": ip[rows],
            "endpoint": np.full(m, UPLOAD),
            "account": self.accounts[users][rows],
            "device": self.devices[users][rows],
            "status": np.full(m, 200),
            "phone": phone,
            "request": request[rows],
        }


@dataclass
class Visitors:
    """Logged-out web traffic: profile views and failed sign-ins without an account.

    Real request logs are full of it, and a detector must not trip over rows
    whose ``account_id`` is empty.
    """

    offsets_h: np.ndarray
    devices: np.ndarray
    ips: np.ndarray
    visits_per_day: float = 0.5

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        visits = rng.poisson(self.visits_per_day, size=len(self.devices))
        who = np.repeat(np.arange(len(self.devices)), visits)
        start = local_times(rng, day, self.offsets_h[who], PROFILES["diurnal"])
        views = 1 + rng.poisson(1.5, size=len(who))
        v = np.repeat(np.arange(len(who)), views)
        failed = np.flatnonzero(rng.random(len(who)) < 0.08)
        rows = np.concatenate([v, failed])
        m = len(rows)
        endpoint = np.concatenate([np.full(len(v), USERS_SHOW), np.full(len(failed), LOGIN)])
        ts = np.minimum(
            start[rows] + rng.integers(0, 180_000, size=m), START_MS + (day + 1) * DAY_MS - 1
        )
        return {
            "ts": ts,
            "ip": self.ips[who[rows]],
            "endpoint": endpoint,
            "account": np.full(m, -1),
            "device": self.devices[who[rows]],
            "status": np.where(endpoint == LOGIN, 401, 200),
            "phone": np.zeros(m, dtype=np.int64),
            "request": np.zeros(m, dtype=np.int64),
        }


def _weekend_mask(country: str) -> int:
    return sum(1 << d for d in COUNTRIES[country].weekend)


def _created_before_window(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sign-up times of established accounts: 2008 to a week before the window, skewed recent."""
    span = 11 * 365 * DAY_MS
    age = (rng.power(1.6, size=n) * -1 + 1) * span + 7 * DAY_MS
    return (START_MS - age).astype(np.int64)


def _upload_times(
    rng: np.random.Generator, offsets_h: np.ndarray, profile: str = "diurnal"
) -> np.ndarray:
    days = rng.integers(0, DAYS, size=len(offsets_h))
    out = np.empty(len(offsets_h), dtype=np.int64)
    for d in np.unique(days):
        mask = days == d
        out[mask] = local_times(rng, int(d), offsets_h[mask], PROFILES[profile])
    return out


@dataclass
class Population:
    """What :func:`build_population` made: activities and the number pools campaigns target."""

    activities: list[Users | Visitors]
    circle_numbers: dict[str, np.ndarray]  # every number (account or not) in the country's books
    account_numbers: dict[str, np.ndarray]  # numbers of accounts, by country
    passive: int


def build_population(world: World, scale: float, *, hard_negative_scale: float = 1.0) -> Population:
    """Create the benign population and its hard-negative groups in ``world``.

    Parameters
    ----------
    world : World
        Registries to add accounts, numbers, IPs and devices to.
    scale : float
        Multiplies the number of people (1.0 is about 1,200 active users,
        2,400 passive accounts and their friends' numbers).
    hard_negative_scale : float
        Extra multiplier for the hard-negative groups (the ``hard-negatives``
        scenario makes them dominate).

    Returns
    -------
    Population
    """
    rng = world.rng
    countries = list(COUNTRIES)
    weights = np.array([COUNTRIES[c].weight for c in countries])
    weights /= weights.sum()

    def count(base: float) -> int:
        return max(1, int(round(base * scale)))

    def hn_count(base: float) -> int:
        return max(1, int(round(base * scale * hard_negative_scale)))

    # -- who exists: per country, active users, passive accounts, other people
    n_ordinary = count(800)
    ordinary_country = np.array(countries, dtype=object)[
        rng.choice(len(countries), size=n_ordinary, p=weights)
    ]
    group_sizes = {
        "cgnat": ("IN", hn_count(150)),
        "corporate_nat": ("DE", hn_count(40)),
        "signup_burst": ("BR", hn_count(80)),
        "heavy_user": ("US", hn_count(2)),
        "social_circle": ("MY", hn_count(30)),
        "vpn_users": ("IR", hn_count(40)),
    }
    n_families = hn_count(12)
    family_sizes = rng.integers(3, 6, size=n_families)
    family_country = np.array(countries, dtype=object)[
        rng.choice(len(countries), size=n_families, p=weights)
    ]

    active_by_country = {c: int((ordinary_country == c).sum()) for c in countries}
    for c, n in group_sizes.values():
        active_by_country[c] += n
    for c, size in zip(family_country, family_sizes, strict=True):
        active_by_country[str(c)] += int(size)
    passive_by_country = {c: 2 * n + 5 for c, n in active_by_country.items()}
    others_by_country = {
        c: int(1.4 * (active_by_country[c] + passive_by_country[c])) + 10 for c in countries
    }
    for c in countries:
        used = active_by_country[c] + passive_by_country[c] + others_by_country[c]
        world.populate_blocks(c, max(2, int(np.ceil(used / 40))))

    # -- passive accounts (exist, have numbers, may be found; make no requests)
    passive_numbers_by_country: dict[str, np.ndarray] = {}
    for c in countries:
        idx = world.new_accounts(
            passive_by_country[c],
            country=c,
            created_at=_created_before_window(rng, passive_by_country[c]),
            group="benign",
        )
        numbers = world.phones_of(idx)
        passive_numbers_by_country[c] = numbers[numbers > 0]
    passive_total = sum(passive_by_country.values())
    others = {c: world.draw_numbers(c, others_by_country[c]) for c in countries}

    activities: list[Users] = []

    def mobile_pool(country: str, size: int) -> np.ndarray:
        nets = MOBILE_NETWORKS[country]
        return np.concatenate([world.new_ips(net, max(1, size // len(nets))) for net in nets])

    def home_ips(country: str, n: int) -> np.ndarray:
        nets = HOME_NETWORKS[country]
        choice = rng.integers(len(nets), size=n)
        out = np.empty(n, dtype=np.int32)
        for i, net in enumerate(nets):
            mask = choice == i
            out[mask] = world.new_ips(net, int(mask.sum()))
        return out

    country_mobile = {c: mobile_pool(c, max(4, active_by_country[c] // 6)) for c in countries}
    pending: list[dict] = []  # users whose address books are assigned after circles exist

    # -- ordinary users
    for c in countries:
        n = int((ordinary_country == c).sum())
        if not n:
            continue
        acc = world.new_accounts(
            n, country=c, created_at=_created_before_window(rng, n), group="benign"
        )
        pending.append(
            dict(
                accounts=acc,
                country=c,
                hard_negative=None,
                devices=world.new_devices(n),
                home_ips=home_ips(c, n),
                mobile_pool=country_mobile[c],
                mobile_share=0.45,
                sessions=rng.gamma(2.0, 0.45, size=n),
                upload_share=0.3,
                second=np.where(rng.random(n) < 0.2, world.new_devices(n, browser_share=1.0), -1),
            )
        )

    # -- cgnat: one carrier's subscribers behind at most four NAT addresses
    c, n = group_sizes["cgnat"]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=_created_before_window(rng, n),
        group="cgnat",
        hard_negative="cgnat",
    )
    nat = world.new_ips("in_jio", 4)
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="cgnat",
            devices=world.new_devices(n),
            home_ips=nat[rng.integers(4, size=n)],
            mobile_pool=nat,
            mobile_share=1.0,
            sessions=rng.gamma(2.0, 0.45, size=n),
            upload_share=0.3,
            second=None,
        )
    )

    # -- corporate NAT: offices of dozens behind one or two egress addresses
    c, n = group_sizes["corporate_nat"]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=_created_before_window(rng, n),
        group="corporate_nat",
        hard_negative="corporate_nat",
    )
    n_offices = max(1, int(round(n / 40)))
    office = np.sort(np.arange(n) % n_offices)
    egress = world.new_ips("de_telekom_business", 2 * n_offices).reshape(n_offices, 2)
    devices = world.new_devices(n)
    # a phone roll-out morning per office: most employees sync their new phone at once
    rollout_day = rng.integers(1, 6, size=n_offices)[office]
    rollout = np.flatnonzero(rng.random(n) < 0.6)
    upload_ts = (
        START_MS
        + rollout_day * DAY_MS
        + (9 - COUNTRIES[c].utc_offset_hours) * 3_600_000
        + rng.integers(0, 3 * 3_600_000, size=n)
    ).astype(np.int64)
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="corporate_nat",
            devices=devices,
            home_ips=egress[office, rng.integers(2, size=n)],
            mobile_pool=egress.ravel(),
            mobile_share=0.0,
            sessions=rng.gamma(3.0, 0.5, size=n),
            upload_share=0.0,
            second=None,
            profile="office",
            weekend_factor=0.05,
            cohort=office,
            fixed_uploads=(rollout, upload_ts[rollout]),
        )
    )
    # the same people in the evening, at home
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="corporate_nat",
            devices=devices,
            home_ips=home_ips(c, n),
            mobile_pool=country_mobile[c],
            mobile_share=0.3,
            sessions=np.full(n, 0.5),
            upload_share=0.0,
            second=None,
            skip_circle=True,
        )
    )

    # -- family devices: a household shares a tablet and the home line
    for fc in countries:
        sizes = family_sizes[family_country == fc]
        if not len(sizes):
            continue
        n = int(sizes.sum())
        family = np.repeat(np.arange(len(sizes)), sizes)
        acc = world.new_accounts(
            n,
            country=fc,
            created_at=_created_before_window(rng, n),
            group="family_device",
            hard_negative="family_device",
        )
        tablets = world.new_devices(len(sizes))
        homes = home_ips(fc, len(sizes))
        pending.append(
            dict(
                accounts=acc,
                country=fc,
                hard_negative="family_device",
                devices=tablets[family],
                home_ips=homes[family],
                mobile_pool=homes,
                mobile_share=0.0,
                sessions=rng.gamma(2.0, 0.4, size=n),
                upload_share=0.4,
                second=None,
                cohort=family,
            )
        )

    # -- viral sign-up burst: an hour of new accounts syncing contacts at onboarding
    c, n = group_sizes["signup_burst"]
    burst_start = START_MS + 3 * DAY_MS + 23 * 3_600_000  # 2019-12-21 20:00 in Sao Paulo
    created = burst_start + np.sort(rng.integers(0, 3_600_000, size=n))
    devices = world.new_devices(n)
    mobile = country_mobile[c]
    signup_ip = mobile[rng.integers(len(mobile), size=n)]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created,
        group="signup_burst",
        hard_negative="signup_burst",
        signup_ip=signup_ip,
        signup_device=devices,
        followers_median=8,
    )
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="signup_burst",
            devices=devices,
            home_ips=home_ips(c, n),
            mobile_pool=mobile,
            mobile_share=0.7,
            sessions=rng.gamma(2.0, 0.6, size=n),
            upload_share=0.0,
            second=None,
            fixed_uploads=(np.arange(n), created + rng.integers(60_000, 600_000, size=n)),
        )
    )

    # -- heavy users: a newsroom's social desk, lots of everything, normal rhythm
    c, n = group_sizes["heavy_user"]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=_created_before_window(rng, n),
        group="heavy_user",
        hard_negative="heavy_user",
        followers_median=40_000,
    )
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="heavy_user",
            devices=world.new_devices(n),
            home_ips=home_ips(c, n),
            mobile_pool=country_mobile[c],
            mobile_share=0.4,
            sessions=rng.uniform(18, 30, size=n),
            upload_share=1.0,
            second=world.new_devices(n, browser_share=1.0),
            lookup_rate=0.5,
            requests_per_session=2.5,
            big_book=1200,
        )
    )

    # -- a tight social circle on campus Wi-Fi, near-identical address books
    c, n = group_sizes["social_circle"]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=_created_before_window(rng, n),
        group="social_circle",
        hard_negative="social_circle",
    )
    n_clubs = max(1, int(round(n / 30)))
    club = np.sort(np.arange(n) % n_clubs)
    campus = world.new_ips("my_um", 3 * n_clubs).reshape(n_clubs, 3)
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="social_circle",
            devices=world.new_devices(n),
            home_ips=campus[club, rng.integers(3, size=n)],
            mobile_pool=country_mobile[c],
            mobile_share=0.35,
            sessions=rng.gamma(2.5, 0.6, size=n),
            upload_share=0.6,
            second=None,
            cohort=club,
            own_circle=True,
            circle_keep=0.95,
        )
    )

    # -- Iranian users through commercial VPN exits
    c, n = group_sizes["vpn_users"]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=_created_before_window(rng, n),
        group="vpn_users",
        hard_negative="vpn_users",
    )
    exits = np.concatenate([world.new_ips(net, 2) for net in VPN_NETWORKS])[
        : max(6, int(round(6 * hard_negative_scale)))
    ]
    pending.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="vpn_users",
            devices=world.new_devices(n),
            home_ips=exits[rng.integers(len(exits), size=n)],
            mobile_pool=exits,
            mobile_share=0.6,
            sessions=rng.gamma(2.0, 0.5, size=n),
            upload_share=0.3,
            second=None,
        )
    )

    # -- social circles per country: overlapping address books
    circle_numbers: dict[str, list[np.ndarray]] = {c: [others[c]] for c in countries}
    member_rows = [
        (i, j)
        for i, p in enumerate(pending)
        if not p.get("skip_circle")
        for j in range(len(p["accounts"]))
    ]
    books: list[np.ndarray] = []
    book_index: dict[tuple[int, int], int] = {}
    for c in countries:
        members = [
            (i, j)
            for i, j in member_rows
            if pending[i]["country"] == c and not pending[i].get("own_circle")
        ]
        order = rng.permutation(len(members))
        circles = []
        pos = 0
        while pos < len(members):
            size = int(rng.integers(3, 13))
            circles.append([members[k] for k in order[pos : pos + size]])
            pos += size
        # tight groups form circles of their own
        for i, p in enumerate(pending):
            if p["country"] == c and p.get("own_circle"):
                circles += [
                    [(i, int(j)) for j in np.flatnonzero(p["cohort"] == g)]
                    for g in np.unique(p["cohort"])
                ]
        passive_numbers = passive_numbers_by_country[c].copy()
        rng.shuffle(passive_numbers)
        other_numbers = others[c].copy()
        rng.shuffle(other_numbers)
        p_cur = o_cur = 0
        for circle in circles:
            own = world.phones_of(np.array([pending[i]["accounts"][j] for i, j in circle]))
            n_passive = int(rng.poisson(2 * len(circle)))
            n_other = int(rng.poisson(2.2 * len(circle)))
            pas = np.take(passive_numbers, np.arange(p_cur, p_cur + n_passive), mode="wrap")
            oth = np.take(other_numbers, np.arange(o_cur, o_cur + n_other), mode="wrap")
            p_cur += n_passive
            o_cur += n_other
            pool = np.concatenate([own[own > 0], pas, oth])
            for i, j in circle:
                p = pending[i]
                keep = p.get("circle_keep", 0.85)
                mine = world.phones_of(np.array([p["accounts"][j]]))[0]
                book = pool[(rng.random(len(pool)) < keep) & (pool != mine)]
                if "cohort" in p and not p.get("own_circle"):
                    extra = world.phones_of(p["accounts"][p["cohort"] == p["cohort"][j]])
                    extra = extra[(extra > 0) & (extra != mine) & (rng.random(len(extra)) < 0.8)]
                    book = np.concatenate([book, extra])
                acquaint = np.take(
                    other_numbers, rng.integers(len(other_numbers), size=int(rng.poisson(3)))
                )
                book = np.concatenate([book, acquaint])
                if p.get("big_book"):
                    big = p["big_book"]
                    far = [
                        world.draw_numbers(str(k), big // 6)
                        for k in ("US", "GB", "IN", "DE", "BR", "FR")
                    ]
                    book = np.concatenate(
                        [
                            book,
                            *far,
                            np.take(
                                passive_numbers, rng.integers(len(passive_numbers), size=big // 4)
                            ),
                        ]
                    )
                book_index[(i, j)] = len(books)
                books.append(np.unique(book))
            circle_numbers[c].append(pool)
    address_books = AddressBooks.from_lists(books)

    for i, p in enumerate(pending):
        k = len(p["accounts"])
        book_of = np.array([book_index.get((i, j), -1) for j in range(k)], dtype=np.int64)
        if p.get("skip_circle"):
            # the same people as the entry before (the office by day): same books
            prev = activities[-1]
            book_of = prev.book_of.copy()
        offsets = np.full(k, COUNTRIES[p["country"]].utc_offset_hours)
        upload_user = np.flatnonzero(rng.random(k) < p["upload_share"])
        # some people sync twice in two weeks (a new phone, a reinstall)
        upload_user = np.concatenate(
            [upload_user, upload_user[rng.random(len(upload_user)) < 0.12]]
        )
        upload_ts = _upload_times(rng, offsets[upload_user])
        if "fixed_uploads" in p:
            fu, ft = p["fixed_uploads"]
            upload_user = np.concatenate([upload_user, fu])
            upload_ts = np.concatenate([upload_ts, ft])
        created = world.created_of(p["accounts"])
        ok = upload_ts >= created[upload_user]
        activities.append(
            Users(
                accounts=p["accounts"].astype(np.int32),
                offsets_h=offsets,
                weekend_mask=np.full(k, _weekend_mask(p["country"]), dtype=np.int64),
                sessions_per_day=np.asarray(p["sessions"], dtype=float),
                devices=np.asarray(p["devices"], dtype=np.int32),
                home_ips=np.asarray(p["home_ips"], dtype=np.int32),
                mobile_pool=np.asarray(p["mobile_pool"], dtype=np.int32),
                mobile_share=p["mobile_share"],
                created_at=created,
                books=address_books,
                book_of=book_of,
                upload_user=upload_user[ok],
                upload_ts=upload_ts[ok],
                profile=p.get("profile", "diurnal"),
                weekend_factor=p.get("weekend_factor", 1.15),
                lookup_rate=p.get("lookup_rate", 0.04),
                requests_per_session=p.get("requests_per_session", 1.0),
                second_devices=None
                if p["second"] is None
                else np.asarray(p["second"], dtype=np.int32),
            )
        )

    n_visitors = count(300)
    visitor_country = np.array(countries, dtype=object)[
        rng.choice(len(countries), size=n_visitors, p=weights)
    ]
    visitor_ips = np.empty(n_visitors, dtype=np.int32)
    for c in countries:
        mask = visitor_country == c
        if mask.any():
            visitor_ips[mask] = home_ips(c, int(mask.sum()))
    activities.append(
        Visitors(
            offsets_h=np.array([COUNTRIES[str(c)].utc_offset_hours for c in visitor_country]),
            devices=world.new_devices(n_visitors, browser_share=1.0),
            ips=visitor_ips,
        )
    )

    phone_country = world.account["phone_country"]
    account_numbers = {c: world.account["phone"][phone_country == c] for c in countries}
    return Population(
        activities=activities,
        circle_numbers={c: np.unique(np.concatenate(v)) for c, v in circle_numbers.items()},
        account_numbers={c: v[v > 0] for c, v in account_numbers.items()},
        passive=passive_total,
    )
