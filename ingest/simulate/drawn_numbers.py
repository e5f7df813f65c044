"""Which numbers a drawn campaign looks up, and how its accounts share them out.

Number selection (``dense_blocks``, ``sequential``, ``scattered``,
``leaked_list``) decides the job; the division of labour (``independent``,
``shards``, ``pool``) decides who does which part of it. See
:mod:`ingest.simulate.tradecraft` for the draw that chooses both.
"""

from __future__ import annotations

import math

import numpy as np
from phonenumbers import PhoneNumber, is_valid_number

from ingest.simulate.catalog import COUNTRIES
from ingest.simulate.playbook import area_blocks
from ingest.simulate.population import Population
from ingest.simulate.world import World

__all__ = ["Numbers", "assign_numbers", "random_numbers"]


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


def random_numbers(world: World, rng: np.random.Generator, country: str, n: int) -> np.ndarray:
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


class Numbers:
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
        return self.rng.permutation(
            area_blocks(self.world, self.rng, countries, n_blocks, populated_share)
        )

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
            return {
                c: rng.choice(p, size=len(p) // 5, replace=False) if len(p) else p
                for c, p in pools.items()
            }

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
            random_numbers(self.world, rng, c, int(m)) for c, m in zip(countries, per, strict=True)
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


def assign_numbers(td: dict, source: Numbers, volumes: np.ndarray) -> list[np.ndarray]:
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


def _mixed_parts(job: np.ndarray, volumes: np.ndarray, concentration: float, rng: np.random.Generator) -> list[np.ndarray]:
    """The job divided between squads that each weigh its countries their own way.

    Each squad draws weights over the job's countries from a symmetric
    Dirichlet of ``concentration`` (small: a squad on one or two countries;
    large: every squad on the job's own mix) and takes its volume of the
    numbers left, each picked in proportion to its country's weight. One
    operation's squads then work the same countries in different measure,
    as the squads of a real operation split by language or time zone do.
    """
    countries = np.array([_country_of(int(n)) for n in job], dtype=object)
    names, code = np.unique(countries, return_inverse=True)
    weights = rng.dirichlet(np.full(len(names), concentration), size=len(volumes)) + 1e-9
    left = np.arange(len(job))
    parts = []
    for s, volume in enumerate(volumes):
        take = min(int(volume), len(left))
        if s == len(volumes) - 1 or take == len(left):
            chosen = np.arange(len(left))
        else:
            p = weights[s, code[left]]
            chosen = rng.choice(len(left), size=take, replace=False, p=p / p.sum())
        mine = np.zeros(len(left), dtype=bool)
        mine[chosen] = True
        parts.append(job[left[mine]])
        left = left[~mine]
    return parts


def _shards(
    td: dict, rng: np.random.Generator, job: np.ndarray, volumes: np.ndarray, *, by_ordinal: bool
) -> list[np.ndarray]:
    """Split ``job`` between squads of about ``squad_size``, and within each squad between members.

    Squads take consecutive stretches of the job (whole blocks, runs or list
    chunks), or with ``squad_mix`` parts weighted by country (:func:`_mixed_parts`);
    inside a squad, members take complementary ordinal ranges of the
    same blocks (``by_ordinal``) or consecutive pieces.
    """
    k = len(volumes)
    squad = np.arange(k) // td["squad_size"]
    out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * k
    squad_volume = np.bincount(squad, weights=volumes).astype(np.int64)
    parts = (_mixed_parts(job, squad_volume, td["squad_mix"], rng.spawn(1)[0]) if td.get("squad_mix")
             else _split(job, squad_volume))
    for s, part in enumerate(parts):
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
