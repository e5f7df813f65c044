"""The pages of the web UI, one module a page: its layout and the callbacks that serve it.

Each module exposes ``register(app)``, which registers the page with Dash
Pages and attaches its callbacks to that app (not to Dash's global list, so
that several apps, as in the tests, each get their own).
"""

from app.web.pages import audit, cluster, compare, entity, overview, users

PAGES = (overview, cluster, compare, entity, audit, users)

__all__ = ["PAGES"]
