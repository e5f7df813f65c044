"""Benign groups that look like abuse: the population's hard negatives.

Each builder adds one group's accounts to the world and returns it as
pending groups of users (their address books come later, from
:mod:`ingest.simulate.circles`); each is named in the ground truth:

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
from ingest.simulate.users import Lines, created_before_window
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


def hard_negative_groups(
    world: World,
    lines: Lines,
    sizes: dict[str, tuple[str, int]],
    family_sizes: np.ndarray,
    family_country: np.ndarray,
    hard_negative_scale: float,
) -> list[dict]:
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


def _cgnat(world: World, lines: Lines, c: str, n: int) -> list[dict]:
    """Carrier NAT: one carrier's subscribers behind at most four NAT addresses."""
    rng = world.rng
    groups: list[dict] = []
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created_before_window(rng, n),
        group="cgnat",
        hard_negative="cgnat",
    )
    nat = world.new_ips("in_jio", 4)
    groups.append(
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
    return groups


def _corporate_nat(world: World, lines: Lines, c: str, n: int) -> list[dict]:
    """Corporate NAT: offices of dozens behind one or two egress addresses."""
    rng = world.rng
    groups: list[dict] = []
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created_before_window(rng, n),
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
    groups.append(
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
    groups.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="corporate_nat",
            devices=devices,
            home_ips=lines.home_ips(c, n),
            mobile_pool=lines.mobile[c],
            mobile_share=0.3,
            sessions=np.full(n, 0.5),
            upload_share=0.0,
            second=None,
            skip_circle=True,
        )
    )
    return groups


def _family_device(
    world: World, lines: Lines, family_sizes: np.ndarray, family_country: np.ndarray
) -> list[dict]:
    """Family devices: a household shares a tablet and the home line."""
    rng = world.rng
    groups: list[dict] = []
    for fc in COUNTRIES:
        sizes = family_sizes[family_country == fc]
        if not len(sizes):
            continue
        n = int(sizes.sum())
        family = np.repeat(np.arange(len(sizes)), sizes)
        acc = world.new_accounts(
            n,
            country=fc,
            created_at=created_before_window(rng, n),
            group="family_device",
            hard_negative="family_device",
        )
        tablets = world.new_devices(len(sizes))
        homes = lines.home_ips(fc, len(sizes))
        groups.append(
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
    return groups


def _signup_burst(world: World, lines: Lines, c: str, n: int) -> list[dict]:
    """A viral sign-up burst: an hour of new accounts syncing contacts at onboarding."""
    rng = world.rng
    groups: list[dict] = []
    burst_start = START_MS + 3 * DAY_MS + 23 * 3_600_000  # 2019-12-21 20:00 in Sao Paulo
    created = burst_start + np.sort(rng.integers(0, 3_600_000, size=n))
    devices = world.new_devices(n)
    mobile = lines.mobile[c]
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
    groups.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="signup_burst",
            devices=devices,
            home_ips=lines.home_ips(c, n),
            mobile_pool=mobile,
            mobile_share=0.7,
            sessions=rng.gamma(2.0, 0.6, size=n),
            upload_share=0.0,
            second=None,
            fixed_uploads=(np.arange(n), created + rng.integers(60_000, 600_000, size=n)),
        )
    )
    return groups


def _heavy_user(world: World, lines: Lines, c: str, n: int) -> list[dict]:
    """Heavy users: a newsroom's social desk, lots of everything, normal rhythm."""
    rng = world.rng
    groups: list[dict] = []
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created_before_window(rng, n),
        group="heavy_user",
        hard_negative="heavy_user",
        followers_median=40_000,
    )
    groups.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="heavy_user",
            devices=world.new_devices(n),
            home_ips=lines.home_ips(c, n),
            mobile_pool=lines.mobile[c],
            mobile_share=0.4,
            sessions=rng.uniform(18, 30, size=n),
            upload_share=1.0,
            second=world.new_devices(n, browser_share=1.0),
            lookup_rate=0.5,
            requests_per_session=2.5,
            big_book=1200,
        )
    )
    return groups


def _social_circle(world: World, lines: Lines, c: str, n: int) -> list[dict]:
    """A tight social circle on campus Wi-Fi, near-identical address books."""
    rng = world.rng
    groups: list[dict] = []
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created_before_window(rng, n),
        group="social_circle",
        hard_negative="social_circle",
    )
    n_clubs = max(1, int(round(n / 30)))
    club = np.sort(np.arange(n) % n_clubs)
    campus = world.new_ips("my_um", 3 * n_clubs).reshape(n_clubs, 3)
    groups.append(
        dict(
            accounts=acc,
            country=c,
            hard_negative="social_circle",
            devices=world.new_devices(n),
            home_ips=campus[club, rng.integers(3, size=n)],
            mobile_pool=lines.mobile[c],
            mobile_share=0.35,
            sessions=rng.gamma(2.5, 0.6, size=n),
            upload_share=0.6,
            second=None,
            cohort=club,
            own_circle=True,
            circle_keep=0.95,
        )
    )
    return groups


def _vpn_users(
    world: World, lines: Lines, c: str, n: int, hard_negative_scale: float
) -> list[dict]:
    """Iranian users through commercial VPN exits."""
    rng = world.rng
    groups: list[dict] = []
    acc = world.new_accounts(
        n,
        country=c,
        created_at=created_before_window(rng, n),
        group="vpn_users",
        hard_negative="vpn_users",
    )
    exits = np.concatenate([world.new_ips(net, 2) for net in VPN_NETWORKS])[
        : max(6, int(round(6 * hard_negative_scale)))
    ]
    groups.append(
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
    return groups
