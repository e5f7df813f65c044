"""Users, roles and the login wall of the web UI, through Flask's test client (no browser)."""

from __future__ import annotations

import json

import pytest
import webcase
from click.testing import CliRunner

from app.cli import cli
from app.web import auth
from app.web import judgement as judgement_form
from app.web.server import create_app
from graph import triage, warehouse
from graph.store import open_store
from graph.workspace import Workspace


@pytest.fixture
def con(workspace):
    return warehouse.connect(workspace.db_path)


@pytest.fixture
def web(workspace, con):
    """A case, two users and the app, with its store closed afterwards."""
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    auth.create_user(con, "ana", "analyst-pass", "analyst")
    auth.create_user(con, "vic", "viewer-pass", "viewer")
    app = create_app(workspace, store)
    yield app, store
    store.close()


def _login(client, name, password):
    return client.post("/login", data={"username": name, "password": password, "next": "/"})


def test_passwords_are_hashed_and_verified(con):
    auth.create_user(con, "ana", "correct horse", "analyst")
    stored = con.execute("SELECT password_hash FROM users WHERE name = 'ana'").fetchall()[0][0]
    assert "correct horse" not in stored and stored.startswith("scrypt:")
    assert auth.verify_password(con, "ana", "correct horse") == auth.User("ana", "analyst")
    assert auth.verify_password(con, "ana", "wrong horse") is None
    assert auth.verify_password(con, "nobody", "correct horse") is None
    auth.set_password(con, "ana", "battery staple")
    assert auth.verify_password(con, "ana", "battery staple") is not None
    assert auth.verify_password(con, "ana", "correct horse") is None


def test_user_validation(con):
    auth.create_user(con, "ana", "long enough", "viewer")
    with pytest.raises(ValueError, match="exists"):
        auth.create_user(con, "ana", "long enough", "viewer")
    with pytest.raises(ValueError, match="role"):
        auth.create_user(con, "bob", "long enough", "superuser")
    with pytest.raises(ValueError, match="8 characters"):
        auth.create_user(con, "bob", "short", "viewer")
    with pytest.raises(ValueError, match="not allowed"):
        auth.create_user(con, "bob smith", "long enough", "viewer")
    with pytest.raises(KeyError):
        auth.set_role(con, "nobody", "admin")
    auth.set_role(con, "ana", "admin")
    assert auth.get_user(con, "ana").is_admin


def test_roles_include_each_other():
    assert auth.role_at_least("admin", "analyst") and auth.role_at_least("analyst", "viewer")
    assert not auth.role_at_least("viewer", "analyst")
    assert auth.User("a", "analyst").can_label and not auth.User("v", "viewer").can_label
    with pytest.raises(ValueError):
        auth.role_at_least("viewer", "root")


def test_admin_bootstrap_random_then_nothing(con):
    first = auth.bootstrap_admin(con, env={})
    assert first.created and first.password and len(first.password) >= 16
    assert auth.verify_password(con, "admin", first.password).role == "admin"
    again = auth.bootstrap_admin(con, env={})
    assert not again.created and again.password is None


def test_admin_bootstrap_from_environment(con):
    done = auth.bootstrap_admin(con, env={auth.ADMIN_PASSWORD_ENV: "from-the-env"})
    assert done.created and done.from_env and done.password is None
    assert auth.verify_password(con, "admin", "from-the-env") is not None


def test_session_secret_is_stable_per_workspace(tmp_path):
    one = Workspace.open(tmp_path / "one")
    two = Workspace.open(tmp_path / "two")
    assert auth.session_secret(one) == auth.session_secret(Workspace.open(tmp_path / "one"))
    assert auth.session_secret(one) != auth.session_secret(two)


def test_everything_needs_a_login(web):
    app, _ = web
    client = app.server.test_client()
    page = client.get("/cluster/C-iran")
    assert page.status_code == 302 and "/login?next=" in page.headers["Location"]
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.post("/audit.jsonl").status_code == 401
    login = client.get("/login")
    assert login.status_code == 200
    html = login.get_data(as_text=True)
    assert 'type="submit"' in html and 'name="password"' in html
    assert client.get("/assets/sybilscope.css").status_code == 200


def test_login_logout_and_audit(web):
    app, store = web
    client = app.server.test_client()
    wrong = _login(client, "ana", "nope")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401
    ok = _login(client, "ana", "analyst-pass")
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert client.get("/_dash-layout").status_code == 200
    assert store.audit_events(target="user:ana")[0]["action"] == "auth.login"
    client.post("/logout")
    assert client.get("/_dash-layout").status_code == 401


def test_login_never_redirects_off_site(web):
    app, _ = web
    client = app.server.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        reply = client.post("/login", data={"username": "ana", "password": "analyst-pass", "next": target})
        assert reply.headers["Location"] == "/"


def test_audit_download_is_json_lines_and_audited(web):
    app, store = web
    triage.set_status(store, "C-iran", "confirmed", "shared hosting, lockstep", "ana")
    client = app.server.test_client()
    _login(client, "vic", "viewer-pass")
    reply = client.post("/audit.jsonl?action=label.")
    assert reply.status_code == 200 and reply.mimetype == "application/x-ndjson"
    events = [json.loads(line) for line in reply.get_data(as_text=True).splitlines()]
    assert [e["action"] for e in events] == ["label.status"]
    assert events[0]["after"]["status"] == "confirmed"
    assert store.audit_events(target="audit")[0]["user"] == "vic"


def test_viewers_cannot_label_analysts_can(web):
    app, store = web
    with app.server.test_request_context("/"):
        with pytest.raises(PermissionError):
            judgement_form.apply_label_action("C-iran", "status", {"status": "confirmed", "reason": "x"},
                                            auth.User("vic", "viewer"))
        message = judgement_form.apply_label_action(
            "C-iran", "status", {"status": "confirmed", "reason": "same hosting"}, auth.User("ana", "analyst"))
        assert "Confirmed" in message
        with pytest.raises(ValueError, match="reason"):
            judgement_form.apply_label_action("C-iran", "status", {"status": "dismissed", "reason": " "},
                                            auth.User("ana", "analyst"))
        judgement_form.apply_label_action("C-iran", "tag", {"tag": "TLP:AMBER", "free_tag": ""},
                                        auth.User("ana", "analyst"))
        judgement_form.apply_label_action("C-iran", "untag", {"remove": "TLP:AMBER"}, auth.User("ana", "analyst"))
    judgement = triage.judgement(store, "cluster", "C-iran")
    assert judgement.status == "confirmed" and judgement.tags == []
    assert [e["user"] for e in store.audit_events(target="cluster:C-iran")] == ["ana", "ana", "ana"]


def test_users_cli(workspace):
    runner = CliRunner()
    base = ["--workspace", str(workspace.root), "users"]
    added = runner.invoke(cli, [*base, "add", "carol", "--role", "viewer", "--password", "carol-pass"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, [*base, "list"])
    assert "carol\tviewer" in listed.output
    assert runner.invoke(cli, [*base, "set-role", "carol", "analyst"]).exit_code == 0
    again = runner.invoke(cli, [*base, "add", "carol", "--password", "carol-pass"])
    assert again.exit_code != 0 and "exists" in again.output
    assert runner.invoke(cli, [*base, "set-role", "nobody", "admin"]).exit_code != 0
    warehouse.close_all()
    con = warehouse.connect(workspace.db_path)
    assert auth.get_user(con, "carol").role == "analyst"
