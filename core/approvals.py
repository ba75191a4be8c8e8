"""Approve and reject: the approval rules (docs/architecture.md), enforced on every click."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.access import GRANT_LEASE, activate
from core.audit import Action
from core.context import Context, Say, owe, owe_level, owe_update, record, transition
from core.durations import format_duration
from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from core.i18n import TP, T, Text
from core.model import KEEP, AccessRequest, Changes, Decision, Event, Expect, LevelSnapshot, Notice, State
from core.outbox import flush
from core.policy.schema import Level
from core.words import series


@dataclass(frozen=True)
class Outcome:
    request: AccessRequest
    #: what the click did, for the approver (``tr.text(outcome.message)``)
    message: Text
    level_done: bool = False



#: the durations an approver may approve for instead of what was asked: those of this ladder below the request's
SHORTER_LADDER = tuple(timedelta(minutes=m) for m in (15, 30, 60, 120, 240, 480, 720, 1440, 2880, 10080))


def shorter_durations(requested: timedelta) -> tuple[timedelta, ...]:
    """What "Approve for…" offers: the ladder's durations shorter than ``requested`` (which the policy allowed, so
    they are allowed too)."""
    return tuple(d for d in SHORTER_LADDER if d < requested)


def granted_duration(request: AccessRequest, decisions: list[Decision]) -> tuple[timedelta, str | None]:
    """The access the approvals give: the shortest duration any approver chose (and who), else what was asked."""
    chosen = [(d.duration, d.approver) for d in decisions if d.approve and d.duration is not None]
    if not chosen:
        return request.duration, None
    duration, approver = min(chosen)
    return (duration, approver) if duration < request.duration else (request.duration, None)


def level_in_force(ctx: Context, request: AccessRequest, index: int) -> Level | None:
    """The level at position ``index`` of the request's policy as the policy file says now; None when the
    policy is gone (removed or renamed: the two cannot be told apart) or has no such level any more."""
    for policy in ctx.policies().manual_approval:
        if policy.name == request.policy:
            return policy.levels[index] if index < len(policy.levels) else None
    return None


def deciders(level: Level | LevelSnapshot, escalated: bool) -> tuple[str, ...]:
    """Who decides ``level``: its approvers, and its ``escalate_to`` once the sweep escalated it
    (``core.escalation``; ``AccessRequest.escalated``)."""
    return level.approvers + (level.escalate_to if escalated else ())


def eligible_now(ctx: Context, request: AccessRequest, index: int, user_id: str) -> bool:
    """Whether ``user_id`` may approve level ``index`` now: named by the level as the request recorded it
    (``LevelSnapshot``: a later edit adds nobody) and still by the policy in force (an edit removes people at
    once); user groups and Identity Center groups are read live (``Context.includes``). The fallback approvers
    (``escalate_to``) count only once the level was escalated, and likewise only as both name them."""
    current = level_in_force(ctx, request, index)
    escalated = request.escalated(index)
    return (current is not None and ctx.includes(user_id, deciders(request.levels[index], escalated))
            and ctx.includes(user_id, deciders(current, escalated)))


def _offered(request_id: str, asked: timedelta, offered: list[timedelta]) -> Text:
    none = T("none")
    return T("Request {id} asks for {duration}; you can approve it for less only by one of the durations offered "
             "({offered}).", id=request_id, duration=asked, offered=series(offered, none))


def check_approver(ctx: Context, request: AccessRequest, actor: str,
                   decisions: list[Decision], *, approve: bool = True, locked: bool | None = None) -> None:
    """Raise ``NotAllowed``/``Conflict`` unless ``actor`` may decide on the request's current level now.

    The approvers are those of the level as recorded (``LevelSnapshot``) who are still approvers of that level
    in the policy now in force (``eligible_now``). When the policy no longer exists (or lost that level), nobody
    can approve any more; the recorded approvers can still reject, which only closes the request. ``locked``:
    whether ``actor`` is locked out, when the caller read it with the request (otherwise read here).
    """
    level = request.level
    if level is None:
        raise Conflict(T("Request {id} is already {state}; nothing to decide.", id=request.id,
                         state=request.state.words))
    if actor == request.requester:
        raise NotAllowed(T("You cannot approve or reject your own request."))
    user = ctx.directory.user(actor)
    if user.deleted or user.is_bot:
        raise NotAllowed(T("Your Slack account cannot approve requests."))
    for done in decisions:
        if done.approver == actor:
            raise NotAllowed(T("You already decided at level {level} of request {id}; one person counts at one "
                               "level at most.", level=done.level + 1, id=request.id))
    number = request.current_level + 1
    if not ctx.includes(actor, deciders(level, request.escalated(request.current_level))):
        if level.escalate_to:
            raise NotAllowed(T("Only the approvers of level {number} ('{level}') (and, once it is escalated, its "
                               "fallback approvers) can decide on request {id} now.", number=number,
                               level=level.name, id=request.id))
        raise NotAllowed(T("Only the approvers of level {number} ('{level}') can decide on request {id} now.",
                           number=number, level=level.name, id=request.id))
    if level_in_force(ctx, request, request.current_level) is None:
        if approve:
            raise NotAllowed(T("Request {id} can no longer be approved: policy '{policy}' no longer has level "
                               "{number} (the policy file changed: the policy was removed, renamed or lost that "
                               "level). You can still reject it; the requester may ask again.", id=request.id,
                               policy=request.policy, number=number))
    elif not eligible_now(ctx, request, request.current_level, actor):
        raise NotAllowed(T("You are no longer an approver of level {number} ('{level}') of policy '{policy}' (the "
                           "policy file changed), so you cannot decide on request {id}.", number=number,
                           level=level.name, policy=request.policy, id=request.id))
    if locked is None:
        with ctx.uow() as uow:
            locked = uow.repo.lockout(actor) is not None
    if locked:
        raise NotAllowed(T("You are locked out of jitbot, and cannot decide on requests until a revoker unlocks "
                           "you."))


def check_decider(ctx: Context, request_id: str, actor: str, *, approve: bool = True) -> AccessRequest:
    """The request ``actor`` may decide on now (``check_approver``), or a ``JitError`` saying why not: the Reject
    button asks before opening the modal for the reason, so that nobody writes one in vain."""
    with ctx.uow() as uow:
        request = uow.repo.get(request_id)
        decisions = uow.repo.decisions(request_id) if request else []
    if request is None:
        raise NotFound(T("There is no request {id}.", id=request_id))
    check_approver(ctx, request, actor, decisions, approve=approve)
    return request


def decide(ctx: Context, request_id: str, actor: str, approve: bool, comment: str | None = None,
           duration: timedelta | None = None) -> Outcome:
    """One click: read the request, its decisions and the actor's lockout once; check the approver (outside the
    transaction: Slack lookups may be slow); then one transaction records the decision and what it completes,
    the request read again for update so that a concurrent click or a timeout is seen."""
    with ctx.uow() as uow:
        request = uow.repo.get(request_id)
        decisions = uow.repo.decisions(request_id) if request is not None else []
        locked = uow.repo.lockout(actor) is not None
    if request is None:
        raise NotFound(T("There is no request {id}.", id=request_id))
    check_approver(ctx, request, actor, decisions, approve=approve, locked=locked)
    comment = " ".join((comment or "").split())[:1000] or None
    if not approve and not comment:
        raise InvalidInput(T("A rejection needs a reason."))
    if duration is not None and (not approve or duration not in shorter_durations(request.duration)):
        offered = list(shorter_durations(request.duration))
        raise InvalidInput(_offered(request_id, request.duration, offered))
    level_index = request.current_level
    level = request.levels[level_index]
    escalated = request.escalated(level_index)
    eligible_by = ctx.basis(actor, deciders(level, escalated))  # the entry that let the actor decide, as read now
    if escalated and not ctx.includes(actor, level.approvers):
        eligible_by["escalation"] = True  # a fallback approver of the escalated level
    now = ctx.clock.now()
    with ctx.uow() as uow:
        fresh = uow.repo.get(request_id, for_update=True)
        if fresh is None or fresh.state is not State.PENDING or fresh.current_level != level_index:
            raise Conflict(T("Request {id} changed while you were deciding; it is now {state}.", id=request_id,
                             state=fresh.state.words if fresh else T("gone")))
        decision = Decision(request_id, level_index, actor, approve, now, comment, duration)
        if not uow.repo.add_decision(decision):
            raise NotAllowed(T("You already decided on request {id}.", id=request_id))
        chose = {"duration": format_duration(duration)} if duration is not None else {}
        record(uow, request_id, actor, Action.APPROVE if approve else Action.REJECT, now, level=level_index,
               level_name=level.name, comment=comment, eligible_by=eligible_by, **chose)
        count = sum(1 for d in uow.repo.decisions(request_id) if d.level == level_index and d.approve)
        done = not approve or count >= level.required
        final = not approve or level_index + 1 == len(request.levels)
        after = fresh
        if not approve:  # every level's message shows the rejection
            ended = Changes(ended_at=now, end_reason=comment, ended_by=actor)
            transition(uow, fresh, State.REJECTED, actor=actor, action=Action.REJECTED, at=now,
                       expect=Expect(current_level=level_index), changes=ended,
                       say=Say(Notice.REJECTED, actor=actor, reason=comment, level=level_index))
            after = ended.apply(fresh, State.REJECTED)
        else:
            owe_update(uow, fresh, level_index, now)
        if approve and done and final:
            granted, chooser = granted_duration(fresh, uow.repo.decisions(request_id))
            shorter = {"requested": format_duration(fresh.duration), "granted": format_duration(granted),
                       "chosen_by": chooser} if chooser is not None else {}
            leased = Changes(lease_until=now + GRANT_LEASE, duration=granted if chooser else KEEP)
            if transition(uow, fresh, State.APPROVED, actor=actor, action=Action.APPROVED, at=now,
                          expect=Expect(current_level=level_index), changes=leased, detail=shorter) and chooser:
                owe(uow, Event(Notice.SHORTENED, leased.apply(fresh, State.APPROVED), actor=chooser,
                               reason=format_duration(fresh.duration)), now)
            after = leased.apply(fresh, State.APPROVED)
        elif approve and done:
            uow.repo.next_level(request_id, level_index)
            record(uow, request_id, actor, Action.LEVEL_APPROVED, now, level=level_index, level_name=level.name)
            owe_level(uow, fresh, level_index + 1, now)
            after = fresh.with_changes(current_level=level_index + 1, reminders_sent=0, last_reminder_at=None)
            owe(uow, Event(Notice.LEVEL_APPROVED, after, actor=actor, level=level_index), now,
                threads=",".join(f"level-{i}" for i in range(level_index + 1)))  # the new level's has it all
        uow.commit()
    flush(ctx, request_id)
    outcome = _after(ctx, after, level_index, approve, done, final, count)
    if duration is None:
        return outcome
    return Outcome(outcome.request, T("You approved for {duration} (asked: {asked}; the grant is the shortest any "
                                      "approver chose). {outcome}", duration=duration, asked=request.duration,
                                      outcome=outcome.message), outcome.level_done)


def _after(ctx: Context, request: AccessRequest, level_index: int, approve: bool, done: bool, final: bool,
           count: int) -> Outcome:
    """What the click did, said to the approver; the last approval grants (the lease is this worker's)."""
    level = request.levels[level_index]
    if not approve:
        return Outcome(request, T("You rejected request {id}.", id=request.id), True)
    if not done:
        left = level.required - count
        return Outcome(request, TP("Approved. Level {number} ('{level}') still needs {count} more approval.",
                                   "Approved. Level {number} ('{level}') still needs {count} more approvals.", left,
                                   number=level_index + 1, level=level.name))
    if not final:
        return Outcome(request, T("Approved. Level {number} is complete; level {next} ('{level}') has been asked.",
                                  number=level_index + 1, next=level_index + 2,
                                  level=request.levels[level_index + 1].name), True)
    if activate(ctx, request.id, claimed=True) is not None:
        return Outcome(request, T("Approved. Request {id} is fully approved and access was granted.", id=request.id),
                       True)
    return _not_granted(ctx.load(request.id))
def _not_granted(request: AccessRequest) -> Outcome:
    """The last approval is recorded but the grant is not in place: say so, never "access was granted"."""
    if request.state is State.FAILED:
        return Outcome(request, T("Approved, but AWS refused the grant of request {id}: {reason} The requester and "
                                  "the audit channel are told.", id=request.id, reason=request.end_reason), True)
    if request.state is State.APPROVED and request.starts_at is not None and request.starts_at > request.created_at:
        start = request.starts_at.strftime("%Y-%m-%d %H:%M")
        return Outcome(request, T("Approved. Request {id} is fully approved; it is scheduled, and access is granted "
                                  "at its start ({start} UTC).", id=request.id, start=start), True)
    if request.state is State.APPROVED:
        return Outcome(request, T("Approved. Request {id} is fully approved, but AWS has not confirmed the grant yet: "
                                  "jitbot keeps trying, and tells the requester once access is in place.",
                                  id=request.id), True)
    return Outcome(request, T("Approved. Request {id} is fully approved; it is now {state}.", id=request.id,
                              state=request.state.words), True)
