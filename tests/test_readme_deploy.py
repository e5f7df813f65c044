"""The README's deployment note runs as written: its ``wsgi.py`` serves a workspace behind a TLS proxy."""

from __future__ import annotations

import re
from pathlib import Path

import webcase

from app.web import auth
from graph import warehouse
from graph.store import open_store

README = Path(__file__).resolve().parents[1] / "README.md"


def _wsgi_example() -> str:
    """The indented ``wsgi.py`` block under "Deploying for a team"."""
    section = README.read_text(encoding="utf-8").split("## Deploying for a team", 1)[1]
    block = re.search(r"a `wsgi.py` such as:\n\n((?: {6}.*\n|\n)+)", section).group(1)
    return "\n".join(line[6:] for line in block.rstrip().splitlines())


def test_the_readme_wsgi_example_serves_the_workspace_with_secure_cookies(workspace):
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    store.close()
    auth.create_user(warehouse.connect(workspace.db_path), "ana", "analyst-pass", "analyst")
    source = _wsgi_example().replace('"/srv/sybilscope/case-2019-12"', repr(str(workspace.root)))
    assert "create=False" in source and "ProxyFix" in source
    namespace: dict = {}
    exec(compile(source, "wsgi.py", "exec"), namespace)  # noqa: S102 - the README's own example
    client = namespace["application"].test_client()
    assert client.get("/healthz").json == {"ok": True}
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    signed_in = client.post("/login", data={"username": "ana", "password": "analyst-pass", "next": "/"},
                            headers=proxied, base_url="http://sybilscope.example")
    assert signed_in.status_code == 302
    cookie = signed_in.headers["Set-Cookie"]
    assert "sybilscope_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
