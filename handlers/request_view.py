"""The request modal: ``build`` the view (fresh, after a node is picked, or for an extension) and ``parse``
its submission. Pure: the listeners in ``handlers.modals`` feed it domain objects.

The node picker is a multi-select: one node, or several under one policy (its ``max_nodes``). The submission
joins the picked references into the comma list ``/jit request`` takes, so both go through the same rules
(``core.checks.check``); a view built with the single select it once was still parses.

Durations are a static select whose choices follow the policy of the first picked node: the node picker
dispatches an action, and the view is updated with that policy's choices and default. The duration's
block id carries the policy, so that Slack drops a choice made under another policy rather than
keeping it; the submission is validated again whatever the form offered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ExternalDataMultiSelectElement,
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
from core.i18n import Tr
from core.model import AccessRequest
from core.policy.schema import MAX_NODES, ManualApprovalPolicy
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
    #: the picked nodes' references, joined as ``/jit request`` takes them (``a/r/i-1,a/r/i-2``); "" if none
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


def policy_summary(tr: Tr, policy: GrantingPolicy) -> str:
    """How a policy decides, in a few words (plain text)."""
    if isinstance(policy, ManualApprovalPolicy):
        steps = " → ".join(level.name or tr("level {number}", number=i + 1) for i, level in enumerate(policy.levels))
        return tr("{policy}: approval by {steps}, at most {duration}", policy=policy.name, steps=steps,
                  duration=policy.max_duration)
    return tr("{policy}: approved at once, at most {duration}", policy=policy.name, duration=policy.max_duration)


def node_option(tr: Tr, found: Requestable) -> Option:
    """A node of the picker: its value is the node's reference, whatever the language."""
    node = found.node
    label = f"{node.name} ({node.id})" if node.name else node.id
    return Option(value=node_ref(node), text=_plain(label), description=_plain(policy_summary(tr, found.policy)))


def duration_option(tr: Tr, value: timedelta, default: timedelta, maximum: timedelta) -> Option:
    """A duration to choose: labelled in the reader's language, its value the duration as ``parse`` reads it."""
    if value == default:
        label = tr("{duration} (default)", duration=value)
    elif value == maximum:
        label = tr("{duration} (maximum)", duration=value)
    else:
        label = tr.duration(value)
    return Option(value=format_duration(value), text=label)


def duration_block_id(policy: GrantingPolicy | None) -> str:
    if policy is None:
        return ids.DURATION_BLOCK
    return f"{ids.DURATION_BLOCK}.{hashlib.sha256(policy.name.encode()).hexdigest()[:10]}"


def _extending(tr: Tr, old: AccessRequest, zone: ZoneInfo) -> SectionBlock:
    node = nodes_text(old.nodes, 200)
    return SectionBlock(block_id=ids.NODE_BLOCK, text=MarkdownTextObject(text=tr(
        "Extend *{id}* on {node}.\nYour access ends at {until}; once approved, the extension starts then, without "
        "a gap.", id=old.id, node=node,
        until=when(old.expires_at, zone, tr))))


def kept_option(option: dict[str, Any]) -> Option | None:
    """An option as Slack sent it back (a node picked earlier), to show it picked again; None if it is not one."""
    value, text = option.get("value"), (option.get("text") or {}).get("text")
    if not isinstance(value, str) or not value or len(value) > 150 or not isinstance(text, str):
        return None
    description = (option.get("description") or {}).get("text")
    return Option(value=value, text=_plain(text or value),
                  description=_plain(description) if isinstance(description, str) and description else None)


def _picker(tr: Tr, node: Requestable | None, more: Sequence[Option]) -> InputBlock:
    picked = [node_option(tr, node), *more][:MAX_NODES] if node else []
    picker = ExternalDataMultiSelectElement(
        action_id=ids.NODE_INPUT, placeholder=tr("Type part of a node's name or id"), min_query_length=0,
        initial_options=picked or None, max_selected_items=MAX_NODES)
    return InputBlock(block_id=ids.NODE_BLOCK, label=tr("Nodes"), element=picker, dispatch_action=True,
                      hint=tr("Only the nodes you may request are listed, with the policy that applies. Pick "
                              "several only where that policy allows them in one request."))


def _policy_text(tr: Tr, policy: GrantingPolicy) -> str:
    text = tr("Policy {summary}", summary=safe(policy_summary(tr, policy), 500))
    if policy.max_nodes > 1:
        text += "\n" + tr("Up to {most} of its nodes in one request.", most=policy.max_nodes)
    return text + (f"\n{safe(policy.description, 1000)}" if policy.description else "")


def build(tr: Tr, *, meta: Meta, choices: list[timedelta], default: timedelta, policy: GrantingPolicy | None = None,
          node: Requestable | None = None, more: Sequence[Option] = (), extending: AccessRequest | None = None,
          zone: ZoneInfo | None = None) -> View:
    """The modal, in the reader's language (its values never depend on it: ``parse`` reads any). ``node`` is
    the first node picked (its ``policy`` gives the durations), ``more`` the others as Slack sent them back. With
    ``extending``, the nodes are fixed and the extension starts when that access ends."""
    blocks: list[Block] = [_extending(tr, extending, zone or ZoneInfo("UTC")) if extending is not None
                           else _picker(tr, node, more)]
    if policy is not None:
        blocks.append(ContextBlock(block_id=ids.POLICY_BLOCK, elements=[MarkdownTextObject(
            text=_policy_text(tr, policy))]))
    maximum = max(choices)
    options = [duration_option(tr, c, default, maximum) for c in choices]
    initial = next((o for o, c in zip(options, choices, strict=True) if c == default), None)
    blocks.append(InputBlock(
        block_id=duration_block_id(policy), label=tr("Duration"),
        element=StaticSelectElement(action_id=ids.DURATION_INPUT, options=options, initial_option=initial),
        hint=None if policy else tr("The choices follow the policy of the node you pick.")))
    blocks.append(InputBlock(block_id=ids.REASON_BLOCK, label=tr("Reason"), element=PlainTextInputElement(
        action_id=ids.REASON_INPUT, multiline=True, max_length=MAX_REASON,
        placeholder=tr("What you need to do, so that approvers can decide"))))
    pattern = policy.ticket_pattern if policy else None
    ticket = extending.ticket if extending else None
    blocks.append(InputBlock(
        block_id=ids.TICKET_BLOCK, label=tr("Ticket"), optional=not pattern,
        element=PlainTextInputElement(action_id=ids.TICKET_INPUT, max_length=MAX_TICKET, initial_value=ticket),
        hint=tr("Required by this policy: it must match {pattern}", pattern=pattern)[:150] if pattern else None))
    if policy is not None and policy.max_start_ahead is not None and extending is None:
        blocks.append(InputBlock(
            block_id=ids.START_BLOCK, label=tr("Start"), optional=True,
            element=PlainTextInputElement(action_id=ids.START_INPUT, max_length=40, placeholder="22:00"),
            hint=tr("Empty: now. Or a later time (22:00, 2026-12-07 09:30), in the policy file's timezone, at most "
                    "{ahead} ahead: approved now, granted then.", ahead=policy.max_start_ahead)[:150]))
    return View(type="modal", callback_id=ids.REQUEST_VIEW,
                title=tr("Extend access") if extending else tr("Request access"),
                submit=tr("Request"), close=tr("Cancel"), private_metadata=meta.dumps(), blocks=blocks)


def blocked(tr: Tr, message: str) -> View:
    """A modal that only explains why the person cannot request access at all (``message``, in their language)."""
    return View(type="modal", title=tr("Request access"), close=tr("Close"),
                blocks=[SectionBlock(text=MarkdownTextObject(text=f":no_entry: {safe(message, 2900)}"))])


def _values(view: dict[str, Any]) -> dict[str, Any]:
    values = view.get("state", {}).get("values", {})
    return values if isinstance(values, dict) else {}


def picked_options(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The options chosen in the node picker, in order: ``selected_options`` of the multi-select, or the
    ``selected_option`` of the single select a form opened before it was one (its submission still counts)."""
    element = _values(view).get(ids.NODE_BLOCK, {}).get(ids.NODE_INPUT, {})
    if not isinstance(element, dict):
        return []
    chosen = element.get("selected_options")
    if not isinstance(chosen, list):
        chosen = [element.get("selected_option")]
    return [o for o in chosen if isinstance(o, dict) and o.get("value")]


def picked_nodes(view: dict[str, Any]) -> list[str]:
    """The node references chosen in the picker, in order (none: an empty list)."""
    return [str(option["value"]) for option in picked_options(view)]


def parse(view: dict[str, Any]) -> RequestForm:
    values = _values(view)
    duration_block = next((b for b in values if b == ids.DURATION_BLOCK
                           or b.startswith(ids.DURATION_BLOCK + ".")), ids.DURATION_BLOCK)
    chosen = values.get(duration_block, {}).get(ids.DURATION_INPUT, {}).get("selected_option") or {}
    reason = values.get(ids.REASON_BLOCK, {}).get(ids.REASON_INPUT, {}).get("value") or ""
    ticket = values.get(ids.TICKET_BLOCK, {}).get(ids.TICKET_INPUT, {}).get("value") or None
    start = values.get(ids.START_BLOCK, {}).get(ids.START_INPUT, {}).get("value") or None
    return RequestForm(node=",".join(picked_nodes(view)), duration=str(chosen.get("value") or "") or None,
                       reason=str(reason), ticket=str(ticket) if ticket else None, duration_block=duration_block,
                       start=str(start) if start else None)
