"""Countries for the world map: ISO alpha-2 to alpha-3, and the map's shapes served offline.

Plotly draws country shapes from a TopoJSON file it fetches from a CDN by
default; analysts' machines are often offline or air-gapped, so the app
serves its own copy (``assets/topojson/world_110m.json``) and points
plotly's ``topojsonURL`` at it. That file was built once by
:func:`plotly_world_topology` from ``world-atlas`` 2.0.2's
``countries-110m.json`` (Natural Earth 1:110m, public domain; world-atlas is
ISC licensed): plotly wants feature ids in ISO alpha-3, world-atlas has ISO
numeric codes.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import iso3166

__all__ = ["TOPOJSON_URL", "alpha3", "map_countries", "plotly_world_topology"]

#: where the app serves the map shapes (Dash serves ``app/web/assets`` under ``/assets/``)
TOPOJSON_URL = "/assets/topojson/"

_TOPOLOGY = Path(__file__).parent / "assets" / "topojson" / "world_110m.json"

# Natural Earth's shapes without an ISO numeric code (world-atlas gives them no id).
_UNCODED = {"Kosovo": "XKX"}


def alpha3(code: str | None) -> str | None:
    """The ISO 3166-1 alpha-3 code of an alpha-2 code (``"IR"`` -> ``"IRN"``), ``None`` if unknown."""
    if not code:
        return None
    try:
        return iso3166.countries_by_alpha2[code.upper()].alpha3
    except KeyError:
        return None


@cache
def map_countries() -> tuple[str, ...]:
    """The alpha-3 codes the bundled map can draw (for a base layer of every country)."""
    topology = json.loads(_TOPOLOGY.read_text(encoding="utf-8"))
    return tuple(g["id"] for g in topology["objects"]["countries"]["geometries"] if g.get("id"))


def plotly_world_topology(world_atlas: dict) -> dict:
    """Turn world-atlas's ``countries-110m`` topology into the one plotly's geo plots read.

    Parameters
    ----------
    world_atlas : dict
        The parsed ``countries-110m.json`` of the ``world-atlas`` package:
        objects ``countries`` (ids are ISO numeric strings) and ``land``.

    Returns
    -------
    dict
        The same topology with country ids rewritten to ISO alpha-3 (the key
        plotly's ``locationmode="ISO-3"`` matches on) and the ``name``
        property kept; shapes without a code keep no id and draw as land.
    """
    topology = copy.deepcopy(world_atlas)
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = (geometry.get("properties") or {}).get("name", "")
        numeric = geometry.pop("id", None)
        country = iso3166.countries_by_numeric.get(str(numeric).zfill(3)) if numeric else None
        code = country.alpha3 if country else _UNCODED.get(name)
        if code:
            geometry["id"] = code
    return topology
