"""The reject modal: its ``build`` next to the ``parse`` of its submission (the request modal is in
``handlers.request_view``)."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import InputBlock, MarkdownTextObject, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from core.durations import format_duration
from core.model import AccessRequest
from handlers import ids
from handlers.text import escape, safe


def reject_modal(request: AccessRequest, private_metadata: str) -> View:
    return View(
        type="modal",
        callback_id=ids.REJECT_VIEW,
        title="Reject request",
        submit="Reject",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"Reject *{request.id}*: <@{request.requester}> on `{escape(request.node.id)}` for "
                     f"{format_duration(request.duration)}?\n>{safe(request.reason, 2500)}")),
            InputBlock(block_id=ids.REASON_BLOCK, label="Why?",
                       element=PlainTextInputElement(action_id=ids.REASON_INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


def reject_reason(view: dict[str, Any]) -> str:
    values = view.get("state", {}).get("values", {})
    value = values.get(ids.REASON_BLOCK, {}).get(ids.REASON_INPUT, {}).get("value") or ""
    return " ".join(str(value).split())


def modal_metadata(view: dict[str, Any]) -> tuple[str, str | None]:
    """(request id, response_url) from the ``private_metadata`` jitbot gave a modal; anything else it may hold
    (not JSON, not an object, odd types) reads as no request and nowhere to answer, never as an error."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    url = meta.get("response_url")
    return str(meta.get("id") or "")[:40], url if isinstance(url, str) and url.startswith("http") else None
