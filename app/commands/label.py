"""``sybilscope label``: record an analyst's judgement on a cluster, as the web's labeling form does."""

from __future__ import annotations

import json

import click

from app.commands.export import cli_user
from app.context import CliContext
from app.web.auth import User
from graph.errors import SybilscopeError
from graph.schema import CLUSTER_STATUSES
from graph.triage import CONFIDENCE_LEVELS

# the option that picks each action, and the options that only go with it
_CHANGES = {"status": ("reason", "reliability", "credibility"),
            "attribution": ("country", "confidence", "rationale", "reliability", "credibility"), "tag": (),
            "untag": (), "comment": (), "assign": ()}
_FLAGS = {"status": "--status", "attribution": "--attribute", "tag": "--tag", "untag": "--untag",
          "comment": "--comment", "assign": "--assign", "reason": "--reason", "country": "--country",
          "confidence": "--confidence", "rationale": "--rationale", "reliability": "--reliability",
          "credibility": "--credibility"}
# the web form's field for an action's own value, where it is not named after the action
_FORM_FIELDS = {"attribution": "actor", "untag": "remove", "assign": "assignee"}


def _action(given: dict[str, str | None]) -> str:
    """The one change asked for; a sentence naming the flags when there is none, several, or a stray one."""
    chosen = [action for action in _CHANGES if given[action] is not None]
    if len(chosen) != 1:
        raise SybilscopeError(f"give one change a call: {', '.join(_FLAGS[a] for a in _CHANGES)} "
                              "(each is its own label, as in the web form)")
    action = chosen[0]
    stray = list(dict.fromkeys(_FLAGS[name] for changes in _CHANGES.values() for name in changes
                               if given[name] is not None and name not in _CHANGES[action]))
    if stray:
        raise SybilscopeError(f"{', '.join(stray)} does not go with {_FLAGS[action]}")
    return action


@click.command("label")
@click.argument("cluster_id")
@click.option("--status", default=None, metavar="STATUS",
              help=f"Set the triage status: {', '.join(CLUSTER_STATUSES)} (needs --reason).")
@click.option("--reason", default=None, help="Why the status changes.")
@click.option("--attribute", "attribution", default=None, metavar="ACTOR",
              help="Attribute the cluster to an actor or intrusion set (needs --rationale).")
@click.option("--country", default=None, metavar="CC", help="The actor's country, ISO alpha-2 (with --attribute).")
@click.option("--confidence", default=None, metavar="LEVEL",
              help=f"How sure the attribution is: {', '.join(CONFIDENCE_LEVELS)} (with --attribute; default low).")
@click.option("--rationale", default=None, help="Why the attribution holds (with --attribute).")
@click.option("--reliability", default=None, metavar="A-F",
              help="Admiralty source reliability of the status or attribution: A (completely reliable) "
                   "to F (cannot be judged).")
@click.option("--credibility", default=None, metavar="1-6",
              help="Admiralty information credibility of the status or attribution: 1 (confirmed by other "
                   "sources) to 6 (cannot be judged).")
@click.option("--tag", default=None, help="Add a tag: a TLP marking (TLP:AMBER), a technique or a free tag.")
@click.option("--untag", default=None, metavar="TAG", help="Remove a tag (the history keeps both).")
@click.option("--comment", default=None, help="Add a comment for the team.")
@click.option("--assign", default=None, metavar="USER",
              help="Assign the cluster to USER, who works it from here (--assign '' takes it back).")
@click.option("--analyst", default=None,
              help="Who labels, as recorded on the label and in the audit log (default: cli:<OS user>).")
@click.option("--json", "as_json", is_flag=True, help="Print the label appended as one JSON object.")
@click.pass_obj
def command(ctx: CliContext, cluster_id: str, analyst: str | None, as_json: bool, **given: str | None) -> None:
    """Record one judgement on CLUSTER_ID: a status, an attribution, a tag, a removed tag, a comment or an assignee.

    Labels are appended, never changed: each call adds one label and one
    audit event (with the state before and after), exactly as the web UI's
    labeling form does, under --analyst or the OS user's name. The current
    judgement is the newest label of each kind (see `sybilscope queue`).
    """
    action = _action(given)
    values = {name: given[name] for name in _CHANGES[action]}
    values[_FORM_FIELDS.get(action, action)] = given[action]
    if action == "attribution":
        values["confidence"] = values["confidence"] or "low"  # the web form's default
    who = cli_user() if analyst is None else analyst.strip()
    if not who:
        raise SybilscopeError("--analyst cannot be empty: give the name to record, or leave it out")
    try:
        label = ctx.investigation.label(cluster_id, action, values, User(who, "analyst"))
    except ValueError as exc:
        raise SybilscopeError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(label, default=str))
        return
    ctx.console.print(f"cluster {cluster_id}: {action} {label['value']!r} recorded by {who}", highlight=False)
