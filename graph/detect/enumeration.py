"""Enumeration of the number space: block coverage, hit ratio, volume and sharding.

People look up the numbers in their address books: a few hundred numbers,
scattered over the numbering plan, most of them belonging to someone they
know (and so often to an account). An enumerator walks number *blocks* (the
1,000 numbers sharing all but the last three digits), in whatever order it
likes, and most of what it tries matches nobody. None of the published
coordination detectors looks at this; it is the signature of the December
2019 incident, and it is order-independent: it is measured on the set of
numbers an account tried, never on their sequence.

Per account (or per IP) this module measures

* ``numbers_per_block``: distinct numbers tried per block touched;
* ``block_fill``: the largest share of one block's 1,000 numbers tried;
* ``hit_ratio``: the share of distinct numbers that matched an account;
* ``phones``: how many distinct numbers, against the population's robust
  baseline (median and MAD of the log, Hampel 1974);
* ``run_numbers`` (:func:`run_numbers`): numbers lying in runs of
  consecutive numbers, however few of a block's thousand they are.

Between accounts it measures *sharding*: accounts that cover slices of the
same blocks, with less overlap than independent enumerators would have, are
dividing one job between them.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from scipy import sparse

from graph.detect.frames import EventsLike, as_events

__all__ = [
    "BLOCK_SIZE",
    "lookup_stats",
    "robust_z",
    "enumeration_evidence",
    "run_numbers",
    "block_coverage",
    "sharding_ties",
    "chance_collisions",
    "coded_numbers",
    "block_mates",
    "distinct_ordinals_sql",
]

BLOCK_SIZE = 1000
#: values of a block hash's last 6 hex digits: :func:`block_coverage` keeps the lowest ``1/sample`` of them
_SAMPLE_SPAN = 16**6


def distinct_ordinals_sql(column: str) -> str:
    """SQL for how many distinct block positions (0..999) ``column`` takes in each group.

    Each group keeps a 1,000-bit bitstring instead of the (group, position)
    hash table a ``count(DISTINCT ...)`` builds: several times faster over
    the millions of lookups of a cluster of enumerators. A position outside
    0..999 (the contract rules it out) raises an error rather than miscounting.

    Examples
    --------
    >>> import duckdb
    >>> sql = f"SELECT {distinct_ordinals_sql('o')} FROM (VALUES (5), (5), (999), (NULL)) t(o)"
    >>> duckdb.sql(sql).fetchall()
    [(2,)]
    """
    return f"coalesce(bit_count(bitstring_agg({column}, 0, {BLOCK_SIZE - 1})), 0)"


def lookup_stats(events: EventsLike, by: str = "account_id") -> pd.DataFrame:
    """Requests, lookups and number-space coverage for each account (or IP, or device).

    Parameters
    ----------
    events : Events or DataFrame
        Request events with the warehouse's columns.
    by : str
        The event column to group by: ``"account_id"``, ``"ip"`` or ``"device_id"``.

    Returns
    -------
    DataFrame
        Indexed by the key, sorted. Columns: ``requests``, ``lookups`` (rows
        carrying a phone), ``phones`` and ``blocks`` (distinct), ``matched``
        (distinct numbers that matched an account), ``max_block_numbers``,
        ``numbers_per_block``, ``block_fill``, ``hit_ratio``, ``first_ms`` and
        ``last_ms``.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": i * 1000, "ip": "1.1.1.1", "account_id": "enum", "phone_hash": f"p{i}",
    ...          "block_hash": "b1", "block_ordinal": i} for i in range(200)]
    >>> rows += [{"ts": 0, "ip": "2.2.2.2", "account_id": "friend", "phone_hash": f"q{i}",
    ...           "block_hash": f"c{i}", "block_ordinal": 7, "matched_account_id": f"u{i}"} for i in range(20)]
    >>> stats = lookup_stats(events_frame(rows))
    >>> stats.loc["enum", ["phones", "blocks", "block_fill", "hit_ratio"]].tolist()
    [200.0, 1.0, 0.2, 0.0]
    >>> float(stats.loc["friend", "numbers_per_block"]), float(stats.loc["friend", "hit_ratio"])
    (1.0, 1.0)
    """
    if by not in ("account_id", "ip", "device_id"):
        raise ValueError(f"by must be account_id, ip or device_id, not {by!r}")
    source = as_events(events)
    # every count below is a plain count over the distinct lookups, never a
    # DISTINCT aggregate over the raw rows
    stats = source.query(f"""
        WITH per_block AS (
            SELECT {by} AS key, block, count(*) AS numbers FROM {source.lookups(by)} GROUP BY 1, 2
        ), blocks AS (
            SELECT key, count(*) AS blocks, max(numbers) AS max_block_numbers FROM per_block GROUP BY 1
        ), phones AS (
            SELECT {by} AS key, count(*) AS phones, count(*) FILTER (WHERE matched) AS matched
            FROM {source.lookups(by)} GROUP BY 1
        ), base AS (
            SELECT {by} AS key, count(*) AS requests, count(phone_hash) AS lookups,
                   min(epoch_ms(ts)) AS first_ms, max(epoch_ms(ts)) AS last_ms
            FROM {{events}} WHERE {by} IS NOT NULL GROUP BY 1
        )
        SELECT base.*, coalesce(phones.phones, 0) AS phones, coalesce(phones.matched, 0) AS matched,
               coalesce(blocks.blocks, 0) AS blocks, coalesce(blocks.max_block_numbers, 0) AS max_block_numbers
        FROM base LEFT JOIN phones USING (key) LEFT JOIN blocks USING (key)
        ORDER BY key
    """)
    stats = stats.set_index("key")
    stats.index.name = by
    for column in ("requests", "lookups", "phones", "matched", "blocks", "max_block_numbers"):
        stats[column] = stats[column].astype(float)
    stats["numbers_per_block"] = (stats["phones"] / stats["blocks"]).where(stats["blocks"] > 0, 0.0)
    stats["block_fill"] = stats["max_block_numbers"] / BLOCK_SIZE
    stats["hit_ratio"] = (stats["matched"] / stats["phones"]).where(stats["phones"] > 0, np.nan)
    columns = [
        "requests", "lookups", "phones", "blocks", "matched", "max_block_numbers",
        "numbers_per_block", "block_fill", "hit_ratio", "first_ms", "last_ms",
    ]
    return stats[columns]


def robust_z(values: pd.Series | np.ndarray, *, min_scale: float = 0.1, reference: pd.Series | np.ndarray | None = None) -> np.ndarray:
    """How far each value lies from the median, in robust standard deviations.

    Parameters
    ----------
    values : array-like
        The values to standardize (NaN stays NaN).
    min_scale : float
        Floor for the scale: when most of the population has the same value
        (MAD = 0), a tiny difference must not look like a huge deviation.
    reference : array-like, optional
        The population whose median and MAD define "usual"; default ``values``.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> robust_z([1.0, 1.0, 1.2, 0.9, 1.1, 9.0]).round(1).tolist()
    [-0.3, -0.3, 1.0, -1.0, 0.3, 53.6]

    Notes
    -----
    The scale is 1.4826 x MAD, which equals the standard deviation for normal
    data, but is not dragged up by the outliers it is meant to expose
    (Rousseeuw and Croux 1993).
    """
    values = np.asarray(values, dtype=float)
    ref = values if reference is None else np.asarray(reference, dtype=float)
    ref = ref[~np.isnan(ref)]
    if ref.size == 0:
        return np.full(values.shape, np.nan)
    median = float(np.median(ref))
    scale = max(1.4826 * float(np.median(np.abs(ref - median))), min_scale)
    return (values - median) / scale


def enumeration_evidence(stats: pd.DataFrame, *, min_phones: int = 20) -> pd.DataFrame:
    """Standardized enumeration evidence for each row of :func:`lookup_stats`.

    Parameters
    ----------
    stats : DataFrame
        From :func:`lookup_stats`.
    min_phones : int
        Rows with fewer distinct numbers carry no enumeration evidence: a
        handful of lookups cannot show a pattern.

    Returns
    -------
    DataFrame
        Same index. ``volume_z`` (robust z of log distinct numbers among rows
        with lookups), ``density_z`` (robust z of log numbers per block),
        ``miss_z`` (robust z of how far the hit ratio falls below the usual
        one; positive = fewer matches than usual) and ``evidence``: the
        weakest of density and misses, plus a volume bonus, i.e. "covers
        blocks densely AND mostly misses", which an address book never does.

    Examples
    --------
    >>> stats = pd.DataFrame({
    ...     "phones": [30.0, 25, 40, 35, 28, 5000],
    ...     "numbers_per_block": [1.1, 1.0, 1.2, 1.1, 1.0, 250],
    ...     "hit_ratio": [0.5, 0.45, 0.55, 0.5, 0.4, 0.02]}, index=list("abcdez"))
    >>> evidence = enumeration_evidence(stats)
    >>> evidence["evidence"].idxmax()
    'z'
    >>> bool(evidence.loc["a", "evidence"] < 1)
    True
    """
    has = stats["phones"] >= min_phones
    population = stats[stats["phones"] > 0]
    log_phones = np.log1p(stats["phones"])
    log_density = np.log(stats["numbers_per_block"].clip(lower=1.0))
    miss = -np.log(stats["hit_ratio"].fillna(0.0) + 0.01)
    out = pd.DataFrame(index=stats.index)
    out["volume_z"] = robust_z(log_phones, min_scale=0.25, reference=np.log1p(population["phones"]))
    out["density_z"] = robust_z(
        log_density, min_scale=0.15, reference=np.log(population["numbers_per_block"].clip(lower=1.0))
    )
    out["miss_z"] = robust_z(
        miss, min_scale=0.25, reference=-np.log(population["hit_ratio"].fillna(0.0) + 0.01)
    )
    core = np.minimum(out["density_z"], out["miss_z"]).clip(lower=0.0)
    bonus = 0.25 * out["volume_z"].clip(lower=0.0, upper=8.0)
    out["evidence"] = (core + bonus).where(has & (core > 0), 0.0)
    return out


def run_numbers(events: EventsLike, *, min_run: int = 5, exclude: Collection[str] = ()) -> pd.Series:
    """Distinct numbers each account tried that lie in runs of ``min_run`` or more consecutive numbers.

    A sequential enumerator walks a stretch of consecutive numbers (``+98
    912 345 6600``, ``6601``, ``6602``...), in whatever order it submits
    them. Camouflaged, each account walks only a stretch or two of a few
    dozen numbers among everyday lookups: a few percent of one block, far
    from the dense coverage :func:`enumeration_evidence` measures, and in
    a well-populated range it finds about as many accounts as an address
    book does. The stretch itself gives it away: an address book holds the
    people its owner knows, whose numbers lie scattered over the block;
    even twenty of a book's numbers in one block hold five in a row by
    chance about once in 300,000 books (``m (m / 1000) ** 4``). Like block
    coverage it is a property of the set of numbers tried, not of their
    order.

    Parameters
    ----------
    events : Events or DataFrame
    min_run : int
        Consecutive numbers (by ``block_ordinal`` within one block) that
        make a run.
    exclude : collection of str
        Accounts not measured (clear enumerators, whose dense blocks hold
        runs by the thousand and say nothing more).

    Returns
    -------
    Series
        ``run_numbers`` by account, only accounts with at least one run,
        sorted by account.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "account_id": "walker", "phone_hash": f"p{i}", "block_hash": "b", "block_ordinal": 600 + i}
    ...         for i in range(12)]
    >>> rows += [{"ts": 0, "account_id": "book", "phone_hash": f"q{i}", "block_hash": "b", "block_ordinal": 7 * i}
    ...          for i in range(40)]
    >>> run_numbers(events_frame(rows)).to_dict()
    {'walker': 12}
    """
    source = as_events(events)
    found = source.query(f"""
        WITH tried AS (
            -- only an account's blocks with enough numbers for a run are ordered at all
            SELECT account_id, block FROM {{lookups}} WHERE block IS NOT NULL AND ordinal IS NOT NULL
            GROUP BY 1, 2 HAVING count(*) >= {int(min_run)}
        ), islands AS (
            SELECT l.account_id, l.block,
                   l.ordinal - row_number() OVER (PARTITION BY l.account_id, l.block ORDER BY l.ordinal) AS island
            FROM {{lookups}} l SEMI JOIN (SELECT * FROM tried ANTI JOIN {{exclude}} USING (account_id)) t
                USING (account_id, block)
            WHERE l.ordinal IS NOT NULL
        ), runs AS (
            SELECT account_id, count(*) AS numbers FROM islands GROUP BY account_id, block, island
            HAVING count(*) >= {int(min_run)}
        )
        SELECT account_id, sum(numbers) AS run_numbers FROM runs GROUP BY 1 ORDER BY 1
    """, exclude=pd.DataFrame({"account_id": pd.Series(sorted(set(exclude)), dtype=object)}))
    return pd.Series(found["run_numbers"].to_numpy(dtype=np.int64), index=pd.Index(found["account_id"], dtype=object),
                     name="run_numbers")


def block_coverage(
    events: EventsLike, accounts: Collection[str], *, min_numbers: int = 2, sample: int = 1
) -> pd.DataFrame:
    """Which numbers of which blocks each of ``accounts`` tried (for sharding and evidence).

    Parameters
    ----------
    events : Events or DataFrame
    accounts : collection of str
        The accounts to measure (candidates; the crowd is never expanded).
    min_numbers : int
        Keep only (account, block) pairs with at least this many numbers.
    sample : int
        Keep one block in ``sample``, chosen by its keyed hash (the same
        blocks for every account and on every engine): overlap between
        slices is a rate, and a few thousand blocks measure it as well as
        all of them.

    Returns
    -------
    DataFrame
        ``account_id, block_hash, numbers, ordinals`` where ``ordinals`` is a
        sorted numpy array of the block positions (0..999) tried, sorted by
        account and block.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "a", "phone_hash": f"p{i}",
    ...          "block_hash": "b", "block_ordinal": i} for i in range(3)]
    >>> block_coverage(events_frame(rows), ["a"]).loc[0, "ordinals"].tolist()
    [0, 1, 2]
    """
    source = as_events(events)
    focus = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
    cover = source.query(
        """
        SELECT account_id, block_hash, count(DISTINCT block_ordinal) AS numbers,
               list_sort(list(DISTINCT block_ordinal)) AS ordinals
        FROM {events}
        WHERE phone_hash IS NOT NULL AND block_hash IS NOT NULL AND block_ordinal IS NOT NULL
          AND account_id IN (SELECT account_id FROM {focus}) ?sample
        GROUP BY 1, 2
        HAVING count(DISTINCT block_ordinal) >= ?min
        ORDER BY 1, 2
        """.replace("?min", str(int(min_numbers))).replace(
            # the block's keyed hash read as a number (its last 6 hex digits), not hash(): Spark's differs
            "?sample", f"AND right(block_hash, 6) < '{_SAMPLE_SPAN // int(sample):06x}'" if sample > 1 else ""
        ),
        focus=focus,
    )
    cover["ordinals"] = [np.asarray(o, dtype=np.int16) for o in cover["ordinals"]]
    cover["numbers"] = cover["numbers"].astype(int)
    return cover


def coded_numbers(coverage: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each account's numbers in :func:`block_coverage` as ``block * BLOCK_SIZE + ordinal`` (for :func:`chance_collisions`).

    Blocks are coded by their order of first appearance in ``coverage``:
    the codes hold within one coverage frame only.

    Examples
    --------
    >>> cover = pd.DataFrame({"account_id": ["a", "a", "b"], "block_hash": ["x", "y", "x"],
    ...                       "ordinals": [np.array([1, 2]), np.array([7]), np.array([2, 3])]})
    >>> {a: keys.tolist() for a, keys in coded_numbers(cover).items()}
    {'a': [1, 2, 1007], 'b': [2, 3]}
    """
    codes = pd.factorize(coverage["block_hash"])[0].astype(np.int64)
    keys = [code * BLOCK_SIZE + np.asarray(ordinals, dtype=np.int64)
            for code, ordinals in zip(codes, coverage["ordinals"], strict=True)]
    return {account: np.concatenate([keys[i] for i in rows])
            for account, rows in coverage.groupby("account_id", sort=False).indices.items()}


def chance_collisions(mine: np.ndarray, theirs: np.ndarray) -> tuple[int, float]:
    """How many numbers two groups both tried in the blocks both worked, and how many chance would give.

    ``mine`` and ``theirs`` are each group's distinct numbers as
    ``block * BLOCK_SIZE + ordinal`` (any integer block codes, the same for
    both). Chance is independence within each shared block: ``|A| |B| /
    BLOCK_SIZE``. Squads of one operation dividing blocks between them
    collide far less than chance (each number is one squad's); two
    operations sweeping the same blocks each on its own collide as chance
    has it, however complementary a pair of their accounts looks (a few
    numbers each in a block rarely meet).

    Examples
    --------
    >>> evens, odds = np.arange(0, 1000, 2), np.arange(1, 1000, 2)
    >>> chance_collisions(evens, odds)  # one block divided
    (0, 250.0)
    >>> chance_collisions(np.arange(0, 900), np.arange(100, 1000) + 5000)  # no block in common
    (0, 0.0)
    """
    blocks_a, count_a = np.unique(mine // BLOCK_SIZE, return_counts=True)
    blocks_b, count_b = np.unique(theirs // BLOCK_SIZE, return_counts=True)
    _, at_a, at_b = np.intersect1d(blocks_a, blocks_b, assume_unique=True, return_indices=True)
    expected = float((count_a[at_a].astype(float) * count_b[at_b]).sum()) / BLOCK_SIZE
    return len(np.intersect1d(mine, theirs)), expected


def sharding_ties(
    coverage: pd.DataFrame,
    *,
    min_numbers: int = 5,
    max_accounts: int = 500,
    min_block_union: int = 100,
    min_balance: float = 0.2,
) -> pd.DataFrame:
    """Pairs of accounts working the same number blocks, and how complementary their slices are.

    Parameters
    ----------
    coverage : DataFrame
        From :func:`block_coverage`.
    min_numbers : int
        A block counts for an account only when it tried at least this many
        of its numbers (one contact in a block is not working it).
    max_accounts : int
        Blocks worked by more accounts than this tie nobody.
    min_block_union : int
        Only blocks of which the accounts together tried at least this many
        numbers count: splitting a block is only a sign of sharding where
        the block is being enumerated. Two sparse address books almost never
        share a number either, and that is no coordination.
    min_balance : float
        Pairs whose shares of their common blocks differ more than this
        ratio are left out: a job split between accounts gives each a
        comparable slice, while an address book's dozen numbers next to an
        enumerator's hundreds is no split.

    Returns
    -------
    DataFrame
        ``a, b`` (``a < b``), ``shared_blocks``, ``weight`` (sum over shared
        blocks of ``1 / (accounts working the block - 1)``), ``overlap``
        (numbers both tried), ``expected_overlap`` (what two independent
        random enumerators with the same slice sizes would share) and
        ``complementarity`` = ``1 - overlap / expected_overlap`` clipped to
        [0, 1]: near 1 for accounts splitting blocks between them, near 0 for
        independent ones.

    Examples
    --------
    Two accounts splitting a block into halves are perfectly complementary:

    >>> cover = pd.DataFrame({"account_id": ["a", "b"], "block_hash": ["x", "x"],
    ...     "numbers": [500, 500], "ordinals": [np.arange(0, 1000, 2), np.arange(1, 1000, 2)]})
    >>> ties = sharding_ties(cover)
    >>> ties[["a", "b", "shared_blocks", "overlap", "complementarity"]].values.tolist()
    [['a', 'b', 1, 0, 1.0]]
    """
    columns = ["a", "b", "shared_blocks", "weight", "overlap", "expected_overlap", "complementarity"]
    worked = coverage[coverage["numbers"] >= min_numbers]
    if not worked.empty:
        union = worked.groupby("block_hash")["ordinals"].agg(lambda arrays: len(np.unique(np.concatenate(arrays.tolist()))))
        worked = worked[worked["block_hash"].map(union) >= min_block_union]
    per_block = worked.groupby("block_hash")["account_id"].transform("size")
    worked = worked[(per_block >= 2) & (per_block <= max_accounts)]
    if worked.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in "ab" else float) for c in columns})
    account_codes, accounts = pd.factorize(worked["account_id"], sort=True)
    block_codes, blocks = pd.factorize(worked["block_hash"], sort=True)
    n_accounts, n_blocks = len(accounts), len(blocks)
    rarity = 1.0 / (np.bincount(block_codes, minlength=n_blocks) - 1)
    numbers = worked["numbers"].to_numpy(dtype=float)
    shape = (n_accounts, n_blocks)
    present = sparse.csr_matrix((np.ones(len(worked)), (account_codes, block_codes)), shape=shape)
    weighted = sparse.csr_matrix((rarity[block_codes], (account_codes, block_codes)), shape=shape)
    sized = sparse.csr_matrix((numbers, (account_codes, block_codes)), shape=shape)
    lengths = worked["ordinals"].map(len).to_numpy()
    cells = np.repeat(block_codes.astype(np.int64) * BLOCK_SIZE, lengths) + np.concatenate(
        worked["ordinals"].to_list()
    ).astype(np.int64)
    tried = sparse.csr_matrix(
        (np.ones(len(cells)), (np.repeat(account_codes, lengths), cells)), shape=(n_accounts, n_blocks * BLOCK_SIZE)
    )
    shared = sparse.triu(present @ present.T, k=1).tocoo()
    weight = (weighted @ present.T).tocsr()
    overlap = (tried @ tried.T).tocsr()
    expected = (sized @ sized.T).tocsr()
    mine_in_common = (sized @ present.T).tocsr()  # [a, b]: a's numbers in the blocks it shares with b
    i, j = shared.row, shared.col
    a_side = np.asarray(mine_in_common[i, j]).ravel()
    b_side = np.asarray(mine_in_common[j, i]).ravel()
    balanced = np.minimum(a_side, b_side) >= min_balance * np.maximum(a_side, b_side)
    i, j = i[balanced], j[balanced]
    if len(i) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c in "ab" else float) for c in columns})
    ties = pd.DataFrame({
        "a": accounts[i].astype(object),
        "b": accounts[j].astype(object),
        "shared_blocks": shared.data[balanced].astype(int),
        "weight": np.asarray(weight[i, j]).ravel().round(9),
        "overlap": np.asarray(overlap[i, j]).ravel().astype(int),
        "expected_overlap": np.asarray(expected[i, j]).ravel() / BLOCK_SIZE,
    }).sort_values(["a", "b"], ignore_index=True)
    ties["complementarity"] = (1.0 - ties["overlap"] / ties["expected_overlap"]).clip(0.0, 1.0)
    return ties[columns]


def block_mates(
    events: EventsLike,
    sweepers: Collection[str],
    *,
    min_swept: int = 100,
    min_numbers: int = 5,
    min_share: float = 0.3,
    min_per_block: float = 3.0,
    max_hit: float = 1.0,
) -> pd.DataFrame:
    """The accounts working inside the blocks a set of enumerators swept (its *mates*), block by block.

    A camouflaged operation's accounts each try a few numbers of a block
    among everyday lookups, so none enumerates by itself; but its clearer
    enumerators give the blocks away. A block where ``sweepers`` together
    tried ``min_swept`` numbers or more is swept; an account that is not a
    sweeper, with at least ``min_numbers`` of its numbers and ``min_share``
    of them in swept blocks, ``min_per_block`` numbers or more in each
    swept block it touched, of which at most ``max_hit`` (a share) matched,
    is a mate: it works those blocks with them. People whose address books
    fall in a swept block (a town's numbers, a company's extension range)
    find their contacts there, one or two a block; the operation's accounts
    try several numbers of each block and find almost nobody.

    Camouflage can hide every sweeper: an operation of many accounts each
    taking a slice of a few dozen numbers among everyday lookups has no
    clear enumerator at all. Its slices still add up, so a block where the
    accounts trying ``min_per_block`` numbers or more of it, finding at most
    ``max_hit`` of them, together tried ``min_swept`` distinct numbers is
    swept *together*; its mates (by the same measure, and neither sweepers
    nor mates of the sweepers' blocks) are listed apart. A staff directory
    pushed to many phones tries the same few numbers again and again, not
    hundreds of distinct ones; and two operations working one country's
    ranges, one with clear sweepers and one without, stay apart (tuning
    draw 6, camouflaged).

    Returns
    -------
    DataFrame
        ``block, account_id, numbers, together``: each mate and each swept
        block it tried numbers of, sorted by block and account; ``together``
        marks the blocks swept together and their mates.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "account_id": "sweep", "phone_hash": f"p{i}", "block_hash": "b", "block_ordinal": i}
    ...         for i in range(200)]
    >>> rows += [{"ts": 0, "account_id": "mate", "phone_hash": f"p{i}", "block_hash": "b", "block_ordinal": i}
    ...          for i in range(300, 306)]
    >>> rows += [{"ts": 0, "account_id": "book", "phone_hash": f"q{i}", "block_hash": f"c{i}", "block_ordinal": 1}
    ...          for i in range(30)] + [{"ts": 0, "account_id": "book", "phone_hash": "p7", "block_hash": "b",
    ...                                  "block_ordinal": 7}]
    >>> block_mates(events_frame(rows), ["sweep"])[["account_id", "numbers"]].values.tolist()
    [['mate', 6]]

    Forty accounts each trying a run of five numbers of one block, finding nobody, sweep it together:

    >>> rows = [{"ts": 0, "account_id": f"s{i}", "phone_hash": f"r{5 * i + j}", "block_hash": "r",
    ...          "block_ordinal": 5 * i + j} for i in range(40) for j in range(5)]
    >>> mates = block_mates(events_frame(rows), [])
    >>> len(mates), bool(mates["together"].all())
    (40, True)
    """
    source = as_events(events)
    columns = {"block": np.int64, "account_id": object, "numbers": np.int64, "together": bool}

    def mates(inside: str, outside: str) -> str:
        # the accounts with enough of their numbers, several a block and finding few, in the blocks of ``inside``
        return f"""
            SELECT account_id FROM (
                SELECT account_id, sum(numbers) AS inside FROM {inside} GROUP BY 1
                HAVING sum(numbers) >= {int(min_numbers)} AND sum(matched) <= {float(max_hit)} * sum(numbers)
                   AND sum(numbers) >= {float(min_per_block)} * count(*)
            ) w JOIN {{lookups}} l USING (account_id) ANTI JOIN {outside} USING (account_id)
            GROUP BY w.account_id, w.inside HAVING w.inside >= {float(min_share)} * count(*)"""

    found = source.query(f"""
        WITH tried AS (
            SELECT account_id, block, count(*) AS numbers, count(*) FILTER (WHERE matched) AS matched
            FROM {{lookups}} WHERE block IS NOT NULL GROUP BY 1, 2
        ), own AS (
            SELECT block FROM {{lookups}} SEMI JOIN {{sweepers}} USING (account_id)
            WHERE block IS NOT NULL GROUP BY 1 HAVING count(DISTINCT ordinal) >= {int(min_swept)}
        ), trying AS (
            SELECT account_id, block FROM tried
            WHERE numbers >= {float(min_per_block)} AND matched <= {float(max_hit)} * numbers
        ), together AS (
            -- as many numbers tried, counted again where slices overlap, first: few blocks get that far
            SELECT l.block FROM {{lookups}} l SEMI JOIN trying USING (account_id, block)
            SEMI JOIN (
                SELECT block FROM tried SEMI JOIN trying USING (account_id, block)
                GROUP BY 1 HAVING sum(numbers) >= {int(min_swept)}
            ) USING (block) ANTI JOIN own USING (block)
            GROUP BY 1 HAVING count(DISTINCT l.ordinal) >= {int(min_swept)}
        ), inside_own AS (
            SELECT * FROM tried SEMI JOIN own USING (block)
        ), mates_own AS ({mates("inside_own", "{sweepers}")}
        ), inside_together AS (
            SELECT * FROM tried SEMI JOIN together USING (block)
        ), outside AS (
            SELECT account_id FROM {{sweepers}} UNION SELECT account_id FROM mates_own
        ), mates_together AS ({mates("inside_together", "outside")}
        )
        SELECT block, account_id, numbers, false AS together FROM inside_own SEMI JOIN mates_own USING (account_id)
        UNION ALL
        SELECT block, account_id, numbers, true FROM inside_together SEMI JOIN mates_together USING (account_id)
        ORDER BY 1, 2
    """, sweepers=pd.DataFrame({"account_id": sorted(set(sweepers))}, dtype=object))
    return found.astype(columns)
