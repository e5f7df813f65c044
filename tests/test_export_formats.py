"""Every export format on the ingested, detected and triaged sample case, read back and compared with the store."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import networkx as nx
import pyarrow.parquet as pq
import pytest
from exportcase import ACTOR, raw_digit_runs
from ingestcase import run_cli
from stix2validator import ValidationOptions, validate_string

from app.export import FORMATS, Filters, export
from app.export.stix import STIX_TLP
from graph import warehouse
from graph.errors import SybilscopeError
from graph.store import open_store
from graph.triage import current_statuses

CONTRACT_CLUSTERS = ["cluster_id", "score", "size", "top_ip_country", "status"]
CONTRACT_MEMBERS = ["cluster_id", "account_id", "member_score"]
MEMBERS_COLUMNS = [*CONTRACT_MEMBERS, "sub_group"]  # extended after the contract's columns, never before


@pytest.fixture(scope="module")
def opened(sample_case):
    workspace = sample_case.workspace()
    store = open_store(workspace)
    yield workspace, store
    store.close()
    warehouse.close_all()


@pytest.fixture(scope="module")
def exports(opened, tmp_path_factory):
    """Every format, plain and redacted: {(format, redacted): folder}."""
    workspace, store = opened
    root = tmp_path_factory.mktemp("exports")
    done = {}
    for fmt in FORMATS:
        for redact in (False, True):
            out = root / f"{fmt}{'-redacted' if redact else ''}"
            export(workspace, store, fmt, out, redact=redact, user="tester")
            done[(fmt, redact)] = out
    return done


def _csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _expected(store) -> tuple[list[dict], list[dict]]:
    statuses = current_statuses(store)
    clusters = [
        {"cluster_id": c["cluster_id"], "score": c["score"], "size": c["size"],
         "top_ip_country": c["top_ip_country"], "status": statuses.get(c["cluster_id"], "new")}
        for c in store.clusters()
    ]
    members = [
        {"cluster_id": c["cluster_id"], "account_id": m["account_id"], "member_score": m["member_score"],
         "sub_group": m["sub_group"]}
        for c in store.clusters() for m in store.members(c["cluster_id"])
    ]
    return clusters, members


def _key(rows: list[dict]) -> list[tuple]:
    return sorted(tuple((k, round(v, 6) if isinstance(v, float) else v) for k, v in sorted(r.items())) for r in rows)


def _typed(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        typed = dict(row)
        for name in ("score", "member_score"):
            if name in typed:
                typed[name] = float(typed[name])
        if "size" in typed:
            typed["size"] = int(typed["size"])
        if "sub_group" in typed:
            typed["sub_group"] = typed["sub_group"] or None  # an empty CSV cell is a missing value
        out.append(typed)
    return out


def test_csv_holds_exactly_the_contract_layout(opened, exports, sample_case):
    _, store = opened
    folder = exports[("csv", False)]
    header, clusters = _csv(folder / "clusters.csv")
    assert header == CONTRACT_CLUSTERS
    header, members = _csv(folder / "members.csv")
    assert header[: len(CONTRACT_MEMBERS)] == CONTRACT_MEMBERS
    assert header == MEMBERS_COLUMNS
    want_clusters, want_members = _expected(store)
    assert _key(_typed(clusters)) == _key(want_clusters)
    assert _key(_typed(members)) == _key(want_members)
    accounts = [m["account_id"] for m in members]
    assert len(accounts) == len(set(accounts)), "an account appears in more than one cluster"
    assert all(0 <= float(c["score"]) <= 1 for c in clusters)
    assert all(0 <= float(m["member_score"]) <= 1 for m in members)
    assert {c["status"] for c in clusters} <= {"new", "in_review", "confirmed", "dismissed"}
    by_id = {c["cluster_id"]: c for c in clusters}
    assert by_id[sample_case.state_cluster]["status"] == "confirmed"
    for c in clusters:
        assert int(c["size"]) == sum(1 for m in members if m["cluster_id"] == c["cluster_id"])
    for extra in ("cluster_details", "judgements", "accounts", "ips", "devices", "edges"):
        assert (folder / f"{extra}.csv").exists()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["detection_run"]["run_id"] == store.latest_run()["run_id"]
    assert manifest["detection_run"]["data_fingerprint"] == store.latest_run()["data_fingerprint"]


def test_entities_and_edges_match_the_graph(opened, exports):
    _, store = opened
    folder = exports[("csv", False)]
    _, members = _csv(folder / "members.csv")
    member_ids = {m["account_id"] for m in members}
    _, edges = _csv(folder / "edges.csv")
    from graph.schema import USED_IP

    stored = {(e["src"], e["dst"], e["count"]) for b in store.iter_edges(USED_IP) for e in b if e["src"] in member_ids}
    exported = {(e["src"], e["dst"], int(e["count"])) for e in edges if e["type"] == USED_IP}
    assert exported == stored and exported
    _, ips = _csv(folder / "ips.csv")
    assert {i["ip"] for i in ips} == {dst for _, dst, _ in stored}
    _, accounts = _csv(folder / "accounts.csv")
    assert {a["account_id"] for a in accounts} == member_ids
    assert all(int(a["requests"]) > 0 for a in accounts)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_carry_the_same_tables(exports, fmt):
    csv_folder = exports[("csv", False)]
    for table in ("clusters", "members", "accounts", "ips", "edges"):
        header, rows = _csv(csv_folder / f"{table}.csv")
        path = exports[(fmt, False)] / f"{table}.{fmt}"
        if fmt == "jsonl":
            other = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        else:
            other = pq.read_table(path).to_pylist()
        assert len(other) == len(rows)
        assert list(other[0]) == header if other else True
        ids = header[0]
        assert sorted(str(r[ids]) for r in other) == sorted(r[ids] for r in rows)
    clusters = pq.read_table(exports[("parquet", False)] / "clusters.parquet").to_pylist()
    _, want = _csv(csv_folder / "clusters.csv")
    assert _key(clusters) == _key(_typed(want))


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_formats_load_back_in_networkx(exports, fmt):
    path = exports[(fmt, False)] / f"network.{fmt}"
    graph = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    _, clusters = _csv(exports[("csv", False)] / "clusters.csv")
    _, members = _csv(exports[("csv", False)] / "members.csv")
    _, ips = _csv(exports[("csv", False)] / "ips.csv")
    types = nx.get_node_attributes(graph, "type")
    assert {n for n, t in types.items() if t == "cluster"} == {f"cluster:{c['cluster_id']}" for c in clusters}
    assert {n for n, t in types.items() if t == "ip"} == {f"ip:{i['ip']}" for i in ips}
    member_edges = {(u, v) for u, v, t in graph.edges(data="relationship") if t == "MEMBER_OF"}
    assert member_edges == {(f"account:{m['account_id']}", f"cluster:{m['cluster_id']}") for m in members}
    for _, attrs in graph.nodes(data=True):
        assert None not in attrs.values() and "None" not in attrs.values()
    scores = {n: float(a["score"]) for n, a in graph.nodes(data=True) if a.get("type") == "cluster"}
    assert scores == {f"cluster:{c['cluster_id']}": float(c["score"]) for c in clusters}


def _bundle(exports, redacted=False) -> dict:
    return json.loads((exports[("stix", redacted)] / "bundle.json").read_text(encoding="utf-8"))


def test_stix_bundle_validates_and_carries_the_judgements(exports, sample_case, opened):
    text = (exports[("stix", False)] / "bundle.json").read_text(encoding="utf-8")
    result = validate_string(text, ValidationOptions(version="2.1"))
    errors = [str(e) for e in result.errors]
    assert result.is_valid and not errors, errors[:5]
    objects = json.loads(text)["objects"]
    by_type: dict[str, list[dict]] = {}
    for obj in objects:
        by_type.setdefault(obj["type"], []).append(obj)
    _, store = opened
    _, members = _expected(store)
    assert {u["user_id"] for u in by_type["user-account"]} == {m["account_id"] for m in members}
    intrusion = [i for i in by_type["intrusion-set"] if sample_case.state_cluster in i.get("aliases", [])]
    assert len(intrusion) == 1 and intrusion[0]["name"] == ACTOR
    actors = {a["id"]: a for a in by_type["threat-actor"]}
    attributed = [r for r in by_type["relationship"]
                  if r["relationship_type"] == "attributed-to" and r["source_ref"] == intrusion[0]["id"]]
    assert len(attributed) == 1 and actors[attributed[0]["target_ref"]]["name"] == ACTOR
    assert attributed[0]["confidence"] == 50  # moderate
    assert any(loc.get("country") == "IR" for loc in by_type["location"])
    assert any(ACTOR in o["explanation"] for o in by_type["opinion"])
    assert any("[phone number removed]" in n["content"] for n in by_type["note"])
    assert {i["pattern_type"] for i in by_type["indicator"]} == {"stix"}
    assert by_type.get("ipv4-addr")
    # TLP: the stricter cluster's objects carry AMBER+STRICT (a TLP 2.0 definition stix2 lacks), others AMBER
    strict = STIX_TLP["TLP:AMBER+STRICT"].id
    assert strict in {m["id"] for m in by_type["marking-definition"]}
    grouping = {g["name"].split()[-1]: g for g in by_type["grouping"]}
    assert grouping[sample_case.strict_cluster]["object_marking_refs"] == [strict]
    assert grouping[sample_case.state_cluster]["object_marking_refs"] == [STIX_TLP["TLP:AMBER"].id]


def _text_of(path: Path) -> str:
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str)
    return path.read_text(encoding="utf-8")


def test_no_raw_phone_number_in_any_export(exports, sample_case):
    assert sample_case.raw_digits
    for folder in exports.values():
        for path in folder.iterdir():
            leaked = raw_digit_runs(_text_of(path)) & sample_case.raw_digits
            assert not leaked, f"{path} holds raw phone numbers {sorted(leaked)[:3]}"


def test_redaction_removes_every_account_id_and_handle_consistently(exports, sample_case):
    token = re.compile(r"[\w.\-]+")
    pseudonyms: dict[str, set[str]] = {}
    for (fmt, redacted), folder in exports.items():
        if not redacted:
            continue
        for path in folder.iterdir():
            words = set(token.findall(_text_of(path)))
            leaked = words & sample_case.account_ids
            assert not leaked, f"{path} still names accounts {sorted(leaked)[:3]}"
            handles = words & sample_case.handles
            assert not handles, f"{path} still names handles {sorted(handles)[:3]}"
            pseudonyms.setdefault(fmt, set()).update(w for w in words if w.startswith("acct_"))
    _, members = _csv(exports[("csv", True)] / "members.csv")
    ids = {m["account_id"] for m in members}
    assert ids and all(i.startswith("acct_") for i in ids)
    assert ids <= pseudonyms["stix"] and ids <= pseudonyms["graphml"] and ids <= pseudonyms["parquet"]
    plain = _csv(exports[("csv", False)] / "members.csv")[1]
    assert len(ids) == len({m["account_id"] for m in plain})


def test_filters_select_clusters(opened, sample_case, tmp_path):
    workspace, store = opened
    confirmed = export(workspace, store, "csv", tmp_path / "c", Filters(statuses=("confirmed",)))
    assert [r["cluster_id"] for r in _csv(tmp_path / "c" / "clusters.csv")[1]] == [sample_case.state_cluster]
    assert confirmed.counts["clusters"] == 1
    export(workspace, store, "csv", tmp_path / "s", Filters(min_score=0.9))
    assert all(float(r["score"]) >= 0.9 for r in _csv(tmp_path / "s" / "clusters.csv")[1])
    late = export(workspace, store, "csv", tmp_path / "t", Filters(since=_far_future()))
    assert late.counts["clusters"] == 0
    with pytest.raises(SybilscopeError, match="C-nothere"):
        export(workspace, store, "csv", tmp_path / "x", Filters(cluster_ids=("C-nothere",)))


def _far_future():
    from datetime import UTC, datetime

    return datetime(2100, 1, 1, tzinfo=UTC)


def test_every_export_is_audited(opened, exports):
    _, store = opened
    events = [e for e in store.audit_events() if e["action"] == "export"]
    formats = {(e["after"]["format"], e["after"]["redacted"]) for e in events}
    assert formats >= set(exports)
    assert all(e["user"] for e in events)


def test_cli_export_writes_the_contract_files(sample_case, tmp_path):
    out = tmp_path / "cli"
    code, stdout, err = run_cli("--workspace", str(sample_case.root), "export", "--format", "csv", "--out", str(out),
                                "--status", "confirmed", "--status", "in_review", "--json")
    assert code == 0, err
    manifest = json.loads(stdout)
    assert manifest["filters"]["statuses"] == ["confirmed", "in_review"]
    rows = _csv(out / "clusters.csv")[1]
    assert {r["cluster_id"] for r in rows} == {sample_case.state_cluster, sample_case.strict_cluster}
    code, _, err = run_cli("--workspace", str(sample_case.root), "export", "--format", "csv", "--out", str(out),
                           "--since", "yesterday")
    assert code != 0 and "ISO 8601" in err


# -- an operation of several squads (hand-made run: the sample case has none) -------------------------


@pytest.fixture
def operation(workspace, tmp_path):
    """A run with one operation in two squads and one undivided cluster, exported in every format."""
    squads = {f"op_{i}": f"S{1 + i % 2}" for i in range(6)}
    store = open_store(workspace)
    store.save_run(
        {"run_id": "run-squads", "params": {}},
        [{"cluster_id": "C-op", "score": 0.93, "size": len(squads), "top_ip_country": "IR",
          "evidence": {"sub_groups": [{"sub_group": g, "size": 3, "accounts": sorted(a for a in squads if squads[a] == g),
                                       "ties": "one hosting IP"} for g in ("S1", "S2")]}},
         {"cluster_id": "C-one", "score": 0.61, "size": 2, "top_ip_country": "IL"}],
        [{"account_id": a, "cluster_id": "C-op", "member_score": 0.9, "sub_group": g} for a, g in squads.items()]
        + [{"account_id": f"one_{i}", "cluster_id": "C-one", "member_score": 0.8} for i in range(2)],
    )
    folders = {}
    for fmt in FORMATS:
        for redact in (False, True):
            folders[(fmt, redact)] = export(workspace, store, fmt, tmp_path / f"{fmt}-{redact}", redact=redact).out_dir
    yield squads, folders
    store.close()


def test_members_csv_gives_each_member_its_sub_group_after_the_contract_columns(operation):
    squads, folders = operation
    header, members = _csv(folders[("csv", False)] / "members.csv")
    assert header == MEMBERS_COLUMNS
    by_cluster = {cid: {m["account_id"]: m["sub_group"] for m in members if m["cluster_id"] == cid}
                  for cid in ("C-op", "C-one")}
    assert by_cluster["C-op"] == squads
    assert set(by_cluster["C-one"].values()) == {""}  # one group: the cell is empty
    _, accounts = _csv(folders[("csv", False)] / "accounts.csv")
    assert {a["account_id"]: a["sub_group"] for a in accounts if a["account_id"] in squads} == squads
    # redaction replaces the accounts, not their squads: the squads' sizes survive
    _, redacted = _csv(folders[("csv", True)] / "members.csv")
    assert not {m["account_id"] for m in redacted} & set(squads)
    sizes = sorted((m["cluster_id"], m["sub_group"]) for m in members)
    assert sorted((m["cluster_id"], m["sub_group"]) for m in redacted) == sizes


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_carry_the_sub_group(operation, fmt):
    squads, folders = operation
    path = folders[(fmt, False)] / f"members.{fmt}"
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert list(rows[0]) == MEMBERS_COLUMNS
    assert {r["account_id"]: r["sub_group"] for r in rows} == {**squads, "one_0": None, "one_1": None}


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_formats_carry_the_sub_group_on_memberships_and_accounts(operation, fmt):
    squads, folders = operation
    path = folders[(fmt, False)] / f"network.{fmt}"
    graph = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    on_edges = {u: a.get("sub_group") for u, _, a in graph.edges(data=True) if a.get("relationship") == "MEMBER_OF"}
    assert on_edges == {**{f"account:{a}": g for a, g in squads.items()}, "account:one_0": None, "account:one_1": None}
    on_nodes = {n: a.get("sub_group") for n, a in graph.nodes(data=True) if a.get("type") == "account"}
    assert on_nodes == on_edges


def test_stix_grouping_names_the_squads_of_an_operation_only(operation):
    squads, folders = operation
    text = (folders[("stix", False)] / "bundle.json").read_text(encoding="utf-8")
    assert validate_string(text, ValidationOptions(version="2.1")).is_valid
    groupings = {}
    for obj in json.loads(text)["objects"]:
        if obj["type"] == "grouping":
            extension = next(iter(obj["extensions"].values()))
            groupings[extension["cluster_id"]] = extension
    assert groupings["C-op"]["sub_groups"] == squads
    assert "sub_groups" not in groupings["C-one"]
