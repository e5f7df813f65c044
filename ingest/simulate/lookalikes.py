"""Benign groups that look coordinated, beyond those of :mod:`ingest.simulate.population`.

The ``drawn`` scenario adds them to every draw as hard negatives, recorded in
the ground truth like the population's own:

``staff_directory``
    A company pushes its staff directory to managed phones: one MDM device
    build, one corporate egress address, everyone syncs the same directory on
    one morning and finds their colleagues.
``class_reunion``
    Old classmates meet at one venue one evening and sync their address books
    on its Wi-Fi within a few hours; they look each other up. Devices are
    their own (diverse).
``campus_nat``
    Students behind a university's few NAT addresses, in friend circles whose
    address books overlap; diurnal, ordinary volumes.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import COUNTRIES, DAY_MS, HOME_NETWORKS, MOBILE_NETWORKS, START_MS
from ingest.simulate.drawn_infrastructure import allocated_ips
from ingest.simulate.groups import hard_negative_accounts
from ingest.simulate.playbook import UploadPlan
from ingest.simulate.population import Population
from ingest.simulate.users import (
    AddressBooks,
    Users,
    upload_times,
    weekend_mask,
)
from ingest.simulate.world import World

__all__ = ["LOOKALIKES", "build_lookalikes"]

LOOKALIKES = ("staff_directory", "class_reunion", "campus_nat")

# A managed enterprise build: every phone of the roll-out reports the same one.
MDM_USER_AGENT = (
    "TwitterAndroid/8.21.0-release.00 (28210000-r-0) SM-G975U1/10 "
    "(samsung;SM-G975U1;samsung;beyond2q;0;;1;2016)"
)
_HOUR_MS = 3_600_000


def _circle_books(
    rng: np.random.Generator,
    phones: np.ndarray,
    circle: np.ndarray,
    strangers: np.ndarray,
    keep: float = 0.85,
    extra: float = 12.0,
) -> list[np.ndarray]:
    """Address books of people in circles: most of their circle, plus numbers of their own."""
    books = []
    for i in range(len(phones)):
        mates = phones[(circle == circle[i]) & (phones > 0) & (phones != phones[i])]
        mates = mates[rng.random(len(mates)) < keep]
        own = strangers[rng.integers(len(strangers), size=int(rng.poisson(extra)))]
        books.append(np.unique(np.concatenate([mates, own])))
    return books


def _users(world: World, accounts, country, devices, home_ips, mobile, books, **kw) -> Users:
    k = len(accounts)
    return Users(
        accounts=accounts.astype(np.int32),
        offsets_h=np.full(k, COUNTRIES[country].utc_offset_hours),
        weekend_mask=np.full(k, weekend_mask(country), dtype=np.int64),
        sessions_per_day=kw.pop("sessions"),
        devices=np.asarray(devices, dtype=np.int32),
        home_ips=np.asarray(home_ips, dtype=np.int32),
        mobile_pool=np.asarray(mobile, dtype=np.int32),
        mobile_share=kw.pop("mobile_share"),
        created_at=world.created_of(accounts),
        books=books,
        book_of=kw.pop("book_of", np.arange(k)),
        **kw,
    )


def build_lookalikes(world: World, population: Population, scale: float) -> None:
    """Add the staff directory, class reunion and campus NAT groups to ``population.activities``."""
    rng = world.rng

    def count(lo: int, hi: int) -> int:
        return max(3, int(round(rng.integers(lo, hi) * scale)))

    # -- a staff directory pushed to managed phones
    country = str(rng.choice(["US", "GB", "FR", "IL", "TR", "DE"]))
    n = count(30, 70)
    staff = hard_negative_accounts(world, country, n, "staff_directory")
    devices = world.new_devices(n, (MDM_USER_AGENT,))
    egress = world.new_ips(HOME_NETWORKS[country][0], 1)
    phones = world.phones_of(staff)
    directory = np.concatenate([phones[phones > 0], world.draw_numbers(country, n // 2)])
    books = AddressBooks.from_lists([directory[directory != p] for p in phones])
    weekdays = [d for d in range(1, 10) if (2 + d) % 7 not in COUNTRIES[country].weekend]
    push = START_MS + int(rng.choice(weekdays)) * DAY_MS
    push += int((9 - COUNTRIES[country].utc_offset_hours) * _HOUR_MS)
    mobile = allocated_ips(world, MOBILE_NETWORKS[country])
    homes = world.new_ips(HOME_NETWORKS[country][-1], n)
    # the same people at the office (the directory push) and at home
    population.activities.append(
        _users(
            world, staff, country, devices, np.full(n, egress[0]), egress, books,
            sessions=rng.gamma(3.0, 0.5, size=n),
            mobile_share=0.0,
            profile="office",
            weekend_factor=0.05,
            upload_user=np.arange(n),
            upload_ts=push + np.sort(rng.integers(0, int(1.5 * _HOUR_MS), size=n)),
        )
    )
    population.activities.append(
        _users(
            world, staff, country, devices, homes, mobile, books,
            sessions=np.full(n, 0.4),
            mobile_share=0.3,
        )
    )

    # -- a class reunion: one venue, one evening, everyone syncing
    country = str(rng.choice(list(COUNTRIES)))
    n = count(25, 60)
    classmates = hard_negative_accounts(world, country, n, "class_reunion")
    devices = world.new_devices(n)
    phones = world.phones_of(classmates)
    strangers = population.circle_numbers[country]
    books = AddressBooks.from_lists(
        _circle_books(rng, phones, np.zeros(n, dtype=np.int64), strangers, keep=0.7, extra=25)
    )
    homes = np.concatenate(
        [world.new_ips(net, 1) for net in rng.choice(HOME_NETWORKS[country], size=n)]
    )
    mobile = allocated_ips(world, MOBILE_NETWORKS[country])
    population.activities.append(
        _users(
            world,
            classmates,
            country,
            devices,
            homes,
            mobile,
            books,
            sessions=rng.gamma(2.0, 0.45, size=n),
            mobile_share=0.45,
        )
    )
    venue = world.new_ips(HOME_NETWORKS[country][0], 1)
    evening = START_MS + int(rng.integers(2, 13)) * DAY_MS
    evening += int((19 - COUNTRIES[country].utc_offset_hours) * _HOUR_MS) % DAY_MS
    attending = np.flatnonzero(rng.random(n) < 0.8)
    sizes = books.sizes()[attending]
    attending = attending[sizes > 0]
    population.activities.append(
        UploadPlan(
            ts=(evening + rng.integers(0, int(3.5 * _HOUR_MS), size=len(attending))).astype(
                np.int64
            ),
            account=classmates[attending].astype(np.int32),
            ip=np.full(len(attending), venue[0], dtype=np.int32),
            device=devices[attending].astype(np.int32),
            books=AddressBooks.from_lists(
                [books.numbers[books.offsets[i] : books.offsets[i + 1]] for i in attending]
            ),
        )
    )

    # -- students behind campus NAT, friend circles overlapping
    country = str(rng.choice(["MY", "IN", "ID", "TR", "BR", "GB"]))
    n = count(120, 250)
    students = hard_negative_accounts(world, country, n, "campus_nat")
    network = "my_um" if country == "MY" else HOME_NETWORKS[country][0]
    nat = world.new_ips(network, int(rng.integers(2, 5)))
    circle = rng.integers(0, max(1, n // 8), size=n)
    phones = world.phones_of(students)
    books = AddressBooks.from_lists(
        _circle_books(rng, phones, circle, population.circle_numbers[country])
    )
    mobile = allocated_ips(world, MOBILE_NETWORKS[country])
    uploaders = np.flatnonzero(rng.random(n) < 0.4)
    population.activities.append(
        _users(
            world,
            students,
            country,
            world.new_devices(n),
            nat[rng.integers(len(nat), size=n)],
            mobile,
            books,
            sessions=rng.gamma(2.5, 0.6, size=n),
            mobile_share=0.35,
            upload_user=uploaders,
            upload_ts=upload_times(
                rng, np.full(len(uploaders), COUNTRIES[country].utc_offset_hours)
            ),
        )
    )
