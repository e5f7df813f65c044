"""Where a drawn campaign's requests come from, and on which devices.

Infrastructure: ``hosting`` addresses of its own, ``residential_proxies``,
the ``vpn_exits`` benign users share, or a ``shared_carrier``'s mobile and
home addresses. Devices: ``shared_emulators``, ``own_handsets`` or
``rotation`` (a new device every session).
"""

from __future__ import annotations

import math

import numpy as np

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    EMULATOR_USER_AGENT,
    HOME_NETWORKS,
    MOBILE_NETWORKS,
    OLD_ANDROID_USER_AGENT,
    VPN_NETWORKS,
)
from ingest.simulate.world import World

__all__ = ["allocated_ips", "drawn_addresses", "drawn_devices"]


def allocated_ips(world: World, networks) -> np.ndarray:
    """Indices of the addresses handed out so far in ``networks``."""
    wanted = set(networks)
    return np.array([i for i, n in enumerate(world.ip_network) if n in wanted], dtype=np.int32)


def drawn_addresses(td: dict, world: World, rng: np.random.Generator, k: int):
    """Per-account address pools, and for shared carriers the benign addresses borrowed."""
    infra = td["infrastructure"]
    if infra == "hosting":
        nets = td["hosting_networks"]
        ips = np.concatenate(
            [
                world.new_ips(net, int(m))
                for net, m in zip(
                    nets, rng.multinomial(td["ips"], np.full(len(nets), 1 / len(nets))), strict=True
                )
                if m
            ]
        )
        per = int(rng.integers(1, min(3, len(ips)) + 1))
        return [ips[rng.choice(len(ips), size=per, replace=False)] for _ in range(k)], ips, None
    if infra == "residential_proxies":
        slots = k * td["ips_per_account"]
        n_ips = max(3, int(math.ceil(slots / td["accounts_per_ip"])))
        nets = HOME_NETWORKS[td["proxy_country"]]
        split = rng.multinomial(n_ips, np.full(len(nets), 1 / len(nets)))
        ips = np.concatenate(
            [world.new_ips(net, int(m)) for net, m in zip(nets, split, strict=True) if m]
        )
        ips = rng.permutation(ips)
        order = rng.permutation(np.resize(np.arange(len(ips)), slots))
        pools = order.reshape(k, td["ips_per_account"])
        return [ips[np.unique(p)] for p in pools], ips, None
    if infra == "vpn_exits":
        exits = allocated_ips(world, VPN_NETWORKS)
        ips = rng.choice(exits, size=min(td["ips"], len(exits)), replace=False)
        return [ips for _ in range(k)], ips, None
    country = td["operator_country"]
    mobile = allocated_ips(world, MOBILE_NETWORKS[country])
    homes = allocated_ips(world, HOME_NETWORKS[country])
    own = homes[rng.integers(len(homes), size=k)]
    return [np.array([h], dtype=np.int32) for h in own], np.concatenate([mobile, own]), mobile


def drawn_devices(td: dict, world: World, rng: np.random.Generator, k: int):
    """Per-account device pools, or for ``rotation`` none and the user agents new devices get."""
    habit = td["devices"]
    if habit == "shared_emulators":
        ua = EMULATOR_USER_AGENT if td["user_agent"] == "emulator" else OLD_ANDROID_USER_AGENT
        shared = world.new_devices(td["device_count"], (ua,))
        return [shared for _ in range(k)], None
    if habit == "own_handsets":
        own = world.new_devices(k, APP_USER_AGENTS)
        return [own[i : i + 1] for i in range(k)], None
    agents = (
        (APP_USER_AGENTS[int(rng.integers(len(APP_USER_AGENTS)))],)
        if td["user_agent"] == "one_app_build"
        else APP_USER_AGENTS
    )
    return None, agents
