"""Buttons: Approve / Reject (with the reject-reason modal), and the requester's Cancel / Release / Extend.

The request id travels in the button's value. Buttons in messages answer ephemerally through the
response_url; buttons in the App Home have none, so their answers go by DM.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from core import access
from core.approvals import check_approver, decide
from core.context import Context
from core.errors import JitError, NotFound
from handlers import ids
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


def register(app: App, ctx: Context) -> None:
    @app.action(ids.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            outcome = decide(ctx, _value(action), body["user"]["id"], approve=True)
        except JitError as err:
            _tell(body, client, _warn(err))
            return
        _tell(body, client, outcome.message)

    @app.action(ids.REJECT)
    def reject(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        request_id = _value(action)
        try:
            with ctx.uow() as uow:
                request = uow.repo.get(request_id)
                decisions = uow.repo.decisions(request_id) if request else []
            if request is None:
                raise NotFound(f"There is no request {request_id}.")
            check_approver(ctx, request, body["user"]["id"], decisions)
        except JitError as err:
            _tell(body, client, _warn(err))
            return
        meta = json.dumps({"id": request_id, "response_url": body.get("response_url")})
        client.views_open(trigger_id=body["trigger_id"], view=reject_modal(request, meta).to_dict())

    @app.view(ids.REJECT_VIEW)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        reason = reject_reason(view)
        if not reason:
            ack(response_action="errors", errors={ids.REASON_BLOCK: "Please say why you reject it."})
            return
        ack()
        request_id, response_url = modal_metadata(view)
        user = body["user"]["id"]
        try:
            outcome = decide(ctx, request_id, user, approve=False, comment=reason)
            text = outcome.message
        except JitError as err:
            text = _warn(err)
        tell(client, response_url, user, text)

    @app.action(ids.CANCEL)
    def cancel(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            done = access.cancel(ctx, _value(action), body["user"]["id"])
        except JitError as err:
            _tell(body, client, _warn(err))
            return
        _tell(body, client, f"Request *{done.id}* is cancelled.")

    @app.action(ids.RELEASE)
    def release(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            done = access.release(ctx, _value(action), body["user"]["id"])
        except JitError as err:
            _tell(body, client, _warn(err))
            return
        _tell(body, client, released(done))

    @app.action(ids.EXTEND)
    def extend(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            open_extension(ctx, client, body["trigger_id"], body["user"]["id"], _value(action),
                           body.get("response_url"))
        except JitError as err:
            _tell(body, client, _warn(err))
