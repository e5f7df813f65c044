"""The cluster filters ``sybilscope queue`` and ``sybilscope export`` share, as click options.

One definition, so both commands accept the same flags with the same
meaning (:class:`graph.triage.QueueFilters`) and the web queue's "Export
queue" keeps the same clusters as either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from app.export import Filters, parse_time
from graph.schema import CLUSTER_STATUSES

__all__ = ["filter_options"]

_OPTIONS = (
    click.option("--status", "statuses", multiple=True, type=click.Choice(CLUSTER_STATUSES),
                 help="Only clusters with this analyst status (repeatable)."),
    click.option("--min-score", type=click.FloatRange(0, 1), default=None,
                 help="Only clusters scoring at least this."),
    click.option("--country", default=None, metavar="CC",
                 help="Only clusters with this ISO alpha-2 country anywhere in their request mix, not only on top."),
    click.option("--since", default=None, metavar="TIME",
                 help="Only clusters active at or after this ISO 8601 time or date (no offset means UTC)."),
    click.option("--until", default=None, metavar="TIME",
                 help="Only clusters active at or before this ISO 8601 time or date (the end is included)."),
    click.option("--kind", "kinds", multiple=True, metavar="TRADECRAFT",
                 help="Only clusters of this tradecraft (e.g. 'hosting farm') or detection kind (repeatable)."),
    click.option("--tag", "tags", multiple=True, metavar="TAG",
                 help="Only clusters an analyst tagged with this tag, e.g. TLP:AMBER (repeatable: any of them)."),
    click.option("--run", "run_id", default=None, help="A detection run id (default: the latest run)."),
)


def filter_options(command: Callable) -> Callable:
    """Add the shared filter options to a click command, which receives them as one ``filters``.

    The command gets a :class:`~app.export.Filters` (times read as ISO
    8601) instead of the eight option values, and the values of its own
    ``--cluster`` option, if it has one, inside it.
    """

    @functools.wraps(command)
    def with_filters(*args, statuses, min_score, country, since, until, kinds, tags, run_id, **kwargs):
        filters = Filters(cluster_ids=kwargs.pop("cluster_ids", ()), statuses=statuses, min_score=min_score,
                          country=country, since=parse_time(since), until=parse_time(until), run_id=run_id,
                          kinds=kinds, tags=tags)
        return command(*args, filters=filters, **kwargs)

    for option in reversed(_OPTIONS):
        with_filters = option(with_filters)
    return with_filters
