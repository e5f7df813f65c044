"""The briefing's small words: counts with the right plural, statuses as words, and its glossary.

A reader who meets "1 accounts", "in_review" or "6 number block(s)" stops
trusting the numbers around them. Templates print counts through
:func:`counted`, statuses through :func:`status_words`, and detection's
reasons through :func:`settle_plurals`; :data:`GLOSSARY` explains the
terms of the trade the briefing cannot avoid.
"""

from __future__ import annotations

import re

__all__ = ["GLOSSARY", "counted", "list_names", "settle_plurals", "status_words"]

#: terms a briefing uses that a policy reader may not know, in the order they first appear
GLOSSARY = {
    "Lookup": "one phone number submitted to the platform's contact-lookup API, which answers with the account "
              "registered to it, if any.",
    "Match (hit)": "a lookup that returned an account: the caller learned who owns that number.",
    "Hit ratio": "the share of looked-up numbers that matched an account. Address books of real people match "
                 "often; an enumeration script that walks through number ranges mostly misses.",
    "Block": "1,000 consecutive phone numbers (a number without its last three digits). Enumerators work through "
             "whole blocks; people's contacts are scattered across many.",
    "Coverage": "the share of a block's 1,000 numbers that were looked up.",
    "Sharding": "dividing the work between accounts, each taking its own share of the numbers or blocks, so that "
                "no account crosses a per-account rate limit.",
    "Residential proxy": "a service that relays traffic through home internet connections, so requests look like "
                         "ordinary users' in ordinary places.",
    "Autonomous system (ASN)": "a network operated by one organisation (an internet provider, a hosting company), "
                               "known by its number.",
    "Operator clock": "the time zone in which the network's working hours look like a working day.",
    "Confidence": "how sure the analysts are of a judgement, given the quality and corroboration of the evidence "
                  "(high, moderate, low); it says nothing of how likely an event is.",
    "TLP": "the Traffic Light Protocol (FIRST TLP 2.0), the marking that says with whom this briefing may be shared.",
}

_STATUS_WORDS = {"new": "new", "in_review": "in review", "confirmed": "confirmed", "dismissed": "dismissed"}
_PLURAL_MARK = re.compile(r"([A-Za-z\-]+)\((e?s)\)")
_COUNT = re.compile(r"\b(\d[\d,.]*|one|an?)\b", re.IGNORECASE)
_IRREGULAR = {"person": "people"}


def _plural(noun: str) -> str:
    """English plural of a noun phrase's last word ("IP address" is "IP addresses")."""
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR:
        last = _IRREGULAR[last]
    elif last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def counted(n: int | float | None, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is one: ``counted(1, "account")`` is ``"1 account"``.

    Examples
    --------
    >>> counted(1, "account"), counted(1500, "account"), counted(0, "country"), counted(2, "IP address")
    ('1 account', '1,500 accounts', '0 countries', '2 IP addresses')
    """
    value = 0 if n is None else n
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {noun if value == 1 else plural or _plural(noun)}"


def status_words(status: str | None) -> str:
    """A triage status as prose says it (``in_review`` is "in review").

    >>> status_words("in_review"), status_words("confirmed")
    ('in review', 'confirmed')
    """
    return _STATUS_WORDS.get(status or "", (status or "").replace("_", " "))


def settle_plurals(text: str) -> str:
    """Resolve detection's ``block(s)`` and ``address(es)`` by the count before them.

    >>> settle_plurals("in 6 number block(s) and 1 device(s); 1 address(es) or device(s)")
    'in 6 number blocks and 1 device; 1 address or device'
    """
    def one(match: re.Match) -> str:
        counts = _COUNT.findall(text, 0, match.start())
        single = bool(counts) and counts[-1].lower() in ("1", "one", "a", "an")
        return match.group(1) if single else match.group(1) + match.group(2)

    return _PLURAL_MARK.sub(one, text)

def list_names(names: list[str]) -> str:
    """Names joined as prose: ``"a"``, ``"a and b"``, ``"a, b and c"``."""
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
