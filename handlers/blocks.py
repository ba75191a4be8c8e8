"""Block Kit builders: pure functions from domain objects to slack_sdk.models blocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)

from core.approvals import granted_duration, shorter_durations
from core.durations import format_duration
from core.model import AccessRequest, Decision, Review, State
from handlers import ids
from handlers.text import clip, escape, fallback, principal, safe, user, when

#: Slack's limits on a text object (sections, context elements) and on each field of a section
TEXT = 3000
FIELD_TEXT = 2000


def facts(request: AccessRequest, zone: ZoneInfo) -> SectionBlock:
    node = request.node
    where = f"{node.account} / {node.region}"
    ping = f" · SSM: {safe(node.ping_status, 50)}" if node.ping_status and not request.more_nodes else ""
    many = len(request.nodes) > 1
    named = "\n".join(f"`{escape(n.id)}` {safe(n.name, 60 if many else 300)}" for n in request.nodes)
    duration = format_duration(request.duration) + (f" (extends {request.extends})" if request.extends else "")
    fields = [
        f"*Requester*\n{user(request.requester)}",
        f"*{'Nodes' if many else 'Node'}*\n{clip(named, FIELD_TEXT - 100)}\n{where}{ping}",
        f"*Duration*\n{duration}",
        f"*Policy*\n{safe(request.policy, 200)}",
        f"*Reason*\n{safe(request.reason, FIELD_TEXT - 20)}",
    ]
    if request.ticket:
        fields.append(f"*Ticket*\n{safe(request.ticket, 500)}")
    if request.expires_at:
        fields.append(f"*Access until*\n{when(request.expires_at, zone)}")
    return SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields])


def _status_line(request: AccessRequest, level: int, remaining: int) -> str:
    if request.state is State.PENDING and request.current_level == level:
        spec = request.levels[level]
        escalated = (f", or (escalated) {fallback(spec.escalate_to, request.requester)}"
                     if request.escalated(level) else "")
        return (f":hourglass: Waiting for {remaining} more approval(s) from "
                + ", ".join(principal(a) for a in spec.approvers) + escalated)
    if request.state is State.REVOKED and request.granted_at is None and request.current_level <= level:
        return f":no_entry_sign: Revoked by {user(request.ended_by)} before any access"
    if request.state is State.PENDING or request.current_level > level or request.state in (
            State.APPROVED, State.ACTIVE, State.EXPIRED, State.REVOKED):
        return ":white_check_mark: This level is approved."
    ended = request.end_reason or ""
    if request.state is State.CANCELLED and request.extends and ended.startswith(request.extends):
        return f":no_entry_sign: Cancelled: {safe(ended, 300)}"  # ended with the access it extends (core.chains)
    labels = {State.REJECTED: ":x: Rejected", State.CANCELLED: ":no_entry_sign: Cancelled by the requester",
              State.TIMED_OUT: ":alarm_clock: Timed out without a decision", State.FAILED: ":warning: Failed"}
    return labels.get(request.state, request.state.value)


def approval_blocks(request: AccessRequest, level: int, decisions: Sequence[Decision],
                    zone: ZoneInfo, *, escalation: bool = False) -> list[Block]:
    """A level's approval message; ``escalation``: its copy in the level's ``escalate_channel``."""
    spec = request.levels[level]
    here = [d for d in decisions if d.level == level]
    approvals = sum(1 for d in here if d.approve)
    remaining = max(0, spec.required - approvals)
    blocks: list[Block] = [HeaderBlock(text=f"Access request {request.id}"[:150])]
    if escalation:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=escalation_line(request, level))))
    blocks += [
        SectionBlock(text=MarkdownTextObject(
            text=f"*Level {level + 1} of {len(request.levels)}: {safe(spec.name, 200)}* · "
                 f"{approvals}/{spec.required} approval(s)")),
        facts(request, zone),
    ]
    shortest, chooser = granted_duration(request, list(decisions))
    if chooser is not None and request.state is State.PENDING:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f":scissors: Approved so far for at most {format_duration(shortest)} ({user(chooser)} chose it); "
                 "the grant is the shortest duration any approver chooses.")]))
    if here:
        lines = [f"{':white_check_mark:' if d.approve else ':x:'} {user(d.approver)} "
                 f"{'approved' if d.approve else 'rejected'}"
                 f"{f' for {format_duration(d.duration)}' if d.duration else ''} at {when(d.at, zone)}"
                 + (f": {safe(d.comment, 1200)}" if d.comment else "") for d in here]
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip("\n".join(lines), TEXT))]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_status_line(request, level, remaining))]))
    if request.state is State.PENDING and request.current_level == level:
        blocks.append(decide_buttons(request.id, ids.decide_block(level), shorter_durations(request.duration)))
    return blocks


def decide_buttons(request_id: str, block_id: str, shorter: Sequence[timedelta] = ()) -> ActionsBlock:
    """Approve, Reject, and (when the request is long enough) "Approve for…" a shorter duration."""
    elements: list[ButtonElement | StaticSelectElement] = [
        ButtonElement(text="Approve", action_id=ids.APPROVE, value=request_id, style="primary"),
        ButtonElement(text="Reject", action_id=ids.REJECT, value=request_id, style="danger"),
    ]
    if shorter:
        elements.insert(1, StaticSelectElement(
            placeholder="Approve for…", action_id=ids.APPROVE_FOR,
            options=[Option(text=f"Approve for {format_duration(d)}", value=f"{request_id}:{int(d.total_seconds())}")
                     for d in shorter]))
    return ActionsBlock(block_id=block_id, elements=elements)


def escalation_line(request: AccessRequest, level: int) -> str:
    spec = request.levels[level]
    after = format_duration(spec.escalate_after) if spec.escalate_after else "its escalation time"
    return (f":rotating_light: *Escalated*: level {level + 1} ('{safe(spec.name, 200)}') has waited {after} "
            f"without a decision in <#{spec.channel}>. {fallback(spec.escalate_to, request.requester)}: you can "
            "approve or reject it too.")


def escalation_text(request: AccessRequest, level: int) -> str:
    """The notification fallback text of an escalation message: it mentions the fallback approvers."""
    return (f"Escalated: {fallback(request.levels[level].escalate_to, request.requester)}, "
            + approval_text(request, level))


def approval_text(request: AccessRequest, level: int) -> str:
    """The notification fallback text of an approval message."""
    return (f"Access request {request.id}: <@{request.requester}> asks for {', '.join(n.id for n in request.nodes)} "
            f"for {format_duration(request.duration)} (level {level + 1}/{len(request.levels)})")


def message_blocks(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=clip(text, TEXT)))]


def buttons(*pairs: tuple[str, str, str]) -> ActionsBlock:
    """An actions block of (label, action_id, value) buttons."""
    return ActionsBlock(elements=[ButtonElement(text=label, action_id=action, value=value)
                                  for label, action, value in pairs])


def request_buttons(request_id: str, *actions: str, block_id: str | None = None) -> ActionsBlock:
    """The requester's buttons on one request: any of ``ids.EXTEND``, ``ids.RELEASE``, ``ids.CANCEL``."""
    labels = {ids.EXTEND: "Extend…", ids.RELEASE: "Release now", ids.CANCEL: "Cancel request"}
    confirms = {
        ids.RELEASE: ("End your access?", f"Access {request_id} ends now; open sessions are closed.", "Release"),
        ids.CANCEL: ("Cancel this request?", f"Request {request_id} is withdrawn; approvers are told.", "Cancel it"),
    }
    elements = []
    for action in actions:
        confirm = None
        if action in confirms:
            title, text, yes = confirms[action]
            confirm = ConfirmObject(title=title, text=text, confirm=yes, deny="Keep it", style="danger")
        elements.append(ButtonElement(text=labels[action], action_id=action, value=request_id, confirm=confirm,
                                      style="danger" if action == ids.RELEASE else None))
    return ActionsBlock(block_id=block_id, elements=elements)


# -- break-glass ----------------------------------------------------------------------------------------------------
def _breakglass_what(request: AccessRequest, zone: ZoneInfo) -> str:
    node = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    if request.state is State.ACTIVE:
        status = f"access granted at once, until {when(request.expires_at, zone)}"
    elif request.state is State.FAILED:
        status = f"the grant failed: {escape(request.end_reason)}"
    else:
        status = f"state {request.state.value}"
    return f"{user(request.requester)} broke the glass on {node}: {status}, without approval."


def breakglass_blocks(request: AccessRequest, reviewers: Sequence[str], zone: ZoneInfo, *, here: bool,
                      review: Review | None = None) -> list[Block]:
    """The loud alert of a break-glass use, with its Review button; once reviewed, the review instead."""
    level = request.levels[0].name if request.levels else "Level 1"
    who = ", ".join(principal(r) for r in reviewers)
    blocks: list[Block] = [
        HeaderBlock(text=f":rotating_light: Break-glass {request.id}"),
        SectionBlock(text=MarkdownTextObject(text=("<!here> " if here else "") + _breakglass_what(request, zone))),
        facts(request, zone),
    ]
    if review is None:
        blocks += [
            ContextBlock(elements=[MarkdownTextObject(
                text=f"A review is required from level 1 ('{escape(level)}') of policy '{escape(request.policy)}': "
                     f"{who}. They can also end the access: `/jit revoke {request.id} <reason>`.")]),
            ActionsBlock(block_id=ids.BREAKGLASS_REVIEW_BLOCK, elements=[
                ButtonElement(text="Review", action_id=ids.REVIEW, value=request.id, style="primary")]),
        ]
    else:
        verdict = ":white_check_mark: justified" if review.justified else ":warning: *not justified*"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Reviewed by {user(review.reviewer)} at {when(review.at, zone)}: {verdict}. "
                 f"{escape(review.note)}"[:3000])]))
    return blocks


def breakglass_text(request: AccessRequest, reviewers: Sequence[str], here: bool) -> str:
    """The alert's notification text: ``@here`` in the audit channel, the reviewers by name in their own channel."""
    who = "<!here>" if here else ", ".join(principal(r) for r in reviewers)
    return (f"{who} Break-glass {request.id}: <@{request.requester}> took access to {request.node.id} for "
            f"{format_duration(request.duration)} without approval; review required")
