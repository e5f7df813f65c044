"""People using the app the ordinary way, vectorised: sessions, address-book syncs, visitors.

A :class:`Users` instance stands for many people sharing a behaviour
template (clock profile, where their sessions come from) and emits one UTC day
of their requests at a time; :class:`Visitors` is the logged-out web traffic;
:class:`AddressBooks` holds everyone's books as compressed rows. The benign
population (:mod:`ingest.simulate.population`), the look-alikes and the cover
traffic of camouflaged campaigns are all made of these.
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
)
from ingest.simulate.world import Batch, World, concat_batches

__all__ = [
    "PROFILES",
    "local_times",
    "AddressBooks",
    "Users",
    "Visitors",
    "Lines",
    "weekend_mask",
    "created_before_window",
    "upload_times",
]

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

    def uploads(
        self,
        rng: np.random.Generator,
        book: np.ndarray,
        ts: np.ndarray,
        account: np.ndarray,
        ip: np.ndarray,
        device: np.ndarray,
    ) -> Batch:
        """The request rows of uploads: upload ``i`` sends book ``book[i]`` at ``ts[i]``.

        An upload is one request (one request id) with a row per number in
        the book, all sharing the upload's time, account, address and device.
        """
        sizes = self.sizes()[book]
        rows = np.repeat(np.arange(len(book)), sizes)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        phone = self.numbers[self.offsets[book][rows] + within]
        request = rng.integers(1, 2**62, size=len(book))
        m = len(rows)
        return {
            "ts": ts[rows],
            "ip": ip[rows],
            "endpoint": np.full(m, UPLOAD),
            "account": account[rows],
            "device": device[rows],
            "status": np.full(m, 200),
            "phone": phone,
            "request": request[rows],
        }


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
        on_mobile = rng.random(len(due)) < self.mobile_share
        ip = np.where(
            on_mobile,
            self.mobile_pool[rng.integers(len(self.mobile_pool), size=len(due))],
            self.home_ips[users],
        )
        return self.books.uploads(
            rng, books, self.upload_ts[due], self.accounts[users], ip, self.devices[users]
        )


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


def weekend_mask(country: str) -> int:
    """The bits of ``Users.weekend_mask`` for a person living in ``country``."""
    return sum(1 << d for d in COUNTRIES[country].weekend)


def created_before_window(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sign-up times of established accounts: 2008 to a week before the window, skewed recent."""
    span = 11 * 365 * DAY_MS
    age = (rng.power(1.6, size=n) * -1 + 1) * span + 7 * DAY_MS
    return (START_MS - age).astype(np.int64)


def upload_times(
    rng: np.random.Generator, offsets_h: np.ndarray, profile: str = "diurnal"
) -> np.ndarray:
    """One address-book sync each, on a random day of the window, at a local time ``profile`` likes."""
    days = rng.integers(0, DAYS, size=len(offsets_h))
    out = np.empty(len(offsets_h), dtype=np.int64)
    for d in np.unique(days):
        mask = days == d
        out[mask] = local_times(rng, int(d), offsets_h[mask], PROFILES[profile])
    return out


class Lines:
    """Where a country's people connect from: one shared mobile pool each country, new home lines.

    The mobile pools are drawn for every country when made (about one address
    for six active users); :meth:`home_ips` hands out a new address on one of
    the country's home networks to each person asking.
    """

    def __init__(self, world: World, active_by_country: dict[str, int]) -> None:
        self.world = world
        self.mobile = {
            c: self._mobile_pool(c, max(4, active_by_country[c] // 6)) for c in COUNTRIES
        }

    def _mobile_pool(self, country: str, size: int) -> np.ndarray:
        nets = MOBILE_NETWORKS[country]
        return np.concatenate([self.world.new_ips(net, max(1, size // len(nets))) for net in nets])

    def home_ips(self, country: str, n: int) -> np.ndarray:
        """``n`` new home addresses in ``country``, spread over its home networks."""
        nets = HOME_NETWORKS[country]
        choice = self.world.rng.integers(len(nets), size=n)
        out = np.empty(n, dtype=np.int32)
        for i, net in enumerate(nets):
            mask = choice == i
            out[mask] = self.world.new_ips(net, int(mask.sum()))
        return out
