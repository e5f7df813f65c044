"""The simulator's shared builders: a group's habits, a playbook's opening, an upload's rows."""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import COUNTRIES, UPLOAD
from ingest.simulate.groups import Habits, hard_negative_accounts, new_group
from ingest.simulate.playbook import Playbook
from ingest.simulate.users import AddressBooks, Lines
from ingest.simulate.world import World


def _world() -> World:
    world = World(np.random.default_rng(7))
    for country in ("US", "IR", "DE"):
        world.populate_blocks(country, 4)
    return world


def test_habits_draw_sessions_from_a_distribution_or_give_everyone_the_same():
    rng = np.random.default_rng(1)
    assert np.array_equal(Habits(0.0, 0.0, 0.5).draw_sessions(rng, 3), [0.5, 0.5, 0.5])
    drawn = Habits(0.0, 0.0, ("uniform", 18, 30)).draw_sessions(rng, 50)
    assert drawn.shape == (50,) and drawn.min() >= 18 and drawn.max() < 30


def test_habits_give_browsers_to_nobody_everybody_or_a_share():
    world = _world()
    assert Habits(0.0, 0.0, 1.0).draw_browsers(world, 5) is None
    assert (Habits(0.0, 0.0, 1.0, browser_share=1.0).draw_browsers(world, 5) >= 0).all()
    some = Habits(0.0, 0.0, 1.0, browser_share=0.5).draw_browsers(world, 200)
    assert 0 < (some == -1).sum() < 200


def test_new_group_draws_what_it_is_not_given_and_keeps_what_it_is():
    world = _world()
    lines = Lines(world, {c: 10 for c in COUNTRIES})
    accounts = hard_negative_accounts(world, "DE", 4, "corporate_nat")
    assert set(world.account["hard_negative"][accounts]) == {"corporate_nat"}
    office = np.array([7, 7, 8, 8], dtype=np.int32)
    group = new_group(
        world, lines, accounts, "DE", Habits(0.3, 0.2, ("gamma", 2.0, 0.5)), home_ips=office
    )
    assert group.home_ips is office
    assert len(group.devices) == 4 and group.second is None
    assert group.mobile_pool is lines.mobile["DE"]
    assert group.mobile_share == 0.3 and group.upload_share == 0.2


def test_playbook_open_makes_the_campaign_and_its_accounts():
    world = _world()
    playbook = Playbook("proxy_network", "US", 3.5, (4,), "proxies", operator_country="IR")
    created = np.full(3, 1_000, dtype=np.int64)
    camp = playbook.open(world, 3, created, camouflage=True, country="DE", followers_median=5)
    assert set(world.account["group"][camp.accounts]) == {"proxy_network"}
    assert set(world.account["kind"][camp.accounts]) == {"campaign"}
    truth = camp.truth(np.arange(len(world.account["group"])))
    assert (truth["origin_country"], truth["operator_country"]) == ("US", "IR")
    assert (truth["utc_offset_hours"], truth["weekend"], truth["camouflage"]) == (
        3.5,
        ["Fri"],
        True,
    )


def test_an_upload_is_one_request_with_a_row_per_number_of_its_book():
    books = AddressBooks.from_lists([np.array([11, 12, 13]), np.array([21])])
    one = np.ones(2, dtype=np.int64)
    rows = books.uploads(np.random.default_rng(0), np.array([1, 0]), one * 5, one, one, one)
    assert list(rows["phone"]) == [21, 11, 12, 13]
    assert (rows["endpoint"] == UPLOAD).all() and (rows["ts"] == 5).all()
    assert len(set(rows["request"][1:])) == 1 and rows["request"][0] != rows["request"][1]
