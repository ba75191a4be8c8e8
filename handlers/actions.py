"""Approve / Reject buttons and the reject-reason modal. The request id travels in the button's value."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from core.approvals import check_approver, decide
from core.context import Context
from core.errors import JitError, NotFound
from handlers import ids
from handlers.views import reject_modal, reject_reason


def _tell(body: dict[str, Any], respond: Respond, client: WebClient, text: str) -> None:
    """Answer the clicker privately: where they clicked when Slack gave a response_url, else by DM."""
    _tell_later(client, body.get("response_url"), body["user"]["id"], text)


def register(app: App, ctx: Context) -> None:
    @app.action(ids.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                client: WebClient) -> None:
        ack()
        try:
            outcome = decide(ctx, str(action.get("value", ""))[:40], body["user"]["id"], approve=True)
        except JitError as err:
            _tell(body, respond, client, f":warning: {err}")
            return
        _tell(body, respond, client, outcome.message)

    @app.action(ids.REJECT)
    def reject(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
               client: WebClient) -> None:
        ack()
        request_id = str(action.get("value", ""))[:40]
        try:
            with ctx.uow() as uow:
                request = uow.repo.get(request_id)
                decisions = uow.repo.decisions(request_id) if request else []
            if request is None:
                raise NotFound(f"There is no request {request_id}.")
            check_approver(ctx, request, body["user"]["id"], decisions)
        except JitError as err:
            _tell(body, respond, client, f":warning: {err}")
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
        meta = json.loads(view.get("private_metadata") or "{}")
        user = body["user"]["id"]
        try:
            outcome = decide(ctx, str(meta.get("id", ""))[:40], user, approve=False, comment=reason)
            text = outcome.message
        except JitError as err:
            text = f":warning: {err}"
        _tell_later(client, meta.get("response_url"), user, text)


def _tell_later(client: WebClient, response_url: str | None, user: str, text: str) -> None:
    """Answer the approver where they clicked (the message's response_url), else by DM."""
    if response_url:
        WebhookClient(response_url, timeout=client.timeout, retry_handlers=client.retry_handlers).send(
            text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=user, text=text)
