"""Break-glass on Slack: the alert's Review button and the review modal.

The alerts themselves are ``handlers.blocks.breakglass_blocks``, sent by ``SlackBreakglassNotices``
(``handlers.breakglass_notices``); the modal is ``handlers.views.ReviewModal``. ``/jit breakglass`` is in
``handlers.policy_commands``. The request id travels in the button's value.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from core.breakglass import check_reviewer, review
from core.context import Context
from core.errors import JitError
from handlers import ids
from handlers.later import Later
from handlers.listen import Body, button, submission
from handlers.tell import tell
from handlers.text import escape
from handlers.views import ReviewModal, metadata, modal_metadata


def register(app: App, ctx: Context, later: Later) -> None:
    app.action(ids.REVIEW)(button(ctx, later, open_review))
    app.view(ids.REVIEW_VIEW)(submission(ctx, later, ReviewModal.check, record_review))


def open_review(ctx: Context, client: WebClient, body: Body, request_id: str) -> None:
    """The review modal, once it is sure the clicker may review."""
    actor = body["user"]["id"]
    tr = ctx.tr_for(actor)
    try:
        request = check_reviewer(ctx, request_id, actor)
    except JitError as err:
        tell(client, body.get("response_url"), actor, tr(":warning: {error}", error=escape(err.say(tr))))
        return
    meta = metadata(request_id, body.get("response_url"))
    client.views_open(trigger_id=body["trigger_id"], view=ReviewModal.build(tr, request, meta).to_dict())


def record_review(ctx: Context, client: WebClient, body: Body, view: dict[str, Any],
                  verdict: tuple[bool, str]) -> None:
    request_id, response_url = modal_metadata(view)
    actor = body["user"]["id"]
    tr = ctx.tr_for(actor)
    justified, note = verdict
    try:
        done = review(ctx, request_id, actor, justified, note)
        text = (tr("Recorded: break-glass {id} reviewed as justified.", id=done.request_id) if done.justified
                else tr("Recorded: break-glass {id} reviewed as *not justified*; follow it up.", id=done.request_id))
    except JitError as err:
        text = tr(":warning: {error}", error=escape(err.say(tr)))
    tell(client, response_url, actor, text)
