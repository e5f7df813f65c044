"""A group of benign users as the population makes it, before they have address books.

The ordinary users and every hard-negative group
(:mod:`ingest.simulate.hard_negatives`) are made alike: accounts signed up
before the window, a device each, a home line each and the country's mobile
pool unless the group shares something else (a NAT, an office, a tablet), then
how often they use the app. :func:`new_group` makes one from its
:class:`Habits`, drawing in that order, so the table of habits is the only
place where groups differ in how they behave. :mod:`ingest.simulate.circles`
reads the :class:`Group` to draw address books, and
:mod:`ingest.simulate.population` turns it into
:class:`~ingest.simulate.users.Users`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.simulate.users import Lines, created_before_window
from ingest.simulate.world import World

__all__ = ["Group", "Habits", "new_group", "established_accounts", "hard_negative_accounts"]


@dataclass
class Group:
    """People added to the world whose address books are drawn later, by circle."""

    accounts: np.ndarray
    country: str
    devices: np.ndarray
    home_ips: np.ndarray
    mobile_pool: np.ndarray
    mobile_share: float
    sessions: np.ndarray
    upload_share: float
    second: np.ndarray | None = None
    profile: str = "diurnal"
    weekend_factor: float = 1.15
    lookup_rate: float = 0.04
    requests_per_session: float = 1.0
    #: each member's office, family or club: colleagues are in each other's books
    cohort: np.ndarray | None = None
    #: (members, times) of address-book syncs that happen whatever ``upload_share`` says
    fixed_uploads: tuple[np.ndarray, np.ndarray] | None = None
    #: the same people as the group before (by day and by evening): no books of their own
    skip_circle: bool = False
    #: each cohort is a circle of its own rather than mixing with the country's people
    own_circle: bool = False
    circle_keep: float = 0.85
    #: numbers abroad added to every member's book (a newsroom's contacts)
    big_book: int = 0


@dataclass(frozen=True)
class Habits:
    """How a group uses the app, wherever it connects from."""

    #: share of sessions from the group's mobile pool rather than the member's home line
    mobile_share: float
    #: share of members who sync their address book during the window
    upload_share: float
    #: sessions a day: ``(distribution, a, b)`` for the generator's ``distribution(a, b)``,
    #: or one number for everyone
    sessions: tuple[str, float, float] | float
    #: share of members with a browser as a second device
    browser_share: float = 0.0

    def draw_sessions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Sessions a day of ``n`` members."""
        if isinstance(self.sessions, tuple):
            distribution, a, b = self.sessions
            return getattr(rng, distribution)(a, b, size=n)
        return np.full(n, self.sessions)

    def draw_browsers(self, world: World, n: int) -> np.ndarray | None:
        """Each member's browser, -1 for those without; None when nobody has one."""
        if self.browser_share == 0.0:
            return None
        if self.browser_share == 1.0:  # everyone has one: nothing to draw but the devices
            return world.new_devices(n, browser_share=1.0)
        has_browser = world.rng.random(n) < self.browser_share
        return np.where(has_browser, world.new_devices(n, browser_share=1.0), -1)


def established_accounts(world: World, country: str, n: int, group: str, **options) -> np.ndarray:
    """``n`` new accounts of ``group`` in ``country``, signed up long before the window.

    ``options`` go on to :meth:`~ingest.simulate.world.World.new_accounts`.
    """
    return world.new_accounts(
        n,
        country=country,
        created_at=created_before_window(world.rng, n),
        group=group,
        **options,
    )


def hard_negative_accounts(world: World, country: str, n: int, group: str, **options) -> np.ndarray:
    """:func:`established_accounts` that the ground truth names as hard-negative ``group``."""
    return established_accounts(world, country, n, group, hard_negative=group, **options)


def new_group(
    world: World,
    lines: Lines,
    accounts: np.ndarray,
    country: str,
    habits: Habits,
    *,
    devices: np.ndarray | None = None,
    home_ips: np.ndarray | None = None,
    mobile_pool: np.ndarray | None = None,
    **settings,
) -> Group:
    """The group of ``accounts`` in ``country``, behaving as ``habits`` say.

    What is not given is drawn, in this order: a new device each, a new home
    line each (``lines``), the country's mobile pool; then the sessions a day
    and the browsers. ``settings`` are the rest of :class:`Group`'s fields.
    """
    n = len(accounts)
    if devices is None:
        devices = world.new_devices(n)
    if home_ips is None:
        home_ips = lines.home_ips(country, n)
    return Group(
        accounts=accounts,
        country=country,
        devices=devices,
        home_ips=home_ips,
        mobile_pool=lines.mobile[country] if mobile_pool is None else mobile_pool,
        mobile_share=habits.mobile_share,
        sessions=habits.draw_sessions(world.rng, n),
        upload_share=habits.upload_share,
        second=habits.draw_browsers(world, n),
        **settings,
    )
