"""The request modal: ``build`` the view (fresh, after a node is picked, or for an extension) and ``parse``
its submission. Pure: the listeners in ``handlers.modals`` feed it domain objects.

Durations are a static select whose choices follow the policy of the picked node: the node picker
dispatches an action, and the view is updated with that policy's choices and default. The duration's
block id carries the policy, so that Slack drops a choice made under another policy rather than
keeping it; the submission is validated again whatever the form offered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from core.checks import MAX_REASON, MAX_TICKET, GrantingPolicy, Requestable, node_ref
from core.durations import format_duration
from core.model import AccessRequest
from core.policy.schema import ManualApprovalPolicy
from handlers import ids
from handlers.text import nodes_text, safe, when

OPTION_TEXT = 75


@dataclass(frozen=True)
class Meta:
    """What the modal carries in ``private_metadata``: the request it extends, where to answer."""

    extends: str | None = None
    response_url: str | None = None

    def dumps(self) -> str:
        return json.dumps({k: v for k, v in (("extends", self.extends), ("response_url", self.response_url)) if v})

    @classmethod
    def loads(cls, text: str | None) -> Meta:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        extends, url = data.get("extends"), data.get("response_url")
        return cls(str(extends)[:40] if extends else None, str(url) if url else None)


@dataclass(frozen=True)
class RequestForm:
    node: str
    duration: str | None
    reason: str
    ticket: str | None
    #: the block holding the duration (its id follows the policy), for pointing errors at it
    duration_block: str
    #: scheduled access: the start as typed (core.schedule reads it)
    start: str | None = None


def _plain(text: str, limit: int = OPTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def policy_summary(policy: GrantingPolicy) -> str:
    """How a policy decides, in a few words (plain text)."""
    if isinstance(policy, ManualApprovalPolicy):
        steps = " → ".join(level.name or f"level {i + 1}" for i, level in enumerate(policy.levels))
        how = f"approval by {steps}"
    else:
        how = "approved at once"
    return f"{policy.name}: {how}, at most {format_duration(policy.max_duration)}"


def node_option(found: Requestable) -> Option:
    node = found.node
    label = f"{node.name} ({node.id})" if node.name else node.id
    return Option(value=node_ref(node), text=_plain(label), description=_plain(policy_summary(found.policy)))


def duration_option(value: timedelta, default: timedelta, maximum: timedelta) -> Option:
    label = format_duration(value)
    if value == default:
        label += " (default)"
    elif value == maximum:
        label += " (maximum)"
    return Option(value=format_duration(value), text=label)


def duration_block_id(policy: GrantingPolicy | None) -> str:
    if policy is None:
        return ids.DURATION_BLOCK
    return f"{ids.DURATION_BLOCK}.{hashlib.sha256(policy.name.encode()).hexdigest()[:10]}"


def build(*, meta: Meta, choices: list[timedelta], default: timedelta, policy: GrantingPolicy | None = None,
          node: Requestable | None = None, extending: AccessRequest | None = None,
          zone: ZoneInfo | None = None) -> View:
    """The modal. With ``extending``, the node is fixed and the extension starts when that access ends."""
    blocks: list[Block] = []
    if extending is not None:
        old = extending
        blocks.append(SectionBlock(block_id=ids.NODE_BLOCK, text=MarkdownTextObject(
            text=f"Extend *{old.id}* on {nodes_text(old.nodes, 200)}.\n"
                 f"Your access ends at {when(old.expires_at, zone or ZoneInfo('UTC'))}; once approved, the "
                 "extension starts then, without a gap.")))
    else:
        picker = ExternalDataSelectElement(
            action_id=ids.NODE_INPUT, placeholder="Type part of a node's name or id", min_query_length=0,
            initial_option=node_option(node) if node else None)
        blocks.append(InputBlock(block_id=ids.NODE_BLOCK, label="Node", element=picker, dispatch_action=True,
                                 hint="Only the nodes you may request are listed, with the policy that applies."))
    if policy is not None:
        blocks.append(ContextBlock(block_id=ids.POLICY_BLOCK, elements=[MarkdownTextObject(
            text=f"Policy {safe(policy_summary(policy), 500)}"
                 + (f"\n{safe(policy.description, 1000)}" if policy.description else ""))]))
    maximum = max(choices)
    options = [duration_option(c, default, maximum) for c in choices]
    initial = next((o for o, c in zip(options, choices, strict=True) if c == default), None)
    blocks.append(InputBlock(
        block_id=duration_block_id(policy), label="Duration",
        element=StaticSelectElement(action_id=ids.DURATION_INPUT, options=options, initial_option=initial),
        hint=None if policy else "The choices follow the policy of the node you pick."))
    blocks.append(InputBlock(block_id=ids.REASON_BLOCK, label="Reason", element=PlainTextInputElement(
        action_id=ids.REASON_INPUT, multiline=True, max_length=MAX_REASON,
        placeholder="What you need to do, so that approvers can decide")))
    pattern = policy.ticket_pattern if policy else None
    ticket = extending.ticket if extending else None
    blocks.append(InputBlock(
        block_id=ids.TICKET_BLOCK, label="Ticket", optional=not pattern,
        element=PlainTextInputElement(action_id=ids.TICKET_INPUT, max_length=MAX_TICKET, initial_value=ticket),
        hint=f"Required by this policy: it must match {pattern}"[:150] if pattern else None))
    if policy is not None and policy.max_start_ahead is not None and extending is None:
        blocks.append(InputBlock(
            block_id=ids.START_BLOCK, label="Start", optional=True,
            element=PlainTextInputElement(action_id=ids.START_INPUT, max_length=40, placeholder="22:00"),
            hint=f"Empty: now. Or a later time (22:00, 2026-12-07 09:30), in the policy file's timezone, at most "
                 f"{format_duration(policy.max_start_ahead)} ahead: approved now, granted then."[:150]))
    return View(type="modal", callback_id=ids.REQUEST_VIEW, title="Extend access" if extending else "Request access",
                submit="Request", close="Cancel", private_metadata=meta.dumps(), blocks=blocks)


def blocked(message: str) -> View:
    """A modal that only explains why the person cannot request access at all."""
    return View(type="modal", title="Request access", close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=f":no_entry: {safe(message, 2900)}"))])


def _values(view: dict[str, Any]) -> dict[str, Any]:
    values = view.get("state", {}).get("values", {})
    return values if isinstance(values, dict) else {}


def picked_node(view: dict[str, Any]) -> str | None:
    """The node reference chosen in the picker, if any."""
    element = _values(view).get(ids.NODE_BLOCK, {}).get(ids.NODE_INPUT, {})
    selected = element.get("selected_option") if isinstance(element, dict) else None
    return str(selected["value"]) if isinstance(selected, dict) and selected.get("value") else None


def parse(view: dict[str, Any]) -> RequestForm:
    values = _values(view)
    duration_block = next((b for b in values if b == ids.DURATION_BLOCK
                           or b.startswith(ids.DURATION_BLOCK + ".")), ids.DURATION_BLOCK)
    chosen = values.get(duration_block, {}).get(ids.DURATION_INPUT, {}).get("selected_option") or {}
    reason = values.get(ids.REASON_BLOCK, {}).get(ids.REASON_INPUT, {}).get("value") or ""
    ticket = values.get(ids.TICKET_BLOCK, {}).get(ids.TICKET_INPUT, {}).get("value") or None
    start = values.get(ids.START_BLOCK, {}).get(ids.START_INPUT, {}).get("value") or None
    return RequestForm(node=picked_node(view) or "", duration=str(chosen.get("value") or "") or None,
                       reason=str(reason), ticket=str(ticket) if ticket else None, duration_block=duration_block,
                       start=str(start) if start else None)
