"""The request modal's listeners: the global shortcut, node typeahead, nodes picked, submission.

``request_modal`` is also what ``/jit request`` (without arguments) and the Extend button open.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from core.checks import (
    Checked,
    GrantingPolicy,
    PolicyRefusal,
    Requestable,
    RequestInput,
    check,
    extendable,
    person,
    policy_for,
    resolve,
)
from core.context import Context
from core.continuous import continuity
from core.errors import JitError, TransientAwsError
from core.model import AccessRequest
from core.queries import duration_choices, requestable_nodes, usable_policies
from core.submit import record_request
from handlers import ids, replies, request_view
from handlers.deadline import Late, in_background, within
from handlers.later import Later
from handlers.listen import Body, acked, bound
from handlers.request_view import Meta
from handlers.tell import tell
from handlers.text import escape

log = logging.getLogger(__name__)

MAX_OPTIONS = 100  # Slack's cap per answer; typing narrows the list, so every node stays reachable
#: seconds left for a lookup within Slack's 3 s for option lists and modal validation
OPTIONS_BUDGET = 2.0
VALIDATION_BUDGET = 2.3
FIELDS = {"node": ids.NODE_BLOCK, "reason": ids.REASON_BLOCK, "ticket": ids.TICKET_BLOCK, "start": ids.START_BLOCK}


def _find_policy(ctx: Context, name: str) -> GrantingPolicy | None:
    policies = ctx.policies()
    every: list[GrantingPolicy] = [*policies.auto_approval, *policies.manual_approval]
    return next((p for p in every if p.name == name), None)


def request_modal(ctx: Context, user: str, meta: Meta, extending: AccessRequest | None = None) -> View:
    """The request modal for ``user`` (a View), or one explaining why they cannot request anything."""
    zone = ctx.policies().settings.zone
    tr = ctx.tr_for(user)
    try:
        person(ctx, user, "extension" if extending is not None else "request")
    except JitError as err:
        return request_view.blocked(tr, err.say(tr))
    if extending is not None:
        policy = _find_policy(ctx, extending.policy)
        if policy is None:
            return request_view.blocked(tr, tr("Policy '{policy}' no longer exists; request new access.",
                                               policy=extending.policy))
        longest = policy.max_duration
        window = continuity(ctx, policy, extending)  # max_continuous: offer no more than what is left
        if window is not None and window.left > timedelta(0):
            longest = min(longest, window.left)
        return request_view.build(tr, meta=meta, policy=policy, extending=extending, zone=zone,
                                  choices=duration_choices(longest, policy.duration_default),
                                  default=min(policy.duration_default, longest))
    in_background(lambda: ctx.nodes.search("", limit=1), "node inventory warm-up")  # not words: the typeahead needs it
    usable = usable_policies(ctx, ctx.requester(user))
    if not usable:
        return request_view.blocked(tr, tr("No policy lets you request access to any node."))
    longest = max(p.max_duration for p in usable)
    default = min(timedelta(hours=1), longest)
    return request_view.build(tr, meta=meta, choices=duration_choices(longest, default), default=default)


def _picked_view(ctx: Context, user: str, view: dict[str, Any]) -> View:
    """The form with the durations of the first picked node's policy; the others stay picked as they are (the
    submission checks them all, and says on the node field if they cannot go in one request)."""
    meta = Meta.loads(view.get("private_metadata"))
    picked = request_view.picked_options(view)
    if not picked:
        return request_modal(ctx, user, meta)
    node = resolve(ctx, str(picked[0]["value"]))
    try:
        verdict, policy = policy_for(ctx, user, node, None, request_view.parse(view).ticket)
    except PolicyRefusal:
        return request_modal(ctx, user, meta)  # the submission will say why
    more = [kept for kept in map(request_view.kept_option, picked[1:]) if kept is not None]
    return request_view.build(ctx.tr_for(user), meta=meta, policy=policy, node=Requestable(node, verdict),
                              more=more, choices=duration_choices(policy.max_duration, policy.duration_default),
                              default=policy.duration_default)


def _errors(field: str | None, message: str, form: request_view.RequestForm, extension: bool) -> dict[str, str]:
    block = form.duration_block if field == "duration" else FIELDS.get(field or "node", ids.NODE_BLOCK)
    if extension and block == ids.NODE_BLOCK:  # no node picker in an extension: point at its first input
        block = form.duration_block
    return {block: message if len(message) <= 1000 else message[:999] + "…"}


def register(app: App, ctx: Context, later: Later) -> None:
    """The options and the submission's field errors are answered in the ack; the rest runs after it."""
    app.shortcut(ids.SHORTCUT_REQUEST)(acked(ctx, later, open_request))
    app.options(ids.NODE_INPUT)(bound(node_options, ctx))
    app.action(ids.NODE_INPUT)(acked(ctx, later, node_picked))
    app.view(ids.REQUEST_VIEW)(bound(submitted, ctx, later))


def open_request(ctx: Context, client: WebClient, body: Body) -> None:
    """The request modal, fresh (the shortcut, the App Home's button)."""
    client.views_open(trigger_id=body["trigger_id"], view=request_modal(ctx, body["user"]["id"], Meta()).to_dict())


def node_options(ctx: Context, ack: Ack, body: Body) -> None:
    text = str(body.get("value") or "")[:100]
    try:
        found = within(OPTIONS_BUDGET, lambda: requestable_nodes(ctx, body["user"]["id"], text,
                                                                 limit=MAX_OPTIONS), "node search")  # not words
    except (JitError, TransientAwsError, Late) as err:  # an empty list rather than a spinning picker
        log.warning("node options failed", extra={"error": str(err)})
        found = []
    tr = ctx.tr_for(body["user"]["id"])
    ack(options=[request_view.node_option(tr, f).to_dict() for f in found])


def node_picked(ctx: Context, client: WebClient, body: Body) -> None:
    """The form again, with the durations of the picked node's policy."""
    view = body["view"]
    try:
        fresh = _picked_view(ctx, body["user"]["id"], view)
    except (JitError, TransientAwsError) as err:  # the submission will report it on the field
        log.info("picked node could not be looked up", extra={"error": str(err)})
        return
    try:
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=fresh.to_dict())
    except SlackApiError as err:  # hash_conflict: the person changed the view meanwhile
        log.info("request view not updated", extra={"error": err.response.get("error")})


def submitted(ctx: Context, later: Later, ack: Ack, body: Body, view: dict[str, Any]) -> None:
    """Every rule of a submission is checked in the ack (a refusal shows on its field); the request is recorded
    after it, from what the check returned."""
    user = body["user"]["id"]
    meta = Meta.loads(view.get("private_metadata"))
    form = request_view.parse(view)
    data = RequestInput(user, form.node, form.reason, form.duration, form.ticket, extends=meta.extends,
                        start=form.start)
    tr = ctx.tr_for(user)
    try:
        checked = within(VALIDATION_BUDGET, lambda: check(ctx, data), "request validation")  # not words
    except JitError as err:
        ack(response_action="errors", errors=_errors(err.field, err.say(tr), form, bool(meta.extends)))
        return
    except Late:
        ack(response_action="errors", errors=_errors(
            "node", tr("AWS or Slack is slow to answer right now; please submit again in a moment."), form,
            bool(meta.extends)))
        return
    ack()
    later(body, submit_checked, ctx, later.client, checked, meta.response_url)


def submit_checked(ctx: Context, client: WebClient, checked: Checked, response_url: str | None) -> None:
    try:
        done = record_request(ctx, checked)
        text = replies.submitted(done.request, ctx.policies().settings.zone)
    except JitError as err:  # something changed between the check and the recording
        tr = ctx.tr_for(checked.person.user.id)
        text = tr(":warning: {error}", error=escape(err.say(tr)))
    tell(client, response_url, checked.person.user.id, text)


def open_extension(ctx: Context, client: WebClient, trigger_id: str, user: str, request_id: str,
                   response_url: str | None) -> None:
    """The Extend button: the request modal, pre-filled for extending ``request_id``."""
    old = extendable(ctx, user, request_id)
    view = request_modal(ctx, user, Meta(extends=old.id, response_url=response_url), extending=old)
    client.views_open(trigger_id=trigger_id, view=view.to_dict())
