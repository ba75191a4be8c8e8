"""Break-glass: access at once for the people of ``[breakglass] requesters``, announced loudly, reviewed after.

What it bypasses: the wait for approvals, auto-approval limits, ``ticket_pattern``,
``max_active_grants`` and the rule of one live request per person and node
(``core.checks.same_node``): in an emergency, a pending request for the node (or a grant AWS has not
confirmed yet) must not stand in the way, and every use is reviewed anyway. What still holds: a deny
policy with ``block = "all"`` (TOML or a Cedar forbid annotated ``@block("all")``), the ``[identities]``
mapping, and coverage by a manual-approval policy, because the level-1 approvers of the manual policy
that would have applied are the ones who must review it. Every use is announced in the audit channel
(``@here``) and in level 1's channel with a Review button, and stays in every digest
(``unreviewed_breakglass``) until one of them reviews it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.access import activate
from core.audit import Action
from core.context import Context, owe_event, record, reviews, transition
from core.durations import DurationError, parse_duration
from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from core.i18n import T, Text
from core.lockout import refuse_if_locked_out
from core.model import AccessRequest, Intent, Kind, LevelSnapshot, Node, Review, Send, State, new_request_id
from core.outbox import flush
from core.policy.evaluate import evaluate, manual_for
from core.policy.schema import DenyPolicy, ManualApprovalPolicy
from core.ports import UnitOfWork
from core.words import said

MAX_REASON = 1000
MAX_NOTE = 1000


@dataclass(frozen=True)
class BreakglassInput:
    requester: str
    node: str
    reason: str
    duration: str | None = None


def _clean(text: str | None, limit: int, what: str) -> str:
    value = " ".join((text or "").split())
    if len(value) > limit:
        if what == "note":
            raise InvalidInput(T("The note is {length} characters long; keep it under {limit}.",
                                 length=str(len(value)), limit=str(limit)))
        raise InvalidInput(T("The reason is {length} characters long; keep it under {limit}.", length=str(len(value)),
                             limit=str(limit)))
    return value


def _refuse(ctx: Context, user_id: str, node: Node | None, reason: str, message: Text) -> NotAllowed:
    """The refusal, audited in English and shown in the reader's language."""
    with ctx.uow() as uow:
        record(uow, None, user_id, Action.BREAKGLASS_REFUSED, ctx.clock.now(), node=node.id if node else None,
               node_name=node.name if node else None, reason=reason, message=str(message))
        uow.commit()
    return NotAllowed(message)


def _duration(text: str | None, maximum: timedelta) -> timedelta:
    if not text:
        return maximum
    try:
        value = parse_duration(text)
    except DurationError as err:
        raise InvalidInput(said(err)) from None
    if value > maximum:
        raise InvalidInput(T("Break-glass access lasts at most {maximum} ([breakglass] max_duration).",
                             maximum=maximum))
    return value


def _reviewing_policy(ctx: Context, user_id: str, node: Node, reason: str) -> ManualApprovalPolicy:
    """The manual policy that would have applied (whoever asks): its level 1 reviews; deny "all" still holds."""
    policies = ctx.policies()
    verdict = evaluate(policies, ctx.requester(user_id), node)
    if verdict.outcome == "denied" and isinstance(verdict.policy, DenyPolicy):
        raise _refuse(ctx, user_id, node, reason, T("Break-glass cannot override deny policy '{policy}' on {node}: "
                                                    "it refuses access outright (block = \"all\").",
                                                    policy=verdict.policy.name, node=node.label))
    manual, _ = manual_for(policies, node)
    if manual is None:
        raise _refuse(ctx, user_id, node, reason, T("No manual-approval policy covers {node}, so nobody could "
                                                    "review break-glass access to it; ask an admin to add one.",
                                                    node=node.label))
    if not ctx.eligible_count(manual.levels[0].approvers, user_id):
        raise _refuse(ctx, user_id, node, reason, T("Level 1 of policy '{policy}' has nobody but you to review "
                                                    "break-glass access; ask an admin to fix the policy.",
                                                    policy=manual.name))
    return manual


def breakglass(ctx: Context, data: BreakglassInput) -> AccessRequest:
    """Grant at once, record why, and announce it loudly; the level-1 approvers review it afterwards."""
    if ctx.breakglass is None:
        raise RuntimeError("break-glass needs Context.breakglass (the notices with the Review buttons)")
    reason = _clean(data.reason, MAX_REASON, "reason")
    if not reason:
        raise InvalidInput(T("Break-glass needs a reason: `/jit breakglass <node> [duration] <reason>`."))
    user = ctx.directory.user(data.requester)
    if user.deleted or user.is_bot:
        raise NotAllowed(T("Your Slack account cannot request access."))
    refuse_if_locked_out(ctx, user.id, "break-glass")
    policies = ctx.policies()
    glass = policies.breakglass
    if not glass.requesters:
        raise NotAllowed(T("Break-glass is not enabled here ([breakglass] requesters is empty); use "
                           "`/jit request`."))
    if not ctx.requester(user.id).is_in(glass.requesters):
        raise _refuse(ctx, user.id, None, reason, T("You are not among the [breakglass] requesters; use "
                                                    "`/jit request` and ask the approvers to hurry."))
    principal = ctx.principal_of(user)
    duration = _duration(data.duration, glass.max_duration)
    node = ctx.nodes.resolve(data.node.strip())
    manual = _reviewing_policy(ctx, user.id, node, reason)
    levels = tuple(LevelSnapshot(level.name or f"Level {i + 1}", level.channel, level.approvers, level.required)
                   for i, level in enumerate(manual.levels))
    now = ctx.clock.now()
    request = AccessRequest(
        id=new_request_id(), requester=user.id, principal_arn=principal, node=node, reason=reason,
        duration=duration, policy=manual.name, kind=Kind.BREAKGLASS, levels=levels, state=State.PENDING,
        created_at=now)
    reviewers = levels[0].approvers
    eligible_by = ctx.basis(user.id, glass.requesters)  # the [breakglass] entry that let them, as read now
    with ctx.uow() as uow:
        uow.repo.add(request)
        record(uow, request.id, user.id, Action.SUBMITTED, now, node=node.id, node_name=node.name, kind="breakglass",
               duration=int(duration.total_seconds()), reason=reason, policy=manual.name, principal=principal)
        owe_event(uow, request, None, action=Action.SUBMITTED, actor=user.id, at=now)
        transition(uow, request, State.APPROVED, actor=user.id, action=Action.BREAKGLASS, at=now,
                   detail={"policy": manual.name, "reviewers": list(reviewers), "eligible_by": eligible_by})
        uow.repo.owe(Intent(Send.BREAKGLASS, request.id), now)  # shows the request as it is when sent
        uow.commit()
    granted = activate(ctx, request.id)
    flush(ctx, request.id)
    with ctx.uow() as uow:
        return granted or uow.repo.get(request.id) or request


def check_reviewer(ctx: Context, request_id: str, actor: str) -> AccessRequest:
    """The break-glass request ``actor`` may review now, or a ``JitError`` saying why not."""
    with ctx.uow() as uow:
        request = uow.repo.get(request_id)
        done = reviews(uow, request_id) if request else []
    if request is None or request.kind is not Kind.BREAKGLASS:
        raise NotFound(T("There is no break-glass use {id}.", id=request_id))
    if actor == request.requester:
        raise NotAllowed(T("You cannot review your own break-glass use."))
    account = ctx.directory.user(actor)
    if account.deleted or account.is_bot:  # as for approvals and revocations
        raise NotAllowed(T("Your Slack account cannot review break-glass use."))
    if done:
        raise Conflict(T("Break-glass use {id} was already reviewed (by {reviewer}).", id=request_id,
                         reviewer=done[0].reviewer))
    if not request.levels or not ctx.includes(actor, request.levels[0].approvers):
        raise NotAllowed(T("Only the level-1 approvers of policy '{policy}' can review break-glass use {id}.",
                           policy=request.policy, id=request_id))
    return request


def review(ctx: Context, request_id: str, actor: str, justified: bool, note: str) -> Review:
    """Record the after-the-fact review (once per use), then update the announcements."""
    note = _clean(note, MAX_NOTE, "note")
    if not note:
        raise InvalidInput(T("Say what you checked: a review needs a note."))
    request = check_reviewer(ctx, request_id, actor)
    eligible_by = ctx.basis(actor, request.levels[0].approvers)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.repo.get(request_id, for_update=True)  # serialises two reviewers clicking at once
        if reviews(uow, request_id):
            raise Conflict(T("Break-glass use {id} was reviewed meanwhile.", id=request_id))
        record(uow, request_id, actor, Action.BREAKGLASS_REVIEWED, now, justified=justified, note=note,
               state=request.state.value, eligible_by=eligible_by)
        uow.repo.owe(Intent(Send.REVIEWED, request_id), now)
        uow.commit()
    flush(ctx, request_id)
    return Review(request_id, actor, now, justified, note)


def unreviewed_breakglass(uow: UnitOfWork, since: datetime | None = None) -> list[AccessRequest]:
    """Break-glass uses (since ``since``, default: all kept) that nobody has reviewed yet, oldest first.

    For the daily digest: each stays there until reviewed. Reads the audit trail (one pass over the
    events since ``since``; pass the retention horizon).
    """
    used: dict[str, None] = {}
    reviewed: set[str] = set()
    for event in uow.repo.events(since=since):
        if event.request_id is None:
            continue
        if event.action == Action.BREAKGLASS:
            used[event.request_id] = None
        elif event.action == Action.BREAKGLASS_REVIEWED:
            reviewed.add(event.request_id)
    found = [uow.repo.get(rid) for rid in used if rid not in reviewed]
    return sorted((r for r in found if r is not None), key=lambda r: r.created_at)
