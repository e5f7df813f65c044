"""Graph stores: pick the backend a workspace's settings name."""

from __future__ import annotations

from graph.store.base import GraphStore, Neighbourhood
from graph.workspace import Workspace

__all__ = ["GraphStore", "Neighbourhood", "open_store"]


def open_store(workspace: Workspace) -> GraphStore:
    """The workspace's graph store, schema ensured: embedded DuckDB or Neo4j over Bolt."""
    settings = workspace.settings
    if settings.store == "neo4j":
        from graph.store.neo4j import Neo4jStore

        store: GraphStore = Neo4jStore(
            uri=settings.neo4j_uri or "",
            user=settings.neo4j_user,
            password=settings.neo4j_password(),
            database=settings.neo4j_database,
        )
    else:
        from graph.store.embedded import EmbeddedStore

        store = EmbeddedStore(workspace.db_path)
    store.ensure_schema()
    return store
