"""Submitting a request: ``check`` every rule (``core.checks``), then ``record`` it and start its approval path;
a refusal the audit trail must show (a lockout, a policy's refusal) is recorded as such."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.access import GRANT_LEASE, activate
from core.audit import Action
from core.checks import Checked, LockedOut, PolicyRefusal, RequestInput, check
from core.context import Context, owe, owe_event, owe_level, record
from core.model import AccessRequest, Changes, Event, Kind, Node, Notice, State, new_request_id
from core.outbox import flush
from core.policy.cedar_rules import is_cedar
from core.policy.evaluate import Verdict
from core.policy.schema import DenyPolicy

__all__ = ["RequestInput", "Submitted", "record_request", "relied_on", "submit"]


@dataclass(frozen=True)
class Submitted:
    request: AccessRequest
    verdict: Verdict


def relied_on(ctx: Context, user_id: str, verdict: Verdict) -> dict[str, Any]:
    """The membership a decision relied on, for its audit event: per TOML policy that decided or denies, the
    entries of its ``requesters`` naming the person and those groups' members (``Context.basis``); under
    ``cedar``, the members of each group the Cedar statements name that the person is in."""
    out: dict[str, Any] = {}
    for match in verdict.matched:
        policy = match.policy
        if not is_cedar(policy) and (match.decided or isinstance(policy, DenyPolicy)):
            out[policy.name] = ctx.basis(user_id, policy.requesters)
    cedar = ctx.policies().cedar
    if cedar is not None and cedar.groups:
        out["cedar"] = ctx.basis(user_id, sorted(cedar.groups))
    return out


def _refused(ctx: Context, data: RequestInput, node: Node, verdict: Verdict) -> None:
    """A request no policy lets through: audited (with the membership the decision relied on) and announced."""
    now = ctx.clock.now()
    shadow = AccessRequest(id="-", requester=data.requester, principal_arn="", node=node, reason=data.reason,
                           duration=timedelta(0), policy=verdict.policy.name if verdict.policy else "-",
                           kind=Kind.MANUAL, levels=(), state=State.REJECTED, created_at=now)
    with ctx.uow() as uow:
        record(uow, None, data.requester, Action.REQUEST_REFUSED, now, node=node.id, node_name=node.name,
               outcome=verdict.outcome, policy=verdict.policy.name if verdict.policy else None,
               reason=data.reason, message=str(verdict.message), membership=relied_on(ctx, data.requester, verdict))
        owe(uow, Event(Notice.DENIED, shadow, reason=str(verdict.message)), now, threads="none")  # a record
        uow.commit()
    flush(ctx, shadow.id)


def _locked_out(ctx: Context, user_id: str, err: LockedOut) -> None:
    with ctx.uow() as uow:
        record(uow, None, user_id, Action.LOCKED_OUT_REFUSED, ctx.clock.now(), what=err.what, locked_by=err.held.by,
               locked_at=err.held.at.isoformat())
        uow.commit()


def submit(ctx: Context, data: RequestInput) -> Submitted:
    """``check`` then ``record_request``: refuse clearly (the refusals the audit trail shows are recorded), or
    record the request and start its approval path, or grant at once when auto-approved."""
    try:
        checked = check(ctx, data)
    except LockedOut as err:
        _locked_out(ctx, data.requester, err)
        raise
    except PolicyRefusal as err:
        _refused(ctx, data, err.node, err.verdict)
        raise
    return record_request(ctx, checked)


def record_request(ctx: Context, checked: Checked) -> Submitted:
    """Record a checked request and its audit event; owe its first approval message, or approve it with a
    grant lease in the same transaction and grant at once."""
    user, principal, node, policy, levels = (checked.person.user, checked.person.principal, checked.node,
                                             checked.policy, checked.levels)
    duration, verdict = checked.duration, checked.verdict
    extends = checked.extends.id if checked.extends is not None else None
    membership = relied_on(ctx, user.id, verdict)  # before the transaction: Slack lookups may be slow
    now = ctx.clock.now()
    request = AccessRequest(
        id=new_request_id(), requester=user.id, principal_arn=principal, node=node, reason=checked.reason,
        duration=duration, policy=policy.name, kind=Kind.MANUAL if levels else Kind.AUTO, levels=levels,
        state=State.PENDING, created_at=now, ticket=checked.ticket, extends=extends, starts_at=checked.starts_at,
        more_nodes=checked.more_nodes,
    )
    start: dict[str, Any] = {"starts_at": checked.starts_at.isoformat()} if checked.starts_at is not None else {}
    if checked.more_nodes:  # a request for several nodes: each one, as approved and granted
        start["nodes"] = [{"id": n.id, "name": n.name} for n in checked.nodes]
    with ctx.uow() as uow:
        uow.repo.add(request)
        record(uow, request.id, user.id, Action.SUBMITTED, now, node=node.id, node_name=node.name,
               duration=int(duration.total_seconds()), reason=checked.reason, ticket=checked.ticket,
               policy=policy.name, principal=principal, trace=list(verdict.trace), membership=membership,
               **start)
        owe_event(uow, request, None, action=Action.SUBMITTED, actor=user.id, at=now)
        if not levels:
            # scheduled: no lease, the sweep grants it at its start (core.schedule)
            lease = None if request.scheduled(now) else now + GRANT_LEASE
            uow.repo.move(request, State.APPROVED, Changes(lease_until=lease))
            record(uow, request.id, "jitbot", Action.AUTO_APPROVED, now, policy=policy.name,
                   **{"from": "pending", "to": "approved"})
            owe_event(uow, request.with_changes(state=State.APPROVED), State.PENDING, action="auto_approved",
                      actor="jitbot", at=now)
        else:
            owe_level(uow, request, 0, now)
            owe(uow, Event(Notice.SUBMITTED, request), now)
        uow.commit()
    if levels or request.scheduled(now):
        flush(ctx, request.id)
        if not levels:
            return Submitted(request.with_changes(state=State.APPROVED), verdict)
        return Submitted(request, verdict)
    active = activate(ctx, request.id, claimed=True)
    if active is None:  # failed, or AWS did not confirm yet (the sweep retries)
        with ctx.uow() as uow:
            return Submitted(uow.repo.get(request.id) or request, verdict)
    return Submitted(active, verdict)
