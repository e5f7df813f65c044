"""Features of many candidate groups at once, one groupby (or one query) per feature.

At incident scale Louvain leaves a thousand or more candidate groups to
score; computing each group's features with its own pandas calls took most of
detection's time. Every function here takes a membership table (``account_id``
and an integer group ``g``) and returns one row per group, so the cost is a
handful of vectorized passes over the member, tie and edge tables whatever the
number of groups. :func:`group_features` assembles them into the feature
dicts that :func:`graph.detect.scoring.cluster_score` reads, with the same
keys present under the same conditions as a group scored alone.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from graph.detect import enumeration, misses
from graph.detect.frames import among

__all__ = ["membership", "group_features"]

def membership(groups: Sequence[Sequence[str]]) -> pd.DataFrame:
    """``account_id, g`` rows: group ``g`` is ``groups[g]``."""
    sizes = [len(members) for members in groups]
    return pd.DataFrame({
        "account_id": np.array([a for members in groups for a in members], dtype=object),
        "g": np.repeat(np.arange(len(groups), dtype=np.int64), sizes),
    })


def _owner_of(mem: pd.DataFrame) -> pd.Series:
    return pd.Series(mem["g"].to_numpy(), index=mem["account_id"].to_numpy())


def _pairs_inside(pairs: pd.DataFrame, owner: pd.Series) -> pd.DataFrame:
    """Pair rows whose two accounts are in the same group, with that group as ``g``."""
    if pairs.empty:
        return pairs.assign(g=pd.Series(dtype=np.int64))
    a = pairs["a"].map(owner)
    b = pairs["b"].map(owner)
    keep = (a.notna() & (a == b)).to_numpy()
    return pairs[keep].assign(g=a[keep].astype(np.int64).to_numpy())


def _accounts_in_pairs(pairs: pd.DataFrame) -> pd.Series:
    """Per group: how many distinct accounts appear in its pairs."""
    if pairs.empty:
        return pd.Series(dtype=np.int64)
    both = pd.concat([pairs[["g", "a"]].rename(columns={"a": "x"}), pairs[["g", "b"]].rename(columns={"b": "x"})])
    return both.drop_duplicates().groupby("g").size()


def _block_features(union: pd.DataFrame) -> pd.DataFrame:
    """Enumerated share, blocks and fill per group from ``g, numbers`` rows (one per block)."""
    dense = union[union["numbers"] >= 250]
    out = pd.DataFrame({"total": union.groupby("g")["numbers"].sum().astype(float)})
    grouped = dense.groupby("g")["numbers"]
    out["dense_sum"] = grouped.sum().astype(float)
    out["dense_blocks"] = grouped.size()
    out["dense_mean"] = grouped.mean()
    out = out.fillna({"dense_sum": 0.0, "dense_blocks": 0})
    out["enumerated_share"] = np.where(out["total"] > 0, out["dense_sum"] / out["total"].where(out["total"] > 0, 1), 0.0)
    out["enumerated_fill"] = np.where(out["dense_blocks"] > 0, out["dense_mean"] / enumeration.BLOCK_SIZE, 0.0)
    return out


# members' books are copies of one when their distinct numbers are at most half of their numbers summed:
# on average each number is in two or more of their books
COPIED_BOOKS = 0.5


def _distinct_share(union: pd.DataFrame) -> pd.Series:
    """Per group: its distinct numbers over its members' numbers summed (1 when no two members share one)."""
    sums = union.groupby("g")[["numbers", "looked"]].sum().astype(float)
    return sums["numbers"] / sums["looked"].where(sums["looked"] > 0)


def _sharding_features(sharding: pd.DataFrame, owner: pd.Series) -> pd.DataFrame:
    inside = _pairs_inside(sharding, owner)
    out = pd.DataFrame(index=pd.Index(np.unique(inside["g"].to_numpy()), name="g"))
    real = inside[(inside["expected_overlap"] >= 5) & (inside["complementarity"] >= 0.8)]
    out["accounts"] = _accounts_in_pairs(real)
    out["pairs"] = real.groupby("g").size()
    out["overlap"] = real.groupby("g")["overlap"].sum()
    out["expected"] = real.groupby("g")["expected_overlap"].sum()
    return out.fillna(0)


def _sync_features(sync: pd.DataFrame, owner: pd.Series) -> pd.DataFrame:
    inside = _pairs_inside(sync[sync["jaccard"] >= 0.1] if len(sync) else sync, owner)
    out = pd.DataFrame({"accounts": _accounts_in_pairs(inside)})
    out["windows"] = inside.groupby("g")["shared"].max()
    return out


def _synchronized_days(onsets: pd.DataFrame, mem: pd.DataFrame, sizes: pd.Series, window_seconds: int) -> pd.Series:
    """Per group: days on which at least three members (and a third of them) started lookups in one window.

    With a window of three synchrony buckets this is a shift: a group told
    to work "at ten" starts within a quarter of an hour of ten. With a
    window of a minute it is lockstep: only a scheduler starts accounts
    within seconds of each other. Only lookup sessions count: friends
    reading their timelines at the evening peak start together by chance
    every day. Two grids half a window apart, so a start straddling a
    window edge is not split.
    """
    mine = onsets[onsets["lookup"]].merge(mem, on="account_id")
    if mine.empty:
        return pd.Series(dtype=np.int64)
    bucket_ms = window_seconds * 1000
    need = np.maximum(3, np.ceil(sizes / 3)).astype(np.int64)
    days = []
    for grid in (0, bucket_ms // 2):
        buckets = (mine["ts_ms"].to_numpy(dtype=np.int64) + grid) // bucket_ms
        counts = (
            mine.assign(bucket=buckets)[["g", "endpoint", "bucket", "account_id"]]
            .drop_duplicates()
            .groupby(["g", "endpoint", "bucket"])
            .size()
            .reset_index(name="n")
        )
        hit = counts[counts["n"].to_numpy() >= need.reindex(counts["g"]).to_numpy()]
        days.append(pd.DataFrame({"g": hit["g"].to_numpy(), "day": hit["bucket"].to_numpy() * bucket_ms // 86_400_000}))
    return pd.concat(days).drop_duplicates().groupby("g").size()


def _lockstep_days(onsets: pd.DataFrame, mem: pd.DataFrame, sizes: pd.Series, window_seconds: int) -> pd.Series:
    """Per group: lockstep days (:func:`_synchronized_days` in one-minute windows) beyond chance.

    Accounts that start sessions all day long (an enumerator resumes after
    every pause) fall into the same minute by chance. Members' onsets are
    taken as independent at each one's own daily rate: the number of
    members starting in a window is then about Poisson with the sum of
    their rates, which gives the windows a day that would hold enough of
    them by chance. A group whose chance would account for half a day or
    more over its active days has no lockstep days.
    """
    days = _synchronized_days(onsets, mem, sizes, window_seconds)
    if days.empty:
        return days
    mine = onsets[onsets["lookup"]].merge(mem, on="account_id")
    day = mine["ts_ms"].to_numpy(dtype=np.int64) // 86_400_000
    per_account = mine.assign(day=day).groupby(["g", "account_id"]).agg(n=("ts_ms", "size"), days=("day", "nunique"))
    rate = (per_account["n"] / per_account["days"]).groupby(level="g").sum() * window_seconds / 86_400
    active = mine.assign(day=day).groupby("g")["day"].nunique()
    need = np.maximum(3, np.ceil(sizes / 3)).reindex(days.index)
    lam = rate.reindex(days.index)
    per_day = 2 * 86_400 / window_seconds * sps.poisson.sf(need - 1, lam)
    chance = per_day * active.reindex(days.index)
    return days.where(chance < 0.5, 0)


def _exclusive_features(edges: pd.DataFrame, mem: pd.DataFrame) -> pd.DataFrame:
    """Share of a group's requests on addresses or devices used by members and (almost) nobody else."""
    mine = edges[edges["entity_type"].isin(["ip", "device"])].merge(mem, on="account_id")
    per_entity = mine.groupby(["g", "entity_type", "entity"], sort=False).agg(
        members=("account_id", "nunique"), outside=("entity_accounts", "max"), requests=("requests", "sum")
    ).reset_index()
    exclusive = per_entity[(per_entity["members"] >= 2) & (per_entity["members"] >= 0.8 * per_entity["outside"])]
    used = mine.groupby(["g", "entity_type"])["requests"].sum().astype(float)
    private = exclusive.groupby(["g", "entity_type"])["requests"].sum().astype(float).reindex(used.index, fill_value=0.0)
    ratio = (private / used.where(used > 0)).fillna(0.0)
    out = pd.DataFrame({"share": ratio.groupby(level="g").max()})
    out["entities"] = exclusive.groupby("g").size().reindex(out.index, fill_value=0)
    return out


def _device_features(edges: pd.DataFrame, mem: pd.DataFrame, sizes: pd.Series) -> pd.Series:
    """Per group: share of members on a device fingerprint another member uses and few outsiders do.

    A device id is personal; a family shares a tablet, but a pool of
    emulator fingerprints behind many accounts is an operation's.
    """
    mine = edges[edges["entity_type"] == "device"].merge(mem, on="account_id")
    if mine.empty:
        return pd.Series(dtype=float)
    per = mine.groupby(["g", "entity"], sort=False).agg(
        members=("account_id", "nunique"), outside=("entity_accounts", "max")
    ).reset_index()
    shared = per[(per["members"] >= 2) & (per["members"] >= 0.5 * per["outside"])]
    on = mine.merge(shared[["g", "entity"]], on=["g", "entity"])
    return (on.groupby("g")["account_id"].nunique() / sizes.reindex(on["g"].unique())).astype(float)


def _infrastructure_counts(edges: pd.DataFrame, mem: pd.DataFrame) -> pd.DataFrame:
    """Per group: how many IPs and devices its members used, how many of them nobody else used,
    and the share of its IP requests from residential or mobile addresses.

    These say what kind of infrastructure an operation runs on (a few
    hosting addresses, hundreds of residential proxy exits, a handful of
    emulator fingerprints behind many accounts); scores do not read them.
    """
    mine = edges[edges["entity_type"].isin(["ip", "device"])].merge(mem, on="account_id")
    per = mine.groupby(["g", "entity_type", "entity"], sort=False).agg(
        members=("account_id", "nunique"), outside=("entity_accounts", "max"), requests=("requests", "sum"),
        kind=("kind", "first"),
    ).reset_index()
    per["private"] = per["members"] >= per["outside"]
    counts = per.groupby(["g", "entity_type"]).agg(used=("entity", "size"), private=("private", "sum")).unstack(
        fill_value=0)
    out = pd.DataFrame(index=counts.index)
    for entity_type, name in (("ip", "ips"), ("device", "devices")):
        for measure, prefix in (("used", ""), ("private", "private_")):
            column = (measure, entity_type)
            out[prefix + name] = counts[column] if column in counts.columns else 0
    ips = per[per["entity_type"] == "ip"]
    total = ips.groupby("g")["requests"].sum().astype(float)
    homes = ips[ips["kind"].isin(["residential", "mobile"])].groupby("g")["requests"].sum().astype(float)
    out["residential_share"] = (homes.reindex(total.index, fill_value=0.0) / total.where(total > 0)).reindex(
        out.index).fillna(0.0)
    return out


def _burst_run(mem: pd.DataFrame, created: pd.Series, bursts: Collection[str], window: int) -> pd.Series:
    """Per group: the most members made in one run of sign-up burst windows.

    An operation can take longer than one window to make its accounts: a
    run is members the population-wide burst search found
    (:func:`graph.detect.behaviour.burst_accounts`), each made at most a
    window after the previous one. Only burst-made accounts count, so a big
    group's steady sign-ups never chain into a run.
    """
    made = mem[among(mem["account_id"], bursts)]
    made = made.assign(t=made["account_id"].map(created)).dropna(subset=["t"])
    if made.empty:
        return pd.Series(dtype=np.int64)
    made = made.sort_values(["g", "t"], kind="stable")
    g, t = made["g"].to_numpy(), made["t"].to_numpy(dtype=np.int64)
    breaks = np.r_[True, (g[1:] != g[:-1]) | (np.diff(t) > window)]
    run = np.cumsum(breaks)
    lengths = np.bincount(run)[run]
    return pd.Series(lengths, index=g).groupby(level=0).max()


def _burst_features(mem: pd.DataFrame, created: pd.Series, window_hours: float,
                    bursts: Collection[str] = ()) -> pd.DataFrame:
    """The tightest sign-up burst per group, as :func:`graph.detect.behaviour.creation_burst` measures it,
    and the longest run of burst windows (``run``, :func:`_burst_run`)."""
    population = created.to_numpy(dtype=np.int64)  # sorted by the caller
    if len(population) == 0:
        return pd.DataFrame(columns=["members", "expected", "log10_p", "run"])
    window = int(window_hours * 3_600_000)
    times = mem.assign(t=mem["account_id"].map(created)).dropna(subset=["t"])
    times = times.assign(t=times["t"].astype(np.int64)).sort_values(["g", "t"], kind="stable")
    g = times["g"].to_numpy()
    t = times["t"].to_numpy()
    if len(t) == 0:
        return pd.DataFrame(columns=["members", "expected", "log10_p", "run"])
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    n = np.r_[starts[1:], len(g)] - starts
    # for each member time, how many of its group's members fall in [t, t + window):
    # one sorted key, groups set apart by more than any time span plus a window
    rel = t - t.min()
    key = g * (int(rel.max()) + window + 1) + rel
    within = np.searchsorted(key, key + window, side="left") - np.arange(len(t))
    group_of = np.repeat(np.arange(len(starts)), n)
    best = pd.Series(within).groupby(group_of).idxmax().to_numpy()  # first maximum, as argmax
    k = within[best]
    start = t[best]
    in_window = np.searchsorted(population, start + window) - np.searchsorted(population, start)
    share = np.maximum(np.maximum(in_window - k, 0) / len(population), 1.0 / len(population))
    log10_p = sps.binom.logsf(k - 1, n, share) / np.log(10)
    log10_p = np.minimum(0.0, log10_p + np.log10(n))
    valid = (n >= 2) & (k >= 2)
    out = pd.DataFrame(
        {"members": np.where(valid, k, 0), "expected": np.where(valid, share * n, 0.0),
         "log10_p": np.where(valid, log10_p, 0.0)},
        index=pd.Index(g[starts], name="g"),
    )
    out["run"] = _burst_run(mem, created, bursts, window).reindex(out.index, fill_value=0).astype(np.int64)
    return out


def _monoculture_features(mem: pd.DataFrame, builds: pd.Series, population: pd.Series) -> pd.DataFrame:
    """Each group's most common client build against everyone else's, as :func:`graph.detect.behaviour.monoculture_counts`."""
    values = mem.assign(build=mem["account_id"].map(builds)).dropna(subset=["build"])
    if values.empty or population.empty:
        return pd.DataFrame(columns=["value", "share", "population_share", "log10_p"])
    counts = values.groupby(["g", "build"]).size().reset_index(name="n")
    counts = counts.sort_values(["g", "n", "build"], ascending=[True, False, True], kind="stable")
    top = counts.drop_duplicates("g").set_index("g")
    n = values.groupby("g").size().reindex(top.index).to_numpy()
    k = top["n"].to_numpy()
    others = float(population.sum()) - n
    same = population.reindex(top["build"]).fillna(0).to_numpy(dtype=float) - k
    ok = others > 0
    safe = np.where(ok, others, 1.0)
    population_share = np.maximum(same / safe, 1.0 / safe)
    log10_p = sps.binom.logsf(k - 1, n, np.clip(population_share, 0, 1)) / np.log(10)
    return pd.DataFrame(
        {"value": top["build"].where(ok, None).to_numpy(), "share": np.where(ok, k / n, 0.0),
         "population_share": np.where(ok, np.round(population_share, 6), 0.0), "log10_p": np.where(ok, log10_p, 0.0)},
        index=top.index,
    )


def _benign_share(mem: pd.DataFrame, edges: pd.DataFrame, benign: set, sizes: pd.Series, numbers: pd.Series) -> pd.Series:
    """Per group: the share of members vetted as benign (themselves or an address or device they use), or of
    the numbers members looked up that vetted members did, whichever is larger: a newsroom's verified heavy
    users carry a group's lookups however few of its members they are."""
    accounts = {entity_id for entity, entity_id in benign if entity == "account"}
    flagged = mem[among(mem["account_id"], accounts)][["g", "account_id"]]
    # the few edges to a labelled entity's id first: pairing type and id over every candidate's edges
    # (a million at scale) each time groups are scored cost seconds
    edges = edges[edges["entity_type"].isin(["ip", "device"]) & among(edges["entity"], {e for _, e in benign})]
    if not edges.empty:
        keys = pd.Series(list(zip(edges["entity_type"], edges["entity"], strict=True)), index=edges.index, dtype=object)
        labelled = edges[keys.isin(benign).to_numpy()].merge(mem, on="account_id")[["g", "account_id"]]
        flagged = pd.concat([flagged, labelled])
    flagged = flagged.drop_duplicates()
    by_head = flagged.groupby("g").size().reindex(sizes.index, fill_value=0) / sizes
    looked = numbers.reindex(mem["account_id"].to_numpy()).fillna(0.0).to_numpy()
    total = pd.Series(looked, index=mem["g"].to_numpy()).groupby(level=0).sum().reindex(sizes.index, fill_value=0.0)
    vetted = pd.Series(numbers.reindex(flagged["account_id"].to_numpy()).fillna(0.0).to_numpy(), index=flagged["g"].to_numpy())
    by_numbers = vetted.groupby(level=0).sum().reindex(sizes.index, fill_value=0.0) / total.where(total > 0)
    return np.maximum(by_head, by_numbers.fillna(0.0)).astype(float)


def group_features(
    groups: Sequence[Sequence[str]],
    *,
    stats: pd.DataFrame,
    union: pd.DataFrame,
    sharding: pd.DataFrame,
    sync: pd.DataFrame,
    onsets: pd.DataFrame,
    edges: pd.DataFrame,
    shared_share: Mapping[int, float],
    reciprocity: Mapping[int, float],
    origin: pd.DataFrame,
    created: pd.Series,
    builds: pd.Series,
    build_counts: pd.Series,
    benign: set,
    population_hit: float,
    baseline: misses.HitBaseline,
    sync_bucket_seconds: int,
    burst_window_hours: float,
    lockstep_seconds: int = 60,
    bursts: Collection[str] = (),
) -> list[dict]:
    """The feature dict of each group, in the order of ``groups``.

    Parameters
    ----------
    groups : sequence of sequences of str
        Member accounts of each group (an account in at most one group).
    stats : DataFrame
        Per-account lookup statistics, enumeration evidence, miss deficit
        (``deficit_z``, ``missing``) and numbers in runs (``run_numbers``),
        indexed by account.
    union : DataFrame
        ``g, numbers, looked``: distinct numbers the group tried in each block
        it touched, and its members' numbers there summed.
    sharding, sync : DataFrame
        Sharding and synchrony ties (``a, b`` and their measures).
    onsets : DataFrame
        Session onsets (``account_id, endpoint, ts_ms, lookup``).
    edges : DataFrame
        Account-to-infrastructure edges with ``entity_accounts``.
    shared_share, reciprocity : mapping
        Group index to the shared-target share and the reciprocity share.
    origin : DataFrame
        ``hosting_share`` and ``top_country`` indexed by group.
    created : Series
        Creation time (epoch ms) by account, sorted, every known account.
    builds, build_counts : Series
        Each account's client build, and how many accounts use each build.
    benign : set
        ``(entity, entity_id)`` pairs labelled benign.
    population_hit : float
        The population's median hit ratio.
    baseline : HitBaseline
        The population's hit ratio and its spread, for the group's miss deficit.
    sync_bucket_seconds : int
    burst_window_hours : float
    lockstep_seconds : int
        Window in which members starting together are in lockstep
        (``lockstep_days``), against three synchrony buckets for a shift
        (``synchronized_days``).
    bursts : collection of str
        Accounts made in a sign-up burst (:func:`graph.detect.behaviour.burst_accounts`),
        for the longest run of burst windows (``burst_run_members``).

    Returns
    -------
    list of dict
        Missing features are left out, as a group's missing evidence.
    """
    mem = membership(groups)
    owner = _owner_of(mem)
    sizes = mem.groupby("g").size()
    # every measure below joins edges and onsets to the members: the other candidates' rows go once, here
    edges = edges[among(edges["account_id"], mem["account_id"])]
    onsets = onsets[among(onsets["account_id"], mem["account_id"])]
    st = stats.reindex(mem["account_id"].to_numpy())
    st = st.assign(g=mem["g"].to_numpy())
    weights = st["phones"].clip(lower=1.0)
    per = pd.DataFrame({
        "phones": st.groupby("g")["phones"].sum().astype(float),
        "blocks": st.groupby("g")["blocks"].sum().astype(float),
        "matched": st.groupby("g")["matched"].sum().astype(float),
        "lookups": st.groupby("g")["lookups"].sum().astype(float),
        "requests": st.groupby("g")["requests"].sum().astype(float),
        "evidence": (st["evidence"] * weights).groupby(st["g"]).sum() / weights.groupby(st["g"]).sum(),
        "books": (st["phones"] > 0).groupby(st["g"]).sum().astype(float),
        "volume_members": (st["phones"] >= 20).groupby(st["g"]).sum().astype(float),
        "missing_members": st["missing"].astype(float).groupby(st["g"]).sum(),
        "run_numbers": st["run_numbers"].groupby(st["g"]).sum().astype(float),
    })
    # members whose books are mostly copies of one book (a circle of friends) are one book: one that
    # holds few people on the platform is one unlucky book, not five missing. Their pooled hit ratio
    # stands (a union of overlapping books finds fewer than one book: friends share the friends on the
    # platform), but it weighs as many numbers and books as they hold distinct. Members who mostly look
    # up numbers of their own, however they divide a list, keep every number and every member
    distinct = _distinct_share(union).reindex(per.index).fillna(1.0)
    distinct[distinct > COPIED_BOOKS] = 1.0
    per["deficit_z"] = misses.deficit_z(per["matched"] * distinct, per["phones"] * distinct, baseline,
                                        (per["books"] * distinct).clip(lower=1.0))
    blocks = _block_features(union)
    shard = _sharding_features(sharding, owner)
    lockstep = _sync_features(sync, owner)
    days = _synchronized_days(onsets, mem, sizes, 3 * sync_bucket_seconds)
    lockstep_days = _lockstep_days(onsets, mem, sizes, lockstep_seconds).to_dict()
    exclusive = _exclusive_features(edges, mem)
    infrastructure = _infrastructure_counts(edges, mem)
    devices = _device_features(edges, mem, sizes).to_dict()
    burst = _burst_features(mem, created, burst_window_hours, bursts) if len(created) else None
    mono = _monoculture_features(mem, builds, build_counts)
    benign_share = _benign_share(mem, edges, benign, sizes, stats["phones"]) if benign else None

    def rows(frame: pd.DataFrame | None) -> dict:
        return {} if frame is None else frame.to_dict("index")

    block_rows, shard_rows, sync_rows, excl_rows = rows(blocks), rows(shard), rows(lockstep), rows(exclusive)
    infra_rows = rows(infrastructure)
    burst_rows, mono_rows, origin_rows, per_rows = rows(burst), rows(mono), rows(origin), rows(per)
    days_map = days.to_dict()
    out = []
    for g, size in enumerate(len(members) for members in groups):
        p = per_rows[g]
        f: dict[str, float | str | None] = {"size": size}
        b = block_rows.get(g)
        if b is not None and p["phones"] > 0:
            f["enumerated_share"] = float(b["enumerated_share"])
            f["enumerated_blocks"] = int(b["dense_blocks"])
            f["enumerated_fill"] = float(b["enumerated_fill"])
            f["numbers"] = int(b["total"])
        f["enumeration_evidence"] = float(p["evidence"])
        if p["run_numbers"] > 0 and p["phones"] > 0:
            f["run_numbers"] = int(p["run_numbers"])
            f["run_share"] = p["run_numbers"] / p["phones"]
        f["numbers_per_block"] = p["phones"] / max(p["blocks"], 1)
        f["hit_ratio"] = p["matched"] / p["phones"] if p["phones"] else 0.0
        f["population_hit_ratio"] = population_hit
        if size > 1 and p["volume_members"] > 0:
            f["deficit_z"] = float(p["deficit_z"])
            f["miss_share"] = p["missing_members"] / p["volume_members"]
            f["missing_members"] = int(p["missing_members"])
            f["usual_hit_ratio"] = baseline.p0
            f["usual_hit_spread"] = baseline.tau
        f["lookups"] = p["lookups"]
        f["requests"] = p["requests"]
        s = shard_rows.get(g)
        if size > 1 and s is not None:
            f["sharding"] = s["accounts"] / size
            f["sharded_pairs"] = int(s["pairs"])
            f["shard_overlap_ratio"] = s["overlap"] / s["expected"] if s["expected"] else 0.0
        f["shared_target_share"] = shared_share.get(g, 0.0)
        f["reciprocity"] = reciprocity.get(g, 0.0)
        if burst is not None and size >= 3:
            row = burst_rows.get(g, {"members": 0, "expected": 0.0, "log10_p": 0.0})
            f["burst_members"] = int(row["members"])
            f["burst_share"] = int(row["members"]) / size
            f["burst_run_members"] = int(row.get("run", 0))
            f["burst_log10_p"] = float(row["log10_p"])
            f["burst_expected"] = float(row["expected"])
            f["burst_window_hours"] = burst_window_hours
        if size >= 3:
            row = mono_rows.get(g, {"value": None, "share": 0.0, "population_share": 0.0, "log10_p": 0.0})
            f["client_build"] = row["value"]
            f["client_share"] = float(row["share"])
            f["client_population_share"] = float(row["population_share"])
            f["client_log10_p"] = float(row["log10_p"]) if row["share"] >= 0.6 else 0.0
        o = origin_rows.get(g, {"hosting_share": 0.0, "top_country": None})
        f["hosting_share"] = o["hosting_share"]
        f["top_ip_country"] = o["top_country"]
        infra = infra_rows.get(g)
        if infra is not None:
            f.update({k: int(infra[k]) for k in ("ips", "private_ips", "devices", "private_devices")})
            f["residential_share"] = float(infra["residential_share"])
        e = excl_rows.get(g)
        if size > 1 and e is not None:
            f["exclusive_share"] = float(e["share"])
            f["exclusive_entities"] = int(e["entities"])
        if size >= 3:
            f["device_share"] = float(devices.get(g, 0.0))
        if size > 1:
            s = sync_rows.get(g)
            f["synchrony"] = s["accounts"] / size if s is not None else 0.0
            f["synchronized_windows"] = int(s["windows"]) if s is not None else 0
        if size >= 3:
            f["synchronized_days"] = int(days_map.get(g, 0))
            f["lockstep_days"] = int(lockstep_days.get(g, 0))
        if benign_share is not None:
            f["benign_label_share"] = float(benign_share[g])
        out.append({k: (round(float(v), 6) if isinstance(v, (float, np.floating)) and math.isfinite(v) else v)
                    for k, v in f.items()})
    return out
