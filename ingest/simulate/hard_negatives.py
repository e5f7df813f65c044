"""Benign groups that look like abuse: the population's hard negatives.

Each builder adds one group's accounts to the world and returns it as
:class:`~ingest.simulate.groups.Group` (their address books come later, from
:mod:`ingest.simulate.circles`), behaving as its row of :data:`_HABITS` says;
each is named in the ground truth:

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

import numpy as np

from ingest.simulate.catalog import COUNTRIES, DAY_MS, START_MS, VPN_NETWORKS
from ingest.simulate.groups import Group, Habits, hard_negative_accounts, new_group
from ingest.simulate.users import Lines
from ingest.simulate.world import World

__all__ = ["HARD_NEGATIVES", "hard_negative_groups"]

HARD_NEGATIVES = (
    "cgnat",
    "corporate_nat",
    "family_device",
    "signup_burst",
    "heavy_user",
    "social_circle",
    "vpn_users",
)

# How each group uses the app; the office's people also have an evening at home.
_HABITS = {
    "cgnat": Habits(mobile_share=1.0, upload_share=0.3, sessions=("gamma", 2.0, 0.45)),
    "corporate_nat": Habits(mobile_share=0.0, upload_share=0.0, sessions=("gamma", 3.0, 0.5)),
    "corporate_nat_evening": Habits(mobile_share=0.3, upload_share=0.0, sessions=0.5),
    "family_device": Habits(mobile_share=0.0, upload_share=0.4, sessions=("gamma", 2.0, 0.4)),
    "signup_burst": Habits(mobile_share=0.7, upload_share=0.0, sessions=("gamma", 2.0, 0.6)),
    "heavy_user": Habits(
        mobile_share=0.4, upload_share=1.0, sessions=("uniform", 18, 30), browser_share=1.0
    ),
    "social_circle": Habits(mobile_share=0.35, upload_share=0.6, sessions=("gamma", 2.5, 0.6)),
    "vpn_users": Habits(mobile_share=0.6, upload_share=0.3, sessions=("gamma", 2.0, 0.5)),
}


def hard_negative_groups(
    world: World,
    lines: Lines,
    sizes: dict[str, tuple[str, int]],
    family_sizes: np.ndarray,
    family_country: np.ndarray,
    hard_negative_scale: float,
) -> list[Group]:
    """Every hard-negative group, in a fixed order (the order draws from the generator).

    ``sizes`` gives each group's country and number of people; families come
    as ``family_sizes`` with a country each; ``hard_negative_scale`` also
    widens the VPN users' pool of exits.
    """
    return [
        *_cgnat(world, lines, *sizes["cgnat"]),
        *_corporate_nat(world, lines, *sizes["corporate_nat"]),
        *_family_device(world, lines, family_sizes, family_country),
        *_signup_burst(world, lines, *sizes["signup_burst"]),
        *_heavy_user(world, lines, *sizes["heavy_user"]),
        *_social_circle(world, lines, *sizes["social_circle"]),
        *_vpn_users(world, lines, *sizes["vpn_users"], hard_negative_scale),
    ]


def _cgnat(world: World, lines: Lines, c: str, n: int) -> list[Group]:
    """Carrier NAT: one carrier's subscribers behind at most four NAT addresses."""
    acc = hard_negative_accounts(world, c, n, "cgnat")
    nat = world.new_ips("in_jio", 4)
    devices = world.new_devices(n)
    home_ips = nat[world.rng.integers(4, size=n)]
    return [
        new_group(
            world,
            lines,
            acc,
            c,
            _HABITS["cgnat"],
            devices=devices,
            home_ips=home_ips,
            mobile_pool=nat,
        )
    ]


def _corporate_nat(world: World, lines: Lines, c: str, n: int) -> list[Group]:
    """Corporate NAT: offices of dozens behind one or two egress addresses."""
    rng = world.rng
    acc = hard_negative_accounts(world, c, n, "corporate_nat")
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
    by_day = new_group(
        world,
        lines,
        acc,
        c,
        _HABITS["corporate_nat"],
        devices=devices,
        home_ips=egress[office, rng.integers(2, size=n)],
        mobile_pool=egress.ravel(),
        profile="office",
        weekend_factor=0.05,
        cohort=office,
        fixed_uploads=(rollout, upload_ts[rollout]),
    )
    # the same people in the evening, at home
    evening = new_group(
        world, lines, acc, c, _HABITS["corporate_nat_evening"], devices=devices, skip_circle=True
    )
    return [by_day, evening]


def _family_device(
    world: World, lines: Lines, family_sizes: np.ndarray, family_country: np.ndarray
) -> list[Group]:
    """Family devices: a household shares a tablet and the home line."""
    groups: list[Group] = []
    for fc in COUNTRIES:
        sizes = family_sizes[family_country == fc]
        if not len(sizes):
            continue
        family = np.repeat(np.arange(len(sizes)), sizes)
        acc = hard_negative_accounts(world, fc, int(sizes.sum()), "family_device")
        tablets = world.new_devices(len(sizes))
        homes = lines.home_ips(fc, len(sizes))
        groups.append(
            new_group(
                world,
                lines,
                acc,
                fc,
                _HABITS["family_device"],
                devices=tablets[family],
                home_ips=homes[family],
                mobile_pool=homes,
                cohort=family,
            )
        )
    return groups


def _signup_burst(world: World, lines: Lines, c: str, n: int) -> list[Group]:
    """A viral sign-up burst: an hour of new accounts syncing contacts at onboarding."""
    rng = world.rng
    burst_start = START_MS + 3 * DAY_MS + 23 * 3_600_000  # 2019-12-21 20:00 in Sao Paulo
    created = burst_start + np.sort(rng.integers(0, 3_600_000, size=n))
    devices = world.new_devices(n)
    mobile = lines.mobile[c]
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created,
        group="signup_burst",
        hard_negative="signup_burst",
        signup_ip=mobile[rng.integers(len(mobile), size=n)],
        signup_device=devices,
        followers_median=8,
    )
    group = new_group(world, lines, acc, c, _HABITS["signup_burst"], devices=devices)
    # each syncs during onboarding, minutes after signing up (drawn after the sessions)
    group.fixed_uploads = (np.arange(n), created + rng.integers(60_000, 600_000, size=n))
    return [group]


def _heavy_user(world: World, lines: Lines, c: str, n: int) -> list[Group]:
    """Heavy users: a newsroom's social desk, lots of everything, normal rhythm."""
    acc = hard_negative_accounts(world, c, n, "heavy_user", followers_median=40_000)
    return [
        new_group(
            world,
            lines,
            acc,
            c,
            _HABITS["heavy_user"],
            lookup_rate=0.5,
            requests_per_session=2.5,
            big_book=1200,
        )
    ]


def _social_circle(world: World, lines: Lines, c: str, n: int) -> list[Group]:
    """A tight social circle on campus Wi-Fi, near-identical address books."""
    acc = hard_negative_accounts(world, c, n, "social_circle")
    n_clubs = max(1, int(round(n / 30)))
    club = np.sort(np.arange(n) % n_clubs)
    campus = world.new_ips("my_um", 3 * n_clubs).reshape(n_clubs, 3)
    devices = world.new_devices(n)
    home_ips = campus[club, world.rng.integers(3, size=n)]
    return [
        new_group(
            world,
            lines,
            acc,
            c,
            _HABITS["social_circle"],
            devices=devices,
            home_ips=home_ips,
            cohort=club,
            own_circle=True,
            circle_keep=0.95,
        )
    ]


def _vpn_users(
    world: World, lines: Lines, c: str, n: int, hard_negative_scale: float
) -> list[Group]:
    """Iranian users through commercial VPN exits."""
    acc = hard_negative_accounts(world, c, n, "vpn_users")
    exits = np.concatenate([world.new_ips(net, 2) for net in VPN_NETWORKS])[
        : max(6, int(round(6 * hard_negative_scale)))
    ]
    devices = world.new_devices(n)
    home_ips = exits[world.rng.integers(len(exits), size=n)]
    return [
        new_group(
            world,
            lines,
            acc,
            c,
            _HABITS["vpn_users"],
            devices=devices,
            home_ips=home_ips,
            mobile_pool=exits,
        )
    ]
