"""The state-linked playbooks: coordinated networks after chosen people.

``hosting_network``
    A state-linked network of emulator accounts sharing a few hosting
    addresses in Iran, working office hours with a Friday weekend.
``proxy_network``
    Accounts spread over hundreds of residential proxy exits (mostly US), but
    sharing three device fingerprints and firing on a cron-like clock set to
    the operators' time zone.
``targeted_unmasking``
    Operators looking up a leaked list of dissidents and journalists through
    address-book uploads: per-account volume and hit ratio of an ordinary sync;
    only shared targets, shared addresses, a synchronized schedule and a
    creation burst give them away.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    DAY_MS,
    DAYS,
    EMULATOR_USER_AGENT,
    HOME_NETWORKS,
    HOUR_MS,
    START_MS,
)
from ingest.simulate.playbook import (
    Campaign,
    Playbook,
    UploadPlan,
    campaign_devices,
    ceil_scale,
    covered,
    established,
    plan_windows,
    swept_lookups,
    workdays,
)
from ingest.simulate.population import Population
from ingest.simulate.users import AddressBooks, Users
from ingest.simulate.world import World

__all__ = ["hosting_network", "proxy_network", "targeted_unmasking"]

# name, country, the operators' UTC offset and weekend days, and tradecraft in the ground truth
_HOSTING_NETWORK = Playbook("hosting_network", "IR", 3.5, (4,), "state-linked emulator accounts sharing hosting addresses, office hours")
_PROXY_NETWORK = Playbook("proxy_network", "US", 3.5, (4,), "residential proxy exits, shared device fingerprints, cron-like timing", operator_country="IR")
_TARGETED_UNMASKING = Playbook("targeted_unmasking", "IR", 3.5, (4,), "a leaked list of dissidents' numbers looked up through address-book uploads")


def hosting_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``hosting_network`` campaign (see the module docstring)."""
    k = ceil_scale(12 * size, scale)
    batches = (
        START_MS - rng.choice([41, 33, 26], size=k) * DAY_MS + rng.integers(0, 2 * HOUR_MS, size=k)
    )
    camp = _HOSTING_NETWORK.open(world, k, batches, camouflage=camouflage)
    accounts, offset, weekend = camp.accounts, camp.utc_offset_hours, camp.weekend
    hosting = np.concatenate(
        [
            world.new_ips("ir_hostiran", 2),
            world.new_ips("ir_netmihan", 2),
            world.new_ips("ir_parsdade", 1),
        ]
    )
    ip_pools = [hosting[rng.choice(len(hosting), size=2, replace=False)] for _ in range(k)]
    devices = campaign_devices(world, k, user_agent=EMULATOR_USER_AGENT, camouflage=camouflage)
    per_account = rng.multinomial(int(8000 * scale * size * volume), np.full(k, 1 / k))
    active = workdays(weekend, k)
    jitter = 1.5 if camouflage else 0.3
    start_h = 8 + rng.normal(0, jitter, size=(DAYS, k))
    length_h = 8.5 + rng.normal(0, jitter, size=(DAYS, k))
    windows = plan_windows(rng, per_account, active, start_h, length_h, offset)
    camp.activities.append(
        swept_lookups(world, rng, accounts, windows, ("IR",), 0.8, ip_pools, devices)
    )
    suspended = accounts[rng.choice(k, size=min(2, k), replace=False)]
    world.suspended.update({int(a): START_MS + 9 * DAY_MS for a in suspended})
    world.prior_labels.extend(
        ("account", int(a), "suspended", "", "platform", "platform manipulation, 2019-12-27")
        for a in suspended
    )
    return covered(camp, world, rng, pop, ip_pools, devices)


def proxy_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``proxy_network`` campaign (see the module docstring)."""
    k = ceil_scale(15 * size, scale)
    country = rng.choice(["US", "GB", "DE"], size=k, p=[0.6, 0.2, 0.2]).astype(object)
    created = established(rng, k, 6.0)
    camp = _PROXY_NETWORK.open(world, k, created, camouflage=camouflage, country=country)
    accounts, offset, weekend = camp.accounts, camp.utc_offset_hours, camp.weekend
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
    active = workdays(weekend, k)
    if camouflage:
        start_h = 9 + rng.normal(0, 1.5, size=(DAYS, k))
        length_h = 8 + rng.normal(0, 1.0, size=(DAYS, k))
    else:
        start_h = np.full((DAYS, k), 9.0)
        length_h = np.full((DAYS, k), 8.0)
    windows = plan_windows(rng, per_account, active, start_h, length_h, offset)
    camp.activities.append(
        swept_lookups(
            world,
            rng,
            accounts,
            windows,
            ("US", "IL", "IR"),
            0.7,
            ip_pools,
            devices,
            cron=not camouflage,
            jitter_ms=300.0,
        )
    )
    return covered(camp, world, rng, pop, ip_pools, devices)


def targeted_unmasking(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``targeted_unmasking`` campaign (see the module docstring)."""
    k = ceil_scale(10 * size, scale)
    burst = START_MS + 1 * DAY_MS + 5 * HOUR_MS + 10 * 60_000  # 2019-12-19 08:40 Tehran
    created = burst + np.sort(rng.integers(0, 40 * 60_000, size=k))
    mobile = world.new_ips("ir_mci", 3)
    devices = world.new_devices(k, (APP_USER_AGENTS[0], APP_USER_AGENTS[4]))
    camp = _TARGETED_UNMASKING.open(
        world,
        k,
        created,
        camouflage=camouflage,
        signup_ip=mobile[rng.integers(3, size=k)],
        signup_device=devices,
        followers_median=5,
    )
    accounts, offset, weekend = camp.accounts, camp.utc_offset_hours, camp.weekend
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
                + int((slot - offset) * HOUR_MS)
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
