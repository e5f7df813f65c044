"""Security headers on every reply: what the browser may load, frame and send on.

The Content-Security-Policy allows scripts only from this server plus the
exact inline scripts Dash writes into its page (the renderer start and the
clientside callbacks), by hash (``Dash.csp_hashes``): an injected inline
script or a script from elsewhere does not run. Styles may be inline because
Plotly, Cytoscape and React set ``style`` attributes; images and fonts may
be ``data:`` URIs (Bootstrap's icons, Plotly's exports). Nothing may frame
the UI (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``).
"""

from __future__ import annotations

import dash
import flask

__all__ = ["install", "content_security_policy"]


def content_security_policy(script_hashes: list[str]) -> str:
    """The policy text, scripts limited to this origin and ``script_hashes``."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def install(app: dash.Dash) -> None:
    """Add the headers to every reply of ``app``'s server."""
    fixed = {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }

    @app.server.after_request
    def _secure(reply: flask.Response) -> flask.Response:
        # hashed per reply: Dash gathers its clientside callbacks' scripts on its first request
        reply.headers["Content-Security-Policy"] = content_security_policy(app.csp_hashes())
        reply.headers.update(fixed)
        return reply
