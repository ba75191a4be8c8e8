"""The last gate of a grant: what may have changed since an approved request was decided, checked right before
jitbot writes the grant (``core.access.activate``), in this order: the access it extends has ended
(``core.chains``), the requester is locked out (``core.lockout``), a deny now refuses one of its nodes (below),
a scheduled request's policy now allows less, or its window has passed (``core.schedule``).

A request is decided when it is made (``core.checks``); approval can take hours and scheduled access starts
later still. Meanwhile a deny policy (or a Cedar ``forbid``) may have been added: a change freeze, a node taken
out of bounds, a person moved off a team. Whatever was approved, jitbot evaluates the policies in force once more
just before it writes the grant, for every node of the request, and grants nothing a deny now refuses outright.
Nothing else is re-decided here (a new auto-approval does not matter to an approved request; a smaller
``max_duration`` or ``max_nodes`` is the scheduled start's business, ``core.schedule``).
"""

from __future__ import annotations

from datetime import datetime

from core.context import Context
from core.durations import format_duration
from core.model import AccessRequest
from core.policy.evaluate import evaluate
from core.schedule import expiry, refusal_at_start


def refusal_at_last_gate(ctx: Context, request: AccessRequest, now: datetime, *, ended: str | None,
                         locked: bool) -> str | None:
    """Why ``request`` may not be granted now (the audit's English, told to the requester), or None. ``ended``
    and ``locked`` were read with the request, in its transaction. ``Unavailable`` when the deny cannot be
    checked now (``denial_at_grant``)."""
    if ended is not None:
        return ended
    if locked:
        return "the requester is locked out of jitbot (/jit lockout)"
    denied = denial_at_grant(ctx, request)
    if denied is not None:
        return denied
    if request.starts_at is None:
        return None
    late = (f"its window ({format_duration(request.duration)} from the start) ended before it could be granted"
            if expiry(request, now) <= now else None)
    return refusal_at_start(ctx.policies(), request) or late


def denial_at_grant(ctx: Context, request: AccessRequest) -> str | None:
    """Why a deny in force now refuses ``request`` (the audit's English), or None. ``Unavailable`` when who the
    requester is cannot be read now (Slack, Identity Center or an on-call provider did not answer): the grant is
    then retried, never made unchecked."""
    policies = ctx.policies()
    if not policies.deny and (policies.cedar is None or not policies.cedar.forbids):
        return None
    requester = ctx.requester(request.requester)
    for node in request.nodes:
        verdict = evaluate(policies, requester, node, request.duration)
        if verdict.outcome == "denied":
            name = verdict.policy.name if verdict.policy is not None else "a deny policy"
            return f"policy '{name}' now refuses access to {node.label}, so the approved access was not granted"
    return None
