"""The operators' clock and working week in words, reconciled with the analysts' attribution.

Detection estimates an offset from when a cluster is active
(:func:`graph.detect.attribution.utc_offset`), a hint that can be an hour
or more off, or wrong for round-the-clock work. Once an analyst attributes
the cluster to a country, a hint that no clock of that country keeps would
contradict the attribution on the same page; the analyst's country's offset
is shown instead, with a note. Weekends are named against the origin's
working week ("no Fridays": Iran's weekend), never as a share of Monday to
Friday, which means nothing where the week starts on Saturday. The UI and
the briefings both print what these functions say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo

from app.present.countries import country_name
from app.present.quantities import utc_label
from graph.detect.attribution import WEEKDAYS, clock_confidence

__all__ = ["country_offsets", "operator_clock", "weekend_of", "working_week"]

_DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
                      strict=True))
# Official weekends other than Saturday-Sunday (a simplification: some have half days or regional rules).
_WEEKENDS = {
    "IR": ("Fri",), "AF": ("Fri",), "NP": ("Sat",),
    **dict.fromkeys(("IL", "SA", "BH", "KW", "OM", "QA", "EG", "IQ", "JO", "SY", "YE", "DZ", "LY", "SD", "MV", "BD"),
                    ("Fri", "Sat")),
}


def _zones() -> dict[str, list[str]]:
    """Country code to its time zones, from the IANA zone table the tzdata package ships."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _, zone, *_ = line.split("\t")
            zones.setdefault(code, []).append(zone)
    return zones


_ZONES = _zones()


def country_offsets(country: str | None, at: datetime | None = None) -> list[float]:
    """The UTC offsets (hours) a country's clocks kept at ``at`` (now when ``None``), smallest first.

    Examples
    --------
    >>> country_offsets("IR", datetime(2019, 12, 24, tzinfo=UTC)), country_offsets("ZZ")
    ([3.5], [])
    """
    moment = at or datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    offsets = {moment.astimezone(ZoneInfo(zone)).utcoffset().total_seconds() / 3600
               for zone in _ZONES.get((country or "").upper(), [])}
    return sorted(offsets)


def weekend_of(country: str | None) -> tuple[str, ...]:
    """A country's weekend days (``WEEKDAYS`` names); Saturday and Sunday where not known otherwise."""
    return _WEEKENDS.get((country or "").upper(), ("Sat", "Sun"))


def operator_clock(clock: dict | None, analyst_country: str | None = None, at: datetime | None = None) -> dict | None:
    """The clock to show: ``offset_hours``, ``text``, ``confidence``, ``source`` and ``note`` (or ``None``).

    ``source`` is ``"detection"`` for detection's estimate and ``"analyst"``
    when the estimate contradicts the analyst's country (no clock there keeps
    its offset): then the country's offset is shown and the note says why.

    Examples
    --------
    >>> hint = {"offset_hours": 4.5, "shape": "working day", "fit": 0.97, "margin": 0.28}
    >>> operator_clock(hint)["text"]
    'UTC+4:30, working day (strong: fit 0.97, margin 0.28)'
    >>> shown = operator_clock(hint, "IR", datetime(2019, 12, 24, tzinfo=UTC))
    >>> shown["text"].startswith("UTC+3:30 (Iran"), shown["source"]
    (True, 'analyst')
    """
    if not isinstance(clock, dict) or clock.get("offset_hours") is None:
        return None
    hours = float(clock["offset_hours"])
    confidence = clock.get("confidence") or clock_confidence(clock.get("fit"), clock.get("margin"))
    offsets = country_offsets(analyst_country, at) if analyst_country else []
    if offsets and hours not in offsets:
        nearest = min(offsets, key=lambda o: (abs(o - hours), o))
        name = country_name(analyst_country)
        return {"offset_hours": nearest, "confidence": confidence, "source": "analyst",
                "text": f"{utc_label(nearest)} ({name}, the analysts' attribution)",
                "note": f"detection's estimate from the activity clock keeps no clock of {name} and is not shown"}
    return {"offset_hours": hours, "confidence": confidence, "source": "detection", "note": None,
            "text": f"{utc_label(hours)}, {clock.get('shape') or 'activity'} "
                    f"({confidence}: fit {float(clock.get('fit') or 0):.2f}, margin {float(clock.get('margin') or 0):.2f})"}


def _days(days: tuple[str, ...] | list[str], plural: bool = False) -> str:
    names = [_DAY_NAMES[d] + ("s" if plural else "") for d in days]
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]


def working_week(rhythm: dict | None, country: str | None) -> str | None:
    """The weekly rhythm named against ``country``'s working week, e.g. ``"no Fridays (Iran's weekend)"``.

    Examples
    --------
    >>> week = {"by_day": {"Mon": .17, "Tue": .17, "Wed": .17, "Thu": .17, "Fri": 0.0, "Sat": .16, "Sun": .16},
    ...         "quiet_days": ["Fri"]}
    >>> working_week(week, "IR"), working_week(week, "US")
    ("no Fridays (Iran's weekend)", 'no Fridays, which is not the weekend in United States (Saturday and Sunday)')
    """
    if not isinstance(rhythm, dict) or not rhythm.get("by_day"):
        return None
    by_day, quiet = rhythm["by_day"], tuple(d for d in WEEKDAYS if d in (rhythm.get("quiet_days") or ()))
    weekend = weekend_of(country)
    name = country_name(country) if country else None
    silent = all(float(by_day.get(d, 0)) < 0.005 for d in quiet)
    said = f"{'no' if silent else 'little on'} {_days(quiet, plural=True)}" if quiet else None
    if quiet and quiet == weekend:
        return f"{said} ({name}'s weekend)" if name else f"{said} (a weekend)"
    if quiet:
        return f"{said}, which is not the weekend in {name} ({_days(weekend)})" if name else said
    on_weekend = sum(float(by_day.get(d, 0)) for d in weekend)
    where = f" in {name}" if name else ""
    return f"active every day, {100 * on_weekend:.0f}% on the weekend{where} ({_days(weekend)})"
