"""A small, hand-made investigation for the web UI tests: events, graph and one detection run.

Built with the real store API and real DuckDB rows (no mocks), small enough
that every expected number can be derived from the few lines below:

* cluster ``C-iran``: 8 accounts on 2 shared hosting IPs in IR and one
  shared device, looking numbers up in lockstep every 10 minutes: one
  operation in two squads, one a hosting IP (:data:`SQUADS`);
* cluster ``C-israel``: 4 accounts on one residential IL IP each plus a
  shared one;
* cluster ``C-lone``: one account enumerating numbers from MY;
* 6 benign US accounts with a few lookups each, in no cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from graph import warehouse
from graph.schema import ACCOUNT, DEVICE, IP, USED_DEVICE, USED_IP
from graph.store.base import GraphStore
from graph.warehouse import EVENT_COLUMNS, EVENTS_TABLE
from graph.workspace import Workspace

T0 = datetime(2019, 12, 20, 6, 0, tzinfo=UTC)
RUN_ID = "run-20191226T000000Z-test"
#: C-iran's squads: the accounts on each of its two hosting IPs (see case_events)
SQUADS = {"S1": "5.160.10.1", "S2": "5.160.10.2"}


@dataclass
class Case:
    workspace: Workspace
    events: pd.DataFrame
    clusters: dict[str, list[str]]


def _event(ts, ip, country, asn, kind, account, device, endpoint="contacts/lookup", matched=None, ordinal=None):
    return {
        "ts": ts, "ip": ip, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24", "ip_country": country, "ip_asn": asn,
        "ip_kind": kind, "endpoint": endpoint, "account_id": account, "device_id": device,
        "user_agent_family": "Twitter-iPhone", "app_version": "8.5", "os_family": "iOS", "status": 200,
        "phone_hash": hashlib.sha256(f"{account}{ts}".encode()).hexdigest() if endpoint == "contacts/lookup" else None,
        "block_hash": "b" * 8 if endpoint == "contacts/lookup" else None,
        "block_ordinal": ordinal, "phone_calling_code": 98, "phone_region": country, "phone_type": "mobile",
        "matched_account_id": matched, "request_id": None, "batch_id": "test",
    }


def case_events() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rows = []
    iran = [f"ir_{i}" for i in range(8)]
    for step in range(12):  # lockstep: every member at the same minutes
        for i, acct in enumerate(iran):
            ip = "5.160.10.1" if i % 2 == 0 else "5.160.10.2"
            rows.append(_event(T0 + timedelta(minutes=10 * step, seconds=i), ip, "IR", 58224, "hosting", acct,
                               "d_shared_ir", matched="victim_1" if step == 0 else None, ordinal=step))
    israel = [f"il_{i}" for i in range(4)]
    for step in range(5):
        for i, acct in enumerate(israel):
            rows.append(_event(T0 + timedelta(hours=5, minutes=7 * step + i), f"79.176.0.{10 + i}", "IL", 8551,
                               "residential", acct, f"d_il_{i}"))
            rows.append(_event(T0 + timedelta(hours=5, minutes=7 * step + i, seconds=30), "79.176.0.99", "IL", 8551,
                               "residential", acct, f"d_il_{i}", endpoint="users/show"))
    for n in range(30):
        rows.append(_event(T0 + timedelta(days=1, seconds=20 * n), "175.136.0.5", "MY", 4788, "residential",
                           "lone_1", "d_lone", ordinal=n))
    benign = [f"us_{i}" for i in range(6)]
    for i, acct in enumerate(benign):
        for n in range(3):
            rows.append(_event(T0 + timedelta(days=2, hours=i, minutes=n), f"24.0.0.{i + 1}", "US", 7922,
                               "residential", acct, f"d_us_{i}", endpoint="users/show" if n else "contacts/lookup"))
    events = pd.DataFrame(rows)
    events["event_id"] = [hashlib.sha256(str(r).encode()).hexdigest()[:16] for r in rows]
    for column in EVENT_COLUMNS:  # columns ingest adds later stay empty here
        if column not in events:
            events[column] = None
    return events[list(EVENT_COLUMNS)], {"C-iran": iran, "C-israel": israel, "C-lone": ["lone_1"]}


def write_events(workspace: Workspace, events: pd.DataFrame) -> None:
    con = warehouse.connect(workspace.db_path)
    columns = ", ".join(f"{name} {sql}" for name, sql in EVENT_COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} ({columns})")
    con.register("_case_events", events)
    con.execute(f"INSERT INTO {EVENTS_TABLE} SELECT * FROM _case_events")
    con.unregister("_case_events")


def write_graph(store: GraphStore, events: pd.DataFrame, clusters: dict[str, list[str]]) -> None:
    accounts = sorted(events["account_id"].unique())
    store.upsert_nodes(ACCOUNT, [{"account_id": a, "handle": f"h_{a}", "created_at": T0 - timedelta(days=3),
                                  "status": "active"} for a in accounts])
    ips = events.groupby("ip").agg(country=("ip_country", "first"), asn=("ip_asn", "first"),
                                   kind=("ip_kind", "first")).reset_index()
    store.upsert_nodes(IP, [{"ip": r.ip, "country": r.country, "asn": int(r.asn), "kind": r.kind,
                             "as_org": {58224: "TCI", 8551: "Bezeq", 4788: "TM Net", 7922: "Comcast"}[int(r.asn)]}
                            for r in ips.itertuples()])
    store.upsert_nodes(DEVICE, [{"device_id": d} for d in sorted(events["device_id"].unique())])
    for rel, column in ((USED_IP, "ip"), (USED_DEVICE, "device_id")):
        grouped = events.groupby(["account_id", column]).agg(count=("ts", "size"), first_seen=("ts", "min"),
                                                               last_seen=("ts", "max")).reset_index()
        store.upsert_edges(rel, [{"src": r.account_id, "dst": getattr(r, column), "count": int(r.count),
                                  "first_seen": r.first_seen.to_pydatetime(), "last_seen": r.last_seen.to_pydatetime()}
                                 for r in grouped.itertuples()])
    scores = {"C-iran": 0.94, "C-israel": 0.71, "C-lone": 0.55}
    countries = {"C-iran": "IR", "C-israel": "IL", "C-lone": "MY"}
    squad_of = squads(events, clusters["C-iran"])
    cluster_rows, member_rows = [], []
    for cluster_id, members in clusters.items():
        mine = events[events["account_id"].isin(members)]
        evidence = {"shared_ips": sorted(mine["ip"].unique().tolist()), "lockstep_windows": 12}
        if cluster_id == "C-iran":
            evidence["sub_groups"] = [
                {"sub_group": label, "size": sum(1 for g in squad_of.values() if g == label),
                 "accounts": sorted(a for a, g in squad_of.items() if g == label),
                 "ties": f"every member works from hosting IP {ip}"}
                for label, ip in SQUADS.items()
            ]
        cluster_rows.append({
            "cluster_id": cluster_id, "score": scores[cluster_id], "size": len(members),
            "top_ip_country": countries[cluster_id], "kind": "coordinated" if len(members) > 1 else "enumeration",
            "reasons": [f"{len(members)} accounts share infrastructure"],
            "evidence": evidence,
            "attribution": {"country_mix": {countries[cluster_id]: 1.0}, "utc_offset_hours": 3.5},
            "exposure": {countries[cluster_id]: int(mine["matched_account_id"].notna().sum())},
            "first_seen": mine["ts"].min().to_pydatetime(), "last_seen": mine["ts"].max().to_pydatetime(),
        })
        member_rows += [{"account_id": a, "cluster_id": cluster_id, "member_score": round(0.9 - 0.01 * i, 2),
                         "reasons": ["shares IPs"], "sub_group": squad_of.get(a)} for i, a in enumerate(members)]
    store.save_run({"run_id": RUN_ID, "started_at": T0 + timedelta(days=6), "finished_at": T0 + timedelta(days=6),
                    "params": {}, "stats": {}}, cluster_rows, member_rows)


def squads(events: pd.DataFrame, accounts: list[str]) -> dict[str, str]:
    """Each account's squad: the one of :data:`SQUADS` whose IP it uses."""
    label_of = {ip: label for label, ip in SQUADS.items()}
    mine = events[events["account_id"].isin(accounts) & events["ip"].isin(label_of)]
    return {a: label_of[ip] for a, ip in mine.groupby("account_id")["ip"].first().items()}


#: what C-israel shares with C-iran when the case is built with ``shared_operator=True``
SHARED_OPERATOR = {"ip": "5.160.10.1", "device": "d_shared_ir", "numbers": 3}


def shared_operator_events(events: pd.DataFrame) -> pd.DataFrame:
    """``il_0`` also works through C-iran's hosting IP and device, looking up 3 of the numbers ``ir_0`` did."""
    theirs = events[(events["account_id"] == "ir_0") & events["phone_hash"].notna()].head(SHARED_OPERATOR["numbers"])
    rows = []
    for n, phone_hash in enumerate(theirs["phone_hash"]):
        row = _event(T0 + timedelta(hours=6, minutes=n), SHARED_OPERATOR["ip"], "IR", 58224, "hosting", "il_0",
                     SHARED_OPERATOR["device"])
        rows.append({**row, "phone_hash": phone_hash})
    extra = pd.DataFrame(rows)
    extra["event_id"] = [hashlib.sha256(f"shared{r}".encode()).hexdigest()[:16] for r in rows]
    for column in EVENT_COLUMNS:
        if column not in extra:
            extra[column] = None
    return pd.concat([events, extra[list(EVENT_COLUMNS)]], ignore_index=True)


def build_case(workspace: Workspace, store: GraphStore, *, shared_operator: bool = False) -> Case:
    """Write the case's events and graph into ``workspace`` and return what was written.

    ``shared_operator`` adds :func:`shared_operator_events`: C-israel then
    shares an IP, its prefix and ASN, a device and 3 numbers with C-iran.
    """
    events, clusters = case_events()
    if shared_operator:
        events = shared_operator_events(events)
    write_events(workspace, events)
    write_graph(store, events, clusters)
    return Case(workspace, events, clusters)


@contextmanager
def signed_in(workspace: Workspace) -> Iterator[object]:
    """The web app on ``workspace`` inside one request of an admin: page functions run as a callback would."""
    import flask_login

    from app.web import auth
    from app.web.server import create_app

    app = create_app(workspace)
    with app.server.test_request_context("/"):
        flask_login.login_user(auth.User("tester", "admin"))
        yield app
