"""Buttons: Approve / Reject (with the reject-reason modal), and the requester's Cancel / Release / Extend.

The request id travels in the button's value. Buttons in messages answer ephemerally through the
response_url; buttons in the App Home have none, so their answers go by DM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from core import access
from core.approvals import check_approver, decide
from core.context import Context
from core.errors import JitError, NotFound
from handlers import ids
from handlers.later import Later
from handlers.modals import open_extension
from handlers.replies import released
from handlers.tell import tell
from handlers.text import escape
from handlers.views import modal_metadata, reject_modal, reject_reason


def _value(action: dict[str, Any]) -> str:
    return str(action.get("value", ""))[:40]


def _tell(body: dict[str, Any], client: WebClient, text: str) -> None:
    """Answer the clicker privately: where they clicked when Slack gave a response_url, else by DM."""
    tell(client, body.get("response_url"), body["user"]["id"], text)


def _warn(err: JitError) -> str:
    return f":warning: {escape(str(err))}"


def register(app: App, ctx: Context, later: Later) -> None:
    """Each button acks at once; its use case runs after (``handlers.later``)."""

    def approve(body: dict[str, Any], request_id: str) -> None:
        try:
            outcome = decide(ctx, request_id, body["user"]["id"], approve=True)
        except JitError as err:
            _tell(body, later.client, _warn(err))
            return
        _tell(body, later.client, outcome.message)

    def reject(body: dict[str, Any], request_id: str) -> None:
        try:
            with ctx.uow() as uow:
                request = uow.repo.get(request_id)
                decisions = uow.repo.decisions(request_id) if request else []
            if request is None:
                raise NotFound(f"There is no request {request_id}.")
            check_approver(ctx, request, body["user"]["id"], decisions, approve=False)
        except JitError as err:
            _tell(body, later.client, _warn(err))
            return
        meta = json.dumps({"id": request_id, "response_url": body.get("response_url")})
        later.client.views_open(trigger_id=body["trigger_id"], view=reject_modal(request, meta).to_dict())

    def rejected(body: dict[str, Any], view: dict[str, Any], reason: str) -> None:
        request_id, response_url = modal_metadata(view)
        user = body["user"]["id"]
        try:
            text = decide(ctx, request_id, user, approve=False, comment=reason).message
        except JitError as err:
            text = _warn(err)
        tell(later.client, response_url, user, text)

    def cancel(body: dict[str, Any], request_id: str) -> None:
        try:
            done = access.cancel(ctx, request_id, body["user"]["id"])
        except JitError as err:
            _tell(body, later.client, _warn(err))
            return
        _tell(body, later.client, f"Request *{done.id}* is cancelled.")

    def release(body: dict[str, Any], request_id: str) -> None:
        try:
            done = access.release(ctx, request_id, body["user"]["id"])
        except JitError as err:
            _tell(body, later.client, _warn(err))
            return
        _tell(body, later.client, released(done))

    def extend(body: dict[str, Any], request_id: str) -> None:
        try:
            open_extension(ctx, later.client, body["trigger_id"], body["user"]["id"], request_id,
                           body.get("response_url"))
        except JitError as err:
            _tell(body, later.client, _warn(err))

    for action_id, work in ((ids.APPROVE, approve), (ids.REJECT, reject), (ids.CANCEL, cancel),
                            (ids.RELEASE, release), (ids.EXTEND, extend)):
        app.action(action_id)(_clicked(later, work))

    @app.view(ids.REJECT_VIEW)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = reject_reason(view)
        if not reason:
            ack(response_action="errors", errors={ids.REASON_BLOCK: "Please say why you reject it."})
            return
        ack()
        later(body, rejected, body, view, reason)


def _clicked(later: Later, work: Callable[[dict[str, Any], str], None]) -> Callable[..., None]:
    """A button's listener: ack, then ``work(body, request id from the button)``."""
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        later(body, work, body, _value(action))
    listener.__name__ = f"clicked_{work.__name__}"
    return listener
