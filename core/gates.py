"""The last gate of a grant: a deny added since the request was decided refuses it there.

A request is decided when it is made (``core.checks``); approval can take hours and scheduled access starts
later still. Meanwhile a deny policy (or a Cedar ``forbid``) may have been added: a change freeze, a node taken
out of bounds, a person moved off a team. Whatever was approved, jitbot evaluates the policies in force once more
just before it writes the grant, for every node of the request, and grants nothing a deny now refuses outright.
Nothing else is re-decided here (a new auto-approval does not matter to an approved request; a smaller
``max_duration`` or ``max_nodes`` is the scheduled start's business, ``core.schedule``).
"""

from __future__ import annotations

from core.context import Context
from core.model import AccessRequest
from core.policy.evaluate import evaluate


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
