"""User agents: family, version, OS and device of each distinct user agent.

ua-parser's regexes (Rust backend) for browsers, and our own rule for app
user agents like ``Twitter-iPhone/8.5 iOS/13.3`` that the browser regexes
misread as Mobile Safari.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import pyarrow as pa

__all__ = ["parse_user_agents"]

# An app's own user agent: product token first, a platform named in it or
# right after it. "Twitter-iPhone/8.5 iOS/13.3", "TwitterAndroid/8.20.0-release.00 (...)".
_APP_UA = re.compile(r"(?P<app>[A-Za-z][A-Za-z0-9_.\-]*?)/(?P<version>\d+(?:\.\d+)*)")
_BROWSER_HEADS = ("mozilla/", "opera/", "dalvik/")
_IOS = re.compile(r"iPhone|iPad|iPod|\biOS\b|iPadOS", re.I)
_ANDROID = re.compile(r"Android", re.I)
_PAREN_MODEL = re.compile(r"\(([^;()]*);([^;()]+);")


def _app_rule(ua: str) -> tuple[str, str, str, str | None] | None:
    """(family, version, os, device) for an app user agent, ``None`` for anything else."""
    if ua.lower().startswith(_BROWSER_HEADS):
        return None
    head = _APP_UA.match(ua)
    if head is None:
        return None
    if _IOS.search(ua):
        os_family = "iOS"
        device = "iPad" if "ipad" in ua.lower() else "iPhone"
    elif _ANDROID.search(ua):
        os_family = "Android"
        model = _PAREN_MODEL.search(ua)
        device = model.group(2).strip() if model else None
    else:
        return None
    return head.group("app"), head.group("version"), os_family, device


@cache
def _ua_parser():
    from ua_parser import Parser, load_builtins
    from ua_parser.regex import Resolver

    return Parser(Resolver(load_builtins()))


_GENERIC_DEVICES = frozenset({"Other", "Generic Smartphone", "Generic Feature Phone", "Spider"})


def parse_user_agents(user_agents: Sequence[str | None]) -> pa.Table:
    """Family, version, OS and device of distinct user agents.

    Returns a table with ``user_agent`` (as given), ``user_agent_family``,
    ``app_version``, ``os_family`` and ``device_family``. App user agents
    get the app's own name and version (our rule); everything else goes
    through ua-parser's regexes (Rust backend, ~90k/s).
    """
    parser = _ua_parser()
    cols: dict[str, list] = {k: [] for k in ("user_agent", "user_agent_family", "app_version",
                                             "os_family", "device_family")}
    for ua in user_agents:
        cols["user_agent"].append(ua)
        if not ua:
            for k in ("user_agent_family", "app_version", "os_family", "device_family"):
                cols[k].append(None)
            continue
        app = _app_rule(ua)
        parsed = parser.parse(ua)
        if app is not None:
            family, version, os_family, device = app
            if device is None and parsed.device and parsed.device.family not in _GENERIC_DEVICES:
                device = parsed.device.family
        else:
            agent, os_, dev = parsed.user_agent, parsed.os, parsed.device
            family = agent.family if agent else "Other"
            parts = [p for p in (agent.major, agent.minor, agent.patch) if p] if agent else []
            version = ".".join(parts) or None
            os_family = os_.family if os_ else None
            device = dev.family if dev else None
        cols["user_agent_family"].append(family)
        cols["app_version"].append(version)
        cols["os_family"].append(os_family)
        cols["device_family"].append(device)
    return pa.table(cols, schema=pa.schema([(k, pa.string()) for k in cols]))
