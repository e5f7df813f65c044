"""The analyst's judgement on a cluster: one form (status, attribution, TLP, tags, comment, assignee), one submit.

Status and attribution each carry optional Admiralty grades (source
reliability A-F, information credibility 1-6, :mod:`graph.admiralty`). The
techniques the cluster's evidence suggests (:mod:`app.present.techniques`)
are listed above the tags with why; "Use suggestions" puts them in the tag
picker, where the analyst removes any that do not fit before saving, so a
suggestion becomes a tag only as an audited analyst choice.

Triage is one decision, so the cluster page asks for it in one form. Each
part the analyst changed becomes its own label with its own audit event
through :meth:`app.investigation.Investigation.label`, the call
``sybilscope label`` makes too, so the form and a script never disagree on
what a judgement is; parts left as they were write nothing. Parts are saved
in the order of the form and the first refusal stops the rest: the panel
then says what was saved, what was not and why, and keeps what was typed for
the parts not saved. Feedback is plain markup without a timer of its own, so
the message on screen is always the answer to the latest submit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dash
import dash_bootstrap_components as dbc
import flask_login
from dash import ALL, Input, Output, State, ctx, dcc, html

from app.present.evidence import format_cell
from app.present.techniques import suggest_techniques
from app.web import auth, ids
from app.web.components import STATUS_LABELS, fmt_time, kv_list, shown, status_badge, tag_chip
from app.web.state import current
from app.web.taxonomy import TLP_TAGS, is_tlp, taxonomy_options
from graph import admiralty, triage
from graph.errors import StoreError
from graph.schema import CLUSTER_STATUSES

__all__ = ["Change", "form_changes", "apply_label_action", "label_panel", "audit_view", "register"]

_log = logging.getLogger(__name__)

ASSIGNEE_SELECT = "label-assignee"
STATUS_RELIABILITY, STATUS_CREDIBILITY = "label-status-reliability", "label-status-credibility"
ATTR_RELIABILITY, ATTR_CREDIBILITY = "label-attr-reliability", "label-attr-credibility"
SUGGESTED = "label-suggested"
SUGGESTED_USE = "label-suggested-use"
#: the form's fields (its keys in :func:`form_changes`) and their components, in the order of the form
FIELDS = {"status": ids.STATUS_SELECT, "reason": ids.STATUS_REASON, "status_reliability": STATUS_RELIABILITY,
          "status_credibility": STATUS_CREDIBILITY, "actor": ids.ATTR_ACTOR,
          "country": ids.ATTR_COUNTRY, "confidence": ids.ATTR_CONFIDENCE, "rationale": ids.ATTR_RATIONALE,
          "reliability": ATTR_RELIABILITY, "credibility": ATTR_CREDIBILITY,
          "tlp": ids.LABEL_TLP, "tags": ids.TAG_SELECT, "free_tag": ids.TAG_FREE, "comment": ids.COMMENT_TEXT,
          "assignee": ASSIGNEE_SELECT}
#: which part of the judgement each field belongs to
_PART_OF = {"status": "status", "reason": "status", "status_reliability": "status",
            "status_credibility": "status", "actor": "attribution", "country": "attribution",
            "confidence": "attribution", "rationale": "attribution", "reliability": "attribution",
            "credibility": "attribution", "tlp": "tlp", "tags": "tags",
            "free_tag": "tags", "comment": "comment", "assignee": "assignee"}


@dataclass(frozen=True)
class Change:
    """One label the form asks for: the part of the form it comes from, the action and its values."""

    part: str
    action: str
    values: dict


def _attribution_fields(attribution: Mapping | None) -> dict:
    attribution = attribution or {}
    return {"actor": attribution.get("actor") or "", "country": attribution.get("country") or None,
            "confidence": attribution.get("confidence") or "low", "rationale": attribution.get("note") or "",
            "reliability": attribution.get("reliability") or "", "credibility": attribution.get("credibility") or ""}


def form_values(judgement: triage.EntityJudgement) -> dict:
    """What the form shows for a judgement: its current status, attribution and TLP, nothing else typed."""
    attribution = _attribution_fields(judgement.attribution)
    return {"status": judgement.status, "reason": "", "status_reliability": "", "status_credibility": "",
            "actor": attribution["actor"], "country": attribution["country"] or "",
            "confidence": attribution["confidence"], "rationale": attribution["rationale"],
            "reliability": attribution["reliability"], "credibility": attribution["credibility"], "tlp": next((t for t in judgement.tags if is_tlp(t)), ""),
            "tags": [], "free_tag": "", "comment": "", "assignee": judgement.assignee or ""}


def _given(**values: object) -> dict:
    """``values`` without the Admiralty grades left ungraded (an ungraded label stores none)."""
    return {k: v for k, v in values.items() if v or k not in ("reliability", "credibility")}


def form_changes(judgement: triage.EntityJudgement, form: Mapping) -> list[Change]:
    """The labels a submitted form asks for, compared with the current ``judgement``.

    ``form`` has the keys of :data:`FIELDS`. A status is written when it
    differs from the current one, an attribution when any of its fields
    differs, a TLP marking when another is chosen (the old one is removed:
    one marking applies), tags not already on the cluster, and a comment
    when one is typed. ``ValueError`` when nothing would change, or a
    reason is given for a status that stays as it is.
    """
    text = {key: (form.get(key) or "").strip() for key in FIELDS if key != "tags"}
    changes: list[Change] = []
    if text["status"] and text["status"] != judgement.status:
        changes.append(Change("status", "status", {"status": text["status"], "reason": text["reason"],
                                                   **_given(reliability=text["status_reliability"],
                                                            credibility=text["status_credibility"])}))
    elif text["reason"] or text["status_reliability"] or text["status_credibility"]:
        raise ValueError(f"the status is {STATUS_LABELS.get(judgement.status, judgement.status)} already: "
                         "choose another status for this reason or grading, or write it as a comment")
    proposed = {"actor": text["actor"], "country": text["country"].upper() or None,
                "confidence": text["confidence"] or "low", "rationale": text["rationale"],
                "reliability": text["reliability"], "credibility": text["credibility"]}
    current_attribution = _attribution_fields(judgement.attribution)
    if proposed != current_attribution:
        if judgement.attribution and not (text["actor"] or text["rationale"] or text["country"]):
            raise ValueError("an attribution is replaced, never taken back: give the new actor and rationale, "
                             "or put the current ones back")
        changes.append(Change("attribution", "attribution", _given(**proposed)))
    marked = [tag for tag in judgement.tags if is_tlp(tag)]
    if text["tlp"] and text["tlp"] not in marked:
        changes.append(Change("tlp", "tag", {"tag": text["tlp"]}))
    changes += [Change("tlp", "untag", {"remove": tag}) for tag in marked if tag != text["tlp"]]
    wanted = [*(form.get("tags") or []), text["free_tag"]]
    changes += [Change("tags", "tag", {"tag": tag}) for tag in dict.fromkeys(wanted)
                if tag and tag not in judgement.tags]
    if text["comment"]:
        changes.append(Change("comment", "comment", {"comment": text["comment"]}))
    if form.get("assignee") is not None and text["assignee"] != (judgement.assignee or ""):
        changes.append(Change("assignee", "assign", {"assignee": text["assignee"]}))
    if not changes:
        raise ValueError("nothing to save: change the status, the attribution, the TLP marking, the tags or "
                         "the assignee, or write a comment")
    return changes


def apply_label_action(cluster_id: str, action: str, values: dict, user) -> str:
    """Do one labeling action for ``user`` (:meth:`Investigation.label`) and say what was done.

    ``PermissionError`` for viewers; validation errors from :mod:`graph.triage`
    come out as ``ValueError``.
    """
    label = current().investigation.label(cluster_id, action, values, user)
    if action == "status":
        return f"Status set to {STATUS_LABELS.get(label['value'], label['value'])}."
    if action == "attribution":
        return f"Attributed to {label['value']}."
    if action == "tag":
        return f"Tagged {label['value']}."
    if action == "untag":
        return f"Removed tag {label['value']}."
    if action == "assign":
        return "Unassigned." if (label.get("details") or {}).get("unassigned") else f"Assigned to {label['value']}."
    return "Comment added."


def feedback(message: str, ok: bool) -> html.Div:
    """A message in the panel: plain markup with no timer, replaced by the next submit's answer."""
    return html.Div(message, role="alert",
                    className=f"alert alert-{'success' if ok else 'danger'} py-1 px-2 small mb-0")


def refusal(exc: Exception) -> str:
    """Why a write was refused, in words, and what to do (a store failure keeps the form as typed)."""
    if isinstance(exc, StoreError):  # a full disk, a server gone
        return f"Not saved: {exc}. What you typed is still in the form: try again once that is fixed."
    if isinstance(exc, ValueError | PermissionError):
        return f"Not saved: {exc}."
    _log.exception("a labeling write failed")
    return (f"Not saved: the server failed ({type(exc).__name__}). What you typed is still in the form; "
            "the server log has the details.")


def save(cluster_id: str, changes: Sequence[Change], user) -> tuple[list[str], set[str], Exception | None]:
    """Write ``changes`` in order until one is refused: what was said, the parts saved whole, the refusal."""
    said: list[str] = []
    done: list[Change] = []
    failed: Exception | None = None
    for change in changes:
        try:
            said.append(apply_label_action(cluster_id, change.action, change.values, user))
        except Exception as exc:  # noqa: BLE001 - every refusal is shown in the panel, see refusal()
            failed = exc
            break
        done.append(change)
    unsaved = {change.part for change in changes[len(done):]}
    return said, {change.part for change in done} - unsaved, failed


# -- layout --------------------------------------------------------------------------------------


def judgement_view(judgement: triage.EntityJudgement, can_label: bool) -> html.Div:
    attribution = judgement.attribution
    return html.Div([
        kv_list([
            ("Status", html.Span([status_badge(judgement.status), " ", shown(judgement.status_reason),
                                  _graded(judgement.status_grades)])),
            ("Attribution", f"{attribution.get('actor')} ({attribution.get('country') or 'country ?'}, "
                            f"{attribution.get('confidence')} confidence{_graded(attribution)}): "
                            f"{attribution.get('note') or ''}"
             if attribution else None),
            ("Assignee", shown(judgement.assignee) if judgement.assignee else None),
        ]),
        html.Div([tag_chip(tag, {"type": ids.TAG_REMOVE, "tag": tag} if can_label else None)
                  for tag in judgement.tags], className="mt-2"),
        html.Div([html.Div([html.Span(shown(c["by"]), className="who"), " ",
                            html.Span(fmt_time(c["at"]), className="when"), html.Div(shown(c["text"]))],
                           className="audit-entry") for c in judgement.comments[::-1]],
                 className="mt-1"),
    ], id=ids.LABEL_CURRENT)


def _graded(details: Mapping | None) -> str:
    """", graded B2" after a judgement the analyst graded (Admiralty), nothing otherwise."""
    grading = admiralty.grading(details)
    return f", graded {grading}" if grading else ""


def _grade_selects(reliability_id: str, credibility_id: str, reliability: str, credibility: str,
                   off: bool) -> html.Div:
    """The two Admiralty grades of a status or an attribution, both optional."""
    return html.Div([html.Div("Admiralty grading: source reliability, information credibility",
                              className="small text-secondary mt-1"), dbc.Row([
        dbc.Col(dbc.Select(id=reliability_id, value=reliability, size="sm", disabled=off,
                           options=[{"label": "source reliability: ungraded", "value": ""},
                                    *({"label": f"{k} - {v}", "value": k} for k, v in admiralty.RELIABILITY.items())])),
        dbc.Col(dbc.Select(id=credibility_id, value=credibility, size="sm", disabled=off,
                           options=[{"label": "information credibility: ungraded", "value": ""},
                                    *({"label": f"{k} - {v}", "value": k} for k, v in admiralty.CREDIBILITY.items())])),
    ], className="g-1")])


def _suggestions(cluster: Mapping | None, judgement: triage.EntityJudgement, off: bool) -> html.Div | None:
    """The techniques the evidence suggests and the cluster lacks, each with why, and a button to use them."""
    suggested = [s for s in suggest_techniques(cluster or {}) if s.technique.tag not in judgement.tags]
    if not suggested:
        return None
    return html.Div([
        html.Div("Suggested by the evidence:", className="small text-secondary"),
        html.Ul([html.Li([html.Span(s.technique.tag, className="mono"), f" {s.technique.name}",
                          html.Div(s.because, className="text-secondary")], className="small")
                 for s in suggested], className="mb-1 ps-3"),
        dcc.Store(id=SUGGESTED, data=[s.technique.tag for s in suggested]),
        dbc.Button("Use suggestions", id=SUGGESTED_USE, size="sm", color="secondary", outline=True, disabled=off),
    ], className="mb-1")


def label_panel(judgement: triage.EntityJudgement, user, cluster: Mapping | None = None) -> html.Div:
    """The judgement as it stands, then the one form that changes it (read-only for viewers).

    ``cluster`` (the stored cluster row) gives the techniques its evidence suggests.
    """
    can_label = bool(getattr(user, "can_label", False))
    off = not can_label
    note = None if can_label else html.Div(
        f"You are signed in as a {getattr(user, 'role', 'viewer')}: you can read but not label.",
        className="readonly-note mb-2")
    value = form_values(judgement)
    return html.Div([
        note,
        html.Div(judgement_view(judgement, can_label), id=ids.LABEL_CURRENT + "-wrap"),
        html.H6("Status", className="mt-3"),
        dbc.Select(id=ids.STATUS_SELECT, value=value["status"], disabled=off, size="sm",
                   options=[{"label": STATUS_LABELS[s], "value": s} for s in CLUSTER_STATUSES]),
        dbc.Textarea(id=ids.STATUS_REASON, placeholder="Reason for a status change (required with one)", rows=2,
                     disabled=off, className="mt-1 form-control-sm"),
        _grade_selects(STATUS_RELIABILITY, STATUS_CREDIBILITY, value["status_reliability"],
                       value["status_credibility"], off),
        html.H6("Attribution"),
        dbc.Input(id=ids.ATTR_ACTOR, value=value["actor"], placeholder="Actor or intrusion set", size="sm",
                  disabled=off),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.ATTR_COUNTRY, value=value["country"], placeholder="Country (ISO-2)", size="sm",
                              maxLength=2, disabled=off)),
            dbc.Col(dbc.Select(id=ids.ATTR_CONFIDENCE, value=value["confidence"], size="sm", disabled=off,
                               options=[{"label": f"{c} confidence", "value": c} for c in triage.CONFIDENCE_LEVELS])),
        ], className="g-1 mt-1"),
        dbc.Textarea(id=ids.ATTR_RATIONALE, value=value["rationale"], placeholder="Rationale (required with an actor)",
                     rows=2, disabled=off, className="mt-1 form-control-sm"),
        _grade_selects(ATTR_RELIABILITY, ATTR_CREDIBILITY, value["reliability"], value["credibility"], off),
        html.H6("TLP marking"),
        dbc.Select(id=ids.LABEL_TLP, value=value["tlp"], disabled=off, size="sm",
                   options=[{"label": "no TLP marking", "value": ""},
                            *({"label": tag.label, "value": tag.value} for tag in TLP_TAGS)]),
        html.H6("Tags"),
        _suggestions(cluster, judgement, off),
        dcc.Dropdown(id=ids.TAG_SELECT, options=[o for o in taxonomy_options() if not is_tlp(o["value"])],
                     multi=True, placeholder="Techniques and sybilscope tags", disabled=off, optionHeight=30),
        dbc.Input(id=ids.TAG_FREE, placeholder="or a free tag", disabled=off, size="sm", className="mt-1"),
        html.H6("Assignee"),
        dbc.Select(id=ASSIGNEE_SELECT, value=value["assignee"], disabled=off, size="sm",
                   options=[{"label": "unassigned", "value": ""},
                            *({"label": name, "value": name} for name in _assignees(judgement.assignee))]),
        html.H6("Comment"),
        dbc.Textarea(id=ids.COMMENT_TEXT, placeholder="Notes for the team", rows=2, disabled=off,
                     className="form-control-sm"),
        dbc.Button("Save judgement", id=ids.LABEL_SUBMIT, color="primary", size="sm", disabled=off,
                   className="mt-2 w-100"),
        html.Div(id=ids.LABEL_FEEDBACK, className="mt-2"),
        html.Div(["keys: ", html.Kbd("c"), " confirm, ", html.Kbd("d"), " dismiss, ", html.Kbd("?"), " all keys"],
                 className="hint mt-2") if can_label else None,
    ])


def _assignees(holder: str | None) -> list[str]:
    """Who a cluster can be given to: active users who may label, and whoever holds it now."""
    names = [u["name"] for u in auth.list_users(current().con())
             if not u["disabled"] and auth.role_at_least(u["role"], "analyst")]
    return names + [holder] if holder and holder not in names else names


_ACTION_WORDS = {"label.assign": "assigned", "label.status": "changed status", "label.attribution": "attributed", "label.tag": "tagged",
                 "label.untag": "removed a tag", "label.comment": "commented", "export": "exported",
                 "brief": "wrote a briefing"}


def _change(event: dict) -> str:
    before, after = event.get("before"), event.get("after")
    if event.get("action") == "label.status":
        return (f"{STATUS_LABELS.get((before or {}).get('status'), '?')} → "
                f"{STATUS_LABELS.get((after or {}).get('status'), '?')}: {(after or {}).get('reason', '')}"
                f"{_graded(after)}")
    if event.get("action") in ("label.tag", "label.untag"):
        old, new = set((before or {}).get("tags", [])), set((after or {}).get("tags", []))
        return ", ".join([f"+{t}" for t in sorted(new - old)] + [f"-{t}" for t in sorted(old - new)])
    if event.get("action") == "label.comment":
        return (after or {}).get("comment", "")
    if event.get("action") == "label.assign":
        return f"{(before or {}).get('assignee') or 'unassigned'} → {(after or {}).get('assignee') or 'unassigned'}"
    if event.get("action") == "label.attribution":
        return (f"{(after or {}).get('actor')} ({(after or {}).get('country') or '?'}, "
                f"{(after or {}).get('confidence')}{_graded(after)})")
    return format_cell("after", after)


def audit_view(events: list[dict]) -> html.Div:
    if not events:
        return html.Div("No analyst actions yet.", className="text-secondary small")
    return html.Div([
        html.Div([
            html.Span(shown(event.get("user")) or "?", className="who"), " ",
            shown(_ACTION_WORDS.get(event.get("action"), event.get("action"))), " ",
            html.Span(fmt_time(event.get("at"), seconds=True), className="when"),
            html.Div(shown(_change(event)), className="small"),
        ], className="audit-entry") for event in events[:50]
    ])


# -- callbacks ------------------------------------------------------------------------------------


def _submit(cluster_id: str, form: dict, user) -> tuple[html.Div, list]:
    """Save the form; the message and each field's next value (``no_update`` keeps what was typed)."""
    before = triage.judgement(current().store, "cluster", cluster_id)
    try:
        changes = form_changes(before, form)
    except ValueError as exc:
        return feedback(refusal(exc), ok=False), [dash.no_update] * len(FIELDS)
    said, saved, failed = save(cluster_id, changes, user)
    fresh = form_values(triage.judgement(current().store, "cluster", cluster_id))
    fields = [fresh[key] if failed is None or _PART_OF[key] in saved else dash.no_update for key in FIELDS]
    if failed is None:
        return feedback("Saved. " + " ".join(said), ok=True), fields
    message = refusal(failed) + (f" Saved before that: {' '.join(said)}" if said else "")
    return feedback(message, ok=False), fields


def register(app: dash.Dash) -> None:
    """The form's submit, the tag chips' remove buttons and "Use suggestions"."""

    @app.callback(Output(ids.TAG_SELECT, "value", allow_duplicate=True), Input(SUGGESTED_USE, "n_clicks"),
                  State(SUGGESTED, "data"), State(ids.TAG_SELECT, "value"), prevent_initial_call=True)
    def use_suggestions(_clicks, suggested, chosen):
        return list(dict.fromkeys([*(chosen or []), *(suggested or [])]))

    @app.callback(
        Output(ids.LABEL_FEEDBACK, "children"),
        Output(ids.LABEL_CURRENT + "-wrap", "children"),
        Output(ids.CLUSTER_AUDIT, "children"),
        Output(ids.CLUSTER_STATUS_BADGE, "children"),
        *(Output(component, "value") for component in FIELDS.values()),
        Input(ids.LABEL_SUBMIT, "n_clicks"),
        Input({"type": ids.TAG_REMOVE, "tag": ALL}, "n_clicks"),
        State(ids.CLUSTER_ID, "data"),
        *(State(component, "value") for component in FIELDS.values()),
        prevent_initial_call=True,
    )
    def label(_submits, _removes, cluster_id, *values):
        user = flask_login.current_user
        trigger = ctx.triggered_id
        if isinstance(trigger, dict):
            if not ctx.triggered[0]["value"]:  # a remove button was (re)drawn, not clicked
                raise dash.exceptions.PreventUpdate
            try:
                message = feedback(apply_label_action(cluster_id, "untag", {"remove": trigger["tag"]}, user), ok=True)
            except Exception as exc:  # noqa: BLE001 - shown in the panel, see refusal()
                message = feedback(refusal(exc), ok=False)
            fresh = form_values(triage.judgement(current().store, "cluster", cluster_id))
            fields = [fresh["tlp"] if key == "tlp" else dash.no_update for key in FIELDS]
        else:
            message, fields = _submit(cluster_id, dict(zip(FIELDS, values, strict=True)), user)
        store = current().store
        judgement = triage.judgement(store, "cluster", cluster_id)
        return (message, judgement_view(judgement, user.can_label),
                audit_view(store.audit_events(target=f"cluster:{cluster_id}")), status_badge(judgement.status),
                *fields)
