"""Block Kit builders: pure functions from domain objects to slack_sdk.models blocks."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from core.durations import format_duration
from core.model import AccessRequest, Decision, State
from handlers import ids
from handlers.text import escape, principal, user, when


def facts(request: AccessRequest, zone: ZoneInfo) -> SectionBlock:
    node = request.node
    where = f"{node.account} / {node.region}"
    ping = f" · SSM: {escape(node.ping_status)}" if node.ping_status else ""
    fields = [
        f"*Requester*\n{user(request.requester)}",
        f"*Node*\n`{escape(node.id)}` {escape(node.name or '')}\n{where}{ping}",
        f"*Duration*\n{format_duration(request.duration)}",
        f"*Policy*\n{escape(request.policy)}",
        f"*Reason*\n{escape(request.reason)}",
    ]
    if request.ticket:
        fields.append(f"*Ticket*\n{escape(request.ticket)}")
    if request.expires_at:
        fields.append(f"*Access until*\n{when(request.expires_at, zone)}")
    return SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields])


def _status_line(request: AccessRequest, level: int) -> str:
    if request.state is State.PENDING and request.current_level == level:
        spec = request.levels[level]
        return (f":hourglass: Waiting for {spec.required} approval(s) from "
                + ", ".join(principal(a) for a in spec.approvers))
    if request.state is State.PENDING or request.current_level > level or request.state in (
            State.APPROVED, State.ACTIVE, State.EXPIRED, State.REVOKED):
        return ":white_check_mark: This level is approved."
    labels = {State.REJECTED: ":x: Rejected", State.CANCELLED: ":no_entry_sign: Cancelled by the requester",
              State.TIMED_OUT: ":alarm_clock: Timed out without a decision", State.FAILED: ":warning: Failed"}
    return labels.get(request.state, request.state.value)


def approval_blocks(request: AccessRequest, level: int, decisions: Sequence[Decision],
                    zone: ZoneInfo) -> list[Block]:
    spec = request.levels[level]
    here = [d for d in decisions if d.level == level]
    approvals = sum(1 for d in here if d.approve)
    blocks: list[Block] = [
        HeaderBlock(text=f"Access request {request.id}"[:150]),
        SectionBlock(text=MarkdownTextObject(
            text=f"*Level {level + 1} of {len(request.levels)}: {escape(spec.name)}* · "
                 f"{approvals}/{spec.required} approval(s)")),
        facts(request, zone),
    ]
    if here:
        lines = [f"{':white_check_mark:' if d.approve else ':x:'} {user(d.approver)} "
                 f"{'approved' if d.approve else 'rejected'} at {when(d.at, zone)}"
                 + (f": {escape(d.comment)}" if d.comment else "") for d in here]
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="\n".join(lines)[:3000])]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_status_line(request, level))]))
    if request.state is State.PENDING and request.current_level == level:
        blocks.append(ActionsBlock(block_id=f"decide-{level}", elements=[
            ButtonElement(text="Approve", action_id=ids.APPROVE, value=request.id, style="primary"),
            ButtonElement(text="Reject", action_id=ids.REJECT, value=request.id, style="danger"),
        ]))
    return blocks


def approval_text(request: AccessRequest, level: int) -> str:
    """The notification fallback text of an approval message."""
    return (f"Access request {request.id}: <@{request.requester}> asks for {request.node.id} "
            f"for {format_duration(request.duration)} (level {level + 1}/{len(request.levels)})")


def message_blocks(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=text[:3000]))]


def buttons(*pairs: tuple[str, str, str]) -> ActionsBlock:
    """An actions block of (label, action_id, value) buttons."""
    return ActionsBlock(elements=[ButtonElement(text=label, action_id=action, value=value)
                                  for label, action, value in pairs])
