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
    them, and split their share again inside the squad) or ``pool`` (one
    queue of numbers consumed by whichever account is free).
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
"""

from __future__ import annotations

import math

import numpy as np
from phonenumbers import PhoneNumber, is_valid_number

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    COUNTRIES,
    DAY_MS,
    DAYS,
    EMULATOR_USER_AGENT,
    END_MS,
    HOME_NETWORKS,
    LOGIN,
    LOOKUP,
    MOBILE_NETWORKS,
    NETWORKS,
    OLD_ANDROID_USER_AGENT,
    START_MS,
    UPLOAD,
    VPN_NETWORKS,
)
from ingest.simulate.playbook import Campaign, area_blocks
from ingest.simulate.population import AddressBooks, Population, Users
from ingest.simulate.world import Batch, World, concat_batches

__all__ = [
    "SELECTIONS",
    "DIVISIONS",
    "INFRASTRUCTURES",
    "DEVICE_HABITS",
    "TIMINGS",
    "ACCOUNT_AGES",
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
_HOUR_MS = 3_600_000
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


# ---- numbers -----------------------------------------------------------------------------


def _valid(numbers: np.ndarray, country: str) -> np.ndarray:
    """Which E.164 numbers (as integers) of ``country`` phonenumbers accepts."""
    code = COUNTRIES[country].calling_code
    base = 10 ** (len(str(int(numbers[0]))) - len(str(code))) if len(numbers) else 1
    return np.array(
        [
            is_valid_number(PhoneNumber(country_code=code, national_number=int(n) % base))
            for n in numbers
        ],
        dtype=bool,
    )


def _random_numbers(world: World, rng: np.random.Generator, country: str, n: int) -> np.ndarray:
    """``n`` valid mobile numbers drawn uniformly from ``country``'s ranges."""
    spec = COUNTRIES[country]
    digits = spec.subscriber_digits
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = 2 * (n - have) + 8
        prefix = np.array(spec.prefixes)[rng.integers(len(spec.prefixes), size=m)]
        heads = np.array([int(f"{spec.calling_code}{p}") for p in prefix], dtype=np.int64)
        cand = heads * 10**digits + rng.integers(0, 10**digits, size=m)
        cand = cand[_valid(cand, country)][: n - have]
        out.append(cand)
        have += len(cand)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


class _Numbers:
    """The phone numbers one campaign can reach: its target area, and who owns what."""

    def __init__(self, world: World, population: Population, rng: np.random.Generator) -> None:
        self.world, self.population, self.rng = world, population, rng
        a = world.account
        benign = (a["kind"] == "benign") & (a["phone"] > 0)
        self.discoverable = {
            c: a["phone"][benign & a["discoverable"] & (a["phone_country"] == c)] for c in COUNTRIES
        }
        self.hidden = {
            c: a["phone"][benign & ~a["discoverable"] & (a["phone_country"] == c)]
            for c in COUNTRIES
        }
        owned = a["phone"][a["phone"] > 0]
        self.strangers = {c: np.setdiff1d(population.circle_numbers[c], owned) for c in COUNTRIES}

    def area_blocks(
        self, countries: list[str], n_blocks: int, populated_share: float
    ) -> np.ndarray:
        """``n_blocks`` distinct blocks of ``countries``, a share of them where people live."""
        return self.rng.permutation(area_blocks(self.world, self.rng, countries, n_blocks, populated_share))

    def pick(
        self, pools: dict[str, np.ndarray], countries: list[str], n: int, home_share: float
    ) -> np.ndarray:
        """``n`` distinct numbers from ``pools``, ``home_share`` of them from the first country."""
        rng = self.rng
        weights = np.array(
            [home_share] + [(1 - home_share) / max(1, len(countries) - 1)] * (len(countries) - 1)
        )
        want = rng.multinomial(n, weights / weights.sum())
        taken: list[np.ndarray] = []
        short = 0
        for c, w in zip(countries, want, strict=True):
            pool = pools[c]
            got = (
                rng.choice(pool, size=min(int(w), len(pool)), replace=False) if len(pool) else pool
            )
            taken.append(got)
            short += int(w) - len(got)
        if short:
            rest = np.setdiff1d(
                np.concatenate([pools[c] for c in COUNTRIES]), np.concatenate(taken)
            )
            taken.append(rng.choice(rest, size=min(short, len(rest)), replace=False))
        return np.concatenate(taken).astype(np.int64)

    def leaked_list(self, td: dict) -> np.ndarray:
        """A leaked list of real people: ``hit_ratio`` of it findable accounts, in random order.

        The people come from one community (dissidents, journalists: a
        fifth of each country's users at most), not from everyone: in a
        small simulated world a list of thousands would otherwise hold every
        user of a country, and every address book would overlap it.
        """
        size, countries = td["list_size"], td["target_countries"]
        rng = self.rng

        def community(pools: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {c: rng.choice(p, size=len(p) // 5, replace=False) if len(p) else p for c, p in pools.items()}

        n_hit = int(round(td["hit_ratio"] * size))
        hits = self.pick(community(self.discoverable), countries, n_hit, 0.6)
        n_hidden = (size - len(hits)) // 2
        hidden = self.pick(community(self.hidden), countries, n_hidden, 0.6)
        strangers = self.pick(self.strangers, countries, size - len(hits) - len(hidden), 0.6)
        return self.rng.permutation(np.concatenate([hits, hidden, strangers]))

    def scattered(self, td: dict, n: int) -> np.ndarray:
        """``n`` random numbers over the target countries' ranges; ``hit_ratio`` of them findable."""
        rng = self.rng
        countries = td["target_countries"]
        n_hit = int(rng.binomial(n, td["hit_ratio"]))
        hits = self.pick(self.discoverable, countries, n_hit, 1 / len(countries))
        per = rng.multinomial(n - len(hits), np.full(len(countries), 1 / len(countries)))
        rand = [
            _random_numbers(self.world, rng, c, int(m)) for c, m in zip(countries, per, strict=True)
        ]
        return rng.permutation(np.concatenate([hits, *rand]))

    def walk(self, td: dict, blocks: np.ndarray, n: int) -> np.ndarray:
        """``n`` numbers walking ``blocks`` (most of each, random order within a block)."""
        rng = self.rng
        fill = td["block_fill"]
        per_block = max(1, int(round(fill * 1000)))
        out: list[np.ndarray] = []
        have, i = 0, 0
        while have < n:
            block = int(blocks[i % len(blocks)])
            ordinals = rng.choice(1000, size=per_block, replace=False)
            out.append(block * 1000 + ordinals)
            have += per_block
            i += 1
        return np.concatenate(out)[:n].astype(np.int64)

    def runs(self, td: dict, blocks: np.ndarray, n: int) -> np.ndarray:
        """``n`` numbers in ascending runs starting inside ``blocks``."""
        rng = self.rng
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            block = int(blocks[int(rng.integers(len(blocks)))])
            length = max(10, int(rng.normal(td["run_length"], td["run_length"] / 4)))
            start = block * 1000 + int(rng.integers(0, 1000))
            run = np.arange(start, start + min(length, n - have), dtype=np.int64)
            country = _country_of(run[0])
            run = run[_valid(run, country)]
            out.append(run)
            have += len(run)
        return np.concatenate(out)[:n]


def _country_of(number: int) -> str:
    text = str(int(number))
    for c, spec in COUNTRIES.items():
        if text.startswith(str(spec.calling_code)) and any(
            text[len(str(spec.calling_code)) :].startswith(p) for p in spec.prefixes
        ):
            return c
    raise ValueError(f"number +{text} is in none of the catalogue's ranges")


def _split(numbers: np.ndarray, volumes: np.ndarray) -> list[np.ndarray]:
    return np.split(numbers, np.cumsum(volumes)[:-1])


def _assign(td: dict, source: _Numbers, volumes: np.ndarray) -> list[np.ndarray]:
    """Each account's numbers, in the order it looks them up, by selection and division."""
    rng = source.rng
    sel, division = td["selection"], td["division"]
    total = int(volumes.sum())
    if sel == "leaked_list":
        leaked = source.leaked_list(td)
        if division == "independent":  # overlapping subsets of the one list
            return [rng.permutation(leaked)[: int(v)] for v in volumes]
        if division == "pool":
            return _split(rng.permutation(leaked)[:total], volumes)
        return _shards(td, rng, leaked[:total], volumes, by_ordinal=False)
    if sel == "scattered":
        if division == "shards":
            return _shards(td, rng, source.scattered(td, total), volumes, by_ordinal=False)
        return [source.scattered(td, int(v)) for v in volumes]
    per_block = 1000 * td.get("block_fill", 0.8)
    overlap = float(rng.uniform(0.2, 0.6)) if division == "independent" else 1.0
    n_blocks = max(1, int(math.ceil(max(total * overlap, volumes.max()) / per_block)))
    blocks = source.area_blocks(td["target_countries"], n_blocks, td["populated_share"])
    make = source.walk if sel == "dense_blocks" else source.runs
    if division == "independent":
        return [make(td, rng.permutation(blocks), int(v)) for v in volumes]
    job = make(td, blocks, total)
    if division == "shards":
        return _shards(td, rng, job, volumes, by_ordinal=sel == "dense_blocks")
    if sel == "sequential":  # a queue of runs: free accounts take the next piece
        pieces = np.split(job, np.arange(100, len(job), 100))
        job = np.concatenate([pieces[i] for i in rng.permutation(len(pieces))])
        return _split(job, volumes)
    return _split(rng.permutation(job), volumes)


def _shards(
    td: dict, rng: np.random.Generator, job: np.ndarray, volumes: np.ndarray, *, by_ordinal: bool
) -> list[np.ndarray]:
    """Split ``job`` between squads of about ``squad_size``, and within each squad between members.

    Squads take consecutive stretches of the job (whole blocks, runs or list
    chunks); inside a squad, members take complementary ordinal ranges of the
    same blocks (``by_ordinal``) or consecutive pieces.
    """
    k = len(volumes)
    squad = np.arange(k) // td["squad_size"]
    out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * k
    squad_volume = np.bincount(squad, weights=volumes).astype(np.int64)
    for s, part in enumerate(_split(job, squad_volume)):
        members = np.flatnonzero(squad == s)
        if by_ordinal:
            member = (part % 1000) * len(members) // 1000
            for j, acc in enumerate(members):
                out[acc] = part[member == j]
        else:
            share = np.diff(np.linspace(0, len(part), len(members) + 1).astype(np.int64))
            for acc, piece in zip(members, _split(part, share), strict=True):
                out[acc] = piece
    return out


# ---- infrastructure and devices ------------------------------------------------------------


def allocated_ips(world: World, networks) -> np.ndarray:
    """Indices of the addresses handed out so far in ``networks``."""
    wanted = set(networks)
    return np.array([i for i, n in enumerate(world.ip_network) if n in wanted], dtype=np.int32)


def _infrastructure(td: dict, world: World, rng: np.random.Generator, k: int):
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


def _devices(td: dict, world: World, rng: np.random.Generator, k: int):
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


# ---- timing --------------------------------------------------------------------------------


def _active_days(td: dict, weekend: tuple[int, ...]) -> np.ndarray:
    days = np.arange(*td["active_days"])
    if td["skip_weekend"]:
        days = days[~np.isin((2 + days) % 7, weekend)]
    return days


def _slots(td: dict, rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Scheduled onsets (epoch ms) shared by every account: cron ticks or the daily schedule."""
    offset = td["utc_offset_hours"]
    if td["timing"] == "cron":
        period = td["period_hours"]
        phase = float(rng.uniform(0, period))
        if td["round_the_clock"]:
            local = phase + np.arange(0, 24, period)
        else:
            local = td["start_hour"] + phase % 1 + np.arange(0, td["window_hours"], period)
    else:
        local = np.sort(rng.uniform(8, 23, size=td["times_per_day"]))
    ms = ((local - offset) * _HOUR_MS).astype(np.int64)
    slots = (START_MS + days[:, None] * DAY_MS + ms[None, :]).ravel()
    return np.sort(slots[(slots >= START_MS) & (slots < END_MS)])


def _onsets(
    td: dict, rng: np.random.Generator, n_sessions: np.ndarray, days: np.ndarray
) -> list[np.ndarray]:
    """Each account's session onsets (epoch ms, sorted)."""
    out = []
    camo_ms = td["camouflage"] * 1_800_000
    if td["timing"] == "office_hours":
        offset = td["utc_offset_hours"]
        for n in n_sessions:
            day = days[rng.integers(len(days), size=int(n))]
            local = rng.uniform(9.0, 17.5, size=int(n))
            local = np.where((local > 12.5) & (local < 13.5), local + 1.0, local)
            t = START_MS + day * DAY_MS + ((local - offset) * _HOUR_MS).astype(np.int64)
            out.append(np.sort(t + rng.normal(0, camo_ms + 1, size=int(n)).astype(np.int64)))
        return out
    slots = _slots(td, rng, days)
    if not len(slots):  # a cron window that never falls inside the active days
        slots = START_MS + days * DAY_MS + 10 * _HOUR_MS
    jitter_ms = td["onset_jitter_s"] * 1000
    for n in n_sessions:
        n = min(int(n), len(slots))
        chosen = np.sort(rng.choice(slots, size=n, replace=False))
        noise = rng.normal(0, jitter_ms, size=n) + rng.normal(0, camo_ms + 1, size=n)
        out.append(np.sort(chosen + noise.astype(np.int64)))
    return out


# ---- the campaign's traffic ------------------------------------------------------------------


class PlannedRows:
    """Request rows fixed at build time, handed out a day at a time."""

    def __init__(self, batch: Batch) -> None:
        order = np.argsort(batch["ts"], kind="stable")
        self.batch = {k: v[order] for k, v in batch.items()}

    def emit(self, day: int, rng: np.random.Generator) -> Batch:
        ts = self.batch["ts"]
        lo, hi = np.searchsorted(ts, [START_MS + day * DAY_MS, START_MS + (day + 1) * DAY_MS])
        return {k: v[lo:hi] for k, v in self.batch.items()}


def _rows(
    td: dict,
    rng: np.random.Generator,
    world: World,
    accounts: np.ndarray,
    numbers: list[np.ndarray],
    onsets: list[np.ndarray],
    ip_pools: list[np.ndarray],
    mobile: np.ndarray | None,
    device_pools: list[np.ndarray] | None,
    rotation_agents: tuple[str, ...] | None,
) -> Batch:
    """Lookup, upload and login rows of every session."""
    sess_acc = np.concatenate([np.full(len(o), i) for i, o in enumerate(onsets)])
    sess_ts = np.concatenate(onsets)
    sizes = np.concatenate(
        [
            np.diff(np.linspace(0, len(numbers[i]), len(o) + 1).astype(np.int64))
            for i, o in enumerate(onsets)
        ]
    )
    n_sess = len(sess_ts)
    ips = np.array([ip_pools[a][rng.integers(len(ip_pools[a]))] for a in sess_acc], dtype=np.int32)
    if mobile is not None and len(mobile):
        on_mobile = rng.random(n_sess) < td["mobile_share"]
        ips = np.where(on_mobile, mobile[rng.integers(len(mobile), size=n_sess)], ips)
    if device_pools is None:
        devices = world.new_devices(n_sess, rotation_agents)
    else:
        devices = np.array(
            [device_pools[a][rng.integers(len(device_pools[a]))] for a in sess_acc], dtype=np.int32
        )
    upload = rng.random(n_sess) < td["upload_share"]
    row_sess = np.repeat(np.arange(n_sess), sizes)
    m = len(row_sess)
    if td["timing"] == "cron":
        gaps = td["cadence_s"] * 1000 + rng.exponential(250.0, size=m)
    else:
        gaps = rng.exponential(td["gap_s"] * 1000 * (1 + 2 * td["camouflage"]), size=m)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gaps[first[sizes > 0]] = 0.0
    elapsed = np.cumsum(gaps)
    if m:
        elapsed -= np.repeat(elapsed[np.minimum(first, m - 1)], sizes)
    is_upload = upload[row_sess]
    ts = sess_ts[row_sess] + np.where(is_upload, 0, elapsed.astype(np.int64))
    request = np.where(upload, rng.integers(1, 2**62, size=n_sess), 0)
    logins = np.flatnonzero(rng.random(n_sess) < 0.5)
    lookups = {
        "ts": ts,
        "ip": ips[row_sess],
        "endpoint": np.where(is_upload, UPLOAD, LOOKUP),
        "account": accounts[sess_acc[row_sess]],
        "device": devices[row_sess],
        "status": np.zeros(m, dtype=np.int64),
        "phone": np.concatenate(numbers),
        "request": request[row_sess],
    }
    login = {
        "ts": sess_ts[logins] - rng.integers(1000, 60_000, size=len(logins)),
        "ip": ips[logins],
        "endpoint": np.full(len(logins), LOGIN),
        "account": accounts[sess_acc[logins]],
        "device": devices[logins],
        "status": np.full(len(logins), 200),
        "phone": np.zeros(len(logins), dtype=np.int64),
        "request": np.zeros(len(logins), dtype=np.int64),
    }
    return concat_batches([lookups, login])


def _side_activity(
    td: dict,
    rng: np.random.Generator,
    world: World,
    population: Population,
    accounts: np.ndarray,
    batch: Batch,
    all_ips: np.ndarray,
) -> Users:
    """Benign-looking use of the fake accounts, as much as the camouflage intensity buys."""
    k = len(accounts)
    camo = td["camouflage"]
    # the operation's cover books come from one stock of numbers it gathered (about two accounts
    # share each), not from every number of the country: a small simulated country would otherwise
    # make every camouflaged account's book overlap every other's, whoever runs it
    country = population.circle_numbers[td["operator_country"]]
    pool = rng.choice(country, size=min(len(country), max(200, 25 * k)), replace=False)
    books = AddressBooks.from_lists(
        [pool[rng.integers(len(pool), size=int(rng.integers(20, 80)))] for _ in range(k)]
    )
    # each account's most used address and device, so cover and work look alike
    home_ips = np.empty(k, dtype=np.int32)
    devices = np.empty(k, dtype=np.int32)
    for i, a in enumerate(accounts):
        mine = batch["account"] == a
        home_ips[i] = np.bincount(batch["ip"][mine]).argmax()
        devices[i] = np.bincount(batch["device"][mine]).argmax()
    created = world.created_of(accounts)
    offsets = np.full(k, td["utc_offset_hours"])
    uploaders = np.flatnonzero(rng.random(k) < camo)
    upload_day = rng.integers(td["active_days"][0], td["active_days"][1], size=len(uploaders))
    upload_ts = START_MS + upload_day * DAY_MS + rng.integers(0, DAY_MS, size=len(uploaders))
    keep = upload_ts > created[uploaders]
    weekend = sum(1 << d for d in COUNTRIES[td["operator_country"]].weekend)
    return Users(
        accounts=accounts.astype(np.int32),
        offsets_h=offsets,
        weekend_mask=np.full(k, weekend, dtype=np.int64),
        sessions_per_day=camo * rng.gamma(2.0, 0.7, size=k),
        devices=devices,
        home_ips=home_ips,
        mobile_pool=all_ips.astype(np.int32),
        mobile_share=0.3,
        created_at=created,
        books=books,
        book_of=np.arange(k),
        upload_user=uploaders[keep],
        upload_ts=upload_ts[keep].astype(np.int64),
    )


def build_drawn_campaign(
    name: str, td: dict, world: World, population: Population, rng: np.random.Generator
) -> Campaign:
    """Add the accounts of one drawn campaign to ``world`` and plan its traffic.

    Parameters
    ----------
    name : str
        The campaign's name in the ground truth (and its accounts' group).
    td : dict
        Its tradecraft, from :func:`draw_tradecraft`.
    world, population
        The world to add to, and the benign population it hides among (leaked
        lists and address books come from it; shared infrastructure too).
    rng : numpy.random.Generator

    Returns
    -------
    Campaign
        With ``drawn`` set to ``td``; ``origin_country`` is the country its
        infrastructure is in (the writer replaces it with the country most of
        its requests came from).
    """
    k = td["accounts"]
    operator = td["operator_country"]
    weekend = COUNTRIES[operator].weekend
    days = _active_days(td, weekend)
    if not len(days):
        days = np.arange(*td["active_days"])
    ip_pools, all_ips, mobile = _infrastructure(td, world, rng, k)
    device_pools, rotation_agents = _devices(td, world, rng, k)
    if td["account_age"] == "burst":
        t0 = START_MS + int(days[0]) * DAY_MS - int(td["lead_days"] * DAY_MS)
        sitting = rng.integers(0, td["bursts"], size=k)
        created = np.sort(
            t0 - (sitting * td["bursts_apart_days"] * DAY_MS).astype(np.int64)
            + rng.integers(0, int(td["burst_hours"] * _HOUR_MS), size=k)
        )
        signup_ip = np.array([p[0] for p in ip_pools], dtype=np.int32)
        signup_device = (
            np.array([p[0] for p in device_pools], dtype=np.int32)
            if device_pools is not None
            else world.new_devices(k, rotation_agents)
        )
        followers = 5.0
    else:
        created = START_MS - rng.uniform(365, td["age_years"] * 365 + 1, size=k) * DAY_MS
        signup_ip = signup_device = None
        followers = 120.0
    accounts = world.new_accounts(
        k,
        country=operator,
        created_at=created.astype(np.int64),
        group=name,
        kind="campaign",
        signup_ip=signup_ip,
        signup_device=signup_device,
        followers_median=followers,
    )
    volumes = np.maximum(
        1, np.round(td["per_account_lookups"] * rng.lognormal(0.0, 0.35, size=k)).astype(np.int64)
    )
    if td["selection"] == "leaked_list":
        volumes = np.minimum(volumes, td["list_size"])
        if td["division"] != "independent":
            volumes = np.diff(
                np.linspace(0, min(td["list_size"], volumes.sum()), k + 1).astype(np.int64)
            )
            volumes = np.maximum(volumes, 1)
    numbers = _assign(td, _Numbers(world, population, rng), volumes)
    numbers = [n if len(n) else _fallback(td, world, rng) for n in numbers]
    burst = td["burst"]
    n_sessions = np.array([max(1, math.ceil(len(n) / burst)) for n in numbers])
    onsets = _onsets(td, rng, n_sessions, days)
    # nobody works before their account exists
    onsets = [
        np.clip(np.maximum(o, created[i] + 600_000), START_MS, END_MS - 1)
        for i, o in enumerate(onsets)
    ]
    batch = _rows(
        td, rng, world, accounts, numbers, onsets, ip_pools, mobile, device_pools, rotation_agents
    )
    infra_country = _infra_country(td, world, all_ips)
    camp = Campaign(
        name,
        _describe(td),
        infra_country,
        operator,
        COUNTRIES[operator].utc_offset_hours,
        weekend,
        accounts,
        camouflage=td["camouflage"] > 0,
        drawn=td,
    )
    camp.activities.append(PlannedRows(batch))
    if td["camouflage"] > 0:
        camp.activities.append(_side_activity(td, rng, world, population, accounts, batch, all_ips))
    return camp


def _fallback(td: dict, world: World, rng: np.random.Generator) -> np.ndarray:
    """One number for an account a division left without work (it still logs in and tries)."""
    return _random_numbers(world, rng, td["target_countries"][0], 1)


def _infra_country(td: dict, world: World, ips: np.ndarray) -> str:
    countries = [NETWORKS[world.ip_network[int(i)]].country for i in ips]
    values, counts = np.unique(countries, return_counts=True)
    return str(values[counts.argmax()])


def _describe(td: dict) -> str:
    return (
        f"drawn: {td['selection'].replace('_', ' ')} numbers, {td['division']} division, "
        f"{td['infrastructure'].replace('_', ' ')}, {td['devices'].replace('_', ' ')}, "
        f"{td['timing'].replace('_', ' ')} timing, {td['account_age']} accounts, "
        f"{td['accounts']} accounts x ~{td['per_account_lookups']} lookups, "
        f"camouflage {td['camouflage']:.2f}"
    )


def draw_plan(seed: int, *, scale: float = 1.0, camouflage: bool = False) -> list[dict]:
    """The tradecraft of draw ``seed``'s 3 to 6 campaigns, from the draw number alone.

    Examples
    --------
    >>> plan = draw_plan(11)
    >>> 3 <= len(plan) <= 6 and plan == draw_plan(11)
    True
    """
    draws = np.random.default_rng([seed, 5])
    n = int(draws.integers(3, 7))
    return [draw_tradecraft(draws, scale=scale, camouflage=camouflage) for _ in range(n)]


def draw_campaigns(
    world: World,
    population: Population,
    seed: int,
    *,
    scale: float = 1.0,
    camouflage: bool = False,
) -> list[Campaign]:
    """Draw 3 to 6 campaigns for draw ``seed`` and add them to ``world``.

    The tradecraft comes from its own generator (:func:`draw_plan`), so it is
    a function of the draw number alone; building the accounts and traffic
    uses the world's generator.
    """
    campaigns = []
    for i, td in enumerate(draw_plan(seed, scale=scale, camouflage=camouflage)):
        name = f"op{i + 1}_{td['selection']}_{td['infrastructure']}"
        campaigns.append(build_drawn_campaign(name, td, world, population, world.rng))
    return campaigns
