"""The API described as an OpenAPI 3.1 document, from the routes' own declarations.

:mod:`app.api.routes` declares each route as an :class:`Operation`; this
module turns the list into the document served at ``/api/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graph import __version__

__all__ = ["Operation", "Parameter", "document"]


@dataclass(frozen=True)
class Parameter:
    """One query or path parameter, as OpenAPI describes it."""

    name: str
    description: str
    schema: dict
    where: str = "query"
    repeated: bool = False


@dataclass(frozen=True)
class Operation:
    """One ``GET`` route: its OpenAPI path (``/clusters/{cluster_id}``), what it returns, and who may call it."""

    path: str
    operation_id: str
    summary: str
    parameters: tuple[Parameter, ...] = ()
    media_type: str = "application/json"
    public: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def _parameter(parameter: Parameter) -> dict:
    schema = {"type": "array", "items": parameter.schema} if parameter.repeated else parameter.schema
    described = {"name": parameter.name, "in": parameter.where, "description": parameter.description,
                 "required": parameter.where == "path", "schema": schema}
    if parameter.repeated:
        described.update(style="form", explode=True)
    return described


def _operation(operation: Operation) -> dict:
    body = {"type": "string", "format": "binary"} if operation.media_type != "application/json" else {"type": "object"}
    responses = {"200": {"description": "OK", "content": {operation.media_type: {"schema": body}}}}
    if not operation.public:
        responses["401"] = {"description": "No live API token was sent."}
    responses.update({code: {"description": text} for code, text in operation.errors.items()})
    described = {"operationId": operation.operation_id, "summary": operation.summary,
                 "parameters": [_parameter(p) for p in operation.parameters], "responses": responses}
    if operation.public:
        described["security"] = []
    return described


def document(operations: Sequence[Operation], prefix: str) -> dict:
    """The OpenAPI document of ``operations``, served under ``prefix``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sybilscope API",
            "version": __version__,
            "description": "Read-only access to one workspace: the triage queue, clusters, their members and "
                           "evidence, and exports. Send `Authorization: Bearer <token>`; an admin creates "
                           "tokens with `sybilscope users token create NAME`.",
        },
        "servers": [{"url": prefix}],
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": {op.path: {"get": _operation(op)} for op in operations},
    }
