"""Detection's evidence, attribution hints and exposure, shaped for people to read.

Detection stores these as JSON on each cluster (see :mod:`graph.detect`):
sections of ``{"total": n, "top": [rows]}`` plus score contributions and
statistics. The functions here turn them into short tables and sentences
(hashes shortened, epoch milliseconds as times, shares as percents) and keep
each row's ``event_ids`` so the cluster page can show the requests behind
it; briefings print the same tables. Keys they do not know are shown too,
plainly: detection may add evidence before the UI learns its name.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from app.present.clock import operator_clock, working_week
from app.present.quantities import plain_number
from graph.detect.attribution import WEEKDAYS

__all__ = ["SECTION_TITLES", "evidence_sections", "format_cell", "attribution_summary", "exposure_summary",
           "exposed_accounts"]

#: evidence sections in reading order, with the words analysts use
SECTION_TITLES = {
    "ips": "Shared IP addresses",
    "prefixes": "Shared networks (/24, /48)",
    "devices": "Shared devices",
    "accounts": "Member accounts",
    "sub_groups": "Sub-groups (squads of one operation)",
    "blocks": "Enumerated number blocks",
    "sharding": "Blocks split between members",
    "synchronized_windows": "Synchronized windows",
    "targets": "Shared lookup targets",
}
_MAX_ROWS = 10
_MS_KEYS = {"start", "end", "first_seen", "last_seen", "at", "ts"}
# prose detection writes for people: shown whole, never shortened like an id
_PROSE_KEYS = {"ties"}


def _short(text: str) -> str:
    """Hashes and long ids shortened to something a person can compare by eye."""
    return text if len(text) <= 24 else f"{text[:10]}…"


def format_cell(key: str, value: Any) -> str:
    """One evidence value as table text: times, shares, lists and hashes made readable."""
    if value is None:
        return ""
    if key in _MS_KEYS and isinstance(value, int | float) and value > 1e11:
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key in ("share", "coverage", "complementarity", "fill") or key.endswith("_share"):
            return f"{100 * value:.0f}%"
        return plain_number(value)
    if isinstance(value, int):
        return f"AS{value}" if key == "asn" else f"{value:,}"
    if isinstance(value, list):
        shown = ", ".join(_short(str(v)) for v in value[:3])
        return shown + (f" +{len(value) - 3}" if len(value) > 3 else "")
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_cell(k, v)}" for k, v in list(value.items())[:4])
    if key in _PROSE_KEYS:
        return str(value)
    return _short(str(value))


def evidence_sections(evidence: dict | None, *, skip: Collection[str] = ()) -> list[dict]:
    """Evidence sections as ``{"key", "title", "total", "columns", "rows", "event_ids"}``.

    ``rows`` are lists of cell texts; ``event_ids[i]`` are the request ids
    behind row ``i`` (empty when detection kept none). Sections without
    rows are left out, and those named in ``skip`` (a page that shows them
    on their own); plain values are collected in one "Other facts" section.
    """
    if not isinstance(evidence, dict):
        return []
    sections, facts = [], []
    known = [k for k in SECTION_TITLES if k in evidence and k not in skip]
    other = [k for k in evidence if k not in SECTION_TITLES and k not in ("contributions", "statistics", *skip)]
    for key in known + other:
        value = evidence[key]
        if isinstance(value, dict) and isinstance(value.get("top"), list):
            top, total = value["top"], value.get("total", len(value["top"]))
        elif isinstance(value, list):
            top, total = value, len(value)
        else:
            facts.append([key.replace("_", " "), format_cell(key, value)])
            continue
        if not top:
            continue
        if all(isinstance(row, dict) for row in top):
            columns = [c for c in dict.fromkeys(k for row in top for k in row) if c != "event_ids"]
            rows = [[format_cell(c, row.get(c)) for c in columns] for row in top[:_MAX_ROWS]]
            event_ids = [list(row.get("event_ids") or []) for row in top[:_MAX_ROWS]]
        else:
            columns = ["id"]
            rows = [[format_cell("id", item)] for item in top[:_MAX_ROWS]]
            event_ids = [[] for _ in rows]
        sections.append({"key": key, "title": SECTION_TITLES.get(key, key.replace("_", " ").capitalize()),
                         "total": total, "columns": [c.replace("_", " ") for c in columns], "rows": rows,
                         "event_ids": event_ids})
    if facts:
        sections.append({"key": "facts", "title": "Other facts", "total": len(facts), "columns": ["fact", "value"],
                         "rows": facts, "event_ids": [[] for _ in facts]})
    return sections


def _shares(rows: list, key: str, prefix: str = "") -> str:
    return " · ".join(f"{prefix}{row.get(key)} {100 * (row.get('share') or 0):.0f}%" for row in rows[:5])


def attribution_summary(attribution: dict | None, analyst_country: str | None = None,
                        at: datetime | None = None) -> list[tuple[str, str]]:
    """Attribution hints as ``(what, sentence)`` pairs, strongest signals first.

    The operators' clock is reconciled with ``analyst_country`` (the analysts'
    attribution, if any) as of ``at`` (the cluster's activity), and the
    weekly rhythm named against that country's working week, else against
    the busiest IP country's (:mod:`app.present.clock`).
    """
    if not isinstance(attribution, dict):
        return []
    out: list[tuple[str, str]] = []
    if attribution.get("countries"):
        out.append(("IP countries", _shares(attribution["countries"], "country")))
    if attribution.get("asns"):
        out.append(("Networks", _shares(attribution["asns"], "asn", "AS")))
    if attribution.get("ip_kinds"):
        out.append(("Network kinds", _shares(attribution["ip_kinds"], "kind")))
    if attribution.get("hosting_share") is not None:
        out.append(("Hosting / VPN share", f"{100 * attribution['hosting_share']:.0f}%"))
    clock = operator_clock(attribution.get("utc_offset"), analyst_country, at)
    if clock:
        out.append(("Operator clock", clock["text"] + (f"; {clock['note']}" if clock["note"] else "")))
    origin = analyst_country or next((c.get("country") for c in attribution.get("countries") or []
                                      if isinstance(c, dict) and c.get("country")), None)
    week = working_week(attribution.get("weekly_rhythm"), origin)
    if week:
        by_day = attribution["weekly_rhythm"]["by_day"]
        out.append(("Working week", f"{week} · " + " · ".join(
            f"{day} {100 * by_day[day]:.0f}%" for day in WEEKDAYS if day in by_day)))
    if attribution.get("labels"):
        out.append(("Prior labels", "; ".join(
            str(item.get("text") or item.get("label") or item) if isinstance(item, dict) else str(item)
            for item in attribution["labels"][:5])))
    shown = {"countries", "asns", "ip_kinds", "hosting_share", "utc_offset", "weekly_rhythm", "labels"}
    out += [(k.replace("_", " ").capitalize(), format_cell(k, v)) for k, v in attribution.items()
            if k not in shown and v not in (None, [], {})]
    return out


def exposed_accounts(exposure: dict | None) -> int:
    """The one exposure count: distinct accounts outside the cluster that its lookups matched.

    Detection counts it (:func:`graph.detect.exposure.cluster_exposure`);
    every page and document prints this number, never a sum of per-country
    counts (an account found through numbers of two regions counts once).
    """
    if not isinstance(exposure, dict):
        return 0
    if isinstance(exposure.get("exposed_accounts"), int | float):
        return int(exposure["exposed_accounts"])
    by_country, _ = exposure_summary(exposure)
    return sum(by_country.values())


def exposure_summary(exposure: dict | None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Exposed accounts by country, and the other exposure facts as ``(what, value)`` pairs."""
    if not isinstance(exposure, dict):
        return {}, []
    by_country = exposure.get("by_country")
    if not isinstance(by_country, dict):  # a bare country -> count mapping
        by_country = {k: v for k, v in exposure.items() if isinstance(v, int | float) and len(k) == 2}
    facts = [(k.replace("_", " ").capitalize(), format_cell(k, v)) for k, v in exposure.items()
             if k != "by_country" and k not in by_country]
    return {k: int(v) for k, v in by_country.items()}, facts
