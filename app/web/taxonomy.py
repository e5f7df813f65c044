"""The built-in tag taxonomy analysts pick from (free tags are allowed beside it).

Three families, each a machine tag ``namespace:value`` so that exports and
other tools (MISP, OpenCTI) can read them:

* ``TLP:*`` - the Traffic Light Protocol 2.0 sharing markings (FIRST): who may
  see what the analyst writes about this cluster. At most one applies.
* ``DISARM:T....`` and ``FT3:FT...`` - techniques of the DISARM Red framework
  (influence operations) and Stripe's FT3 (fraud), every one the pinned
  data file of :mod:`app.present.techniques` holds, so ids are the
  frameworks' own and never typed here.
* ``abuse:*`` and ``infra:*`` - sybilscope's own words for what the requests
  show (enumeration, address-book scraping, hosting infrastructure).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.present.techniques import frameworks, techniques

__all__ = ["Tag", "TAXONOMY", "TLP_TAGS", "taxonomy_options", "tag_family", "is_tlp"]


@dataclass(frozen=True)
class Tag:
    """One taxonomy tag: the stored value, what the analyst reads, and its family."""

    value: str
    label: str
    family: str


TLP_TAGS = (
    Tag("TLP:CLEAR", "TLP:CLEAR - may be shared publicly", "TLP"),
    Tag("TLP:GREEN", "TLP:GREEN - community-wide", "TLP"),
    Tag("TLP:AMBER", "TLP:AMBER - recipients' organisations, need to know", "TLP"),
    Tag("TLP:AMBER+STRICT", "TLP:AMBER+STRICT - recipients' organisation only", "TLP"),
    Tag("TLP:RED", "TLP:RED - named recipients only", "TLP"),
)

_OWN = (
    ("abuse:phone-enumeration", "phone-number enumeration (sequential or random blocks)"),
    ("abuse:contact-upload-scraping", "address-book upload used to scrape matches"),
    ("abuse:account-farm", "accounts created in bulk by one operator"),
    ("abuse:lockstep-automation", "accounts acting in lockstep (automation)"),
    ("infra:hosting", "requests from hosting / data-centre networks"),
    ("infra:vpn-proxy", "requests through VPNs, proxies or Tor"),
    ("infra:residential-proxy", "requests through residential proxy networks"),
    ("infra:shared-devices", "many accounts on few devices"),
)

TAXONOMY: tuple[Tag, ...] = (
    TLP_TAGS
    + tuple(Tag(t.tag, f"{t.framework} {t.id} {t.name}", t.framework) for t in techniques().values())
    + tuple(Tag(value, f"{value} - {label}", value.split(":", 1)[0]) for value, label in _OWN)
)

_BY_VALUE = {tag.value: tag for tag in TAXONOMY}


def taxonomy_options() -> list[dict]:
    """Dropdown options (``label``/``value``) for every taxonomy tag, TLP first."""
    return [{"label": tag.label, "value": tag.value} for tag in TAXONOMY]


def tag_family(value: str) -> str:
    """The family a tag belongs to: ``TLP``, ``DISARM``, ``FT3``, ``abuse``, ``infra`` or ``free``."""
    known = _BY_VALUE.get(value)
    if known:
        return known.family
    # a technique tag of an older taxonomy (DISARM:T0090 left the framework in v1.6) keeps its family
    prefix = value.partition(":")[0].upper()
    return prefix if prefix in frameworks() else "free"


def is_tlp(value: str) -> bool:
    """Whether a tag is a TLP marking (only one of those should apply at a time)."""
    return tag_family(value) == "TLP"
