"""Sign-in throttling, revocable sessions, exact public paths and security headers (issue #13, items 7, 8,
12 and 15), through Flask's test client against a real workspace database."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
import webcase
from click.testing import CliRunner

from app.cli import cli
from app.web import auth
from app.web import judgement as judgement_form
from app.web.components import shown
from app.web.server import create_app
from graph import warehouse
from graph.errors import ConfigError
from graph.store import open_store
from graph.workspace import Workspace

PASSWORD = "analyst-pass"


class Clock:
    """The time the sign-in code sees, moved by the test."""

    def __init__(self):
        self.now = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(auth, "_now", moved)
    return moved


@pytest.fixture
def con(workspace):
    return warehouse.connect(workspace.db_path)


@pytest.fixture
def web(workspace, con):
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    auth.create_user(con, "ana", PASSWORD, "analyst")
    auth.create_user(con, "vic", "viewer-pass", "viewer")
    app = create_app(workspace, store)
    yield app, store
    store.close()


def _client(app, address="10.0.0.1"):
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client, name="ana", password=PASSWORD):
    return client.post("/login", data={"username": name, "password": password, "next": "/"})


def _signed_in(client) -> bool:
    return client.get("/_dash-layout").status_code == 200


# -- item 12: public paths match exactly -------------------------------------------------------


@pytest.mark.parametrize("path", ["/loginx", "/healthzfoo", "/login/../cluster/C-iran", "/_favicon.icox",
                                  "/assetsx/sybilscope.css"])
def test_paths_that_only_start_like_public_ones_need_a_login(web, path):
    app, _ = web
    reply = _client(app).get(path)
    assert reply.status_code in (302, 401, 404)
    assert b"_dash-config" not in reply.data and b"dash_renderer" not in reply.data


def test_public_paths_stay_public(web):
    app, _ = web
    client = _client(app)
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/assets/sybilscope.css").status_code == 200


# -- item 7: failed sign-ins are slowed, then locked out, and audited ----------------------------


def test_failed_sign_ins_wait_longer_each_time_then_lock_out(web, clock):
    app, _ = web
    client = _client(app)
    for _ in range(3):  # the first few cost nothing
        assert _login(client, password="wrong").status_code == 401
    failures, delay = 3, 1
    while failures < 10:  # each failure doubles the wait; even the right password must wait
        refused = _login(client)
        assert refused.status_code == 429 and f"wait {delay} seconds" in refused.get_data(as_text=True)
        assert not _signed_in(client)
        clock.advance(seconds=delay)
        assert _login(client, password="wrong").status_code == 401
        failures, delay = failures + 1, delay * 2
    locked = _login(client)
    assert locked.status_code == 429 and "15 minutes" in locked.get_data(as_text=True)
    clock.advance(minutes=10)
    assert _login(client).status_code == 429
    clock.advance(minutes=6)
    assert _login(client).status_code == 302 and _signed_in(client)


def test_one_address_trying_many_names_is_slowed_too(web, clock):
    app, _ = web
    client = _client(app, "203.0.113.9")
    for name in ("admin", "root", "ana"):
        assert _login(client, name, "guess-1234").status_code == 401
    assert _login(client, "vic", "viewer-pass").status_code == 429
    # another address is not held up by this one
    assert _login(_client(app, "198.51.100.7"), "vic", "viewer-pass").status_code == 302


def test_a_success_clears_the_names_count(web, clock):
    app, _ = web
    client = _client(app)
    for _ in range(2):
        _login(client, password="wrong")
    assert _login(client).status_code == 302
    other = _client(app, "10.0.0.2")
    for _ in range(2):
        assert _login(other, password="wrong").status_code == 401
    assert _login(other).status_code == 302


def test_every_failed_sign_in_is_audited_without_the_password(web, clock):
    app, store = web
    client = _client(app, "192.0.2.44")
    _login(client, "ana", "Secret-Guess-1")
    _login(client, "nobody", "Secret-Guess-2")
    _login(client, "ana", "Secret-Guess-3")
    _login(client, "ana", PASSWORD)  # refused unseen: throttled
    failed = [e for e in store.audit_events() if e["action"] == "auth.failed"]
    assert len(failed) == 4
    assert {e["user"] for e in failed} == {"ana", "nobody"}
    assert all(e["after"]["address"] == "192.0.2.44" and e["at"] for e in failed)
    assert [e["after"]["reason"] for e in failed][0] == "throttled"
    text = repr(store.audit_events())
    assert "Secret-Guess" not in text and PASSWORD not in text


# -- item 8: sessions end when they should -------------------------------------------------------


def _cookie(client) -> str:
    return client.get_cookie("sybilscope_session").value


def _replay(app, cookie: str) -> bool:
    thief = app.server.test_client()
    thief.set_cookie("sybilscope_session", cookie)
    return _signed_in(thief)


def test_a_cookie_copied_before_logout_is_dead_after_it(web):
    app, _ = web
    client = _client(app)
    _login(client)
    copied = _cookie(client)
    assert _replay(app, copied)
    assert client.post("/logout").status_code == 302
    assert not _signed_in(client)
    assert not _replay(app, copied)


@pytest.mark.parametrize("change", ["password", "role", "disable"])
def test_password_role_and_disabling_end_every_session(web, con, change):
    app, _ = web
    first, second = _client(app), _client(app, "10.0.0.9")
    _login(first)
    _login(second)
    copied = _cookie(first)
    if change == "password":
        auth.set_password(con, "ana", "a-new-password")
    elif change == "role":
        auth.set_role(con, "ana", "viewer")
    else:
        auth.set_disabled(con, "ana", True)
    assert not _signed_in(first) and not _signed_in(second) and not _replay(app, copied)
    if change == "disable":
        assert _login(first).status_code == 401
        auth.set_disabled(con, "ana", False)
        assert _login(first).status_code == 302


def test_sessions_end_after_12_idle_hours_and_after_7_days(web, clock):
    app, _ = web
    client = _client(app)
    _login(client)
    clock.advance(hours=11, minutes=59)
    assert _signed_in(client)
    clock.advance(hours=12, minutes=1)
    assert not _signed_in(client)
    _login(client)
    for _ in range(15):  # busy all week, never idle for long: 6 days 21 hours
        clock.advance(hours=11)
        assert _signed_in(client)
    clock.advance(hours=4)
    assert not _signed_in(client)  # 7 days 1 hour after sign-in, 4 hours after the last request


def test_session_timeouts_come_from_the_settings(tmp_path, monkeypatch, clock):
    monkeypatch.setenv("SYBILSCOPE_SESSION_IDLE_HOURS", "1")
    monkeypatch.setenv("SYBILSCOPE_SESSION_MAX_DAYS", "0.5")
    workspace = Workspace.open(tmp_path / "short")
    assert workspace.settings.session_idle == timedelta(hours=1)
    assert workspace.settings.session_max_age == timedelta(hours=12)
    auth.create_user(warehouse.connect(workspace.db_path), "ana", PASSWORD, "analyst")
    store = open_store(workspace)
    try:
        client = _client(create_app(workspace, store))
        _login(client)
        clock.advance(minutes=59)
        assert _signed_in(client)
        clock.advance(minutes=61)
        assert not _signed_in(client)
    finally:
        store.close()
        warehouse.close_all()
    monkeypatch.setenv("SYBILSCOPE_SESSION_IDLE_HOURS", "soon")
    with pytest.raises(ConfigError, match="session_idle_hours.*positive number"):
        Workspace.open(tmp_path / "short")


def test_users_cli_disables_and_enables(workspace):
    runner = CliRunner()
    base = ["--workspace", str(workspace.root), "users"]
    assert runner.invoke(cli, [*base, "add", "carol", "--password", "carol-pass"]).exit_code == 0
    disabled = runner.invoke(cli, [*base, "disable", "carol"])
    assert disabled.exit_code == 0, disabled.output
    assert "carol\tanalyst\t" in runner.invoke(cli, [*base, "list"]).output
    assert "disabled" in runner.invoke(cli, [*base, "list"]).output
    warehouse.close_all()
    assert auth.verify_password(warehouse.connect(workspace.db_path), "carol", "carol-pass") is None
    warehouse.close_all()
    assert runner.invoke(cli, [*base, "enable", "carol"]).exit_code == 0
    assert runner.invoke(cli, [*base, "disable", "nobody"]).exit_code != 0
    warehouse.close_all()
    assert auth.verify_password(warehouse.connect(workspace.db_path), "carol", "carol-pass") is not None


# -- item 15: headers, cookies, POST-only actions, a private database file ----------------------------


def test_every_reply_carries_the_security_headers(web):
    app, _ = web
    client = _client(app)
    for reply in (client.get("/login"), (_login(client), client.get("/"))[1], client.get("/_dash-layout")):
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Referrer-Policy"] == "same-origin"
        csp = reply.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_session_cookie_is_secure_over_tls_only(web):
    app, _ = web
    plain = _login(_client(app))
    assert "Secure" not in plain.headers["Set-Cookie"] and "HttpOnly" in plain.headers["Set-Cookie"]
    tls = app.server.test_client()
    over_tls = tls.post("https://localhost/login", data={"username": "ana", "password": PASSWORD, "next": "/"})
    assert over_tls.status_code == 302 and "Secure" in over_tls.headers["Set-Cookie"]


def test_logout_and_the_audit_download_take_post_only(web):
    app, store = web
    client = _client(app)
    _login(client)
    # a GET (a link, an image, a prefetch elsewhere) gets at most the page shell: no download, no sign-out
    assert client.get("/audit.jsonl").mimetype != "application/x-ndjson"
    assert not [e for e in store.audit_events() if e["action"] == "audit.export"]
    client.get("/logout")
    assert _signed_in(client)
    download = client.post("/audit.jsonl?action=auth.")
    assert download.status_code == 200 and b"auth.login" in download.data
    assert client.post("/logout").status_code == 302 and not _signed_in(client)


def test_the_database_file_is_private(workspace, con):
    auth.ensure_users_table(con)
    assert stat.S_IMODE(os.stat(workspace.db_path).st_mode) == 0o600


# -- item 16 (labels and display): no labels on clusters no run found; hidden characters shown as codes ----


def test_labelling_a_cluster_no_run_found_is_refused(web):
    app, store = web
    with app.server.test_request_context("/"), pytest.raises(ValueError, match="no cluster 'C-forged'"):
        judgement_form.apply_label_action("C-forged", "comment", {"comment": "hello"}, auth.User("ana", "analyst"))
    assert store.labels("cluster", "C-forged") == []


def test_hidden_and_reordering_characters_are_shown_as_codes():
    assert shown("a\x00b\u202ec\u2066d\u200be\x1bf\tg\nh") == "a[U+0000]b[U+202E]c[U+2066]d[U+200B]e[U+001B]f\tg\nh"
    assert shown(None) == "" and shown("plain: ok") == "plain: ok"
