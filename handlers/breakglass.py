"""Break-glass on Slack: the loud alerts with their Review button, and the review modal.

``SlackBreakglassNotices`` implements ``core.breakglass.BreakglassNotices``; ``register`` adds the Review
button's listener and the modal's. The request id travels in the button's value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from core.breakglass import check_reviewer, review
from core.context import Context
from core.durations import format_duration
from core.errors import JitError, Undelivered
from core.model import AccessRequest, MessageRef, Review, State
from core.policy.file import PolicyFile
from handlers.blocks import facts
from handlers.later import Later
from handlers.tell import tell
from handlers.text import escape, principal, user, when
from handlers.views import modal_metadata

log = logging.getLogger(__name__)

REVIEW = "jit_breakglass_review"
REVIEW_VIEW = "jit_breakglass_review_view"
VERDICT_BLOCK = "verdict"
VERDICT_INPUT = "verdict_input"
NOTE_BLOCK = "note"
NOTE_INPUT = "note_input"


def _what(request: AccessRequest, zone: ZoneInfo) -> str:
    node = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    if request.state is State.ACTIVE:
        status = f"access granted at once, until {when(request.expires_at, zone)}"
    elif request.state is State.FAILED:
        status = f"the grant failed: {escape(request.end_reason)}"
    else:
        status = f"state {request.state.value}"
    return f"{user(request.requester)} broke the glass on {node}: {status}, without approval."


def alert_blocks(request: AccessRequest, reviewers: Sequence[str], zone: ZoneInfo, *, here: bool,
                 review: Review | None = None) -> list[Block]:
    level = request.levels[0].name if request.levels else "Level 1"
    who = ", ".join(principal(r) for r in reviewers)
    blocks: list[Block] = [
        HeaderBlock(text=f":rotating_light: Break-glass {request.id}"),
        SectionBlock(text=MarkdownTextObject(text=("<!here> " if here else "") + _what(request, zone))),
        facts(request, zone),
    ]
    if review is None:
        blocks += [
            ContextBlock(elements=[MarkdownTextObject(
                text=f"A review is required from level 1 ('{escape(level)}') of policy '{escape(request.policy)}': "
                     f"{who}. They can also end the access: `/jit revoke {request.id} <reason>`.")]),
            ActionsBlock(block_id="breakglass-review", elements=[
                ButtonElement(text="Review", action_id=REVIEW, value=request.id, style="primary")]),
        ]
    else:
        verdict = ":white_check_mark: justified" if review.justified else ":warning: *not justified*"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Reviewed by {user(review.reviewer)} at {when(review.at, zone)}: {verdict}. "
                 f"{escape(review.note)}"[:3000])]))
    return blocks


def alert_text(request: AccessRequest, reviewers: Sequence[str], here: bool) -> str:
    """The notification text: ``@here`` in the audit channel, the reviewers by name in their own channel."""
    who = "<!here>" if here else ", ".join(principal(r) for r in reviewers)
    return (f"{who} Break-glass {request.id}: <@{request.requester}> took access to {request.node.id} for "
            f"{format_duration(request.duration)} without approval; review required")


class SlackBreakglassNotices:
    """``core.breakglass.BreakglassNotices`` on Slack's Web API; a failed post is logged, never raised."""

    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile]) -> None:
        self.client = client
        self.policies = policies

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any] | None:
        """One Web API call; None (logged) when Slack did not take it."""
        try:
            data = self.client.api_call(method, json=kwargs).data
        except (SlackApiError, SlackClientError, OSError) as err:
            log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
            return None
        return data if isinstance(data, dict) else None

    def alert(self, request: AccessRequest, reviewers: tuple[str, ...],
              done: frozenset[str] = frozenset()) -> list[MessageRef]:
        settings = self.policies().settings
        targets: dict[str, tuple[str, bool]] = {}
        if settings.audit_channel:
            targets[settings.audit_channel] = ("breakglass-audit", True)
        if request.levels and request.levels[0].channel not in targets:
            targets[request.levels[0].channel] = ("breakglass-level-0", False)
        refs, missed = [], []
        for channel, (purpose, here) in targets.items():
            if purpose in done:
                continue
            blocks = alert_blocks(request, reviewers, settings.zone, here=here)
            data = self._call("chat.postMessage", channel=channel, text=alert_text(request, reviewers, here),
                              blocks=[b.to_dict() for b in blocks], unfurl_links=False)
            if data and data.get("ts"):
                refs.append(MessageRef(request.id, purpose, str(data.get("channel", channel)), str(data["ts"])))
            else:
                missed.append(channel)
        if missed:
            raise Undelivered(f"break-glass announcement not posted in {', '.join(missed)}", refs=tuple(refs))
        return refs

    def reviewed(self, request: AccessRequest, refs: Sequence[MessageRef], review: Review,
                 done: frozenset[str] = frozenset()) -> None:
        settings = self.policies().settings
        reviewers = request.levels[0].approvers if request.levels else ()
        sent: set[str] = set()
        missed: list[str] = []
        for ref in refs:
            if f"update:{ref.purpose}" in done:
                continue
            blocks = alert_blocks(request, reviewers, settings.zone, here=False, review=review)
            if self._call("chat.update", channel=ref.channel, ts=ref.ts, text=f"Break-glass {request.id}: reviewed",
                          blocks=[b.to_dict() for b in blocks]):
                sent.add(f"update:{ref.purpose}")
            else:
                missed.append(f"update:{ref.purpose}")
        if settings.audit_channel and "audit" not in done:
            thread = next((r.ts for r in refs if r.channel == settings.audit_channel), None)
            verdict = "justified" if review.justified else "NOT justified"
            if self._call("chat.postMessage", channel=settings.audit_channel, thread_ts=thread, unfurl_links=False,
                          text=f"*{request.id}* · break-glass of {user(request.requester)} reviewed by "
                               f"{user(review.reviewer)}: {verdict}. {escape(review.note)}"):
                sent.add("audit")
            else:
                missed.append("audit")
        if missed:
            raise Undelivered(f"break-glass review not shown: {', '.join(missed)}", sent=frozenset(sent))


def review_modal(request: AccessRequest, private_metadata: str) -> View:
    return View(
        type="modal", callback_id=REVIEW_VIEW, title="Review break-glass", submit="Record review", close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{request.id}*: <@{request.requester}> on `{escape(request.node.id)}` for "
                     f"{format_duration(request.duration)}, without approval.\n>{escape(request.reason)}")),
            InputBlock(block_id=VERDICT_BLOCK, label="Was it justified?", element=RadioButtonsElement(
                action_id=VERDICT_INPUT, options=[
                    Option(value="justified", label="Justified"),
                    Option(value="not_justified", label="Not justified: follow up"),
                ])),
            InputBlock(block_id=NOTE_BLOCK, label="What did you check?", element=PlainTextInputElement(
                action_id=NOTE_INPUT, multiline=True, max_length=1000)),
        ],
    )


def parse_review(view: dict[str, Any]) -> tuple[bool | None, str]:
    values = view.get("state", {}).get("values", {})
    selected = (values.get(VERDICT_BLOCK, {}).get(VERDICT_INPUT, {}).get("selected_option") or {}).get("value")
    note = " ".join(str(values.get(NOTE_BLOCK, {}).get(NOTE_INPUT, {}).get("value") or "").split())
    return (None if selected is None else selected == "justified"), note


def register(app: App, ctx: Context, later: Later) -> None:
    client = later.client

    @app.action(REVIEW)
    def review_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        later(body, open_review, body, str(action.get("value", ""))[:40])

    def open_review(body: dict[str, Any], request_id: str) -> None:
        actor = body["user"]["id"]
        try:
            request = check_reviewer(ctx, request_id, actor)
        except JitError as err:
            tell(client, body.get("response_url"), actor, f":warning: {escape(str(err))}")
            return
        meta = json.dumps({"id": request_id, "response_url": body.get("response_url")})
        client.views_open(trigger_id=body["trigger_id"], view=review_modal(request, meta).to_dict())

    @app.view(REVIEW_VIEW)
    def review_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        justified, note = parse_review(view)
        errors = {}
        if justified is None:
            errors[VERDICT_BLOCK] = "Say whether it was justified."
        if not note:
            errors[NOTE_BLOCK] = "Say what you checked."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        later(body, record_review, body, view, bool(justified), note)

    def record_review(body: dict[str, Any], view: dict[str, Any], justified: bool, note: str) -> None:
        request_id, response_url = modal_metadata(view)
        actor = body["user"]["id"]
        try:
            done = review(ctx, request_id, actor, justified, note)
            text = f"Recorded: break-glass {done.request_id} reviewed as " + \
                   ("justified." if done.justified else "*not justified*; follow it up.")
        except JitError as err:
            text = f":warning: {escape(str(err))}"
        tell(client, response_url, actor, text)
