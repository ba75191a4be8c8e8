"""Buttons: Approve / Reject (with the reject-reason modal), and the requester's Cancel / Release / Extend.

The request id travels in the button's value; the answers are in the clicker's language. Buttons in messages
answer ephemerally through the response_url; buttons in the App Home have none, so their answers go by DM.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from core import access
from core.approvals import check_decider, decide
from core.context import Context
from core.errors import InvalidInput, JitError
from core.i18n import T, Tr
from handlers import ids
from handlers.later import Later
from handlers.listen import Body, button, chosen, submission
from handlers.modals import open_extension
from handlers.replies import released
from handlers.tell import tell
from handlers.text import escape
from handlers.views import RejectModal, metadata, modal_metadata


def register(app: App, ctx: Context, later: Later) -> None:
    """Each button acks at once; its use case runs after (``handlers.later``)."""
    app.action(ids.APPROVE)(button(ctx, later, approve))
    app.action(ids.APPROVE_FOR)(chosen(ctx, later, approve_for))
    app.action(ids.REJECT)(button(ctx, later, ask_why))
    app.view(ids.REJECT_VIEW)(submission(ctx, later, RejectModal.check, reject))
    app.action(ids.CANCEL)(button(ctx, later, cancel))
    app.action(ids.RELEASE)(button(ctx, later, release))
    app.action(ids.EXTEND)(button(ctx, later, extend))


def _tell(body: Body, client: WebClient, text: str) -> None:
    """Answer the clicker privately: where they clicked when Slack gave a response_url, else by DM."""
    tell(client, body.get("response_url"), body["user"]["id"], text)


def _tr(ctx: Context, body: Body) -> Tr:
    """The clicker's language."""
    return ctx.tr_for(body["user"]["id"])


def _warn(err: JitError, tr: Tr) -> str:
    return f":warning: {escape(err.say(tr))}"


def approve(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    tr = _tr(ctx, body)
    try:
        outcome = decide(ctx, request_id, body["user"]["id"], approve=True)
    except JitError as err:
        _tell(body, client, _warn(err, tr))
        return
    _tell(body, client, tr.text(outcome.message))


def approve_for(ctx: Context, client: WebClient, body: Body, choice: str) -> None:
    """"Approve for…": approve for the shorter duration chosen (the option's value: "<request id>:<seconds>")."""
    request_id, _, seconds = choice.partition(":")
    tr = _tr(ctx, body)
    try:
        if not seconds.isdigit():
            raise InvalidInput(T("That is not one of the durations offered."))
        outcome = decide(ctx, request_id, body["user"]["id"], approve=True, duration=timedelta(seconds=int(seconds)))
    except JitError as err:
        _tell(body, client, _warn(err, tr))
        return
    _tell(body, client, tr.text(outcome.message))


def ask_why(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    """Reject: the modal asking why, once it is sure the clicker may reject."""
    try:
        request = check_decider(ctx, request_id, body["user"]["id"], approve=False)
    except JitError as err:
        _tell(body, client, _warn(err, _tr(ctx, body)))
        return
    meta = metadata(request_id, body.get("response_url"))
    view = RejectModal.build(ctx.tr_for(body["user"]["id"]), request, meta)
    client.views_open(trigger_id=body["trigger_id"], view=view.to_dict())


def reject(ctx: Context, client: WebClient, body: Body, view: dict[str, Any], reason: str) -> None:
    request_id, response_url = modal_metadata(view)
    user = body["user"]["id"]
    tr = ctx.tr_for(user)
    try:
        text = tr.text(decide(ctx, request_id, user, approve=False, comment=reason).message)
    except JitError as err:
        text = _warn(err, tr)
    tell(client, response_url, user, text)


def cancel(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    tr = _tr(ctx, body)
    try:
        done = access.cancel(ctx, request_id, body["user"]["id"])
    except JitError as err:
        _tell(body, client, _warn(err, tr))
        return
    _tell(body, client, tr("Request *{id}* is cancelled.", id=done.id))


def release(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    tr = _tr(ctx, body)
    try:
        done = access.release(ctx, request_id, body["user"]["id"])
    except JitError as err:
        _tell(body, client, _warn(err, tr))
        return
    _tell(body, client, released(done, tr))


def extend(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    try:
        open_extension(ctx, client, body["trigger_id"], body["user"]["id"], request_id, body.get("response_url"))
    except JitError as err:
        _tell(body, client, _warn(err, _tr(ctx, body)))
