"""Social circles: whose numbers each benign user's address book holds.

Friends' address books overlap, and that is what a naive coordination
detector mistakes for a campaign sharing a target list. People of one country
fall into circles of 3 to 12 (tight groups form circles of their own); each
book keeps most of the circle, some passive accounts and people without an
account, a few acquaintances, and, for a group that says so, colleagues or a
big book of numbers abroad.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import COUNTRIES
from ingest.simulate.groups import Group
from ingest.simulate.users import AddressBooks
from ingest.simulate.world import World

__all__ = ["circle_books"]


def circle_books(
    world: World,
    pending: list[Group],
    others: dict[str, np.ndarray],
    passive_numbers_by_country: dict[str, np.ndarray],
) -> tuple[AddressBooks, dict[tuple[int, int], int], dict[str, np.ndarray]]:
    """Address books for the groups of ``pending``, drawn circle by circle.

    Parameters
    ----------
    world : World
        Its generator draws the circles; its registry gives the members' numbers.
    pending : list of Group
        The groups of users, in order (see :func:`ingest.simulate.population.build_population`).
    others, passive_numbers_by_country : dict
        Per country, numbers of people without an account, and of passive accounts.

    Returns
    -------
    books : AddressBooks
    book_index : dict
        ``(group, member)`` to the member's book; groups that skip circles are absent.
    circle_numbers : dict
        Per country, every number in its books (the pool campaigns target).
    """
    rng = world.rng
    countries = list(COUNTRIES)
    circle_numbers: dict[str, list[np.ndarray]] = {c: [others[c]] for c in countries}
    member_rows = [
        (i, j) for i, p in enumerate(pending) if not p.skip_circle for j in range(len(p.accounts))
    ]
    books: list[np.ndarray] = []
    book_index: dict[tuple[int, int], int] = {}
    for c in countries:
        members = [
            (i, j) for i, j in member_rows if pending[i].country == c and not pending[i].own_circle
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
            if p.country == c and p.own_circle:
                circles += [
                    [(i, int(j)) for j in np.flatnonzero(p.cohort == g)]
                    for g in np.unique(p.cohort)
                ]
        passive_numbers = passive_numbers_by_country[c].copy()
        rng.shuffle(passive_numbers)
        other_numbers = others[c].copy()
        rng.shuffle(other_numbers)
        p_cur = o_cur = 0
        for circle in circles:
            own = world.phones_of(np.array([pending[i].accounts[j] for i, j in circle]))
            n_passive = int(rng.poisson(2 * len(circle)))
            n_other = int(rng.poisson(2.2 * len(circle)))
            pas = np.take(passive_numbers, np.arange(p_cur, p_cur + n_passive), mode="wrap")
            oth = np.take(other_numbers, np.arange(o_cur, o_cur + n_other), mode="wrap")
            p_cur += n_passive
            o_cur += n_other
            pool = np.concatenate([own[own > 0], pas, oth])
            for i, j in circle:
                p = pending[i]
                keep = p.circle_keep
                mine = world.phones_of(np.array([p.accounts[j]]))[0]
                book = pool[(rng.random(len(pool)) < keep) & (pool != mine)]
                if p.cohort is not None and not p.own_circle:
                    extra = world.phones_of(p.accounts[p.cohort == p.cohort[j]])
                    extra = extra[(extra > 0) & (extra != mine) & (rng.random(len(extra)) < 0.8)]
                    book = np.concatenate([book, extra])
                acquaint = np.take(
                    other_numbers, rng.integers(len(other_numbers), size=int(rng.poisson(3)))
                )
                book = np.concatenate([book, acquaint])
                if p.big_book:
                    big = p.big_book
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
    circle_numbers = {c: np.unique(np.concatenate(v)) for c, v in circle_numbers.items()}
    return AddressBooks.from_lists(books), book_index, circle_numbers
