"""The benign population: ordinary users, their social circles, and hard negatives.

Most of a lookup API's traffic is people using the app: reading their timeline,
opening profiles, and now and then syncing an address book full of friends'
numbers. Friends' address books overlap (that is what a social circle is), and
the platform sees many people behind one address wherever a network shares it.
Those are exactly the patterns a naive coordination detector mistakes for abuse,
so the population includes them on purpose, each as a named *hard negative*
group recorded in the ground truth (:data:`HARD_NEGATIVES`, built in
:mod:`ingest.simulate.hard_negatives`: carrier NAT, offices, shared family
devices, a sign-up burst, power users, tight circles, VPN users).

This module decides who exists (active users, passive accounts, people without
an account, country by country), adds the ordinary users and the hard
negatives, gives everyone an address book (:mod:`ingest.simulate.circles`)
and turns each group into :class:`~ingest.simulate.users.Users`, plus
logged-out visitors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.simulate.catalog import COUNTRIES
from ingest.simulate.circles import circle_books
from ingest.simulate.groups import Group, Habits, established_accounts, new_group
from ingest.simulate.hard_negatives import HARD_NEGATIVES, hard_negative_groups
from ingest.simulate.users import (
    PROFILES,
    AddressBooks,
    Lines,
    Users,
    Visitors,
    upload_times,
    weekend_mask,
)
from ingest.simulate.world import World

__all__ = ["Users", "AddressBooks", "build_population", "HARD_NEGATIVES", "PROFILES"]

#: how ordinary users use the app: a fifth also browse the web
_ORDINARY = Habits(
    mobile_share=0.45, upload_share=0.3, sessions=("gamma", 2.0, 0.45), browser_share=0.2
)


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
        idx = established_accounts(world, c, passive_by_country[c], "benign")
        numbers = world.phones_of(idx)
        passive_numbers_by_country[c] = numbers[numbers > 0]
    passive_total = sum(passive_by_country.values())
    others = {c: world.draw_numbers(c, others_by_country[c]) for c in countries}

    activities: list[Users] = []
    lines = Lines(world, active_by_country)
    pending: list[Group] = []  # users whose address books are assigned after circles exist

    # -- ordinary users
    for c in countries:
        n = int((ordinary_country == c).sum())
        if not n:
            continue
        acc = established_accounts(world, c, n, "benign")
        pending.append(new_group(world, lines, acc, c, _ORDINARY))

    pending += hard_negative_groups(
        world, lines, group_sizes, family_sizes, family_country, hard_negative_scale
    )

    address_books, book_index, circle_numbers = circle_books(
        world, pending, others, passive_numbers_by_country
    )

    for i, p in enumerate(pending):
        k = len(p.accounts)
        book_of = np.array([book_index.get((i, j), -1) for j in range(k)], dtype=np.int64)
        if p.skip_circle:
            # the same people as the entry before (the office by day): same books
            prev = activities[-1]
            book_of = prev.book_of.copy()
        offsets = np.full(k, COUNTRIES[p.country].utc_offset_hours)
        upload_user = np.flatnonzero(rng.random(k) < p.upload_share)
        # some people sync twice in two weeks (a new phone, a reinstall)
        upload_user = np.concatenate(
            [upload_user, upload_user[rng.random(len(upload_user)) < 0.12]]
        )
        upload_ts = upload_times(rng, offsets[upload_user])
        if p.fixed_uploads is not None:
            fu, ft = p.fixed_uploads
            upload_user = np.concatenate([upload_user, fu])
            upload_ts = np.concatenate([upload_ts, ft])
        created = world.created_of(p.accounts)
        ok = upload_ts >= created[upload_user]
        activities.append(
            Users(
                accounts=p.accounts.astype(np.int32),
                offsets_h=offsets,
                weekend_mask=np.full(k, weekend_mask(p.country), dtype=np.int64),
                sessions_per_day=np.asarray(p.sessions, dtype=float),
                devices=np.asarray(p.devices, dtype=np.int32),
                home_ips=np.asarray(p.home_ips, dtype=np.int32),
                mobile_pool=np.asarray(p.mobile_pool, dtype=np.int32),
                mobile_share=p.mobile_share,
                created_at=created,
                books=address_books,
                book_of=book_of,
                upload_user=upload_user[ok],
                upload_ts=upload_ts[ok],
                profile=p.profile,
                weekend_factor=p.weekend_factor,
                lookup_rate=p.lookup_rate,
                requests_per_session=p.requests_per_session,
                second_devices=None if p.second is None else np.asarray(p.second, dtype=np.int32),
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
            visitor_ips[mask] = lines.home_ips(c, int(mask.sum()))
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
        circle_numbers=circle_numbers,
        account_numbers={c: v[v > 0] for c, v in account_numbers.items()},
        passive=passive_total,
    )
