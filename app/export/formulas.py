"""CSV injection: cells a spreadsheet would run as a formula get a leading ``'``.

Excel, LibreOffice Calc and Google Sheets run a cell that begins with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)`` leaks data,
``=cmd|...`` starts programs through DDE), and some first strip a leading
tab, carriage return or NUL. An account id, a handle, an AS organisation or
an analyst's comment can begin with any of them. OWASP's rule for CSV
injection, which we follow, prefixes such a cell with a single quote: the
spreadsheet then shows text (see
https://owasp.org/www-community/attacks/CSV_Injection).

Two choices of ours, documented in ``docs/data-contract.md``:

- A cell that is a plain decimal number (``-0.5``, ``+1e-05``, ``-42``) is
  left as it is. A spreadsheet reads it as that number, so it runs nothing,
  and numeric columns stay numeric for every other reader.
- The rule can be undone exactly (:func:`restore`): a value that already
  begins with ``'`` followed by a trigger or by another ``'`` gets one more
  ``'``, so "drop a leading ``'`` when the next character is a trigger or a
  ``'``" gives back every original value. ``defusedcsv`` was not used: it
  also rewrites ``|`` inside cells, which cannot be undone.
"""

from __future__ import annotations

import re

__all__ = ["PREFIX", "TRIGGERS", "neutralize", "restore"]

PREFIX = "'"
#: first characters that make a spreadsheet evaluate a cell (OWASP's list, plus NUL as ASVS 1.2.10 adds)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ESCAPED = (*TRIGGERS, PREFIX)


def neutralize(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text: ``'`` prepended when it could start a formula."""
    if not cell:
        return cell
    if cell[0] in TRIGGERS:
        return cell if _NUMBER.fullmatch(cell) else PREFIX + cell
    if cell[0] == PREFIX and len(cell) > 1 and cell[1] in _ESCAPED:
        return PREFIX + cell
    return cell


def restore(cell: str) -> str:
    """The value :func:`neutralize` was given (what a reader of our CSV files does to get it back)."""
    if cell[:1] == PREFIX and len(cell) > 1 and cell[1] in _ESCAPED:
        return cell[1:]
    return cell
