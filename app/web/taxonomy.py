"""The built-in tag taxonomy analysts pick from (free tags are allowed beside it).

Three families, each a machine tag ``namespace:value`` so that exports and
other tools (MISP, OpenCTI) can read them:

* ``TLP:*`` - the Traffic Light Protocol 2.0 sharing markings (FIRST): who may
  see what the analyst writes about this cluster. At most one applies.
* ``DISARM:T....`` - influence-operation techniques from the DISARM Red
  framework (DISARM Foundation), the ones a fake-account network abusing a
  lookup API is evidence of.
* ``abuse:*`` and ``infra:*`` - sybilscope's own words for what the requests
  show (enumeration, address-book scraping, hosting infrastructure).
"""

from __future__ import annotations

from dataclasses import dataclass

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

_DISARM = (
    ("T0080", "Map Target Audience Information Environment"),
    ("T0081", "Identify Social and Technical Vulnerabilities"),
    ("T0089", "Obtain Private Documents"),
    ("T0090", "Create Inauthentic Accounts"),
    ("T0091", "Recruit bad actors"),
    ("T0092", "Build Network"),
    ("T0093", "Acquire/recruit Network"),
    ("T0094", "Infiltrate Existing Networks"),
    ("T0096", "Leverage Content Farm"),
    ("T0097", "Create personas"),
    ("T0104", "Social Networks"),
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
    + tuple(Tag(f"DISARM:{tid}", f"DISARM {tid} {name}", "DISARM") for tid, name in _DISARM)
    + tuple(Tag(value, f"{value} - {label}", value.split(":", 1)[0]) for value, label in _OWN)
)

_BY_VALUE = {tag.value: tag for tag in TAXONOMY}


def taxonomy_options() -> list[dict]:
    """Dropdown options (``label``/``value``) for every taxonomy tag, TLP first."""
    return [{"label": tag.label, "value": tag.value} for tag in TAXONOMY]


def tag_family(value: str) -> str:
    """The family a tag belongs to: ``TLP``, ``DISARM``, ``abuse``, ``infra`` or ``free``."""
    known = _BY_VALUE.get(value)
    return known.family if known else "free"


def is_tlp(value: str) -> bool:
    """Whether a tag is a TLP marking (only one of those should apply at a time)."""
    return tag_family(value) == "TLP"
