"""The read-only JSON API (issue #15, item 8): tokens, routes, the OpenAPI document.

Flask's test client against the real web app on the hand-made case of
``tests/webcase.py``; tokens are made and revoked by the real CLI.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
import webcase
from ingestcase import run_cli

from app.api import tokens
from app.export import Filters
from app.investigation import Investigation
from app.web import auth
from app.web.server import create_app
from graph import warehouse
from graph.store import open_store


@pytest.fixture
def api(workspace):
    """The web app on the hand-made case, with an analyst ``ana`` and a viewer ``vic``; yields its test client."""
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    con = warehouse.connect(workspace.db_path)
    auth.create_user(con, "ana", "analyst-pass", "analyst")
    auth.create_user(con, "vic", "viewer-pass", "viewer")
    app = create_app(workspace, store)
    yield app.server.test_client()
    store.close()


def _cli(workspace, *args: str) -> tuple[int, str, str]:
    return run_cli("--workspace", str(workspace.root), "users", *args)


def _token(workspace, name: str) -> str:
    code, out, err = _cli(workspace, "token", "create", name)
    assert code == 0, err
    return out.strip()


def _get(client, path: str, token: str | None = None, **query):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers, query_string=query)


def test_the_queue_answers_with_a_token_and_refuses_without_one(api, workspace):
    token = _token(workspace, "vic")
    for headers in ({}, {"Authorization": "Bearer ssk_00000000_guessed"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": token}):
        refused = api.get("/api/queue", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "users token create" in refused.get_json()["error"]
    reply = _get(api, "/api/queue", token)
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["run"]["run_id"] == webcase.RUN_ID
    assert [c["cluster_id"] for c in body["clusters"]] == ["C-iran", "C-israel", "C-lone"]
    assert all("evidence" not in c and c["status"] == "new" for c in body["clusters"])


def test_the_queue_takes_the_cli_filters(api, workspace):
    token = _token(workspace, "ana")
    investigation = Investigation(workspace)
    kept = _get(api, "/api/queue", token, min_score="0.7", country="il").get_json()
    assert [c["cluster_id"] for c in kept["clusters"]] == ["C-israel"]
    assert kept["filters"]["min_score"] == 0.7 and kept["filters"]["country"] == "IL"
    expected = investigation.queue(Filters(min_score=0.7, country="IL")).cluster_ids
    assert [c["cluster_id"] for c in kept["clusters"]] == expected
    assert _get(api, "/api/queue", token, status="confirmed").get_json()["clusters"] == []
    for bad in ({"status": "bogus"}, {"min_score": "high"}, {"since": "yesterday"}, {"run": "no-such-run"}):
        refused = _get(api, "/api/queue", token, **bad)
        assert refused.status_code == 400, bad
        assert refused.get_json()["error"]


def test_a_cluster_its_members_and_evidence(api, workspace):
    token = _token(workspace, "vic")
    cluster = _get(api, "/api/clusters/C-iran", token).get_json()
    assert cluster["cluster"]["cluster_id"] == "C-iran" and cluster["cluster"]["size"] == 8
    assert cluster["judgement"]["status"] == "new" and cluster["judgement"]["tags"] == []
    members = _get(api, "/api/clusters/C-iran/members", token).get_json()
    assert sorted(m["account_id"] for m in members["members"]) == [f"ir_{i}" for i in range(8)]
    scores = [m["member_score"] for m in members["members"]]
    assert scores == sorted(scores, reverse=True)
    evidence = _get(api, "/api/clusters/C-iran/evidence", token).get_json()
    assert evidence["evidence"]["shared_ips"] == ["5.160.10.1", "5.160.10.2"]
    assert evidence["reasons"] == ["8 accounts share infrastructure"]
    for path in ("/api/clusters/C-nope", "/api/clusters/C-nope/members", "/api/clusters/C-nope/evidence"):
        missing = _get(api, path, token)
        assert missing.status_code == 404 and "C-nope" in missing.get_json()["error"]


def test_an_export_is_the_files_the_cli_writes_and_is_audited_under_the_tokens_user(api, workspace, tmp_path):
    token = _token(workspace, "vic")
    reply = _get(api, "/api/export/csv", token, cluster="C-iran")
    assert reply.status_code == 200 and reply.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(reply.data))
    code, _, err = run_cli("--workspace", str(workspace.root), "export", "--format", "csv", "--cluster", "C-iran",
                           "--out", str(tmp_path / "cli"))
    assert code == 0, err
    assert sorted(archive.namelist()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    for name in ("clusters.csv", "members.csv"):
        assert archive.read(name) == (tmp_path / "cli" / name).read_bytes()
    members = list(csv.DictReader(io.StringIO(archive.read("members.csv").decode())))
    assert {m["account_id"] for m in members} == {f"ir_{i}" for i in range(8)}
    exports = [e for e in open_store(workspace).audit_events() if e["action"] == "export"]
    assert sorted(e["user"].split(":")[0] for e in exports) == ["cli", "vic"]
    assert all(e["after"]["cluster_ids"] == ["C-iran"] for e in exports)
    assert _get(api, "/api/export/xlsx", token).status_code == 404
    assert _get(api, "/api/export/csv", token, cluster="C-nope").status_code == 400


def test_tokens_are_kept_hashed_revoked_at_once_and_audited(api, workspace):
    token = _token(workspace, "ana")
    token_id = token.split("_")[1]
    assert _get(api, "/api/queue", token).status_code == 200
    stored = warehouse.connect(workspace.db_path).execute(f"SELECT * FROM {tokens.TOKENS_TABLE}").fetchall()
    assert len(stored) == 1 and token not in json.dumps(stored, default=str)
    code, out, _ = _cli(workspace, "token", "list")
    assert code == 0 and out.startswith(f"{token_id}\tana\t") and "revoked" not in out and token not in out

    code, out, _ = _cli(workspace, "token", "revoke", token_id)
    assert code == 0 and f"token {token_id} of ana revoked" in out
    assert _get(api, "/api/queue", token).status_code == 401
    code, _, err = _cli(workspace, "token", "revoke", token_id)
    assert code != 0 and "no live token" in err
    assert "\trevoked " in _cli(workspace, "token", "list")[1]

    events = {e["action"]: e for e in open_store(workspace).audit_events() if e["action"].startswith("users.token")}
    assert set(events) == {"users.token.create", "users.token.revoke"}
    for event in events.values():
        assert event["user"] == "cli" and event["target"] == "user:ana"
        assert event["after"] == {"token_id": token_id}
        assert token not in json.dumps(event, default=str)


def test_a_token_stops_working_when_its_user_is_disabled_and_needs_a_user(api, workspace):
    token = _token(workspace, "vic")
    assert _cli(workspace, "disable", "vic")[0] == 0
    assert _get(api, "/api/queue", token).status_code == 401
    assert _cli(workspace, "enable", "vic")[0] == 0
    assert _get(api, "/api/queue", token).status_code == 200
    code, out, err = _cli(workspace, "token", "create", "nobody")
    assert code != 0 and "no user 'nobody'" in err and not out


def test_the_openapi_document_lists_every_route_and_needs_no_token(api):
    reply = api.get("/api/openapi.json")
    assert reply.status_code == 200
    document = reply.get_json()
    assert document["openapi"].startswith("3.")
    served = {rule.rule.removeprefix("/api").replace("<", "{").replace(">", "}")
              for rule in api.application.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert served == set(document["paths"]) == {
        "/queue", "/clusters/{cluster_id}", "/clusters/{cluster_id}/members", "/clusters/{cluster_id}/evidence",
        "/export/{format}", "/openapi.json"}
    for path, item in document["paths"].items():
        operation = item["get"]
        assert operation["summary"] and operation["operationId"]
        assert ("401" in operation["responses"]) == (path != "/openapi.json")
        named = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert named == {part.strip("{}") for part in path.split("/") if part.startswith("{")}
    queue_filters = {p["name"] for p in document["paths"]["/queue"]["get"]["parameters"]}
    assert queue_filters == {"status", "min_score", "country", "since", "until", "run", "kind", "tag"}


def test_an_unknown_api_path_is_a_json_404_not_the_ui(api):
    for path in ("/api/nothing", "/api/clusters/C-iran/labels", "/api/"):
        reply = api.get(path)
        assert reply.status_code == 404 and reply.is_json, path


def test_the_queue_takes_the_kind_and_tag_filters_the_cli_takes(api, workspace):
    token = _token(workspace, "ana")
    investigation = Investigation(workspace)
    investigation.label("C-iran", "tag", {"tag": "", "free_tag": "campaign-x"}, auth.User("ana", "analyst"))
    by_tag = _get(api, "/api/queue", token, tag="campaign-x").get_json()["clusters"]
    assert [c["cluster_id"] for c in by_tag] == ["C-iran"]
    for kind in ("lone enumerator", "hosting farm"):
        kept = [c["cluster_id"] for c in _get(api, "/api/queue", token, kind=kind).get_json()["clusters"]]
        assert kept == investigation.queue(Filters(kinds=(kind,))).cluster_ids, kind
    assert _get(api, "/api/queue", token, kind="lone enumerator", tag="campaign-x").get_json()["clusters"] == []


def test_a_clusters_judgement_carries_its_admiralty_grades(api, workspace):
    token = _token(workspace, "ana")
    investigation = Investigation(workspace)
    ana = auth.User("ana", "analyst")
    investigation.label("C-iran", "status", {"status": "confirmed", "reason": "hosting", "reliability": "b",
                                             "credibility": "2"}, ana)
    investigation.label("C-iran", "attribution", {"actor": "IS-1", "rationale": "clock", "confidence": "low",
                                                  "reliability": "C", "credibility": "3"}, ana)
    investigation.label("C-israel", "status", {"status": "in_review", "reason": "looking"}, ana)
    judged = _get(api, "/api/clusters/C-iran", token).get_json()["judgement"]
    assert judged["status_grades"] == {"reliability": "B", "credibility": "2"}
    assert (judged["attribution"]["reliability"], judged["attribution"]["credibility"]) == ("C", "3")
    assert _get(api, "/api/clusters/C-israel", token).get_json()["judgement"]["status_grades"] == {}
