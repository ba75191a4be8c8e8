"""The small modals, one class each: ``build`` the view next to ``check``, which reads its submission and says
what is missing (the request modal, larger, is ``handlers.request_view``). Pure: no Slack call, no use case.

A modal carries the request it is about, and where to answer, in its ``private_metadata`` (``modal_metadata``).
"""

from __future__ import annotations

import json
from functools import cache
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

from core.i18n import Catalogs, Tr
from core.model import AccessRequest
from handlers import ids
from handlers.text import escape, safe, user

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
    meta = _meta(view.get("private_metadata"))
    url = meta.get("response_url")
    return str(meta.get("id") or "")[:40], url if isinstance(url, str) and url.startswith("http") else None


def _meta(text: str | None) -> dict[str, Any]:
    try:
        meta = json.loads(text or "{}")
    except ValueError:
        meta = {}
    return meta if isinstance(meta, dict) else {}


def metadata(request_id: str, response_url: str | None) -> str:
    """The ``private_metadata`` that ``modal_metadata`` reads back."""
    return json.dumps({"id": request_id, "response_url": response_url})


def _in_language(private_metadata: str, tr: Tr) -> str:
    """``private_metadata`` noting the language the modal is in: its errors (``check``) are said in it."""
    return json.dumps({**_meta(private_metadata), "lang": tr.language})


@cache
def _catalogs() -> Catalogs:
    return Catalogs()


def modal_language(view: dict[str, Any]) -> Tr:
    """The translator of the language a modal was built in (English when it does not say)."""
    lang = _meta(view.get("private_metadata")).get("lang")
    return _catalogs().get(lang if isinstance(lang, str) else None)


class RejectModal:
    """An approver rejects a request: why."""

    @staticmethod
    def build(tr: Tr, request: AccessRequest, private_metadata: str) -> View:
        return View(
            type="modal",
            callback_id=ids.REJECT_VIEW,
            title=tr("Reject request"),
            submit=tr("Reject"),
            close=tr("Cancel"),
            private_metadata=_in_language(private_metadata, tr),
            blocks=[
                SectionBlock(text=MarkdownTextObject(text=tr(
                    "Reject *{id}*: {who} on `{node}` for {duration}?\n>{reason}", id=request.id,
                    who=user(request.requester), node=", ".join(escape(n.id) for n in request.nodes),
                    duration=request.duration,
                    reason=safe(request.reason, 2500)))),
                InputBlock(block_id=ids.REASON_BLOCK, label=tr("Why?"),
                           element=PlainTextInputElement(action_id=ids.REASON_INPUT, multiline=True,
                                                         max_length=1000)),
            ],
        )

    @staticmethod
    def check(view: dict[str, Any]) -> tuple[Errors, str]:
        """The reason given, or the error saying it is missing (in the modal's language)."""
        reason = _text(view, ids.REASON_BLOCK, ids.REASON_INPUT)
        if reason:
            return {}, reason
        tr = modal_language(view)
        return {ids.REASON_BLOCK: tr("Please say why you reject it.")}, reason


class ReviewModal:
    """A level-1 approver reviews a break-glass use after the fact: justified or not, and what they checked."""

    @staticmethod
    def build(tr: Tr, request: AccessRequest, private_metadata: str) -> View:
        return View(
            type="modal", callback_id=ids.REVIEW_VIEW, title=tr("Review break-glass"), submit=tr("Record review"),
            close=tr("Cancel"), private_metadata=_in_language(private_metadata, tr),
            blocks=[
                SectionBlock(text=MarkdownTextObject(text=tr(
                    "*{id}*: {who} on `{node}` for {duration}, without approval.\n>{reason}", id=request.id,
                    who=user(request.requester), node=escape(request.node.id), duration=request.duration,
                    reason=escape(request.reason)))),
                InputBlock(block_id=ids.VERDICT_BLOCK, label=tr("Was it justified?"), element=RadioButtonsElement(
                    action_id=ids.VERDICT_INPUT, options=[
                        Option(value="justified", label=tr("Justified")),
                        Option(value="not_justified", label=tr("Not justified: follow up")),
                    ])),
                InputBlock(block_id=ids.NOTE_BLOCK, label=tr("What did you check?"), element=PlainTextInputElement(
                    action_id=ids.NOTE_INPUT, multiline=True, max_length=1000)),
            ],
        )

    @staticmethod
    def check(view: dict[str, Any]) -> tuple[Errors, tuple[bool, str]]:
        """(justified, note), or the errors saying which is missing (in the modal's language)."""
        verdict = _values(view).get(ids.VERDICT_BLOCK, {}).get(ids.VERDICT_INPUT, {})
        selected = (verdict.get("selected_option") or {}).get("value")
        note = _text(view, ids.NOTE_BLOCK, ids.NOTE_INPUT)
        tr = modal_language(view)
        errors: Errors = {}
        if selected is None:
            errors[ids.VERDICT_BLOCK] = tr("Say whether it was justified.")
        if not note:
            errors[ids.NOTE_BLOCK] = tr("Say what you checked.")
        return errors, (selected == "justified", note)
