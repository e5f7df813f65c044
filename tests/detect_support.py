"""Detection test support: a simulated case turned into event frames without ingest.

Detection's algorithms are pure functions over event frames; these helpers
build such frames straight from a simulator case folder, pseudonymizing phone
numbers the way ingest does (a keyed hash of the number and of its block,
plus the block ordinal), so detection never sees a raw number here either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from graph.detect.frames import events_frame

_KEY = b"detect-tests"
_UA = re.compile(r"^(Twitter-iPhone|TwitterAndroid|Mozilla)/([0-9.]+)")


def _hash(values: pd.Series) -> pd.Series:
    uniq = values.dropna().unique()
    table = {v: hashlib.blake2b(v.encode(), key=_KEY, digest_size=16).hexdigest() for v in uniq}
    return values.map(table)


def _read(case: Path, stem: str) -> pd.DataFrame | None:
    for path in sorted(case.glob(f"{stem}*")):
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True, dtype=False)
    return None


def _ip_table(ips: np.ndarray, intel: pd.DataFrame | None) -> pd.DataFrame:
    nets = []
    if intel is not None:
        for row in intel.itertuples():
            nets.append((ipaddress.ip_network(row.network), row.country, int(row.asn), row.kind))
    rows = []
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        prefix = str(ipaddress.ip_network(f"{ip}/{24 if addr.version == 4 else 48}", strict=False))
        found = next((n for n in nets if addr in n[0]), None)
        rows.append((ip, prefix, *(found[1:] if found else (None, None, "unknown"))))
    return pd.DataFrame(rows, columns=["ip", "ip_prefix", "ip_country", "ip_asn", "ip_kind"])


def case_frames(case: str | Path) -> dict[str, pd.DataFrame]:
    """``events`` (warehouse columns), ``accounts`` and ``labels`` frames of a simulated case."""
    case = Path(case)
    requests = _read(case, "requests")
    requests = requests[requests["ts"].notna() & requests["ip"].notna() & requests["endpoint"].notna()].copy()
    ts = pd.to_datetime(requests["ts"], utc=True, format="ISO8601", errors="coerce")
    requests = requests[ts.notna()]
    requests["ts"] = ts[ts.notna()]
    ips = _ip_table(requests["ip"].unique(), _read(case, "ip_intel"))
    requests = requests.merge(ips, on="ip", how="left")
    phone = requests["phone"].where(requests["phone"].notna() & (requests["phone"] != ""))
    phone = phone.map(lambda p: p if p is None or (isinstance(p, str) and p.startswith("+")) else (None if p is None or p != p else "+" + p))
    requests["phone_hash"] = _hash(phone)
    requests["block_hash"] = _hash(phone.str[:-3])
    requests["block_ordinal"] = pd.to_numeric(phone.str[-3:], errors="coerce")
    requests["phone_calling_code"] = None
    ua = requests["user_agent"].fillna("").str.extract(_UA)
    requests["user_agent_family"] = ua[0].where(ua[0].notna(), None)
    requests["app_version"] = ua[1].where(ua[1].notna(), None)
    requests["status"] = pd.to_numeric(requests["status"], errors="coerce")
    requests["event_id"] = [f"e{i}" for i in range(len(requests))]
    regions = {"1": "US", "98": "IR", "972": "IL", "60": "MY", "91": "IN", "44": "GB", "49": "DE",
               "55": "BR", "62": "ID", "90": "TR", "33": "FR"}

    def region(p):
        if not isinstance(p, str):
            return None
        for code in ("972", "98", "60", "91", "44", "49", "55", "62", "90", "33", "1"):
            if p[1:].startswith(code):
                return regions[code]
        return None

    requests["phone_region"] = phone.map(region)
    requests = requests.drop(columns=["phone", "user_agent"])
    out = {"events": events_frame(requests)}
    accounts = _read(case, "accounts")
    if accounts is not None:
        accounts["created_at"] = pd.to_datetime(accounts["created_at"], utc=True, format="ISO8601")
        accounts["followers"] = pd.to_numeric(accounts["followers"], errors="coerce")
    out["accounts"] = accounts
    out["labels"] = _read(case, "labels")
    return out


def load_truth(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
