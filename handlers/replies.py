"""Ephemeral answers for commands: short, specific, and never echoing unescaped input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from core.checks import Requestable
from core.durations import format_duration
from core.model import AccessRequest, State
from handlers import ids
from handlers.blocks import decide_buttons
from handlers.parsing import USAGE
from handlers.request_view import policy_summary
from handlers.text import escape, nodes_text, safe, user, when

HELP = "\n".join(
    ["*jitbot* gives you temporary, approved SSM access to a node (or a few, where a policy allows).", ""]
    + [f"• `{escape(usage)}`" for usage in USAGE.values()]
    + ["", "Example: `/jit request web-1 2h disk full on /var` (or just `/jit request` for a form)",
       "A level nobody decides in time may escalate: its fallback approvers are asked too "
       "(`/jit explain <node>` shows when and to whom).",
       "Approvers can *Approve for…* less than was asked; the grant is the shortest any approver chose.",
       "Scheduled access, where a policy sets `max_start_ahead`: `/jit request web-1 2h at 22:00 night deploy` "
       "(or `at 2026-12-07 09:30`, in the policy file's timezone) is approved ahead and granted at the start; "
       "`/jit cancel <id>` withdraws it until then.",
       "Several nodes in one request, where a policy sets `max_nodes`: `/jit request web-1,web-2,web-3 1h deploy` "
       "or `/jit request tag:Role=web 1h deploy` (resolved once, when you ask): one approval, one grant covering "
       "each node. They must fall under the same policy, in one account and region, each listed once."]
)

#: Slack allows 50 blocks in a message
MAX_PENDING_SHOWN = 20
MAX_NODES_SHOWN = 40


@dataclass(frozen=True)
class Answer:
    """A reply richer than text: blocks (buttons), or a modal to open instead (given the response_url)."""

    text: str
    blocks: Sequence[Block] = ()
    modal: Callable[[str | None], View] | None = None


def node_label(request: AccessRequest) -> str:
    return nodes_text(request.nodes, 200)


def summary(request: AccessRequest, zone: ZoneInfo) -> str:
    line = f"*{request.id}* · {node_label(request)} · {format_duration(request.duration)} · *{request.state.value}*"
    if request.extends:
        line += f" · extends {request.extends}"
    if request.state is State.PENDING and request.level is not None:
        line += f" · level {request.current_level + 1}/{len(request.levels)} ('{safe(request.level.name, 100)}')"
    if request.starts_at is not None and request.state in (State.PENDING, State.APPROVED):
        line += f" · starts at {when(request.starts_at, zone)}"
    if request.state is State.ACTIVE and request.expires_at:
        line += f" · until {when(request.expires_at, zone)}"
    if request.end_reason and request.state.is_final:
        line += f" · {safe(request.end_reason, 300)}"
    return line


def listing(requests: Sequence[AccessRequest], zone: ZoneInfo) -> str:
    if not requests:
        return "You have no pending or active requests."
    return "\n".join(summary(r, zone) for r in requests)


def released(request: AccessRequest) -> str:
    """The answer to a requester who ended their access, honest when AWS has not confirmed the removal yet."""
    if request.needs_cleanup:
        return (f"Your access *{request.id}* has ended. AWS has not confirmed the removal of the permission yet: "
                "jitbot keeps trying, and tells you when it is done.")
    return f"Your access *{request.id}* has ended; the permission is removed."


def submitted(request: AccessRequest, zone: ZoneInfo) -> str:
    node = node_label(request)
    warn = ""
    for item in request.nodes:  # the first node whose agent is not online
        if item.ping_status and item.ping_status != "Online":
            which = "The node's" if not request.more_nodes else f"`{escape(item.id)}`'s"
            warn = f"\n:warning: {which} SSM agent is *{escape(item.ping_status)}*; you may not be able " \
                   "to connect."
            break
    extension = f" (extending {request.extends})" if request.extends else ""
    if request.state is State.ACTIVE:
        return (f":unlock: *{request.id}*{extension}: access to {node} granted until "
                f"{when(request.expires_at, zone)} (policy '{escape(request.policy)}'). Details are in your DMs.{warn}")
    if request.state is State.APPROVED and request.starts_at is not None:
        return (f":calendar: *{request.id}*: access to {node} approved by policy '{escape(request.policy)}', "
                f"scheduled: granted at {when(request.starts_at, zone)}, until "
                f"{when(request.starts_at + request.duration, zone)}. `/jit cancel {request.id}` withdraws it "
                f"before then.{warn}")
    if request.state in (State.APPROVED, State.FAILED):
        return (f"*{request.id}*{extension}: approved by policy '{escape(request.policy)}'; "
                f"state {request.state.value}.{warn}")
    level = request.levels[0]
    start = f" Once approved, access starts at {when(request.starts_at, zone)}." if request.starts_at else ""
    return (f"Request *{request.id}*{extension} for {node} ({format_duration(request.duration)}) submitted under "
            f"policy '{escape(request.policy)}'. Waiting for level 1 of {len(request.levels)} "
            f"('{safe(level.name, 100)}') in <#{level.channel}>.{start}{warn}")


def decision_card(request: AccessRequest, zone: ZoneInfo, now: datetime) -> list[Block]:
    """One request waiting for the reader's decision: who, what, why, which level, and the two buttons."""
    level = request.levels[request.current_level]
    ticket = f" · ticket {safe(request.ticket, 120)}" if request.ticket else ""
    waited = format_duration(now - request.created_at) if now > request.created_at else "0s"
    text = (f"*{request.id}* · {user(request.requester)} asks for {node_label(request)} for "
            f"{format_duration(request.duration)}{ticket}\n>{safe(request.reason, 1500)}\n"
            f"Level {request.current_level + 1} of {len(request.levels)} ('{safe(level.name, 100)}') · "
            f"waiting for {waited}")
    return [SectionBlock(text=MarkdownTextObject(text=text)), decide_buttons(request.id, ids.decide_block(request.id))]


def pending(requests: Sequence[AccessRequest], zone: ZoneInfo, now: datetime) -> Answer:
    if not requests:
        return Answer("Nothing is waiting for your decision.")
    blocks: list[Block] = [HeaderBlock(text=f"Waiting for your decision ({len(requests)})")]
    for request in requests[:MAX_PENDING_SHOWN]:
        blocks += decision_card(request, zone, now)
    if len(requests) > MAX_PENDING_SHOWN:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"… and {len(requests) - MAX_PENDING_SHOWN} more: see the App Home tab.")]))
    return Answer(f"{len(requests)} request(s) wait for your decision.", blocks)


def nodes(found: Sequence[Requestable], text: str) -> str:
    where = f" matching '{safe(text, 100)}'" if text else ""
    if not found:
        return f"There is no node{where} that you may request."
    lines = [f"*Nodes you may request*{where}:"]
    for item in found[:MAX_NODES_SHOWN]:
        name = f" {safe(item.node.name, 100)}" if item.node.name else ""
        lines.append(f"• `{escape(item.node.id)}`{name} ({item.node.account}/{item.node.region}) — "
                     f"{safe(policy_summary(item.policy), 300)}")
    if len(found) > MAX_NODES_SHOWN:
        lines.append(f"… and more. Narrow it down: `/jit nodes {escape('<filter>')}`")
    return "\n".join(lines)
