"""Judging groups of accounts: their features and scores, pruning, operations, and what is said of each cluster.

Once :func:`graph.detect.networks.find_networks` has the coordination graph
and its communities, every later step asks questions of the same run-wide
facts: the accounts' lookup statistics, the graph's ties, the candidates'
infrastructure edges, onsets and sign-up times. :class:`Judge` holds those
facts once and answers, for whole batches of groups at a time (one query or
one groupby per feature, never one per group):

* features and scores (:meth:`Judge.score_groups`, :mod:`~graph.detect.scoring`);
* which members lack what makes their cluster suspicious (:meth:`Judge.weak_members`);
* which groups are squads of one operation (:meth:`Judge.merge_operations`,
  :meth:`Judge.kin`, :mod:`~graph.detect.clustering`);
* each kept cluster's evidence, attribution, exposure and member scores
  (:meth:`Judge.describe`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from graph.detect import (
    acquaintance,
    behaviour,
    enumeration,
    misses,
    resemblance,
    scoring,
    synchrony,
    targets,
)
from graph.detect.attribution import (
    label_overlap,
    membership_frame,
    origin_mix,
    origin_summary,
    utc_offset,
    weekly_rhythm,
)
from graph.detect.clustering import EdgeArrays, kin_operations, operations, pulled_elsewhere
from graph.detect.evidence import cluster_evidence
from graph.detect.exposure import cluster_exposure
from graph.detect.features import group_features
from graph.detect.frames import Events, among
from graph.detect.results import Cluster, DetectionParams

__all__ = ["Judge", "squad_labels"]

#: contributions that say what a group *does* (its lookups), not what it shares
_BEHAVIOUR = ("misses", "enumerated_blocks", "number_runs", "enumeration_evidence", "shared_targets", "strangers")

#: tie parts that one job gives and no rented address does: the same blocks swept or split (squads tied
#: mostly by them are one operation whatever countries each works; not shared numbers, which a viral
#: evening's address books share too, nor a schedule's spikes, which two operators' crons on the hour share)
_JOB = ("swept", "sharding")


def squad_labels(squad_of: Mapping[str, object]) -> dict[str, str]:
    """Each account's squad named ``S1``, ``S2``, ... by size, largest first (ties by first member).

    ``squad_of`` maps an account to any key of its squad; the names say the
    squads' order within one cluster, so they are given for a cluster's own
    members only.

    Examples
    --------
    >>> squad_labels({"a": 7, "b": 7, "d": "S3", "c": 3})
    {'a': 'S1', 'b': 'S1', 'c': 'S2', 'd': 'S3'}
    """
    squads: dict[object, list[str]] = {}
    for member, squad in squad_of.items():
        squads.setdefault(squad, []).append(member)
    ordered = sorted(squads.values(), key=lambda q: (-len(q), min(q)))
    return {m: f"S{k}" for k, squad in enumerate(ordered, 1) for m in squad}


@dataclass
class Judge:
    """What judging and describing groups need, computed once per run."""

    source: Events
    stats: pd.DataFrame
    G: nx.Graph
    edges: pd.DataFrame
    coverage: pd.DataFrame
    sharding: pd.DataFrame
    onsets: pd.DataFrame
    sync: pd.DataFrame
    created: pd.Series
    labels: Sequence[Mapping]
    population_hit: float
    baseline: misses.HitBaseline
    params: DetectionParams
    _builds: pd.Series | None = None
    _build_totals: pd.Series | None = None
    _weeks: dict | None = None
    #: per enumerator, its sampled numbers as ``block * BLOCK_SIZE + ordinal`` (:meth:`divided`)
    _numbers: dict | None = None
    _hours: tuple | None = None
    _benign: set | None = None
    bursts: frozenset = frozenset()
    _onboarded: set | None = None
    #: per account, the largest pooled-closure z of the hot addresses and devices it works a list from
    stranger_z: pd.Series | None = None
    #: per account, the people its lookups found and how many of them know each other or it
    closure: pd.DataFrame | None = None
    usual_closure: acquaintance.ClosureBaseline | None = None
    #: per candidate, lookups by region of the number (:func:`graph.detect.resemblance.target_regions`)
    regions: pd.DataFrame | None = None
    _region_matrix: tuple | None = None
    #: accounts trying several numbers of each block clear enumerators, or such accounts together, swept
    #: (:func:`graph.detect.enumeration.block_mates`)
    mates: frozenset = frozenset()
    #: per candidate, its lookups and how many went abroad (:func:`graph.detect.resemblance.looking_abroad`)
    abroad: pd.DataFrame | None = None
    #: accounts starting lookups in a schedule's recurring slots on most of their working days
    #: (:func:`graph.detect.synchrony.recurring_spikes`)
    slotted: frozenset = frozenset()
    #: accounts starting lookups at the minute of the hour a cron keeps behind an address or device they
    #: share (:func:`graph.detect.synchrony.clockwork`), or in the minutes of the day it keeps there or
    #: behind their hosting or VPN network (:func:`graph.detect.synchrony.day_clock`)
    clocked: frozenset = frozenset()

    # -- features -----------------------------------------------------------
    def belonging(self, account: str, members: Collection[str]) -> float:
        """Share of the account's tie weight that lies inside ``members``."""
        if account not in self.G:
            return 0.0
        inside = set(members)
        total = within = 0.0
        for other, data in self.G[account].items():
            total += data["weight"]
            if other in inside:
                within += data["weight"]
        return within / total if total else (1.0 if len(inside) == 1 else 0.0)

    def _unjudged(self, account: str) -> bool:
        """Whether the account found too few people for a closure rate of its own."""
        if self.closure is None or self.usual_closure is None or account not in self.closure.index:
            return True
        return float(self.closure.at[account, "targets"]) < self.usual_closure.min_targets

    def weak_members(self, members: list[str], features: dict, parts: dict, *, friends_only: bool = False) -> list[str]:
        """Members that do not share what makes the cluster suspicious.

        A flagged cluster is judged on its strongest evidence; a member that
        lacks it (a friend of one of the targets among list-working operators,
        a neighbour among enumerators) and is only loosely tied is pruned and
        judged on its own. Among enumerators, a member whose own lookups miss
        (at half the usual rate, or ``params.keep_deficit`` standard errors
        short: cover traffic lifts a camouflaged member's rate, not its
        deficit), or that works the blocks they swept, is one of them even
        when cover traffic dilutes its block coverage. Among a list's workers
        (finding strangers), a member that found too few people to tell is
        one of them when nobody found it and its ties lie almost all inside:
        half the accounts of an operation looking up four numbers each from
        its emulators were cut from it (development draw 43, camouflaged);
        a member another member found is a friend, never a list's worker,
        even behind an address whose accounts find strangers.
        With ``friends_only``, a list's workers lose only the members that
        are surely not operators: those someone found, and those that synced
        an address book right after signing up and little else.
        """
        # where the members' numbers lie is the group's, not what sets its workers apart from bystanders
        judged = {k: v for k, v in parts.items() if k != "foreign_targets"}
        top = max(sorted(judged), key=lambda k: judged[k]) if judged else None
        acquainted = set(features.get("_acquainted", ()))
        onboarded = self._onboarding({0: members}) if top == "shared_targets" else {}
        farmed = self.farm_hands(members) if top == "strangers" else set()
        weak = []
        for m in members:
            own = float(self.stats.loc[m, "evidence"])
            if top in (*scoring.ENUMERATING, "misses"):
                lacks = (own < self.params.seed_evidence and not bool(self.stats.loc[m, "missing"])
                         and float(self.stats.loc[m, "deficit_z"]) < self.params.keep_deficit and m not in self.mates
                         and float(self.stats.loc[m, "run_numbers"]) < self.params.seed_run_numbers)
            elif top == "shared_targets":
                # operators working one list are strangers nobody looks up; a member others found is a
                # friend or a target, one that synced its book at sign-up is a viral moment's; one that
                # shares no target but whose ties (the operation's devices, addresses, burst) lie almost
                # all inside is an operator with little work of its own
                lacks = m in acquainted or onboarded[m] or not friends_only and (
                    features.get("_member_shared", {}).get(m, 0.0) < 0.6 and self.belonging(m, members) < 0.8)
            elif top == "strangers":
                # the list workers are the accounts that find strangers from a hot address or device, and
                # nobody in the group finds them; one that found too few people to tell, that nobody found,
                # and whose ties (the operation's emulators, addresses, burst) lie almost all inside is an
                # operator with little work of its own, and so is one taking turns with members on an
                # emulator most of whose accounts are members
                lacks = m in acquainted or (self.stranger_z is None or m not in self.stranger_z.index) and (
                    not self._unjudged(m) or self.belonging(m, members) < 0.8) and m not in farmed
            elif top in ("slots", "clockwork"):
                # a schedule's accounts keep its slots or its minute of the hour; a bystander behind its
                # VPN exit is tied to them by the exit alone, however much of its ties that is
                lacks = own < self.params.seed_evidence and m not in self.slotted and m not in self.clocked
            else:
                lacks = own < self.params.seed_evidence and self.belonging(m, members) < 0.5
            if lacks:
                weak.append(m)
        return weak

    def off_sweep(self, members: list[str], operation: Collection[str]) -> list[str]:
        """Members with under ``params.mate_share`` of their block lookups in blocks ``operation`` swept.

        A block is swept where the operation's accounts (the cluster the
        members were pruned from) together tried ``params.swept_numbers``
        numbers. Enumerators pruned for too little evidence of their own
        (cover traffic dilutes it) are regrouped with the bystanders pruned
        beside them (people on the operation's VPN exit); pooled, the group
        enumerates, and only where each member's numbers lie tells the two
        apart: an address book falls outside the operation's blocks, a
        camouflaged enumerator's numbers partly inside, as a block mate's do
        (:func:`graph.detect.enumeration.block_mates`). And inside, a book
        holds a contact or two a block and finds them, while an enumerator
        tries ``params.mate_block_numbers`` numbers or more a block or finds
        at most ``params.mate_hit_share`` of the usual hit ratio: an
        operation sweeping a country's busiest blocks holds the contacts
        there of the people on its VPN exit (development draw 50, camouflaged).
        """
        rows = self.source.query(
            """
            WITH swept AS (
                SELECT l.block FROM {lookups} l JOIN {operation} o USING (account_id) WHERE l.block IS NOT NULL
                GROUP BY 1 HAVING count(DISTINCT l.phone) >= $least
            )
            SELECT l.account_id, count(*) FILTER (WHERE l.block IN (SELECT block FROM swept)) AS inside,
                   count(DISTINCT l.block) FILTER (WHERE l.block IN (SELECT block FROM swept)) AS blocks,
                   count(*) FILTER (WHERE l.block IN (SELECT block FROM swept) AND l.matched) AS found,
                   count(*) AS total
            FROM {lookups} l JOIN {members} m USING (account_id) WHERE l.block IS NOT NULL GROUP BY 1
            """,
            {"least": int(self.params.swept_numbers)},
            members=membership_frame({0: members}), operation=membership_frame({0: operation}),
        ).set_index("account_id").reindex(members, fill_value=0)
        max_hit = self.baseline.p0 * self.params.mate_hit_share
        return [m for m, i, b, f, t in zip(members, rows["inside"], rows["blocks"], rows["found"], rows["total"],
                                           strict=True)
                if i < self.params.mate_share * t or t == 0
                or (i < self.params.mate_block_numbers * b and f > max_hit * i)]

    def merge_operations(self, scored: list[tuple], *, strong_only: bool = False) -> tuple[list[tuple], dict[str, str]]:
        """Communities tied into one operation become one group; returns the groups and each squad's label.

        Two passes of :func:`graph.detect.clustering.operations`: first
        suspicious groups, linked strongly (a squad on the operation's
        devices or addresses); then groups that each show the
        same behaviour of abuse (lookups that miss, enumerate or work a
        target list; each with its own kind), linked by what an operation holds (addresses,
        devices, a schedule, a list: not chance overlap of enumerated
        blocks) from at least half the smaller one's accounts (two at least), however thin the ties:
        camouflaged squads on addresses they share with bystanders are tied
        to each other only thinly, but do the same thing, while a look-alike
        (a staff directory pushed to an office's phones) meets an operation's
        list through a few of its accounts only; last, groups alike in two ways (:meth:`kin`). In every pass, groups that keep
        other hours or work other countries' numbers are never joined
        (:meth:`rhythm`, :meth:`target_profile`), unless one device or mostly
        one job's ties (the same blocks swept or split) hold them: an
        operation may divide its countries between squads.
        An operation replaces its squads when it scores at least as
        high as the best of them, or is flagged: pooled, the squads'
        evidence usually says more than each squad's does (a deficit of
        misses over a hundred accounts instead of ten, where each squad of
        ten is within chance); when it does not, the squads are kept apart.
        Members that lack the operation's evidence are pruned afterwards,
        as for any group. ``strong_only`` runs the first pass alone
        (:meth:`rejoin`).
        """
        squad_of: dict[str, int] = {}  # account -> the community it came from
        community_ids = itertools.count()

        def works_a_list(row: tuple) -> bool:
            # members working from a hot address, device or network: a group too small for its
            # strangers to score may be one squad of a list-working operation
            return row[2].get("stranger_z", 0.0) >= self.params.seed_stranger_z

        def behaves(row: tuple) -> bool:
            return sum(row[3].get(k, 0.0) for k in _BEHAVIOUR) >= 1.0 or works_a_list(row)

        def kind(row: tuple) -> str:
            parts = row[3]
            enumerates = sum(parts.get(k, 0.0) for k in scoring.ENUMERATING)
            ways = {"enumeration": enumerates, "misses": parts.get("misses", 0.0),
                    "targets": parts.get("shared_targets", 0.0) + parts.get("strangers", 0.0)
                    + float(works_a_list(row))}
            return max(sorted(ways), key=ways.get)

        def tied(graph: EdgeArrays, link: float, reach: float, job: tuple[str, ...] = ()):
            return lambda groups: operations(
                graph, groups, min_link=link, min_reach=reach, min_touched=2,
                rhythms=[self.rhythm(g) for g in groups], min_rhythm=self.params.operation_rhythm,
                targets=[self.target_profile(g) for g in groups], min_targets=self.params.operation_targets,
                min_shared_targets=self.params.operation_shared_targets,
                devices=self.devices(groups), job=job, min_job=self.params.operation_link, rented=("infra",),
                divided=self.divided(groups))

        # each pass: which groups take part (None: not), partitioned by the key, and how they are joined
        # (only ties among the groups count: a few groups' own are read, not the whole graph's)
        first = EdgeArrays(self.G.subgraph({m for row in scored for m in row[0]}) if strong_only else self.G)
        passes = [(lambda row: "any" if row[1] >= self.params.keep_score or behaves(row) else None,
                   tied(first, self.params.operation_link, self.params.operation_reach, _JOB))]
        if not strong_only:
            # two operations enumerating the same blocks overlap a little by chance: in the thin
            # second pass only what an operation holds (addresses, devices, a schedule, a list) links
            held = first.without("sharding")
            passes += [
                (lambda row: kind(row) if behaves(row) else None, tied(held, 0.0, self.params.operation_reach)),
                # resemblance in two ways is itself strong: enumerating and missing are one kind here
                (lambda row: ("targets" if kind(row) == "targets" else "numbers") if behaves(row) else None,
                 self.kin),
            ]
        for key_of, join in passes:
            keys = [key_of(row) for row in scored]
            suspicious = [row for row, key in zip(scored, keys, strict=True) if key is not None]
            out = [row for row, key in zip(scored, keys, strict=True) if key is None]
            found = []
            for key in sorted({k for k in keys if k is not None}):
                index = [i for i, k in enumerate(k for k in keys if k is not None) if k == key]
                found += [[index[j] for j in op] for op in join([suspicious[i][0] for i in index])]
            multi = [op for op in found if len(op) > 1]
            out.extend(suspicious[op[0]] for op in found if len(op) == 1)
            merged = self.score_groups([sorted(m for i in op for m in suspicious[i][0]) for op in multi])
            for op, row in zip(multi, merged, strict=True):
                best = max(suspicious[i][1] for i in op)
                if row[1] < min(scoring.FLAG_THRESHOLD, best):
                    out.extend(suspicious[i] for i in op)
                    continue
                for i in op:
                    # a part that is already an operation (second pass) keeps its squads
                    if suspicious[i][0][0] not in squad_of:
                        squad_of.update(dict.fromkeys(suspicious[i][0], next(community_ids)))
                out.append(row)
            scored = out
        # the communities an operation was made of are its squads, labelled by size
        labels: dict[str, str] = {}
        for row in scored:
            labels.update(squad_labels({m: squad_of[m] for m in row[0] if m in squad_of}))
        return scored, labels

    def rejoin(self, rows: list[tuple], origin: Mapping[str, int]) -> tuple[list[tuple], dict[str, str]]:
        """Flagged fragments of one pruned cluster, tied as squads are, become one operation again.

        Pruning cuts from a cluster the members that lack its evidence, and
        what they share is judged on its own: a second operation on the
        first one's exits, or bystanders. When that part is flagged on its
        own and still tied to the rest as an operation's squads are (the
        first pass of :meth:`merge_operations`: strong ties from most of its
        accounts, the same hours and countries or one device or job), it
        is a squad doing other work than the rest (a list's workers beside
        its enumerators), and the operation is one cluster again. Only
        fragments of the same cluster (``origin``: member to cluster) are
        compared: two operations that merging kept apart stay apart, and a
        fragment most of whose members are tied more strongly to another
        cluster than to their own cluster's fragments stays apart too.
        Returns the rows and the rejoined members' squad labels.
        """
        fragments: dict[int, list[tuple]] = {}
        out = []
        kin = [origin.get(row[0][0]) if len({origin.get(m) for m in row[0]}) == 1 else None for row in rows]
        asked = [row[1] >= scoring.FLAG_THRESHOLD and k is not None for row, k in zip(rows, kin, strict=True)]
        # a fragment most of whose members are tied more to another cluster is not this one's squad
        # (modularity put them beside the operation they belong to: see pulled_elsewhere)
        away = pulled_elsewhere(self.G, [row[0] for row in rows], kin, asked)
        for i, row in enumerate(rows):
            if asked[i] and not away[i]:
                fragments.setdefault(kin[i], []).append(row)
            else:
                out.append(row)
        labels: dict[str, str] = {}
        for key in sorted(fragments):
            joined, squads = self.merge_operations(fragments[key], strong_only=True)
            out.extend(joined)
            labels.update(squads)
        return out, labels

    def divided(self, groups: list[list[str]]) -> Callable[[int, int], bool]:
        """Whether two of ``groups`` divided the blocks both worked, as an operation's squads do.

        Read from the enumerators' block coverage (sampled at scale); groups
        that chance would let collide in fewer than ``params.divided_numbers``
        numbers cannot tell, and count as divided. Squads dividing the work
        collide at most half as often as chance.
        """
        if self._numbers is None:
            self._numbers = enumeration.coded_numbers(self.coverage)
        empty = np.zeros(0, dtype=np.int64)
        numbers = functools.cache(lambda i: np.unique(np.concatenate(
            [empty] + [self._numbers.get(m, empty) for m in groups[i]])))

        def divided(a: int, b: int) -> bool:
            collisions, expected = enumeration.chance_collisions(numbers(a), numbers(b))
            return expected < self.params.divided_numbers or collisions <= expected / 2

        return divided

    def kin(self, groups: list[list[str]]) -> list[list[int]]:
        """Groups that resemble each other in two ways (:func:`graph.detect.clustering.kin_operations`)."""
        return self.kin_each([groups])[0]

    def kin_each(self, batches: list[list[list[str]]]) -> list[list[list[int]]]:
        """:meth:`kin` for many batches of disjoint groups, their profiles read in one pass."""
        flat = [g for batch in batches if len(batch) > 1 for g in batch]
        profiles = iter(self.profiles(flat))
        out = []
        for batch in batches:
            if len(batch) < 2:
                out.append([[i] for i in range(len(batch))])
                continue
            mine = [next(profiles) for _ in batch]
            out.append(kin_operations(mine, min_rhythm=self.params.operation_rhythm,
                                      min_regions=self.params.operation_targets))
        return out

    def profiles(self, groups: list[list[str]]) -> list[dict]:
        """What :func:`graph.detect.clustering.kin_operations` compares, for disjoint ``groups``.

        Birth: the median creation time of the members made in a sign-up
        burst, when they are at least half. The infrastructure is the
        addresses and devices that carry a fifth of the group's requests or
        that two members share (an address most of the population uses is
        nobody's infrastructure). The target area is the number blocks the
        group looked up in. The rhythm is :meth:`rhythm`, the regions
        :meth:`target_profile`.
        """
        if not groups:
            return []
        keys = dict(enumerate(groups))
        blocks = self._blocks(keys)
        owner = pd.Series({m: g for g, members in keys.items() for m in members}, dtype="int64")
        edges = self.edges[self.edges["entity_type"].isin(["ip", "device"])
                           & (self.edges["entity_accounts"] <= self.params.max_entity_accounts)]
        edges = edges[among(edges["account_id"], owner.index)]
        edges = edges.assign(g=owner.reindex(edges["account_id"]).to_numpy())
        per = edges.groupby(["g", "entity_type", "entity"]).agg(
            requests=("requests", "sum"), members=("account_id", "nunique")).reset_index()
        total = per.groupby("g")["requests"].transform("sum")
        core = per[(per["requests"] >= 0.2 * total) | (per["members"] >= 2)]
        entities = {int(g): set(zip(frame["entity_type"], frame["entity"], strict=True))
                    for g, frame in core.groupby("g", sort=False)}
        out = []
        for g, members in keys.items():
            created = [self.created[m] for m in members if m in self.bursts and m in self.created.index]
            born = float(np.median(created)) if created and len(created) >= len(members) / 2 else None
            out.append({"kind": None, "born": born, "entities": entities.get(g, set()),
                        "targets": blocks.get(g, set()), "rhythm": self.rhythm(members),
                        "regions": self.target_profile(members)})
        return out

    def weeks(self) -> dict[str, np.ndarray]:
        """Every candidate's requests by half hour of the week (operations and attribution read them)."""
        if self._weeks is None:
            self._weeks = behaviour.weekly_histograms(self.source, self.G.nodes)
        return self._weeks

    def rhythm(self, members: Sequence[str]) -> np.ndarray | None:
        """A group's activity by hour of the day (UTC), or None when too little is known to compare.

        Each member counts once in each half hour of the week it was active
        (a burst of a thousand lookups is one observation, not a thousand),
        folded onto the hours of the day; fewer than
        ``params.rhythm_support`` such observations say nothing reliable
        about working hours.
        """
        if self._hours is None:  # each candidate's active half hours folded onto the day, once a run
            weeks = self.weeks()
            active = np.minimum(np.array(list(weeks.values())).reshape(-1, behaviour.HALF_HOURS_PER_WEEK), 1.0)
            self._hours = (pd.Index(list(weeks)), active.reshape(-1, 7, 24, 2).sum(axis=(1, 3)))
        index, hours = self._hours
        rows = index.get_indexer(list(members))
        day = hours[rows[rows >= 0]].sum(axis=0)
        return day if day.sum() >= self.params.rhythm_support else None

    def target_profile(self, members: Sequence[str]) -> np.ndarray | None:
        """A group's lookups by region of the number, or None when it looked up too few to compare.

        Fewer than ``params.rhythm_support`` lookups say little about which
        countries a group works.
        """
        if self.regions is None or self.regions.empty:
            return None
        if self._region_matrix is None:
            self._region_matrix = resemblance.region_matrix(self.regions)
        index, matrix = self._region_matrix
        rows = index.get_indexer(list(members))
        total = matrix[rows[rows >= 0]].sum(axis=0)
        return total if total.sum() >= self.params.rhythm_support else None

    def farm_hands(self, members: list[str]) -> set[str]:
        """The members on a device fingerprint that ``params.seed_device_accounts`` members or more use, most of its accounts.

        An emulator farm's accounts, one hand whatever each one's lookups
        find (tuning draw 10: four of an operation's 52 accounts, on the one
        of its three emulators whose accounts' finds were not strangers
        enough to tell, were cut from it). Most, not all: the rest of the
        farm may lie in another cluster until the operation is joined
        (development draw 51, camouflaged).
        """
        mine = self.edges[(self.edges["entity_type"] == "device") & among(self.edges["account_id"], members)]
        held = mine.groupby("entity").agg(members=("account_id", "nunique"), everyone=("entity_accounts", "max"))
        farms = held.index[(held["members"] >= self.params.seed_device_accounts) & (2 * held["members"] > held["everyone"])]
        return set(mine.loc[mine["entity"].isin(farms), "account_id"].tolist())

    def devices(self, groups: list[list[str]]) -> list[dict[str, set]]:
        """Each group's device fingerprints, each with the members that used it (only fingerprints not in
        everyone's hands: at most ``params.max_entity_accounts``)."""
        owner = {m: g for g, members in enumerate(groups) for m in members}
        mine = self.edges[(self.edges["entity_type"] == "device") & among(self.edges["account_id"], owner.keys())
                          & (self.edges["entity_accounts"] <= self.params.max_entity_accounts)]
        held: list[dict[str, set]] = [{} for _ in groups]
        for account, device in zip(mine["account_id"], mine["entity"], strict=True):
            held[owner[account]].setdefault(device, set()).add(account)
        return held

    def builds(self) -> pd.Series:
        if self._builds is None:
            self._builds = behaviour.client_builds(self.source)
        return self._builds

    def benign_entities(self) -> set:
        if self._benign is None:
            self._benign = {
                (row.get("entity"), row.get("entity_id", row.get("id")))
                for row in self.labels
                if (row.get("value") or row.get("label")) == "benign" and row.get("kind") in (None, "label")
            }
        return self._benign

    def score_groups(self, groups: list[list[str]]) -> list[tuple[list[str], float, dict, dict]]:
        """Features and scores of many groups at once: one query or one groupby per feature."""
        if not groups:
            return []
        keys = dict(enumerate(groups))
        shared = targets.shared_target_share(self.source, keys)
        recip = targets.reciprocity(self.source, keys)
        rows = group_features(
            groups,
            stats=self.stats,
            union=self._block_union(keys),
            sharding=self.sharding,
            sync=self.sync,
            onsets=self.onsets,
            edges=self.edges,
            shared_share={g: shared[g]["share"] for g in keys},
            reciprocity={g: row["share"] for g, row in recip.items()},
            origin=origin_summary(self.source, keys),
            created=self.created,
            builds=self.builds(),
            build_counts=self._build_counts(),
            benign=self.benign_entities(),
            population_hit=self.population_hit,
            baseline=self.baseline,
            sync_bucket_seconds=self.params.sync_bucket_seconds,
            burst_window_hours=self.params.burst_window_hours,
            lockstep_seconds=self.params.lockstep_bucket_seconds,
            bursts=self.bursts,
        )
        out = []
        onboarding = self._onboarding(keys)
        # the lookup sessions' starts: a cron's hour is in when its accounts look numbers up
        lookups = self.onsets[self.onsets["lookup"].astype(bool)]
        clocked_keys = {g: m for g, m in keys.items() if len(m) >= 5}
        clock = synchrony.hour_clock(lookups, clocked_keys, min_days=self.params.slot_days)
        # or a few minutes of the day (a cron firing at a few times a day): whichever says more
        daily = synchrony.day_windows(lookups, clocked_keys, max_log10_p=self.params.clock_log10_p,
                                      min_days=self.params.slot_days)
        for g, day in daily.items():
            if scoring.clock_strength(day) > scoring.clock_strength(clock.get(g, {})):
                clock[g] = {**day, "clock_daily": 1.0}
        for g, members in keys.items():
            features = rows[g]
            features["_member_shared"] = shared[g]["members"]
            features["_acquainted"] = recip[g]["acquainted"]
            if len(members) >= 3:
                features["onboarding_share"] = round(sum(onboarding.get(m, False) for m in members) / len(members), 6)
            features.update(self._strangers(members))
            features.update(self._abroad(members))
            if len(members) >= 3:
                features["slotted_share"] = round(sum(1 for m in members if m in self.slotted) / len(members), 6)
            features.update(clock.get(g, {}))
            score, contributions = scoring.cluster_score(features)
            out.append((members, score, features, contributions))
        return out

    def _abroad(self, members: list[str]) -> dict:
        """The share of the members' lookups that went to another country's numbers than the one each connects from."""
        if self.abroad is None or len(members) < 3:
            return {}
        mine = self.abroad.reindex(members).dropna()
        lookups = float(mine["lookups"].sum())
        return {"abroad_share": round(float(mine["abroad"].sum()) / lookups, 6)} if lookups else {}

    def _strangers(self, members: list[str]) -> dict:
        """How far the people members find are strangers to each other: the members' median hot-entity z.

        The z is the pooled one of the addresses and devices the members work
        from (:func:`graph.detect.acquaintance.entity_closure`), not the
        group's own closure: the group was gathered from accounts that found
        strangers, so its own mean is low by selection.
        """
        if self.closure is None or self.usual_closure is None:
            return {}
        mine = self.closure.reindex(members).dropna()
        z = (self.stranger_z if self.stranger_z is not None else pd.Series(dtype=float)).reindex(members)
        return {
            "stranger_z": round(float(z.fillna(0.0).median()), 4),
            "target_closure": round(float(mine["closed"].sum() / mine["targets"].sum()), 4) if len(mine) else 0.0,
            "usual_closure": round(self.usual_closure.mean, 4),
        }

    def _onboarding(self, keys: Mapping[int, list[str]]) -> dict[str, bool]:
        """Which members looked numbers up only in the hour after they were made (an onboarding sync).

        A viral evening's new accounts each sync an address book once, right
        after signing up, and never look anything up again; an operation
        works its list over days, whenever its accounts were made.
        """
        if self._onboarded is None:
            # one pass for every candidate (groups are always made of candidates)
            spans = self.source.query(
                """
                SELECT account_id, min(epoch_ms(ts)) AS first_ms, max(epoch_ms(ts)) AS last_ms FROM {events}
                WHERE phone_hash IS NOT NULL AND account_id IN (SELECT account_id FROM {members}) GROUP BY 1
                """,
                members=pd.DataFrame({"account_id": sorted(set(self.G.nodes) & set(self.created.index.tolist()))}, dtype=object),
            ).set_index("account_id")
            made = self.created.reindex(spans.index)
            hour = 3_600_000
            quick = (spans["first_ms"] - made <= hour) & (spans["last_ms"] - spans["first_ms"] <= hour)
            self._onboarded = set(quick.index[quick])
        return {m: m in self._onboarded for group in keys.values() for m in group}

    def _block_union(self, keys: Mapping[int, list[str]]) -> pd.DataFrame:
        """``g, numbers, looked`` for each group and each block it touched.

        ``numbers`` counts the distinct numbers the group tried there,
        ``looked`` the members' numbers summed (one number looked up by three
        members counts three times).
        """
        return self.source.query(
            f"""
            SELECT m.cluster AS g, {enumeration.distinct_ordinals_sql("l.ordinal")} AS numbers, count(*) AS looked
            FROM {{lookups}} l JOIN {{members}} m USING (account_id)
            WHERE l.block IS NOT NULL
            GROUP BY m.cluster, l.block
            """,
            members=membership_frame(keys),
        )

    def _blocks(self, keys: Mapping[int, list[str]]) -> dict[int, set]:
        """The number blocks each group looked up in (its target area)."""
        rows = self.source.query(
            """
            SELECT DISTINCT m.cluster AS g, l.block FROM {lookups} l JOIN {members} m USING (account_id)
            WHERE l.block IS NOT NULL
            """,
            members=membership_frame(keys),
        )
        return {int(g): set(frame["block"]) for g, frame in rows.groupby("g", sort=False)}

    def _build_counts(self) -> pd.Series:
        if self._build_totals is None:
            self._build_totals = self.builds().value_counts()
        return self._build_totals

    # -- description ----------------------------------------------------------
    def squads(self, sub_groups: Mapping[str, str], joined_by: Mapping[str, str] | None = None) -> list[dict]:
        """Each sub-group of an operation: its size, a sample of accounts, and what ties it inside and to the rest.

        What ties it to the rest is the coordination graph's ties across
        sub-groups, after what ``joined_by`` says joined its members to the
        rest where that was no tie of the graph (one cron through the same
        exits, or one start: :func:`graph.detect.networks.find_networks`).
        """
        joined_by = joined_by or {}
        by_group: dict[str, list[str]] = {}
        for account, label in sub_groups.items():
            by_group.setdefault(label, []).append(account)
        kinds = {"infra": "shared infrastructure", "sharding": "divided number blocks", "targets": "shared targets",
                 "sync": "synchronized sessions", "lists": "one divided target list",
                 "cohort": "made in one sign-up burst, both missing", "strangers": "finding strangers from one address",
                 "crowds": "started in the same scheduled minutes", "missers": "missing from one address",
                 "swept": "working the blocks enumerators swept", "fresh": "new accounts on a farm's addresses",
                 "exits": "one list's numbers behind exits few others use"}
        rows = []
        for label in sorted(by_group, key=lambda x: int(x[1:])):
            members = sorted(by_group[label])
            inside, outside = {}, {}
            for m in members:
                for other, data in self.G[m].items() if m in self.G else ():
                    if other not in sub_groups:
                        continue
                    into = inside if sub_groups[other] == label else outside
                    for part in kinds:
                        into[part] = into.get(part, 0.0) + data.get(part, 0.0)

            def say(weights: dict) -> str:
                top = [kinds[k] for k, v in sorted(weights.items(), key=lambda kv: -kv[1]) if v > 0][:2]
                return " and ".join(top) or "no direct ties"

            rest = say(outside)
            joined = sorted({joined_by[m] for m in members if m in joined_by})
            if joined:
                rest = " and ".join(joined) + ("" if rest == "no direct ties" else f", besides {rest}")
            rows.append({
                "sub_group": label, "size": len(members), "accounts": members[:20],
                "ties": f"tied inside by {say(inside)}; to the rest of the operation by {rest}",
            })
        return rows

    def describe(self, kept, ids: list[str], squad_of: Mapping[str, str],
                 joined_by: Mapping[str, str] | None = None) -> list[Cluster]:
        if not kept:
            return []
        keys = {cid: row[0] for cid, row in zip(ids, kept, strict=True)}
        mix = origin_mix(self.source, keys)
        exposure = cluster_exposure(self.source, keys)
        histograms = self.weeks()
        evidence = cluster_evidence(
            self.source, keys, edges=self.edges, onsets=self.onsets, sharding=self.sharding,
            bucket_seconds=self.params.sync_bucket_seconds,
        )
        clusters = []
        for cid, (members, score, features, parts) in zip(ids, kept, strict=True):
            # named again here: pruning, the split by country and rejoining leave a cluster some of
            # the squads it was labelled with (S2 and S3 without an S1 would read as a squad missing)
            sub_groups = squad_labels({m: squad_of[m] for m in members if m in squad_of})
            if len(set(sub_groups.values())) < 2:
                sub_groups = {}
            features = {k: v for k, v in features.items() if not k.startswith("_")}
            week = sum((histograms[m] for m in members if m in histograms), np.zeros(behaviour.HALF_HOURS_PER_WEEK))
            clock = utc_offset(week)
            rhythm = weekly_rhythm(week, clock["offset_hours"])
            attribution = {
                "countries": mix[cid]["countries"],
                "asns": mix[cid]["asns"],
                "ip_kinds": mix[cid]["kinds"],
                "hosting_share": mix[cid]["hosting_share"],
                "utc_offset": clock,
                "weekly_rhythm": rhythm,
                "labels": label_overlap(members, self.edges, self.labels),
            }
            member_scores, member_reasons = {}, {}
            for m in members:
                belong = self.belonging(m, members) if len(members) > 1 else 1.0
                own = float(self.stats.loc[m, "evidence"])
                member_scores[m] = scoring.member_score(score, belong, own)
                why = []
                if len(members) > 1:
                    why.append(f"{belong:.0%} of its coordination ties are inside the cluster")
                if own > 0:
                    row = self.stats.loc[m]
                    why.append(
                        f"own lookups: {int(row['phones'])} numbers, {row['numbers_per_block']:.0f} per block, "
                        f"{row['hit_ratio']:.1%} matched"
                    )
                member_reasons[m] = why
            stats = self.stats.loc[members]
            clusters.append(
                Cluster(
                    cluster_id=cid,
                    members=sorted(members, key=lambda m: (-member_scores[m], m)),
                    score=score,
                    kind=scoring.cluster_kind(features, parts),
                    reasons=scoring.reasons(features, parts),
                    features=features,
                    contributions=parts,
                    member_scores=member_scores,
                    member_reasons=member_reasons,
                    evidence={**evidence[cid], "statistics": features, "contributions": parts,
                              **({"sub_groups": self.squads(sub_groups, joined_by)} if sub_groups else {})},
                    sub_groups=sub_groups,
                    attribution=attribution,
                    exposure=exposure[cid],
                    top_ip_country=mix[cid]["top_country"],
                    first_seen_ms=int(stats["first_ms"].min()),
                    last_seen_ms=int(stats["last_ms"].max()),
                )
            )
        return clusters
