"""Abuse campaigns in the style of December 2019, each with its own tradecraft.

Twitter's disclosure of 2019-12-24 (and the researcher who matched 17 million
phone numbers to accounts) describe the playbooks modelled here. Each builder
adds its fake accounts to the world and returns a :class:`Campaign`: the
activities that generate its traffic plus what the ground truth says about it
(tradecraft, the country its requests come from, the operators' clock).

``lone_enumerator``
    One researcher, two accounts and two home connections, enumerating numbers
    in random order round the clock at huge volume; almost all misses.
``hosting_network``
    A state-linked network of emulator accounts sharing a few hosting
    addresses in Iran, working office hours with a Friday weekend.
``volume_network``
    A handful of accounts pushing huge volume through two addresses, hitting
    the rate limiter, in shifts.
``proxy_network``
    Accounts spread over hundreds of residential proxy exits (mostly US), but
    sharing three device fingerprints and firing on a cron-like clock set to
    the operators' time zone.
``sharding_network``
    Accounts each covering a complementary slice of the same number blocks,
    each account looking modest, on separate ordinary connections.
``targeted_unmasking``
    Operators looking up a leaked list of dissidents and journalists through
    address-book uploads: per-account volume and hit ratio of an ordinary sync;
    only shared targets, shared addresses, a synchronized schedule and a
    creation burst give them away.

Camouflage (any campaign) adds timing jitter, device rotation and benign-looking
sessions on the abusive accounts.

The enumeration playbooks live in :mod:`ingest.simulate.enumeration`, the
state-linked ones in :mod:`ingest.simulate.state_linked`, and the pieces they
share in :mod:`ingest.simulate.playbook`; this module names them.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.enumeration import lone_enumerator, sharding_network, volume_network
from ingest.simulate.playbook import Campaign
from ingest.simulate.population import Population
from ingest.simulate.state_linked import hosting_network, proxy_network, targeted_unmasking
from ingest.simulate.world import World

__all__ = ["Campaign", "CAMPAIGN_BUILDERS", "build_campaign"]

#: in the order the default scenario builds them (the order draws from the generator)
CAMPAIGN_BUILDERS = {
    "lone_enumerator": lone_enumerator,
    "hosting_network": hosting_network,
    "volume_network": volume_network,
    "proxy_network": proxy_network,
    "sharding_network": sharding_network,
    "targeted_unmasking": targeted_unmasking,
}


def build_campaign(
    name: str,
    world: World,
    population: Population,
    rng: np.random.Generator,
    *,
    scale: float,
    size: float = 1.0,
    camouflage: bool = False,
    volume: float = 1.0,
) -> Campaign:
    """Add campaign ``name`` to ``world`` and return it.

    ``size`` grows accounts and volume together; ``volume`` multiplies only the
    number of lookups (the targeted campaign stays small whatever it is: that
    is its tradecraft).
    """
    if name not in CAMPAIGN_BUILDERS:
        raise ValueError(f"unknown campaign {name!r}; choose from {', '.join(CAMPAIGN_BUILDERS)}")
    return CAMPAIGN_BUILDERS[name](world, population, rng, scale, size, camouflage, volume)
