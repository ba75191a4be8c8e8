"""Block Kit builders: pure functions from domain objects to slack_sdk.models blocks.

Each builder takes the reader's translator, ``tr``, first (``core.i18n``): channel messages are built with
``ctx.tr_channel()``, what one person reads alone with ``ctx.tr_for(user)``. Values (action ids, button values)
never depend on the language.
"""

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
from core.i18n import Tr
from core.model import AccessRequest, Decision, Review, State
from handlers import ids
from handlers.text import clip, escape, fallback, principal, safe, user, when

#: Slack's limits on a text object (sections, context elements) and on each field of a section
TEXT = 3000
FIELD_TEXT = 2000


def facts(tr: Tr, request: AccessRequest, zone: ZoneInfo) -> SectionBlock:
    node = request.node
    where = f"{node.account} / {node.region}"
    ping = f" · SSM: {safe(node.ping_status, 50)}" if node.ping_status and not request.more_nodes else ""  # not words
    many = len(request.nodes) > 1
    named = "\n".join(f"`{escape(n.id)}` {safe(n.name, 60 if many else 300)}" for n in request.nodes)
    duration = (tr("{duration} (extends {id})", duration=request.duration, id=request.extends) if request.extends
                else tr.duration(request.duration))
    shown = f"{clip(named, FIELD_TEXT - 100)}\n{where}{ping}"
    fields = [
        tr("*Requester*\n{who}", who=user(request.requester)),
        tr("*Nodes*\n{node}", node=shown) if many else tr("*Node*\n{node}", node=shown),
        tr("*Duration*\n{duration}", duration=duration),
        tr("*Policy*\n{policy}", policy=safe(request.policy, 200)),
        tr("*Reason*\n{reason}", reason=safe(request.reason, FIELD_TEXT - 20)),
    ]
    if request.ticket:
        fields.append(tr("*Ticket*\n{ticket}", ticket=safe(request.ticket, 500)))
    if request.expires_at:
        fields.append(tr("*Access until*\n{until}", until=when(request.expires_at, zone, tr)))
    return SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields])


def _state_label(tr: Tr, state: State) -> str:
    labels = {State.REJECTED: tr(":x: Rejected"), State.CANCELLED: tr(":no_entry_sign: Cancelled by the requester"),
              State.TIMED_OUT: tr(":alarm_clock: Timed out without a decision"), State.FAILED: tr(":warning: Failed")}
    return labels.get(state, state.value)


def _status_line(tr: Tr, request: AccessRequest, level: int, remaining: int) -> str:
    if request.state is State.PENDING and request.current_level == level:
        spec = request.levels[level]
        approvers = ", ".join(principal(a) for a in spec.approvers)
        if request.escalated(level):
            others = fallback(spec.escalate_to, request.requester, tr)  # apart: a nested tr hides the plural from Babel
            return tr.plural(":hourglass: Waiting for {count} more approval from {approvers}, or (escalated) "
                             "{fallback}", ":hourglass: Waiting for {count} more approvals from {approvers}, or "
                             "(escalated) {fallback}", remaining, approvers=approvers, fallback=others)
        return tr.plural(":hourglass: Waiting for {count} more approval from {approvers}",
                         ":hourglass: Waiting for {count} more approvals from {approvers}", remaining,
                         approvers=approvers)
    if request.state is State.REVOKED and request.granted_at is None and request.current_level <= level:
        return tr(":no_entry_sign: Revoked by {who} before any access", who=user(request.ended_by))
    if request.state is State.PENDING or request.current_level > level or request.state in (
            State.APPROVED, State.ACTIVE, State.EXPIRED, State.REVOKED):
        return tr(":white_check_mark: This level is approved.")
    ended = request.end_reason or ""
    if request.state is State.CANCELLED and request.extends and ended.startswith(request.extends):
        # ended with the access it extends (core.chains)
        return tr(":no_entry_sign: Cancelled: {why}", why=safe(ended, 300))
    return _state_label(tr, request.state)


def _decision_line(tr: Tr, decision: Decision, zone: ZoneInfo) -> str:
    at = when(decision.at, zone, tr)
    who = user(decision.approver)
    if not decision.approve:
        line = tr(":x: {who} rejected at {at}", who=who, at=at)
    elif decision.duration:
        line = tr(":white_check_mark: {who} approved for {duration} at {at}", who=who, duration=decision.duration,
                  at=at)
    else:
        line = tr(":white_check_mark: {who} approved at {at}", who=who, at=at)
    return line + (f": {safe(decision.comment, 1200)}" if decision.comment else "")


def approval_blocks(tr: Tr, request: AccessRequest, level: int, decisions: Sequence[Decision],
                    zone: ZoneInfo, *, escalation: bool = False) -> list[Block]:
    """A level's approval message; ``escalation``: its copy in the level's ``escalate_channel``."""
    spec = request.levels[level]
    here = [d for d in decisions if d.level == level]
    approvals = sum(1 for d in here if d.approve)
    remaining = max(0, spec.required - approvals)
    blocks: list[Block] = [HeaderBlock(text=tr("Access request {id}", id=request.id)[:150])]
    if escalation:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=escalation_line(tr, request, level))))
    blocks += [
        SectionBlock(text=MarkdownTextObject(text=tr.plural(
            "*Level {level} of {levels}: {name}* · {approvals}/{count} approval",
            "*Level {level} of {levels}: {name}* · {approvals}/{count} approvals", spec.required, level=level + 1,
            levels=len(request.levels), name=safe(spec.name, 200), approvals=approvals))),
        facts(tr, request, zone),
    ]
    shortest, chooser = granted_duration(request, list(decisions))
    if chooser is not None and request.state is State.PENDING:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=tr(
            ":scissors: Approved so far for at most {duration} ({who} chose it); the grant is the shortest duration "
            "any approver chooses.", duration=shortest, who=user(chooser)))]))
    if here:
        lines = [_decision_line(tr, d, zone) for d in here]
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip("\n".join(lines), TEXT))]))
    status = clip(_status_line(tr, request, level, remaining), TEXT)  # many approvers: still one valid element
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=status)]))
    if request.state is State.PENDING and request.current_level == level:
        blocks.append(decide_buttons(tr, request.id, ids.decide_block(level), shorter_durations(request.duration)))
    return blocks


def decide_buttons(tr: Tr, request_id: str, block_id: str, shorter: Sequence[timedelta] = ()) -> ActionsBlock:
    """Approve, Reject, and (when the request is long enough) "Approve for…" a shorter duration. The values are
    the request id (and seconds), whatever the language."""
    elements: list[ButtonElement | StaticSelectElement] = [
        ButtonElement(text=tr("Approve"), action_id=ids.APPROVE, value=request_id, style="primary"),
        ButtonElement(text=tr("Reject"), action_id=ids.REJECT, value=request_id, style="danger"),
    ]
    if shorter:
        elements.insert(1, StaticSelectElement(
            placeholder=tr("Approve for…"), action_id=ids.APPROVE_FOR,
            options=[Option(text=tr("Approve for {duration}", duration=d),
                            value=f"{request_id}:{int(d.total_seconds())}") for d in shorter]))
    return ActionsBlock(block_id=block_id, elements=elements)


def escalation_line(tr: Tr, request: AccessRequest, level: int) -> str:
    spec = request.levels[level]
    after = spec.escalate_after if spec.escalate_after else tr("its escalation time")
    return tr(":rotating_light: *Escalated*: level {level} ('{name}') has waited {after} without a decision in "
              "<#{channel}>. {fallback}: you can approve or reject it too.", level=level + 1,
              name=safe(spec.name, 200), after=after, channel=spec.channel,
              fallback=fallback(spec.escalate_to, request.requester, tr))


def escalation_text(tr: Tr, request: AccessRequest, level: int) -> str:
    """The notification fallback text of an escalation message: it mentions the fallback approvers."""
    return tr("Escalated: {fallback}, {text}", fallback=fallback(request.levels[level].escalate_to,
                                                                 request.requester, tr),
              text=approval_text(tr, request, level))


def approval_text(tr: Tr, request: AccessRequest, level: int) -> str:
    """The notification fallback text of an approval message."""
    return tr("Access request {id}: {who} asks for {node} for {duration} (level {level}/{levels})", id=request.id,
              who=user(request.requester), node=", ".join(n.id for n in request.nodes), duration=request.duration,
              level=level + 1, levels=len(request.levels))


def message_blocks(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=clip(text, TEXT)))]


def buttons(*pairs: tuple[str, str, str]) -> ActionsBlock:
    """An actions block of (label, action_id, value) buttons; the labels already in the reader's language."""
    return ActionsBlock(elements=[ButtonElement(text=label, action_id=action, value=value)
                                  for label, action, value in pairs])


def request_buttons(tr: Tr, request_id: str, *actions: str, block_id: str | None = None) -> ActionsBlock:
    """The requester's buttons on one request: any of ``ids.EXTEND``, ``ids.RELEASE``, ``ids.CANCEL``."""
    labels = {ids.EXTEND: tr("Extend…"), ids.RELEASE: tr("Release now"), ids.CANCEL: tr("Cancel request")}
    confirms = {
        ids.RELEASE: (tr("End your access?"), tr("Access {id} ends now; open sessions are closed.", id=request_id),
                      tr("Release")),
        ids.CANCEL: (tr("Cancel this request?"), tr("Request {id} is withdrawn; approvers are told.", id=request_id),
                     tr("Cancel it")),
    }
    elements = []
    for action in actions:
        confirm = None
        if action in confirms:
            title, text, yes = confirms[action]
            confirm = ConfirmObject(title=title, text=text, confirm=yes, deny=tr("Keep it"), style="danger")
        elements.append(ButtonElement(text=labels[action], action_id=action, value=request_id, confirm=confirm,
                                      style="danger" if action == ids.RELEASE else None))
    return ActionsBlock(block_id=block_id, elements=elements)


# -- break-glass ----------------------------------------------------------------------------------------------------
def _breakglass_what(tr: Tr, request: AccessRequest, zone: ZoneInfo) -> str:
    node = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    who = user(request.requester)
    if request.state is State.ACTIVE:
        return tr("{who} broke the glass on {node}: access granted at once, until {until}, without approval.",
                  who=who, node=node, until=when(request.expires_at, zone, tr))
    if request.state is State.FAILED:
        return tr("{who} broke the glass on {node}: the grant failed: {why}, without approval.", who=who, node=node,
                  why=escape(request.end_reason))
    return tr("{who} broke the glass on {node}: state {state}, without approval.", who=who, node=node,
              state=request.state.value)


def breakglass_blocks(tr: Tr, request: AccessRequest, reviewers: Sequence[str], zone: ZoneInfo, *, here: bool,
                      review: Review | None = None) -> list[Block]:
    """The loud alert of a break-glass use, with its Review button; once reviewed, the review instead."""
    level = request.levels[0].name if request.levels else tr("Level 1")
    who = ", ".join(principal(r) for r in reviewers)
    blocks: list[Block] = [
        HeaderBlock(text=tr(":rotating_light: Break-glass {id}", id=request.id)),
        SectionBlock(text=MarkdownTextObject(text=("<!here> " if here else "") + _breakglass_what(tr, request, zone))),
        facts(tr, request, zone),
    ]
    if review is None:
        blocks += [
            ContextBlock(elements=[MarkdownTextObject(text=tr(
                "A review is required from level 1 ('{level}') of policy '{policy}': {who}. They can also end the "
                "access: `/jit revoke {id} <reason>`.", level=escape(level), policy=escape(request.policy), who=who,
                id=request.id))]),
            ActionsBlock(block_id=ids.BREAKGLASS_REVIEW_BLOCK, elements=[
                ButtonElement(text=tr("Review"), action_id=ids.REVIEW, value=request.id, style="primary")]),
        ]
    else:
        verdict = tr(":white_check_mark: justified") if review.justified else tr(":warning: *not justified*")
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=tr("Reviewed by {who} at {at}: {verdict}. {note}", who=user(review.reviewer),
                    at=when(review.at, zone, tr), verdict=verdict, note=escape(review.note))[:3000])]))
    return blocks


def breakglass_text(tr: Tr, request: AccessRequest, reviewers: Sequence[str], here: bool) -> str:
    """The alert's notification text: ``@here`` in the audit channel, the reviewers by name in their own channel."""
    who = "<!here>" if here else ", ".join(principal(r) for r in reviewers)
    return tr("{who} Break-glass {id}: {requester} took access to {node} for {duration} without approval; review "
              "required", who=who, id=request.id, requester=user(request.requester), node=request.node.id,
              duration=request.duration)
