"""Campaigns whose tradecraft is drawn at random: the ``drawn`` scenario.

The fixed playbooks of :mod:`ingest.simulate.campaigns` are what the detector
was built beside; a detector that only finds them has learned the simulator.
Here each campaign's tradecraft is a draw from distributions over everything
an operator chooses (:func:`draw_tradecraft`):

number selection
    ``dense_blocks`` (walk most of a few 1,000-number blocks),
    ``sequential`` (runs of consecutive numbers), ``scattered`` (random
    numbers over several countries' mobile ranges: every touched block holds
    about one number, as in an address book, but only 1-5% match) or
    ``leaked_list`` (one list of a few hundred to a few thousand numbers of
    real accounts, 15-40% of which match).
division of labour
    ``independent`` (every account on the whole job, overlapping),
    ``shards`` (squads of about ten that split blocks or the list between
    them, and split their share again inside the squad; in half of such
    operations each squad weighs the job's countries its own way,
    ``squad_mix``) or ``pool`` (one queue of numbers consumed by whichever
    account is free).
infrastructure
    ``hosting`` (a few dedicated hosting addresses), ``residential_proxies``
    (many exits, one to three accounts an exit), ``vpn_exits`` (the commercial
    VPN exits benign users use too) or ``shared_carrier`` (carrier NAT and
    home addresses shared with benign users).
devices
    ``shared_emulators`` (a handful of emulator or pinned-build fingerprints),
    ``own_handsets`` (one ordinary phone an account) or ``rotation`` (a new
    device id every session).
timing
    ``cron`` (bursts on a fixed period, onsets seconds apart across accounts),
    ``office_hours`` (the operators' working day and weekend) or ``jitter``
    (a daily schedule blurred by seconds to tens of minutes).
account age, volume, camouflage and size
    burst-made shortly before use (in one sitting, or two or three a few
    days apart) or aged for years; per-account lookups from
    the benign range (20) to heavy (5,000); camouflage intensity 0 to 1
    (benign side activity, address-book-sized uploads, extra jitter, and as
    likely as its intensity each of shared addresses, ordinary handsets, a
    blurred schedule and benign volume: :func:`_evade`); 3 to
    300 accounts, small networks of 3 to 12 included.

Every choice is recorded in the campaign's ground truth (``"drawn"``), so a
benchmark can report what kind of operation each miss was.

This module holds the draw; :mod:`ingest.simulate.drawn_campaign` builds a
campaign from it, with the number selection and division of labour of
:mod:`ingest.simulate.drawn_numbers`, the infrastructure and devices of
:mod:`ingest.simulate.drawn_infrastructure` and the timing of
:mod:`ingest.simulate.drawn_timing`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np

from ingest.simulate.catalog import COUNTRIES, DAYS
from ingest.simulate.drawn_campaign import build_drawn_campaign
from ingest.simulate.drawn_infrastructure import allocated_ips
from ingest.simulate.playbook import Campaign
from ingest.simulate.population import Population
from ingest.simulate.world import World

__all__ = [
    "SELECTIONS",
    "DIVISIONS",
    "INFRASTRUCTURES",
    "DEVICE_HABITS",
    "TIMINGS",
    "ACCOUNT_AGES",
    "CHOICES",
    "draw_tradecraft",
    "draw_plan",
    "build_drawn_campaign",
    "draw_campaigns",
    "allocated_ips",
]

SELECTIONS = ("dense_blocks", "sequential", "scattered", "leaked_list")
DIVISIONS = ("independent", "shards", "pool")
INFRASTRUCTURES = ("hosting", "residential_proxies", "vpn_exits", "shared_carrier")
DEVICE_HABITS = ("shared_emulators", "own_handsets", "rotation")
TIMINGS = ("cron", "office_hours", "jitter")
ACCOUNT_AGES = ("burst", "aged")
#: each categorical choice a campaign draws, by its name in the tradecraft (what ``draw_plan(only=...)`` narrows)
CHOICES = {"selection": SELECTIONS, "division": DIVISIONS, "infrastructure": INFRASTRUCTURES,
            "devices": DEVICE_HABITS, "timing": TIMINGS, "account_age": ACCOUNT_AGES}
#: campaigns drawn at most for one narrowed plan (one value of each of the six choices is one campaign in 864)
_MAX_REDRAWS = 100_000

# Where operators sit (the 2019 disclosure named Iran, Israel and Malaysia).
_OPERATORS = {
    "IR": 0.26,
    "IL": 0.14,
    "MY": 0.14,
    "TR": 0.09,
    "IN": 0.08,
    "ID": 0.06,
    "BR": 0.06,
    "US": 0.09,
    "DE": 0.08,
}
# Hosting ranges located in the operator's country, else rented abroad.
_HOSTING = {"IR": ("ir_hostiran", "ir_netmihan", "ir_parsdade"), "MY": ("my_exabytes",)}
_DATACENTRES = ("us_vultr", "us_digitalocean", "de_hetzner", "fr_scaleway")
_DIASPORA = ("US", "GB", "DE", "TR")
#: total lookups of one campaign at scale 1 (keeps a draw at 100k-300k rows)
LOOKUP_BUDGET = 35_000


def _pick(rng: np.random.Generator, options, p=None):
    options = tuple(options)
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return options[int(rng.choice(len(options), p=p))]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw_tradecraft(
    rng: np.random.Generator, *, scale: float = 1.0, camouflage: bool = False
) -> dict:
    """One campaign's tradecraft, drawn independently choice by choice.

    Parameters
    ----------
    rng : numpy.random.Generator
        The draw's generator; the same state gives the same tradecraft.
    scale : float
        Account counts grow with its square root, lookup budgets with it.
    camouflage : bool
        Draw camouflage intensity from 0.5..1 instead of 0..1 (with a third of
        campaigns at 0).

    Returns
    -------
    dict
        JSON-ready: the categorical choices (``selection``, ``division``,
        ``infrastructure``, ``devices``, ``timing``, ``account_age``) and their
        parameters; parameters of choices not taken are absent.
    """
    operator = _pick(rng, _OPERATORS, p=list(_OPERATORS.values()))
    td: dict = {
        "operator_country": operator,
        "utc_offset_hours": COUNTRIES[operator].utc_offset_hours,
        "selection": _pick(rng, SELECTIONS),
        "division": _pick(rng, DIVISIONS),
        "infrastructure": _pick(rng, INFRASTRUCTURES),
        "devices": _pick(rng, DEVICE_HABITS),
        "timing": _pick(rng, TIMINGS),
        "account_age": _pick(rng, ACCOUNT_AGES),
    }
    u = rng.random()
    if u < 0.35:
        size = int(rng.integers(3, 13))
    elif u < 0.75:
        size = int(rng.integers(13, 61))
    else:
        size = int(rng.integers(61, 301))
    td["accounts"] = max(3, int(round(size * math.sqrt(scale))))
    td["per_account_lookups_drawn"] = int(round(_log_uniform(rng, 20, 5000)))
    if camouflage:
        td["camouflage"] = round(float(rng.uniform(0.5, 1.0)), 3)
    else:
        td["camouflage"] = 0.0 if rng.random() < 0.35 else round(float(rng.uniform(0.05, 1.0)), 3)
    _evade(td, rng)
    first = int(rng.integers(0, 8))
    td["active_days"] = [first, int(rng.integers(first + 4, DAYS + 1))]

    others = [c for c in COUNTRIES if c != operator]
    sel = td["selection"]
    if sel in ("dense_blocks", "sequential"):
        extra = [str(c) for c in rng.choice(others, size=int(rng.integers(0, 2)), replace=False)]
        td["target_countries"] = [operator, *extra]
        td["populated_share"] = round(float(rng.uniform(0.3, 0.9)), 3)
        if sel == "dense_blocks":
            td["block_fill"] = round(float(rng.uniform(0.6, 0.97)), 3)
        else:
            td["run_length"] = int(round(_log_uniform(rng, 100, 2000)))
    elif sel == "scattered":
        n = int(rng.integers(2, 6))
        chosen = [str(c) for c in rng.choice(others, size=n, replace=False)]
        if rng.random() < 0.5:
            chosen[0] = operator
        td["target_countries"] = chosen
        td["hit_ratio"] = round(float(rng.uniform(0.01, 0.05)), 4)
    else:
        td["target_countries"] = [operator, *[c for c in _DIASPORA if c != operator][:3]]
        td["list_size"] = int(round(_log_uniform(rng, 200, 3000) * math.sqrt(scale)))
        td["hit_ratio"] = round(float(rng.uniform(0.15, 0.40)), 3)
    if td["division"] == "shards":
        td["squad_size"] = int(rng.integers(6, 15))
        # half of the operations let each squad weigh the countries its own way (one squad mostly on
        # the home numbers, another on the diaspora), drawn from a child generator so that this choice
        # leaves every other choice of the draw as it was
        mix = rng.spawn(1)[0]
        if mix.random() < 0.5:
            td["squad_mix"] = round(_log_uniform(mix, 0.3, 3.0), 3)

    infra = td["infrastructure"]
    if infra == "hosting":
        td["ips"] = int(rng.integers(2, 9))
        nets = _HOSTING.get(operator)
        td["hosting_networks"] = list(nets) if nets else [_pick(rng, _DATACENTRES)]
    elif infra == "residential_proxies":
        td["proxy_country"] = _pick(rng, (operator, "US", "GB", "DE"), p=[0.3, 0.4, 0.15, 0.15])
        td["accounts_per_ip"] = round(float(rng.uniform(1.0, 3.0)), 2)
        td["ips_per_account"] = int(rng.integers(1, 5))
    elif infra == "vpn_exits":
        td["ips"] = int(rng.integers(2, 7))
    else:
        td["mobile_share"] = round(float(rng.uniform(0.4, 0.9)), 3)

    if td["devices"] == "shared_emulators":
        td["device_count"] = int(rng.integers(2, 9))
        td["user_agent"] = _pick(rng, ("emulator", "pinned_old_build"))
    elif td["devices"] == "rotation":
        td["user_agent"] = _pick(rng, ("one_app_build", "mixed"))

    timing = td["timing"]
    td["skip_weekend"] = bool(timing == "office_hours" or rng.random() < 0.6)
    if timing == "cron":
        td["period_hours"] = int(_pick(rng, (1, 2, 3, 4, 6)))
        td["round_the_clock"] = bool(rng.random() < 0.4)
        td["start_hour"] = round(float(rng.uniform(7, 11)), 2)
        td["window_hours"] = round(float(rng.uniform(6, 12)), 2)
        td["onset_jitter_s"] = round(_log_uniform(rng, 0.5, 10), 2)
        td["burst"] = int(rng.integers(5, 31))
        td["cadence_s"] = round(float(rng.uniform(0.3, 3.0)), 2)
    elif timing == "office_hours":
        td["burst"] = int(rng.integers(20, 201))
        td["gap_s"] = round(float(rng.uniform(2, 30)), 1)
    else:
        td["times_per_day"] = int(rng.integers(1, 4))
        td["onset_jitter_s"] = round(_log_uniform(rng, 30, 2400), 1)
        td["burst"] = int(rng.integers(10, 121))
        td["gap_s"] = round(float(rng.uniform(1, 20)), 1)

    if td["account_age"] == "burst":
        td["burst_hours"] = round(float(rng.uniform(1, 12)), 2)
        td["lead_days"] = round(float(rng.uniform(1, 10)), 2)
        # accounts made in one sitting, or in two or three a few days apart
        td["bursts"] = int(_pick(rng, (1, 2, 3), p=[0.6, 0.25, 0.15]))
        td["bursts_apart_days"] = round(float(rng.uniform(1, 6)), 2)
    else:
        td["age_years"] = round(float(rng.uniform(1, 8)), 2)

    leaked_uploads = sel == "leaked_list" and rng.random() < 0.6
    td["upload_share"] = 0.85 if leaked_uploads else round(0.6 * td["camouflage"], 3)

    k = td["accounts"]
    volume = td["per_account_lookups_drawn"]
    if sel == "leaked_list":
        td["list_size"] = max(td["list_size"], 3 * k)
        if td["division"] != "independent":
            volume = int(math.ceil(td["list_size"] / k))  # one pass over the list
        volume = min(volume, td["list_size"])
    budget = LOOKUP_BUDGET * scale
    td["per_account_lookups"] = max(3, int(min(volume, budget / k)))
    return td


def _evade(td: dict, rng: np.random.Generator) -> None:
    """Let camouflage reach every choice an operator hides behind, not only side activity.

    An operator who bothers to camouflage also blends into benign traffic: with
    probability equal to the camouflage intensity, each of infrastructure,
    devices, timing and per-account volume is redrawn from its evasive options
    (addresses benign users share, one ordinary handset an account or
    rotation, a blurred daily schedule, the benign volume range of 20-300).
    Each is redrawn independently, so strongly camouflaged campaigns usually
    combine several evasions, as the independent simulations do.
    """
    camo = td["camouflage"]
    if rng.random() < camo:
        td["infrastructure"] = _pick(rng, ("residential_proxies", "vpn_exits", "shared_carrier"))
    if rng.random() < camo:
        td["devices"] = _pick(rng, ("own_handsets", "rotation"))
    if rng.random() < camo:
        td["timing"] = "jitter"
    if rng.random() < camo:
        td["per_account_lookups_drawn"] = int(round(_log_uniform(rng, 20, 300)))


def draw_plan(
    seed: int, *, scale: float = 1.0, camouflage: bool = False, only: Mapping[str, Collection[str]] | None = None
) -> list[dict]:
    """The tradecraft of draw ``seed``'s 3 to 6 campaigns, from the draw number alone.

    ``only`` keeps drawing until every campaign takes one of the given
    values of each named choice (``{"selection": ["leaked_list"]}``): a
    development draw that stresses one kind of operation. Without it the
    plan is the split's, unchanged.

    Examples
    --------
    >>> plan = draw_plan(11)
    >>> 3 <= len(plan) <= 6 and plan == draw_plan(11)
    True
    >>> {td["selection"] for td in draw_plan(21, only={"selection": ["leaked_list"]})}
    {'leaked_list'}
    """
    draws = np.random.default_rng([seed, 5])
    n = int(draws.integers(3, 7))
    if not only:
        return [draw_tradecraft(draws, scale=scale, camouflage=camouflage) for _ in range(n)]
    wanted = {choice: set(values) for choice, values in only.items()}
    for choice, values in wanted.items():
        known = CHOICES.get(choice)
        if known is None:
            raise ValueError(f"no tradecraft choice {choice!r}; choose from {', '.join(CHOICES)}")
        if not values or values - set(known):
            raise ValueError(f"{choice} takes {', '.join(known)}, not {', '.join(sorted(values)) or 'nothing'}")
    plan: list[dict] = []
    for _ in range(_MAX_REDRAWS):
        td = draw_tradecraft(draws, scale=scale, camouflage=camouflage)
        if all(td[choice] in values for choice, values in wanted.items()):
            plan.append(td)
            if len(plan) == n:
                return plan
    raise ValueError(f"{_MAX_REDRAWS:,} campaigns drawn and fewer than {n} of them take {dict(only)}")


def draw_campaigns(
    world: World,
    population: Population,
    seed: int,
    *,
    scale: float = 1.0,
    camouflage: bool = False,
    only: Mapping[str, Collection[str]] | None = None,
) -> list[Campaign]:
    """Draw 3 to 6 campaigns for draw ``seed`` and add them to ``world``.

    The tradecraft comes from its own generator (:func:`draw_plan`, which
    ``only`` narrows), so it is a function of the draw number alone;
    building the accounts and traffic uses the world's generator.
    """
    campaigns = []
    for i, td in enumerate(draw_plan(seed, scale=scale, camouflage=camouflage, only=only)):
        name = f"op{i + 1}_{td['selection']}_{td['infrastructure']}"
        campaigns.append(build_drawn_campaign(name, td, world, population, world.rng))
    return campaigns
