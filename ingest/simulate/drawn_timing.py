"""When a drawn campaign works: its days, and each account's session onsets.

``cron`` fires on a fixed period with onsets seconds apart across accounts,
``office_hours`` follows the operators' working day, ``jitter`` blurs a daily
schedule by seconds to tens of minutes; camouflage blurs all three further.
"""

from __future__ import annotations

import numpy as np

from ingest.simulate.catalog import DAY_MS, END_MS, HOUR_MS, START_MS

__all__ = ["active_days", "session_onsets"]


def active_days(td: dict, weekend: tuple[int, ...]) -> np.ndarray:
    """The days (0-based) the campaign works: its span, less the operators' weekend if it keeps one."""
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
    ms = ((local - offset) * HOUR_MS).astype(np.int64)
    slots = (START_MS + days[:, None] * DAY_MS + ms[None, :]).ravel()
    return np.sort(slots[(slots >= START_MS) & (slots < END_MS)])


def session_onsets(
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
            t = START_MS + day * DAY_MS + ((local - offset) * HOUR_MS).astype(np.int64)
            out.append(np.sort(t + rng.normal(0, camo_ms + 1, size=int(n)).astype(np.int64)))
        return out
    slots = _slots(td, rng, days)
    if not len(slots):  # a cron window that never falls inside the active days
        slots = START_MS + days * DAY_MS + 10 * HOUR_MS
    jitter_ms = td["onset_jitter_s"] * 1000
    for n in n_sessions:
        n = min(int(n), len(slots))
        chosen = np.sort(rng.choice(slots, size=n, replace=False))
        noise = rng.normal(0, jitter_ms, size=n) + rng.normal(0, camo_ms + 1, size=n)
        out.append(np.sort(chosen + noise.astype(np.int64)))
    return out
