"""The small modals, one class each: ``build`` the view next to ``check``, which reads its submission and says
what is missing (the request modal, larger, is ``handlers.request_view``). Pure: no Slack call, no use case.

A modal carries the request it is about, and where to answer, in its ``private_metadata`` (``modal_metadata``).
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from core.durations import format_duration
from core.model import AccessRequest
from handlers import ids
from handlers.text import escape, nodes_text, safe

#: a modal's field errors, by block id (Slack shows each under its input); empty when the submission is complete
Errors = dict[str, str]


def _values(view: dict[str, Any]) -> dict[str, Any]:
    values = view.get("state", {}).get("values", {})
    return values if isinstance(values, dict) else {}


def _text(view: dict[str, Any], block: str, element: str) -> str:
    """A text input's value with its whitespace collapsed."""
    return " ".join(str(_values(view).get(block, {}).get(element, {}).get("value") or "").split())


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


def metadata(request_id: str, response_url: str | None) -> str:
    """The ``private_metadata`` that ``modal_metadata`` reads back."""
    return json.dumps({"id": request_id, "response_url": response_url})


class RejectModal:
    """An approver rejects a request: why."""

    @staticmethod
    def build(request: AccessRequest, private_metadata: str) -> View:
        return View(
            type="modal",
            callback_id=ids.REJECT_VIEW,
            title="Reject request",
            submit="Reject",
            close="Cancel",
            private_metadata=private_metadata,
            blocks=[
                SectionBlock(text=MarkdownTextObject(
                    text=f"Reject *{request.id}*: <@{request.requester}> on {nodes_text(request.nodes, 100)} for "
                         f"{format_duration(request.duration)}?\n>{safe(request.reason, 2500)}")),
                InputBlock(block_id=ids.REASON_BLOCK, label="Why?",
                           element=PlainTextInputElement(action_id=ids.REASON_INPUT, multiline=True,
                                                         max_length=1000)),
            ],
        )

    @staticmethod
    def check(view: dict[str, Any]) -> tuple[Errors, str]:
        """The reason given, or the error saying it is missing."""
        reason = _text(view, ids.REASON_BLOCK, ids.REASON_INPUT)
        return ({} if reason else {ids.REASON_BLOCK: "Please say why you reject it."}), reason


class ReviewModal:
    """A level-1 approver reviews a break-glass use after the fact: justified or not, and what they checked."""

    @staticmethod
    def build(request: AccessRequest, private_metadata: str) -> View:
        return View(
            type="modal", callback_id=ids.REVIEW_VIEW, title="Review break-glass", submit="Record review",
            close="Cancel", private_metadata=private_metadata,
            blocks=[
                SectionBlock(text=MarkdownTextObject(
                    text=f"*{request.id}*: <@{request.requester}> on `{escape(request.node.id)}` for "
                         f"{format_duration(request.duration)}, without approval.\n>{escape(request.reason)}")),
                InputBlock(block_id=ids.VERDICT_BLOCK, label="Was it justified?", element=RadioButtonsElement(
                    action_id=ids.VERDICT_INPUT, options=[
                        Option(value="justified", label="Justified"),
                        Option(value="not_justified", label="Not justified: follow up"),
                    ])),
                InputBlock(block_id=ids.NOTE_BLOCK, label="What did you check?", element=PlainTextInputElement(
                    action_id=ids.NOTE_INPUT, multiline=True, max_length=1000)),
            ],
        )

    @staticmethod
    def check(view: dict[str, Any]) -> tuple[Errors, tuple[bool, str]]:
        """(justified, note), or the errors saying which is missing."""
        verdict = _values(view).get(ids.VERDICT_BLOCK, {}).get(ids.VERDICT_INPUT, {})
        selected = (verdict.get("selected_option") or {}).get("value")
        note = _text(view, ids.NOTE_BLOCK, ids.NOTE_INPUT)
        errors: Errors = {}
        if selected is None:
            errors[ids.VERDICT_BLOCK] = "Say whether it was justified."
        if not note:
            errors[ids.NOTE_BLOCK] = "Say what you checked."
        return errors, (selected == "justified", note)
