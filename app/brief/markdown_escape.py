"""Escaping for the Markdown briefing: data and analysts' text print as text, never as markup.

Jinja2's autoescape knows only HTML, and the Markdown template had none, so
an AS organisation ``<img src=x onerror=...>``, a handle ``[x](javascript:...)``
or an analyst's comment became markup wherever the briefing was rendered.
The Markdown environment now finalizes every ``{{ value }}`` with
:func:`escape`, made to hold in CommonMark/GFM and in Python-Markdown alike:

- ``&``, ``<``, ``>``, ``|``, ``~`` and a leading ``=`` become character
  references: no raw HTML or autolink, no table cell, no strikethrough,
  no heading underline (Python-Markdown keeps a backslash before these, so
  a backslash would not do there);
- the other characters of inline syntax, ``\\ ` * _ [ ] { }``, get a
  backslash, which both honour: a value opens no emphasis, link, image,
  code span or Python-Markdown attribute list (``{: onclick=...}``);
- line breaks and other control characters become spaces, spaces at either
  end are dropped, and a leading
  ``#``, ``+``, ``-`` or list number (``1.``) is escaped, so a value never
  starts a heading, list, quote or table row of its own.

The template's own text is not touched, and a value the template marks as
:class:`Markdown` (:func:`code` returns one) is not escaped twice.
"""

from __future__ import annotations

import re

__all__ = ["Markdown", "escape", "code", "finalize"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_REFERENCES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "~": "&#126;"}
_INLINE = re.compile(r"[\\`*_\[\]{}]")
_LINE_START = re.compile(r"^([#+\-=]|\d+[.)](?=\s|$))")
_CODE_SAFE = re.compile(r"[^`|\x00-\x1f\x7f\u2028\u2029]+")


class Markdown(str):
    """Text that is Markdown already: :func:`finalize` leaves it as it is."""


def escape(value: object) -> Markdown:
    """``value`` as Markdown that renders as exactly its text, on one line."""
    text = _CONTROL.sub(" ", str(value)).strip()  # leading spaces could make an indented code block
    text = "".join(_REFERENCES.get(char, char) for char in text)
    text = _INLINE.sub(lambda m: "\\" + m.group(), text)
    return Markdown(_LINE_START.sub(lambda m: _escape_marker(m.group()), text))


def _escape_marker(marker: str) -> str:
    if marker == "=":
        return "&#61;"
    return marker[:-1] + "\\" + marker[-1] if marker[-1] in ".)" else "\\" + marker


def code(value: object) -> Markdown:
    """``value`` as a code span, or as escaped text when a code span could not hold it.

    Inside a code span backslashes are literal, so a backtick or a table's
    ``|`` in the value would end the span (or the cell) early: such values,
    and values with control characters, fall back to :func:`escape`.
    """
    text = str(value)
    if _CODE_SAFE.fullmatch(text) and text == text.strip():
        return Markdown(f"`{text}`")
    return escape(text)


def finalize(value: object) -> object:
    """Jinja2's ``finalize`` for the Markdown template: escape every value it prints."""
    return value if isinstance(value, Markdown) else escape(value)
