"""Numbers as people read them: never scientific notation, small chances in words, scores explained.

A briefing or a page that prints ``3.2e-07`` asks its reader to do
arithmetic; one that says "less than 1 in a million" does not. Every
number the UI and the briefings print that can be very small or very large
goes through :func:`plain_number` or :func:`chance`.
"""

from __future__ import annotations

import math

from graph.detect.scoring import BIAS

__all__ = ["plain_number", "chance", "utc_label", "SCORE_UNITS"]

#: what a score contribution is measured in, said wherever contributions are shown
SCORE_UNITS = (
    f"Contributions are log-odds points: each adds to (or takes from) a prior of {BIAS:g}, and the score is "
    f"1 / (1 + e^-(total)). A total of 0 is a score of 0.5, even odds; {-BIAS:g} points of evidence are needed "
    f"to get there, and each further point multiplies the odds by about 2.7."
)


def plain_number(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, written out in full (no exponent).

    Examples
    --------
    >>> plain_number(0.000012345), plain_number(12345678.9), plain_number(-34.659658), plain_number(0.0)
    ('0.0000123', '12,345,679', '-34.7', '0')
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def chance(p: float) -> str:
    """A probability in words: ``"about 1 in 2,300"``, ``"less than 1 in a million"``.

    Examples
    --------
    >>> chance(3e-9), chance(0.00043), chance(0.25), chance(0.0)
    ('less than 1 in a million', 'about 1 in 2,300', '25%', 'less than 1 in a million')
    """
    if p < 1e-6:
        return "less than 1 in a million"
    if p < 0.01:
        one_in = 1 / p
        rounded = round(one_in, -int(math.floor(math.log10(one_in))) + 1)
        return f"about 1 in {rounded:,.0f}"
    return f"{100 * p:.0f}%"


def utc_label(hours: float) -> str:
    """A UTC offset as clocks write it.

    Examples
    --------
    >>> utc_label(3.5), utc_label(-2.5), utc_label(0), utc_label(5.75)
    ('UTC+3:30', 'UTC-2:30', 'UTC+0', 'UTC+5:45')
    """
    sign = "-" if hours < 0 else "+"
    whole, minutes = divmod(round(abs(hours) * 60), 60)
    return f"UTC{sign}{whole}" + (f":{minutes:02d}" if minutes else "")
