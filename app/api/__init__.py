"""A read-only JSON API on the web server, for scripts: the queue, clusters, members, evidence, exports.

It lives under ``/api/`` on the same Flask server as the web UI
(:func:`register`) and answers from the same
:class:`~app.investigation.Investigation`, so a script and an analyst see
the same run. Callers show an API token (:mod:`app.api.tokens`) instead of
signing in; the routes and their OpenAPI document are in
:mod:`app.api.routes` and :mod:`app.api.openapi`.
"""

from __future__ import annotations

import flask

from app.api.routes import blueprint
from app.investigation import Investigation

__all__ = ["register"]


def register(server: flask.Flask, investigation: Investigation) -> None:
    """Serve the API under ``/api/`` on ``server``, from ``investigation``."""
    server.register_blueprint(blueprint(investigation))
