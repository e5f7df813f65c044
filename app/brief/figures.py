"""The briefing's charts: matplotlib on the Agg backend, PNG embedded as data URIs.

Embedding keeps a briefing one self-contained file (HTML, Markdown or PDF)
that can be mailed or archived without its images going missing. Every
function takes plain data from :class:`app.brief.build.Briefing` and returns
a ``data:image/png;base64,...`` string, so templates need nothing but an
``<img src>``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402  (the backend must be chosen first)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from app.present.quantities import utc_label  # noqa: E402

__all__ = ["timeline_chart", "infrastructure_chart", "hour_profile_chart", "exposure_chart", "all_figures"]

INK = "#1d2b3a"
PRIMARY = "#1f4e79"
ACCENT = "#c0392b"
MUTED = "#8da2b5"
GRID = "#e3e8ee"
_KIND_COLOURS = {
    "hosting": "#c0392b", "vpn": "#e67e22", "proxy": "#d4a017", "tor": "#8e44ad",
    "residential": "#1f4e79", "mobile": "#2e86c1", "unknown": "#aab7c4",
}
_DPI = 200


def _style(ax: plt.Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9aa7b4")
    ax.tick_params(colors=INK, labelsize=8)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 9,
                         "axes.titleweight": "bold", "axes.titlecolor": INK, "axes.labelcolor": INK})
    return plt.figure(figsize=(width, height))


def timeline_chart(timeline: Sequence[dict], unit: str) -> str:
    """Lookups per day (or hour) as bars; numbers matched as a line on its own axis (right).

    Matches are usually a small fraction of lookups: on one axis the line
    would lie flat on the floor, so it gets the right-hand scale.
    """
    fig = _figure(7.0, 2.5)
    ax = fig.add_subplot()
    _style(ax)
    if timeline:
        times = [row["t"] for row in timeline]
        width = timedelta(hours=0.8) if unit == "hour" else timedelta(hours=19)
        what = "lookups" if any(row["lookups"] for row in timeline) else "requests"
        bars = ax.bar(times, [row["lookups"] or row["requests"] for row in timeline], width=width, color=PRIMARY,
                      label=f"{what} (left scale)", align="center")
        right = ax.twinx()
        for side in ("top", "left", "bottom"):
            right.spines[side].set_visible(False)
        right.spines["right"].set_color(ACCENT)
        right.tick_params(colors=ACCENT, labelsize=8)
        (line,) = right.plot(times, [row["matched"] for row in timeline], color=ACCENT, marker="o", markersize=3,
                             linewidth=1.5, label="numbers matched to an account (right scale)")
        right.set_ylim(0, max(1, max(row["matched"] for row in timeline)) * 1.15)
        right.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))
        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.legend(handles=[bars, line], frameon=False, fontsize=7.5, loc="lower left",
                  bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.3)
    else:
        ax.text(0.5, 0.5, "no request events in the warehouse", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(f"per {unit} (UTC)")
    return _uri(fig)


def _barh(ax: plt.Axes, labels: list[str], values: list[float], colours: list[str] | str, title: str,
          rows: int | None = None) -> None:
    """Horizontal bars with each label above its bar, so long names never collide with a neighbour panel."""
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#9aa7b4")
    ax.tick_params(colors=INK, labelsize=7)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    positions = [-i for i in range(len(labels))]
    ax.barh(positions, values, color=colours, height=0.42)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=3))
    ax.set_xlim(0, max([*values, 0.01]) * 1.22)
    # Room for ``rows`` bars whatever the count, so panels side by side share one bar thickness.
    ax.set_ylim(-max(rows or len(labels), 1) + 0.5, 0.75)
    for pos, label, value in zip(positions, labels, values, strict=True):
        ax.text(0, pos + 0.3, label, va="bottom", ha="left", fontsize=7, color=INK, clip_on=False)
        ax.text(value, pos, f" {value:.0%}", va="center", fontsize=7, color=INK)
    if title:
        ax.set_title(title, loc="left", pad=8)


def infrastructure_chart(countries: Sequence[dict], asns: Sequence[dict], kinds: Sequence[dict]) -> str:
    """Share of requests by IP country, by network (ASN) and by kind of network."""
    shown = max(1, min(6, max(len(countries), len(asns), len(kinds))))
    fig = _figure(7.0, 0.8 + 0.42 * shown)
    axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.25})
    top_countries = list(countries)[:6]
    _barh(axes[0], [c["name"] if c["country"] else "unknown" for c in top_countries],
          [c["share"] for c in top_countries], PRIMARY, "IP country", shown)
    top_asns = list(asns)[:6]
    _barh(axes[1], [_asn_label(a) for a in top_asns], [a["share"] for a in top_asns], PRIMARY, "Network (ASN)", shown)
    _barh(axes[2], [k["kind"] for k in kinds][:6], [k["share"] for k in kinds][:6],
          [_KIND_COLOURS.get(k["kind"], MUTED) for k in kinds][:6], "Kind of network", shown)
    return _uri(fig)


def _asn_label(row: dict) -> str:
    if row.get("asn") is None:
        return "unknown"
    org = (row.get("org") or "").split(",")[0]
    org = org if len(org) <= 26 else org[:25] + "…"
    return f"AS{row['asn']} {org}".strip()


def hour_profile_chart(hours: Sequence[int], utc_offset: float | None = None) -> str:
    """Requests by hour of day (UTC); with an attribution offset, the local hour runs along the top."""
    fig = _figure(7.0, 2.2)
    ax = fig.add_subplot()
    _style(ax)
    total = sum(hours) or 1
    busiest = set(sorted(range(24), key=lambda h: -hours[h])[:8])
    ax.bar(range(24), [h / total for h in hours], color=[PRIMARY if i in busiest else MUTED for i in range(24)],
           width=0.8)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlim(-0.6, 23.6)
    ax.set_xlabel("hour of day, UTC")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    if utc_offset is not None:
        top = ax.secondary_xaxis("top")
        top.set_xticks(range(0, 24, 2), [_local(h, utc_offset) for h in range(0, 24, 2)])
        top.tick_params(labelsize=7, colors=ACCENT)
        top.set_xlabel(f"local time at {utc_label(utc_offset)}", color=ACCENT, fontsize=7.5)
    return _uri(fig)


def _local(hour: int, offset: float) -> str:
    minutes = round((hour + offset) * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes % 60 else f"{minutes // 60:02d}"


def exposure_chart(exposure: Sequence[dict]) -> str:
    """Phone numbers matched to an account, by the number's country: whom to notify."""
    fig = _figure(7.0, 0.4 + 0.36 * max(1, min(8, len(exposure))))
    ax = fig.add_subplot()
    rows = list(exposure)[:8]
    _barh(ax, [r["name"] for r in rows], [r["share"] for r in rows], ACCENT, "")
    return _uri(fig)


def all_figures(briefing: object) -> dict[str, str]:
    """Every chart of a :class:`~app.brief.build.Briefing`, by template name."""
    b = briefing
    return {
        "timeline": timeline_chart(b.timeline, b.timeline_unit),  # type: ignore[attr-defined]
        "infrastructure": infrastructure_chart(b.countries, b.asns, b.ip_kinds),  # type: ignore[attr-defined]
        "hours": hour_profile_chart(b.hours, b.utc_offset),  # type: ignore[attr-defined]
        "exposure": exposure_chart(b.exposure),  # type: ignore[attr-defined]
    }

