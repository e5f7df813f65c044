"""The enumeration playbooks: walking the number space for whoever answers.

``lone_enumerator``
    One researcher, two accounts and two home connections, enumerating numbers
    in random order round the clock at huge volume; almost all misses.
``volume_network``
    A handful of accounts pushing huge volume through two addresses, hitting
    the rate limiter, in shifts.
``sharding_network``
    Accounts each covering a complementary slice of the same number blocks,
    each account looking modest, on separate ordinary connections.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import DAY_MS, DAYS, HOME_NETWORKS, OLD_ANDROID_USER_AGENT, START_MS
from ingest.simulate.playbook import (
    Campaign,
    LookupStream,
    Playbook,
    campaign_devices,
    ceil_scale,
    covered,
    established,
    plan_windows,
    swept_lookups,
    workdays,
)
from ingest.simulate.population import Population
from ingest.simulate.world import World

__all__ = ["lone_enumerator", "volume_network", "sharding_network"]

# name, country, the operators' UTC offset and weekend days, and tradecraft in the ground truth
_LONE_ENUMERATOR = Playbook("lone_enumerator", "IL", 2.0, (4, 5), "random-order enumeration at huge volume from one or two accounts and addresses")
_VOLUME_NETWORK = Playbook("volume_network", "MY", 8.0, (5, 6), "huge volume pushed through a few addresses, in shifts, rate limited")
_SHARDING_NETWORK = Playbook("sharding_network", "IL", 2.0, (4, 5), "number space sharded between accounts: complementary slices of the same blocks")


def lone_enumerator(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``lone_enumerator`` campaign (see the module docstring)."""
    created = np.array([START_MS - 7 * 365 * DAY_MS, START_MS - 3 * DAY_MS], dtype=np.int64)
    camp = _LONE_ENUMERATOR.open(world, 2, created, camouflage=camouflage, discoverable_share=0.0)
    accounts, offset = camp.accounts, camp.utc_offset_hours
    ips = [world.new_ips("il_hot", 1), world.new_ips("il_cellcom", 1)]
    devices = campaign_devices(world, 2, user_agent=OLD_ANDROID_USER_AGENT, camouflage=camouflage)
    per_account = np.round(np.array([0.75, 0.25]) * 16_000 * scale * size * volume)
    active = np.zeros((DAYS, 2), dtype=bool)
    active[2:7] = True  # 2019-12-20 .. 2019-12-24, then the platform stopped it
    start_h = rng.uniform(6, 11, size=(DAYS, 2))
    length_h = rng.uniform(13, 18, size=(DAYS, 2))
    windows = plan_windows(rng, per_account, active, start_h, length_h, offset)
    walked = ("IL", "US", "GB", "IR", "DE")  # whose number ranges it walks
    camp.activities.append(
        swept_lookups(world, rng, accounts, windows, walked, 0.5, ips, devices, throttle=0.01)
    )
    world.suspended.update({int(a): START_MS + 7 * DAY_MS for a in accounts})
    return covered(camp, world, rng, pop, ips, devices)


def volume_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``volume_network`` campaign (see the module docstring)."""
    k = ceil_scale(6 * size, scale)
    camp = _VOLUME_NETWORK.open(world, k, established(rng, k, 1.0), camouflage=camouflage)
    accounts, offset = camp.accounts, camp.utc_offset_hours
    egress = world.new_ips("my_tm_biz", 2)
    ip_pools = [egress for _ in range(k)]
    devices = campaign_devices(world, k, user_agent=OLD_ANDROID_USER_AGENT, camouflage=camouflage)
    per_account = rng.multinomial(int(12_000 * scale * size * volume), np.full(k, 1 / k))
    active = np.zeros((DAYS, k), dtype=bool)
    active[:10] = True
    shift = np.where(np.arange(k) % 2 == 0, 7.0, 19.0)[None, :] + rng.normal(0, 0.3, size=(DAYS, k))
    windows = plan_windows(rng, per_account, active, shift, np.full((DAYS, k), 11.5), offset)
    camp.activities.append(
        swept_lookups(
            world, rng, accounts, windows, ("MY", "ID", "IN"), 0.6, ip_pools, devices, throttle=0.06
        )
    )
    return covered(camp, world, rng, pop, ip_pools, devices)


def sharding_network(
    world: World, pop: Population, rng, scale: float, size: float, camouflage: bool, volume: float
) -> Campaign:
    """Build the ``sharding_network`` campaign (see the module docstring)."""
    k = ceil_scale(8 * size, scale)
    created = START_MS - rng.integers(2, 9, size=k) * DAY_MS - rng.integers(0, DAY_MS, size=k)
    camp = _SHARDING_NETWORK.open(world, k, created, camouflage=camouflage)
    accounts, offset, weekend = camp.accounts, camp.utc_offset_hours, camp.weekend
    nets = HOME_NETWORKS["IL"] + ("il_cellcom",)
    ip_pools = [world.new_ips(nets[i % len(nets)], 1) for i in range(k)]
    devices = campaign_devices(world, k, user_agent=None, camouflage=camouflage)
    if not camouflage:
        devices = [world.new_devices(1) for _ in range(k)]
    total = int(5000 * scale * size * volume)
    n_blocks = max(1, int(np.ceil(total / 1000)))
    populated = [b for c in ("IR", "IL") for b in world.blocks[c]]
    blocks = np.array(
        [
            populated[int(i)]
            for i in rng.choice(len(populated), size=min(n_blocks, len(populated)), replace=False)
        ],
        dtype=np.int64,
    )
    if len(blocks) < n_blocks:
        blocks = np.concatenate([blocks, world.random_blocks("IR", n_blocks - len(blocks))])
    edges = np.linspace(0, 1000, k + 1).astype(np.int64)
    numbers = [
        rng.permutation(
            (blocks[:, None] * 1000 + np.arange(edges[i], edges[i + 1])[None, :]).ravel()
        )
        for i in range(k)
    ]
    per_account = np.array([len(x) for x in numbers])
    active = workdays(weekend, k)
    jitter = 1.5 if camouflage else 0.7
    alloc, ws, we = plan_windows(
        rng,
        per_account,
        active,
        9 + rng.normal(0, jitter, size=(DAYS, k)),
        8.5 + rng.normal(0, jitter, size=(DAYS, k)),
        offset,
    )
    camp.activities.append(LookupStream(accounts, alloc, ws, we, numbers, ip_pools, devices))
    return covered(camp, world, rng, pop, ip_pools, devices)
