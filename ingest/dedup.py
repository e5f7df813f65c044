"""The duplicate index of ingest: which rows of a table this run already loaded, found as rows arrive.

Ingest gives every row a 128-bit content hash (two 64-bit halves, computed
in SQL beside the checks) and asks this index, chunk by chunk, whether an
earlier row of the run had the same hash. It answers in memory, without
joining each chunk with the growing table, so a file split into many parts
loads in linear time. Rows loaded by *earlier* runs are not kept here; ingest
finds those in the table itself.

The layout is a log-structured merge of sorted numpy parts behind a bitmap
filter: see :class:`DuplicateIndex`. Its public API is :meth:`DuplicateIndex.duplicates`
(ask about a chunk's rows, which are then remembered) and :meth:`DuplicateIndex.forget` (a file's
transaction was rolled back and it is read again).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DuplicateIndex"]


class DuplicateIndex:
    """The content hashes of one table's rows loaded in this run: exact duplicates found as rows arrive.

    Finding them before the insert (not deleting them after) matters:
    deleting rows DuckDB has already written out for the open transaction
    makes the commit rewrite them; and holding them here (not joining every
    chunk with the growing table) keeps split files linear. The ids are
    kept in numpy, in sorted parts: 22 bytes a row. A bitmap over the top
    :data:`FILTER_BITS` bits of the first half (128 MB, a few percent set at
    tens of millions of rows) answers "certainly new" for almost every row
    with one memory access, so only the rest are searched in the parts
    (binary searches in a big array cost a cache miss a step).
    """

    FILTER_BITS = 30

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._filter = np.zeros(2**self.FILTER_BITS // 8, dtype=np.uint8)

    def _slots(self, sorted_h1: np.ndarray) -> np.ndarray:
        return (sorted_h1.astype(np.uint64, copy=False) >> np.uint64(64 - self.FILTER_BITS)).astype(np.intp)

    def _mark(self, sorted_h1: np.ndarray) -> None:
        """Set the filter bits of ids sorted by their first half (so each byte is written once)."""
        if len(sorted_h1) == 0:
            return
        slots = self._slots(sorted_h1)
        byte = slots >> 3
        bits = np.left_shift(1, slots & 7).astype(np.uint8)
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        self._filter[byte[starts]] |= np.bitwise_or.reduceat(bits, starts)

    def _maybe_seen(self, sorted_h1: np.ndarray) -> np.ndarray:
        slots = self._slots(sorted_h1)
        return ((self._filter[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1).astype(bool)

    def forget(self, file_no: int) -> None:
        """Drop the ids a file added (its transaction was rolled back, it is read again)."""
        kept = []
        for part in self._parts:
            mine = part[3] == file_no
            kept.append(tuple(column[~mine] for column in part) if mine.any() else part)
        self._parts = kept
        self._filter[:] = 0
        for part in self._parts:
            self._mark(part[0])

    def duplicates(self, h1: np.ndarray, h2: np.ndarray, pos: np.ndarray,
                   file_no: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """For each row, the file and position of the first row with the same id (-1: none)."""
        n = len(h1)
        first = np.full(n, -1, dtype=np.int64)
        first_file = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return first, first_file
        # sort by the first half only (one key, quicksort); the few slots whose first
        # half repeats are then ordered by (first half, second half, position), so
        # copies sit together with the earliest first
        order = np.argsort(h1)
        s1 = h1[order]
        tie = np.flatnonzero(s1[1:] == s1[:-1])
        if tie.size:
            slots = np.union1d(tie, tie + 1)
            tied = order[slots]
            order[slots] = tied[np.lexsort((pos[tied], h2[tied], h1[tied]))]
        s2, sp = h2[order], pos[order]
        repeat = np.zeros(n, dtype=bool)
        repeat[1:] = (s1[1:] == s1[:-1]) & (s2[1:] == s2[:-1])
        run_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))
        earlier = np.full(n, -1, dtype=np.int64)  # set at run starts whose id an earlier chunk had
        earlier_file = np.full(n, -1, dtype=np.int64)
        starts = np.flatnonzero(~repeat)
        starts = starts[self._maybe_seen(s1[starts])]
        for p1, p2, pp, pf in self._parts:
            at = np.searchsorted(p1, s1[starts])
            inside = at < len(p1)
            rows, at = starts[inside], at[inside]
            same_first = p1[at] == s1[rows]
            rows, at = rows[same_first], at[same_first]
            exact = p2[at] == s2[rows]
            earlier[rows[exact]] = pp[at[exact]]
            earlier_file[rows[exact]] = pf[at[exact]]
            for i, j in zip(rows[~exact], at[~exact], strict=True):
                # equal first halves, different second: a 64-bit collision (or several
                # ids sharing the first half); look through the part's run of equals
                j = int(j) + 1
                while j < len(p1) and p1[j] == s1[i]:
                    if p2[j] == s2[i]:
                        earlier[i], earlier_file[i] = pp[j], pf[j]
                        break
                    j += 1
        original = earlier[run_start]
        first_sorted = np.where(original >= 0, original, np.where(repeat, sp[run_start], -1))
        file_sorted = np.where(original >= 0, earlier_file[run_start], np.where(repeat, file_no, -1))
        new = ~repeat & (earlier < 0)
        self._parts.append((s1[new], s2[new], sp[new].astype(np.int32),
                            np.full(int(new.sum()), file_no, dtype=np.int16)))
        self._mark(self._parts[-1][0])
        # merge every sixteen parts of similar size into one (tiered, as a log-structured
        # merge does): a chunk is searched in a logarithmic number of parts, and a
        # row is copied about log16(rows / chunk) times
        fan_in = 16
        while (len(self._parts) >= fan_in
               and len(self._parts[-fan_in][0]) <= 2 * len(self._parts[-1][0])):
            tier = self._parts[-fan_in:]
            del self._parts[-fan_in:]
            merged = [np.concatenate(columns) for columns in zip(*tier, strict=True)]
            # sorted runs: the stable sort (timsort) merges them in linear time
            by_id = np.argsort(merged[0], kind="stable")
            self._parts.append(tuple(column[by_id] for column in merged))
        first[order] = first_sorted
        first_file[order] = file_sorted
        return first, first_file
