"""Ephemeral answers for commands: short, specific, never echoing unescaped input, in the reader's language."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from core.checks import Requestable
from core.i18n import ENGLISH, N_, Tr
from core.model import AccessRequest, State
from handlers import ids
from handlers.blocks import decide_buttons
from handlers.parsing import USAGE
from handlers.request_view import policy_summary
from handlers.text import escape, nodes_text, safe, user, when

#: a request's state as people read it (English: the state's own name, as before)
STATE_NAMES = {
    State.PENDING: N_("pending"),
    State.APPROVED: N_("approved"),
    State.ACTIVE: N_("active"),
    State.EXPIRED: N_("expired"),
    State.REVOKED: N_("revoked"),
    State.REJECTED: N_("rejected"),
    State.CANCELLED: N_("cancelled"),
    State.TIMED_OUT: N_("timed_out"),
    State.FAILED: N_("failed"),
}

#: Slack allows 50 blocks in a message
MAX_PENDING_SHOWN = 20
MAX_NODES_SHOWN = 40


def state_name(state: State, tr: Tr) -> str:
    return tr(STATE_NAMES[state])


def help_text(tr: Tr) -> str:
    """``/jit help``: what jitbot does, every usage line (syntax, as typed), an example, and the finer points."""
    return "\n".join(
        [tr("*jitbot* gives you temporary, approved SSM access to a node (or a few, where a policy allows)."), ""]
        + [f"• `{escape(usage)}`" for usage in USAGE.values()]
        + ["", tr("Example: `/jit request web-1 2h disk full on /var` (or just `/jit request` for a form)"),
           tr("A level nobody decides in time may escalate: its fallback approvers are asked too "
              "(`/jit explain <node>` shows when and to whom)."),
           tr("Approvers can *Approve for…* less than was asked; the grant is the shortest any approver chose."),
           tr("Scheduled access, where a policy sets `max_start_ahead`: `/jit request web-1 2h at 22:00 night deploy` "
              "(or `at 2026-12-07 09:30`, in the policy file's timezone) is approved ahead and granted at the start; "
              "`/jit cancel <id>` withdraws it until then."),
           tr("Several nodes in one request, where a policy sets `max_nodes`: `/jit request web-1,web-2,web-3 1h "
              "deploy` or `/jit request tag:Role=web 1h deploy` (resolved once, when you ask): one approval, one grant "
              "covering each node. They must fall under the same policy, in one account and region, each listed "
              "once."),
           tr("The form (`/jit request` alone) takes several nodes too, and `/jit explain web-1,web-2` says which "
              "policy decides them. Break-glass is for one node, in an emergency.")]
    )


@dataclass(frozen=True)
class Answer:
    """A reply richer than text: blocks (buttons), or a modal to open instead (given the response_url)."""

    text: str
    blocks: Sequence[Block] = ()
    modal: Callable[[str | None], View] | None = None


def node_label(request: AccessRequest) -> str:
    return nodes_text(request.nodes, 200)


def summary(request: AccessRequest, zone: ZoneInfo, tr: Tr) -> str:
    """One line: id · node · duration · state, and what else matters in that state."""
    parts = [f"*{request.id}*", node_label(request), tr.duration(request.duration),
             f"*{state_name(request.state, tr)}*"]
    if request.extends:
        parts.append(tr("extends {id}", id=request.extends))
    if request.state is State.PENDING and request.level is not None:
        parts.append(tr("level {number}/{count} ('{name}')", number=request.current_level + 1,
                        count=len(request.levels), name=safe(request.level.name, 100)))
    if request.starts_at is not None and request.state in (State.PENDING, State.APPROVED):
        parts.append(tr("starts at {moment}", moment=when(request.starts_at, zone, tr)))
    if request.state is State.ACTIVE and request.expires_at:
        parts.append(tr("until {moment}", moment=when(request.expires_at, zone, tr)))
    if request.end_reason and request.state.is_final:
        parts.append(safe(request.end_reason, 300))
    return " · ".join(parts)


def listing(requests: Sequence[AccessRequest], zone: ZoneInfo, tr: Tr) -> str:
    if not requests:
        return tr("You have no pending or active requests.")
    return "\n".join(summary(r, zone, tr) for r in requests)


def released(request: AccessRequest, tr: Tr) -> str:
    """The answer to a requester who ended their access, honest when AWS has not confirmed the removal yet."""
    if request.needs_cleanup:
        return tr("Your access *{id}* has ended. AWS has not confirmed the removal of the permission yet: "
                  "jitbot keeps trying, and tells you when it is done.", id=request.id)
    return tr("Your access *{id}* has ended; the permission is removed.", id=request.id)


def submitted(request: AccessRequest, zone: ZoneInfo, tr: Tr = ENGLISH) -> str:
    """What became of a request just made: granted, scheduled, approved, or waiting for its first level."""
    node, policy = node_label(request), escape(request.policy)
    warn = ""
    for item in request.nodes:  # the first node whose agent is not online
        if item.ping_status and item.ping_status != "Online":
            if request.more_nodes:
                warn = "\n" + tr(":warning: `{node}`'s SSM agent is *{status}*; you may not be able to connect.",
                                 node=escape(item.id), status=escape(item.ping_status))
            else:
                warn = "\n" + tr(":warning: The node's SSM agent is *{status}*; you may not be able to connect.",
                                 status=escape(item.ping_status))
            break
    extension = " " + tr("(extending {id})", id=request.extends) if request.extends else ""
    if request.state is State.ACTIVE:
        return tr(":unlock: *{id}*{extension}: access to {node} granted until {until} (policy '{policy}'). "
                  "Details are in your DMs.", id=request.id, extension=extension, node=node,
                  until=when(request.expires_at, zone, tr), policy=policy) + warn
    if request.state is State.APPROVED and request.starts_at is not None:
        return tr(":calendar: *{id}*: access to {node} approved by policy '{policy}', scheduled: granted at {start}, "
                  "until {end}. `/jit cancel {id}` withdraws it before then.", id=request.id, node=node,
                  policy=policy, start=when(request.starts_at, zone, tr),
                  end=when(request.starts_at + request.duration, zone, tr)) + warn
    if request.state in (State.APPROVED, State.FAILED):
        return tr("*{id}*{extension}: approved by policy '{policy}'; state {state}.", id=request.id,
                  extension=extension, policy=policy, state=state_name(request.state, tr)) + warn
    level = request.levels[0]
    start = " " + tr("Once approved, access starts at {start}.", start=when(request.starts_at, zone, tr)) \
        if request.starts_at else ""
    return tr("Request *{id}*{extension} for {node} ({duration}) submitted under policy '{policy}'. Waiting for "
              "level 1 of {count} ('{level}') in <#{channel}>.", id=request.id, extension=extension, node=node,
              duration=request.duration, policy=policy, count=len(request.levels), level=safe(level.name, 100),
              channel=level.channel) + start + warn


def decision_card(request: AccessRequest, zone: ZoneInfo, now: datetime, tr: Tr = ENGLISH) -> list[Block]:
    """One request waiting for the reader's decision: who, what, why, which level, and the two buttons."""
    level = request.levels[request.current_level]
    ticket = " · " + tr("ticket {ticket}", ticket=safe(request.ticket, 120)) if request.ticket else ""
    text = tr("*{id}* · {requester} asks for {node} for {duration}{ticket}\n>{reason}\n"
              "Level {number} of {count} ('{level}') · waiting for {waited}", id=request.id,
              requester=user(request.requester), node=node_label(request), duration=request.duration, ticket=ticket,
              reason=safe(request.reason, 1500), number=request.current_level + 1, count=len(request.levels),
              level=safe(level.name, 100), waited=max(now - request.created_at, timedelta(0)))
    return [SectionBlock(text=MarkdownTextObject(text=text)),
            decide_buttons(tr, request.id, ids.decide_block(request.id))]


def pending(requests: Sequence[AccessRequest], zone: ZoneInfo, now: datetime, tr: Tr) -> Answer:
    if not requests:
        return Answer(tr("Nothing is waiting for your decision."))
    blocks: list[Block] = [HeaderBlock(text=tr("Waiting for your decision ({count})", count=len(requests)))]
    for request in requests[:MAX_PENDING_SHOWN]:
        blocks += decision_card(request, zone, now, tr)
    if len(requests) > MAX_PENDING_SHOWN:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=tr("… and {count} more: see the App Home tab.", count=len(requests) - MAX_PENDING_SHOWN))]))
    return Answer(tr.plural("{count} request waits for your decision.",
                                   "{count} requests wait for your decision.", len(requests)), blocks)


def nodes(found: Sequence[Requestable], text: str, tr: Tr) -> str:
    """The nodes the reader may request (those matching ``text``), each with the policy that would decide."""
    if not found:
        return tr("There is no node matching '{filter}' that you may request.", filter=safe(text, 100)) if text \
            else tr("There is no node that you may request.")
    lines = [tr("*Nodes you may request* matching '{filter}':", filter=safe(text, 100)) if text
             else tr("*Nodes you may request*:")]
    for item in found[:MAX_NODES_SHOWN]:
        name = f" {safe(item.node.name, 100)}" if item.node.name else ""
        lines.append(f"• `{escape(item.node.id)}`{name} ({item.node.account}/{item.node.region}) — "
                     f"{safe(policy_summary(tr, item.policy), 300)}")
    if len(found) > MAX_NODES_SHOWN:
        lines.append(tr("… and more. Narrow it down: `/jit nodes {filter}`", filter=escape("<filter>")))
    return "\n".join(lines)
