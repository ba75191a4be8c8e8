"""Granting and ending access: the AWS side of the lifecycle, each step claimed before it runs.

A step is claimed with a conditional update of ``lease_until`` so that one worker (thread or replica)
acts at a time; if it dies, the lease runs out and the sweep retries. AWS calls are idempotent, so a
retry after a crash converges.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from core.chains import (
    cancel_extensions,
    carried_on,
    carrier,
    ended_parent,
    free_links,
    superseded_by,
    tell_cancelled,
)
from core.context import Context, Say, owe, record, transition
from core.continuous import refusal_at_grant, superseded_reason
from core.documents import documents_for
from core.errors import Conflict, GrantRefused, InvalidInput, NotAllowed, TransientAwsError
from core.model import AccessRequest, Event, Notice, State
from core.ports import UnitOfWork
from core.sessions import after_revocation

log = logging.getLogger(__name__)

GRANT_LEASE = timedelta(seconds=60)
ALERT_AFTER_ATTEMPTS = 3
GRANT_GIVE_UP_AFTER = 5


MAX_BACKOFF = timedelta(minutes=5)


def backoff(attempts: int, base: timedelta = timedelta(seconds=2)) -> timedelta:
    """Wait before the next attempt: ``base`` × 1, 2, 4 … (2, 4, 8 … seconds by default), at most 5 minutes."""
    return min(base * (1 << min(max(attempts, 1) - 1, 20)), MAX_BACKOFF)



def activate(ctx: Context, request_id: str, *, claimed: bool = False) -> AccessRequest | None:
    """Apply the grant of an approved request: ``approved`` → ``active``, or ``failed`` if AWS refuses.

    ``claimed``: the caller moved the request to ``approved`` with a lease in the same transaction (so the
    sweep leaves it alone while the caller grants); otherwise the lease is taken here.
    """
    now = ctx.clock.now()
    if not claimed:
        with ctx.uow() as uow:
            claimed = uow.repo.update_where(request_id, {"state": State.APPROVED, "lease_until__lt": now},
                                            {"lease_until": now + GRANT_LEASE})
            uow.commit()
        if not claimed:
            return None
    request = ctx.load(request_id)
    if request.state is not State.APPROVED:
        return None
    if request.extends:  # the access it extends was revoked or released: never granted (core.chains)
        with ctx.uow() as uow:
            ended = ended_parent(uow.repo, request)
        if ended is not None:  # an earlier attempt AWS did not confirm may have applied it: delete it then
            _refuse_grant(ctx, request, now, ended, applied=request.cleanup_attempts > 0)
            return None
    with ctx.uow() as uow:  # the last gate of a lockout (core.lockout): whatever was approved, nothing is granted
        locked = uow.repo.lockout(request.requester) is not None
    if locked:
        _refuse_grant(ctx, request, now, "the requester is locked out of jitbot (/jit lockout)",
                      applied=request.cleanup_attempts > 0)
        return None
    expires_at = now + request.duration
    if request.extends:
        expires_at = _extended_expiry(ctx, request, now)
        over = refusal_at_grant(ctx, request, now, expires_at)
        if over is not None:  # max_continuous, as the policy file says now: nothing was granted on AWS
            _refuse_grant(ctx, request, now, over)
            return None
    documents = documents_for(ctx.policies(), request.policy)
    try:
        ctx.access.grant(request, expires_at, documents)
    except GrantRefused as err:
        _refuse_grant(ctx, request, now, str(err))
        return None
    except TransientAwsError as err:
        _grant_not_confirmed(ctx, request, now, err)
        return None
    with ctx.uow() as uow:
        # read the parent for update: a revoke that landed while AWS applied the grant is seen here, and the
        # revoke of a parent that is about to be superseded waits for this transaction (then follows the chain)
        ended = ended_parent(uow.repo, request, for_update=True) if request.extends else None
        if ended is not None:
            ok = transition(uow, request, State.FAILED, actor="jitbot", action="grant_failed", at=now,
                            detail={"error": ended}, say=Say(Notice.FAILED, reason=ended), ended_at=now,
                            end_reason=ended, needs_cleanup=True, cleanup_attempts=0, lease_until=now + GRANT_LEASE)
        else:
            ok = transition(uow, request, State.ACTIVE, actor="jitbot", action="granted", at=now,
                            detail={"expires_at": expires_at.isoformat(), "principal": request.principal_arn},
                            say=Say(Notice.GRANTED), granted_at=now, expires_at=expires_at, lease_until=None,
                            cleanup_attempts=0)
        superseded = _supersede(uow, request, now) if ok and ended is None and request.extends else None
        uow.commit()
    if not ok:
        return None
    if ended is not None:  # AWS applied it: delete it now, retried like any revocation
        cleanup(ctx, request_id, claimed=True)
        ctx.flush(request_id)
        return None
    active = ctx.load(request_id)
    if superseded is not None:
        if ctx.alarms is not None:
            ctx.alarms.disarm(superseded)
        cleanup(ctx, superseded, claimed=True)
    if ctx.alarms is not None:
        ctx.alarms.arm(active)
    ctx.flush(request_id)
    return active


def _refuse_grant(ctx: Context, request: AccessRequest, now: datetime, reason: str, *,
                  applied: bool = False) -> None:
    """``approved`` → ``failed``; the requester is told why. Nothing was applied on AWS by this attempt; with
    ``applied``, an earlier one may have been, and the policy is deleted like any revocation."""
    cleaning: dict[str, Any] = {"needs_cleanup": True, "cleanup_attempts": 0,
                                   "lease_until": now + GRANT_LEASE} if applied else {"lease_until": None}
    with ctx.uow() as uow:
        ok = transition(uow, request, State.FAILED, actor="jitbot", action="grant_failed", at=now,
                        detail={"error": reason}, say=Say(Notice.FAILED, reason=reason), ended_at=now,
                        end_reason=reason, **cleaning)
        uow.commit()
    if ok and applied:
        cleanup(ctx, request.id, claimed=True)
    ctx.flush(request.id)


def _grant_not_confirmed(ctx: Context, request: AccessRequest, now: datetime, err: Exception) -> None:
    """Retry later with backoff; after ``GRANT_GIVE_UP_AFTER`` attempts give up: ``failed``, and clean up
    whatever part of the grant AWS may have applied (the policy is deleted like any revocation)."""
    attempts = request.cleanup_attempts + 1
    if attempts < GRANT_GIVE_UP_AFTER:
        with ctx.uow() as uow:
            uow.repo.update_where(request.id, {"state": State.APPROVED},
                                  {"lease_until": now + backoff(attempts, ctx.retry_backoff),
                                   "cleanup_attempts": attempts})
            record(uow, request.id, "jitbot", "grant_retry", now, attempt=attempts, error=str(err))
            uow.commit()
        return
    reason = f"AWS did not confirm the grant after {attempts} attempts ({err})"
    with ctx.uow() as uow:
        ok = transition(uow, request, State.FAILED, actor="jitbot", action="grant_failed", at=now,
                        detail={"error": reason}, say=Say(Notice.FAILED, reason=reason), ended_at=now,
                        end_reason=reason, needs_cleanup=True, cleanup_attempts=0,
                        lease_until=now + backoff(1, ctx.retry_backoff))
        uow.commit()
    if ok:
        ctx.flush(request.id)


def _extended_expiry(ctx: Context, request: AccessRequest, now: datetime) -> datetime:
    """An extension continues the active window without a gap: it starts when the old one ends."""
    assert request.extends is not None
    previous = ctx.load(request.extends)
    if previous.state is State.ACTIVE and previous.expires_at is not None:
        return previous.expires_at + request.duration
    return now + request.duration


def _supersede(uow: UnitOfWork, extension: AccessRequest, now: datetime) -> str | None:
    """In the transaction that makes ``extension`` active: retire the request it extends, whose policy is then
    deleted like any revocation (``needs_cleanup``, claimed here; retried with backoff, alerted) but whose
    sessions carry on under the extension (``_revoke``). Returns its id, or None if it had already ended."""
    assert extension.extends is not None
    old = uow.repo.get(extension.extends)
    if old is None or old.state is not State.ACTIVE:  # it ended before the extension was granted
        return None
    ok = transition(uow, old, State.EXPIRED, actor="jitbot", action="superseded", at=now,
                    detail={"by": extension.id}, ended_at=now, end_reason=superseded_reason(extension.id),
                    ended_by="jitbot", needs_cleanup=True, cleanup_attempts=0, lease_until=now + GRANT_LEASE)
    return old.id if ok else None


def end_access(ctx: Context, request_id: str, target: State, *, actor: str, reason: str,
               detail: Mapping[str, Any] | None = None) -> bool:
    """``active`` → ``expired``/``revoked`` in the database first, then revoke on AWS (``cleanup``). ``detail``
    joins the audit event (a revoker's authority: ``core.revokers``)."""
    request = ctx.load(request_id)
    if request.state is not State.ACTIVE:
        return False
    now = ctx.clock.now()
    with ctx.uow() as uow:
        ok = transition(uow, request, target, actor=actor, action=target.value, at=now,
                        detail={"reason": reason, **(detail or {})}, ended_at=now, end_reason=reason, ended_by=actor,
                        needs_cleanup=True, lease_until=now + GRANT_LEASE, cleanup_attempts=0)
        uow.commit()
    if ok:
        if ctx.alarms is not None:
            ctx.alarms.disarm(request_id)
        ended = ctx.load(request_id)
        extensions = cancel_extensions(ctx, ended) if target is State.REVOKED else []
        links = free_links(ctx, ended) if target is State.REVOKED else []
        cleanup(ctx, request_id, claimed=True)
        if links:
            cleanup_many(ctx, links)
        tell_cancelled(ctx, extensions)
    return ok


def cleanup(ctx: Context, request_id: str, *, claimed: bool = False) -> bool:
    """Revoke on AWS until it confirms; then tell everyone, once."""
    now = ctx.clock.now()
    if not claimed:
        with ctx.uow() as uow:
            claimed = uow.repo.update_where(request_id, {"needs_cleanup": True, "lease_until__lt": now},
                                            {"lease_until": now + GRANT_LEASE})
            uow.commit()
        if not claimed:
            return False
    confirmed, events = revoke_claimed(ctx, [ctx.load(request_id)])
    tell(ctx, events)
    return bool(confirmed)


def cleanup_many(ctx: Context, requests: Sequence[AccessRequest]) -> list[str]:
    """``cleanup`` for many requests at once: one transaction claims the free ones, AWS revokes them in
    parallel, one transaction confirms; the notices follow. Returns the ids confirmed."""
    now = ctx.clock.now()
    claimed: list[AccessRequest] = []
    with ctx.uow() as uow:
        for request in requests:
            lease = now + GRANT_LEASE
            if uow.repo.update_where(request.id, {"needs_cleanup": True, "lease_until__lt": now},
                                     {"lease_until": lease}):
                claimed.append(replace(request, lease_until=lease))
        uow.commit()
    confirmed, events = revoke_claimed(ctx, claimed)
    tell(ctx, events)
    return confirmed


def revoke_claimed(ctx: Context, requests: Sequence[AccessRequest]) -> tuple[list[str], list[Event]]:
    """Revoke the grants whose cleanup this worker has claimed: the AWS calls run in parallel (up to
    ``ctx.revoke_workers``), then one transaction confirms those AWS confirmed and schedules a retry, with
    backoff, for the others; the notices are owed in that transaction. Returns the ids confirmed and the
    notices owed (the caller sends them, ``tell``, after the revocations that matter more)."""
    if not requests:
        return [], []
    carried = carried_on(ctx, requests)
    revoke = partial(_revoke, ctx, carried)
    workers = min(ctx.revoke_workers, len(requests))
    if workers <= 1:
        outcomes = [revoke(request) for request in requests]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="revoke") as pool:
            outcomes = list(pool.map(revoke, requests))
    now = ctx.clock.now()
    confirmed: list[str] = []
    events: list[Event] = []
    with ctx.uow() as uow:
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, Exception):
                attempts = request.cleanup_attempts + 1
                uow.repo.update_where(request.id, {"needs_cleanup": True},
                                      {"cleanup_attempts": attempts,
                                       "lease_until": now + backoff(attempts, ctx.retry_backoff)})
                record(uow, request.id, "jitbot", "revoke_retry", now, attempt=attempts, error=str(outcome))
                if attempts == ALERT_AFTER_ATTEMPTS:
                    events.append(Event(Notice.REVOKE_FAILING, request, reason=str(outcome)))
                    owe(uow, events[-1], now)
                continue
            # a grant given up on: the requester was already told; a link taken over: their access goes on
            notify = request.state is not State.FAILED and superseded_by(request) is None
            done = replace(request, needs_cleanup=False, sessions_ended=outcome, lease_until=None)
            if not uow.repo.update_where(request.id, {"needs_cleanup": True},
                                         {"needs_cleanup": False, "lease_until": None, "sessions_ended": outcome}):
                continue
            record(uow, request.id, "jitbot", "revocation_confirmed", now, sessions_ended=outcome)
            confirmed.append(request.id)
            if notify:
                events.append(ended_notice(done))
                owe(uow, events[-1], now)
        uow.commit()
    return confirmed, events


def ended_notice(done: AccessRequest) -> Event:
    """The notice that ``done``'s access ended (expired, released by its requester, or revoked)."""
    notice = Notice.EXPIRED if done.state is State.EXPIRED else (
        Notice.RELEASED if done.ended_by == done.requester else Notice.REVOKED)
    return Event(notice, done, actor=done.ended_by, reason=done.end_reason, sessions=done.sessions_ended)


def _revoke(ctx: Context, carried: frozenset[str], request: AccessRequest) -> int | Exception:
    """The sessions AWS ended, or the error that stopped it (retried later with backoff)."""
    try:
        if request.id in carried:
            ctx.access.delete_policy(request.principal_arn, f"jitbot-{request.id}")
            return 0
        ended = ctx.access.revoke(request)
        after_revocation(ctx, request)  # the sessions just ended, on record before the notice says it ended
        return ended
    except TransientAwsError as err:
        return err
    except Exception as err:  # a bug or an unexpected answer: retried like a transient error, and logged
        log.exception("revocation failed unexpectedly", extra={"request_id": request.id})
        return err


def tell(ctx: Context, events: Sequence[Event]) -> None:
    """Send the notices owed for ``events`` (owed in the transaction that confirmed them: ``revoke_claimed``);
    one that fails stays owed, and the outbox's periodic run retries it (``core.outbox``)."""
    ctx.flush(*dict.fromkeys(event.request.id for event in events))


def cancel(ctx: Context, request_id: str, actor: str) -> AccessRequest:
    request = ctx.load(request_id)
    if request.requester != actor:
        raise NotAllowed("Only the requester can cancel a request.")
    if request.state is not State.PENDING:
        raise Conflict(f"Request {request_id} is {request.state.value}; only pending requests can be cancelled.")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        ok = transition(uow, request, State.CANCELLED, actor=actor, action="cancelled", at=now,
                        say=Say(Notice.CANCELLED, actor=actor), ended_at=now, ended_by=actor,
                        end_reason="cancelled by the requester")
        uow.commit()
    if not ok:
        raise Conflict(f"Request {request_id} changed meanwhile; it is no longer pending.")
    ctx.flush(request_id)
    return ctx.load(request_id)


def release(ctx: Context, request_id: str, actor: str) -> AccessRequest:
    request = ctx.load(request_id)
    if request.requester != actor:
        raise NotAllowed("Only the requester can release their access; approvers use `/jit revoke`.")
    link = carrier(ctx, request)
    if not end_access(ctx, link.id, State.REVOKED, actor=actor, reason="released by the requester"):
        raise Conflict(f"Request {link.id} ended meanwhile.")
    return ctx.load(link.id)


def revoke(ctx: Context, request_id: str, actor: str, reason: str) -> AccessRequest:
    request = ctx.load(request_id)
    approvers = [a for level in request.levels for a in level.approvers]
    if actor == request.requester or not ctx.includes(actor, approvers):
        raise NotAllowed(f"Only an approver of policy '{request.policy}' (other than the requester) can "
                         "revoke this access.")
    user = ctx.directory.user(actor)
    if user.deleted or user.is_bot:  # as for approvals: a deactivated account's leftover session acts no more
        raise NotAllowed("Your Slack account cannot revoke access.")
    if not reason.strip():
        raise InvalidInput("Say why: `/jit revoke <id> <reason>`.")
    link = carrier(ctx, request)  # the link an extension took over: its access goes on in that extension
    if not end_access(ctx, link.id, State.REVOKED, actor=actor, reason=" ".join(reason.split())[:1000]):
        raise Conflict(f"Request {link.id} ended meanwhile.")
    return ctx.load(link.id)


#: further than any lease: ``due_work`` asked for this moment lists every claim, free or held
_FOREVER = timedelta(days=365 * 100)


def reclaim(ctx: Context, *, grants: bool) -> list[str]:
    """Free the claims on AWS steps that a dead process left behind, so that the first sweep retries them now
    rather than when their lease runs out (``GRANT_LEASE``). Called when a scheduler starts.

    Revocations are always freed: a duplicate attempt by a live worker is harmless (deleting a policy that is
    gone is done, ending a session twice is a no-op, and only one worker can confirm, with the conditional
    update of ``needs_cleanup``). Grants are freed only when ``grants`` says this process is the only one
    (SQLite, one replica): two workers granting at once would write two different expiries to IAM. So after a
    crash access never ends late by more than a sweep once jitbot is back; a grant interrupted on a replica of
    several waits for its lease.
    """
    now = ctx.clock.now()
    freed: list[str] = []
    with ctx.uow() as uow:
        for request in uow.repo.due_work(now + _FOREVER, limit=100_000):
            if request.lease_until is None or request.lease_until <= now:
                continue
            if request.needs_cleanup:
                expected: dict[str, object] = {"needs_cleanup": True}
            elif grants and request.state is State.APPROVED:
                expected = {"state": State.APPROVED}
            else:
                continue
            if uow.repo.update_where(request.id, expected, {"lease_until": None}):
                freed.append(request.id)
        uow.commit()
    return freed
