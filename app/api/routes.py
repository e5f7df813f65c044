"""The API's routes: each is declared once, with what its OpenAPI operation says about it.

:func:`blueprint` registers every route on a Flask blueprint and records
its :class:`Operation`, from which :mod:`app.api.openapi` writes the
document, so the document cannot leave a route out. Every route but the
document itself needs ``Authorization: Bearer <token>`` (:mod:`app.api.tokens`)
and answers 401 without a live one. The answers are what the CLI gives for
the same question, from the same :class:`~app.investigation.Investigation`:
the queue is ``sybilscope queue``'s (same filters), an export is the files
``sybilscope export`` writes, zipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime

import flask

from app.api import tokens
from app.api.openapi import Operation, Parameter, document
from app.export import FORMATS, Filters, parse_time
from app.investigation import Investigation
from graph.errors import FilterError, SybilscopeError
from graph.schema import CLUSTER_STATUSES

__all__ = ["FILTERS", "PREFIX", "blueprint"]

PREFIX = "/api"


_CLUSTER_ID = Parameter("cluster_id", "A cluster id from the queue.", {"type": "string"}, where="path")
#: the filters of ``sybilscope queue`` and ``sybilscope export`` (:mod:`app.commands.filter_options`)
FILTERS = (
    Parameter("status", "Only clusters with this analyst status (repeatable).",
              {"type": "string", "enum": list(CLUSTER_STATUSES)}, repeated=True),
    Parameter("min_score", "Only clusters scoring at least this.", {"type": "number", "minimum": 0, "maximum": 1}),
    Parameter("country", "Only clusters with this ISO alpha-2 country anywhere in their request mix.",
              {"type": "string"}),
    Parameter("since", "Only clusters active at or after this ISO 8601 time or date (no offset means UTC).",
              {"type": "string"}),
    Parameter("until", "Only clusters active at or before this ISO 8601 time or date (the end is included).",
              {"type": "string"}),
    Parameter("run", "A detection run id (default: the latest run).", {"type": "string"}),
    Parameter("kind", "Only clusters of this tradecraft or detection kind (repeatable).", {"type": "string"},
              repeated=True),
    Parameter("tag", "Only clusters an analyst tagged with this (repeatable).", {"type": "string"}, repeated=True),
)
_BAD_FILTER = {"400": "A filter cannot be read or names something that does not exist."}
_NO_CLUSTER = {"404": "No detection run found this cluster."}


def _json(value: object, status: int = 200) -> flask.Response:
    def plain(item: object) -> object:
        if isinstance(item, datetime | date):
            return item.isoformat()
        return str(item)

    return flask.Response(json.dumps(value, default=plain), status=status, mimetype="application/json")


def _error(status: int, message: str) -> flask.Response:
    reply = _json({"error": message}, status)
    if status == 401:
        reply.headers["WWW-Authenticate"] = 'Bearer realm="sybilscope"'
    return reply


def _filters(cluster_ids: tuple[str, ...] = ()) -> Filters:
    """The request's filters, read as the CLI reads its flags (``FilterError`` when one is wrong)."""
    args = flask.request.args
    try:
        min_score = float(args["min_score"]) if args.get("min_score") else None
    except ValueError:
        raise FilterError(f"min_score must be a number between 0 and 1, not {args['min_score']!r}") from None
    return Filters(cluster_ids=cluster_ids, statuses=tuple(args.getlist("status")), min_score=min_score,
                   country=args.get("country") or None, since=parse_time(args.get("since")),
                   until=parse_time(args.get("until")), run_id=args.get("run") or None,
                   kinds=tuple(args.getlist("kind")), tags=tuple(args.getlist("tag")))


def _queue_row(cluster: dict) -> dict:
    """A queue row without the cluster's evidence (``/clusters/{id}/evidence`` has it)."""
    return {key: value for key, value in cluster.items() if key != "evidence"}


def blueprint(investigation: Investigation) -> flask.Blueprint:
    """The API's blueprint on ``investigation``: every route, and the document that lists them."""
    api = flask.Blueprint("api", __name__, url_prefix=PREFIX)
    operations: list[Operation] = []

    def route(operation: Operation) -> Callable[[Callable], Callable]:
        rule = operation.path.replace("{", "<").replace("}", ">")

        def add(view: Callable) -> Callable:
            operations.append(operation)
            api.add_url_rule(rule, operation.operation_id, view, methods=["GET"])
            return view

        return add

    @api.before_request
    def _sign_in():
        if flask.request.endpoint in {f"api.{op.operation_id}" for op in operations if op.public}:
            return None
        scheme, _, token = flask.request.headers.get("Authorization", "").partition(" ")
        user = tokens.verify(investigation.reader(), token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return _error(401, "send a live API token: 'Authorization: Bearer <token>' "
                               "(an admin creates one with `sybilscope users token create NAME`)")
        flask.g.api_user = user
        return None

    @api.errorhandler(SybilscopeError)
    def _refused(exc: SybilscopeError):
        return _error(400, str(exc))

    @api.before_app_request
    def _only_api_routes():
        # the web pages' catch-all route would otherwise answer, outside the login, with the UI's HTML
        if flask.request.path.startswith(f"{PREFIX}/") and flask.request.blueprint != api.name:
            return _error(404, f"no API route {flask.request.path}: see {PREFIX}/openapi.json")
        return None

    def _case(cluster_id: str):
        try:
            return investigation.cluster(cluster_id)
        except SybilscopeError as exc:
            flask.abort(_error(404, str(exc)))

    @route(Operation("/queue", "queue", "The triage queue: the clusters of the latest (or named) run the filters "
                     "keep, highest score first, as `sybilscope queue` lists them.", FILTERS, errors=_BAD_FILTER))
    def queue():
        selection = investigation.queue(_filters())
        return _json({"run": selection.run, "filters": selection.filters.describe(),
                      "clusters": [_queue_row(c) for c in selection.clusters]})

    @route(Operation("/clusters/{cluster_id}", "cluster", "One cluster as the latest run that found it saw it, "
                     "with the analysts' judgement (status, attribution, tags, comments).", (_CLUSTER_ID,),
                     errors=_NO_CLUSTER))
    def cluster(cluster_id: str):
        case = _case(cluster_id)
        return _json({"cluster": case.cluster, "judgement": asdict(case.judgement)})

    @route(Operation("/clusters/{cluster_id}/members", "cluster_members", "The member accounts of a cluster, "
                     "strongest first, with why each belongs.", (_CLUSTER_ID,), errors=_NO_CLUSTER))
    def members(cluster_id: str):
        case = _case(cluster_id)
        rows = investigation.store.members(cluster_id, case.cluster.get("run_id"))
        return _json({"cluster_id": cluster_id, "run_id": case.cluster.get("run_id"), "members": rows})

    @route(Operation("/clusters/{cluster_id}/evidence", "cluster_evidence", "Why a cluster was found: its "
                     "reasons, the evidence the detectors recorded and the attribution hints.", (_CLUSTER_ID,),
                     errors=_NO_CLUSTER))
    def evidence(cluster_id: str):
        found = _case(cluster_id).cluster
        keys = ("cluster_id", "run_id", "kind", "score", "reasons", "evidence", "attribution", "exposure")
        return _json({key: found.get(key) for key in keys})

    @route(Operation("/export/{format}", "export", "An export of the clusters the filters keep (all of the "
                     "latest run by default), as the zipped files `sybilscope export --format FORMAT` writes, "
                     "manifest included. Recorded in the audit log under the token's user.",
                     (Parameter("format", "The export format.", {"type": "string", "enum": list(FORMATS)},
                                where="path"),
                      Parameter("cluster", "Only this cluster (repeatable).", {"type": "string"}, repeated=True),
                      *FILTERS),
                     media_type="application/zip", errors=_BAD_FILTER))
    def export(format: str):  # noqa: A002 - the path parameter's name, as the document shows it
        if format not in FORMATS:
            return _error(404, f"no export format {format!r}: use one of {', '.join(FORMATS)}")
        filters = _filters(tuple(flask.request.args.getlist("cluster")))
        archive = investigation.export_archive(format, filters, user=flask.g.api_user.name)
        return flask.Response(archive, mimetype="application/zip", headers={
            "Content-Disposition": f"attachment; filename=sybilscope-{format}.zip"})

    @route(Operation("/openapi.json", "openapi", "This document: every route of the API (no token needed).",
                     public=True))
    def openapi():
        return _json(document(operations, PREFIX))

    return api
