"""Submitting a request: check everything, refuse clearly, or record it and start its approval path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.access import GRANT_LEASE, activate
from core.context import Context, owe, owe_event, owe_level, record
from core.continuous import check_extension
from core.durations import DurationError, format_duration, parse_duration
from core.errors import Conflict, InvalidInput, NotAllowed, TransientAwsError, Unavailable
from core.lockout import refuse_if_locked_out
from core.model import AccessRequest, Event, Kind, LevelSnapshot, Node, Notice, State, new_request_id
from core.policy.cedar_rules import is_cedar
from core.policy.evaluate import Verdict, evaluate
from core.policy.schema import AutoApprovalPolicy, DenyPolicy, ManualApprovalPolicy

MAX_REASON = 1000
LIVE = (State.PENDING, State.APPROVED, State.ACTIVE)
MAX_TICKET = 100


@dataclass(frozen=True)
class RequestInput:
    requester: str
    node: str
    reason: str
    duration: str | None = None
    ticket: str | None = None
    extends: str | None = None


@dataclass(frozen=True)
class Submitted:
    request: AccessRequest
    verdict: Verdict


def _clean(text: str | None, field: str, limit: int) -> str | None:
    if text is None:
        return None
    value = " ".join(text.split())
    if len(value) > limit:
        raise InvalidInput(f"The {field} is {len(value)} characters long; keep it under {limit}.")
    return value or None


def check_duration(text: str | None, policy: AutoApprovalPolicy | ManualApprovalPolicy) -> timedelta:
    if text is None or not text.strip():
        return policy.duration_default
    try:
        value = parse_duration(text)
    except DurationError as err:
        raise InvalidInput(str(err)) from None
    if value > policy.max_duration:
        raise InvalidInput(f"{format_duration(value)} is more than policy '{policy.name}' allows "
                           f"(at most {format_duration(policy.max_duration)}).")
    return value


def check_levels(ctx: Context, policy: ManualApprovalPolicy, requester: str) -> tuple[LevelSnapshot, ...]:
    levels = []
    for index, level in enumerate(policy.levels):
        name = level.name or f"Level {index + 1}"
        eligible = ctx.eligible_count(level.approvers, requester)
        if eligible < level.required:
            raise NotAllowed(
                f"This request could never be approved: level {index + 1} ('{name}') of policy "
                f"'{policy.name}' needs {level.required} approver(s) other than you, "
                f"and only {eligible} can approve. Ask an admin to fix the policy."
            )
        levels.append(LevelSnapshot(name, level.channel, level.approvers, level.required))
    return tuple(levels)


def check_ticket(policy: AutoApprovalPolicy | ManualApprovalPolicy, ticket: str | None) -> None:
    """``ticket_pattern``: the ticket must be given and match the whole pattern, which the message shows."""
    if not policy.ticket_pattern:
        return
    if not ticket:
        raise InvalidInput(f"Policy '{policy.name}' needs a ticket matching `{policy.ticket_pattern}`: add "
                           f"ticket=<id> to your request.")
    if not re.fullmatch(policy.ticket_pattern, ticket):
        raise InvalidInput(f"Ticket '{ticket}' does not match `{policy.ticket_pattern}` "
                           f"(required by policy '{policy.name}').")


def check_active_limit(ctx: Context, user_id: str, policy: AutoApprovalPolicy | ManualApprovalPolicy,
                       extends: str | None = None) -> None:
    """``max_active_grants`` ([settings] for all policies together, and per policy): count the user's
    pending, approved and active requests; the one an extension replaces does not count."""
    overall = ctx.policies().settings.max_active_grants
    if overall is None and policy.max_active_grants is None:
        return
    with ctx.uow() as uow:
        live = [r for r in uow.repo.by_requester(user_id, LIVE, limit=1000) if r.id != extends]
    if overall is not None and len(live) >= overall:
        raise NotAllowed(f"You already have {len(live)} request(s) pending or active, and at most {overall} "
                         f"are allowed at a time ([settings] max_active_grants). Release or cancel one first: "
                         + ", ".join(r.id for r in live[:10]) + ".")
    under = [r for r in live if r.policy == policy.name]
    if policy.max_active_grants is not None and len(under) >= policy.max_active_grants:
        raise NotAllowed(f"You already have {len(under)} request(s) pending or active under policy "
                         f"'{policy.name}', which allows {policy.max_active_grants} at a time "
                         f"(max_active_grants). Release or cancel one first: "
                         + ", ".join(r.id for r in under[:10]) + ".")


def check_same_node(ctx: Context, user_id: str, node: Node, extends: str | None = None) -> None:
    """One live request per person and node: a second one would be a second grant of the same access (and
    with auto-approval, a way around ``max_continuous``). The request an extension replaces does not count.
    Raises ``Conflict`` naming the live request and what to do instead."""
    with ctx.uow() as uow:
        live = [r for r in uow.repo.by_requester(user_id, LIVE, limit=1000)
                if r.id != extends and (r.node.id, r.node.account, r.node.region)
                == (node.id, node.account, node.region)]
    if not live:
        return
    other = max(live, key=lambda r: LIVE.index(r.state))  # active access says most, then approved
    name = node.name or node.id
    if other.state is State.ACTIVE:
        left = ""
        if other.expires_at is not None:
            remaining = timedelta(minutes=max(1, round((other.expires_at - ctx.clock.now()).total_seconds() / 60)))
            left = f", for another {format_duration(remaining)}"
        raise Conflict(f"You already have access to {name} ({other.id}){left}. To stay longer, extend it: "
                       f"`/jit extend {other.id} <duration> <reason>`.")
    if other.state is State.APPROVED:
        raise Conflict(f"Your request {other.id} for {name} is approved and access is being granted.")
    raise Conflict(f"Your request {other.id} for {name} is already waiting for approval. To ask differently, "
                   f"cancel it first: `/jit cancel {other.id}`.")


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


def _refuse(ctx: Context, data: RequestInput, node: Node, verdict: Verdict) -> NotAllowed:
    now = ctx.clock.now()
    shadow = AccessRequest(id="-", requester=data.requester, principal_arn="", node=node, reason=data.reason,
                           duration=timedelta(0), policy=verdict.policy.name if verdict.policy else "-",
                           kind=Kind.MANUAL, levels=(), state=State.REJECTED, created_at=now)
    with ctx.uow() as uow:
        record(uow, None, data.requester, "request_refused", now, node=node.id, node_name=node.name,
               outcome=verdict.outcome, policy=verdict.policy.name if verdict.policy else None,
               reason=data.reason, message=verdict.message, membership=relied_on(ctx, data.requester, verdict))
        owe(uow, Event(Notice.DENIED, shadow, reason=verdict.message), now, threads="none")
        uow.commit()
    ctx.flush(shadow.id)
    return NotAllowed(verdict.message)


def submit(ctx: Context, data: RequestInput) -> Submitted:
    """Validate and record a request; start its approval path, or grant at once when auto-approved."""
    reason = _clean(data.reason, "reason", MAX_REASON)
    if not reason:
        raise InvalidInput("Please give a reason: `/jit request <node> [duration] <reason>`.")
    ticket = _clean(data.ticket, "ticket", MAX_TICKET)
    user = ctx.directory.user(data.requester)
    if user.deleted or user.is_bot:
        raise NotAllowed("Your Slack account cannot request access.")
    refuse_if_locked_out(ctx, user.id, "extension" if data.extends else "request")
    policies = ctx.policies()
    principal = ctx.principal_of(user)
    try:
        node = ctx.nodes.resolve(data.node.strip())
    except TransientAwsError as err:  # the person is waiting for an answer: say so, rather than "went wrong"
        raise Unavailable(f"AWS did not answer while jitbot looked up the node ({err}). Nothing was recorded; "
                          "try again in a minute.") from None
    requested = None
    if data.duration:
        try:
            requested = parse_duration(data.duration)
        except DurationError as err:
            raise InvalidInput(str(err)) from None
    verdict = evaluate(policies, ctx.requester(user.id), node, requested, has_ticket=bool(ticket))
    policy = verdict.granting
    if verdict.outcome in ("denied", "no_policy") or policy is None:
        raise _refuse(ctx, data, node, verdict)
    duration = check_duration(data.duration, policy)
    if data.extends:  # only active access of one's own (it may have ended since the form was opened)
        old = ctx.find(data.extends)
        if old is None or old.requester != user.id or old.state is not State.ACTIVE:
            state = old.state.value.replace("_", " ") if old is not None else "unknown"
            raise Conflict(f"Request {data.extends} is {state}; only your active access can be extended. Ask "
                           "for new access instead.")
        check_extension(ctx, policy, old, duration)  # max_continuous: refused before anything is recorded
    check_same_node(ctx, user.id, node, data.extends)
    check_ticket(policy, ticket)
    check_active_limit(ctx, user.id, policy, data.extends)
    levels = check_levels(ctx, policy, user.id) if isinstance(policy, ManualApprovalPolicy) else ()
    membership = relied_on(ctx, user.id, verdict)  # before the transaction: Slack lookups may be slow
    now = ctx.clock.now()
    request = AccessRequest(
        id=new_request_id(), requester=user.id, principal_arn=principal, node=node, reason=reason,
        duration=duration, policy=policy.name, kind=Kind.MANUAL if levels else Kind.AUTO, levels=levels,
        state=State.PENDING, created_at=now, ticket=ticket, extends=data.extends,
    )
    with ctx.uow() as uow:
        uow.repo.add(request)
        record(uow, request.id, user.id, "submitted", now, node=node.id, node_name=node.name,
               duration=int(duration.total_seconds()), reason=reason, ticket=ticket, policy=policy.name,
               principal=principal, trace=list(verdict.trace), membership=membership)
        owe_event(uow, request, None, action="submitted", actor=user.id, at=now)
        if not levels:
            uow.repo.update_where(request.id, {"state": State.PENDING},
                                  {"state": State.APPROVED, "lease_until": now + GRANT_LEASE})
            record(uow, request.id, "jitbot", "auto_approved", now, policy=policy.name,
                   **{"from": "pending", "to": "approved"})
            owe_event(uow, request.with_changes(state=State.APPROVED), State.PENDING, action="auto_approved",
                      actor="jitbot", at=now)
        else:
            owe_level(uow, request, 0, now)
            owe(uow, Event(Notice.SUBMITTED, request), now)
        uow.commit()
    if levels:
        ctx.flush(request.id)
        return Submitted(request, verdict)
    active = activate(ctx, request.id, claimed=True)
    if active is None:  # failed, or AWS did not confirm yet (the sweep retries)
        with ctx.uow() as uow:
            return Submitted(uow.repo.get(request.id) or request, verdict)
    return Submitted(active, verdict)
