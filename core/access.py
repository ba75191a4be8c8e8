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

from core.audit import Action
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
from core.durations import backoff
from core.errors import Conflict, GrantRefused, InvalidInput, NotAllowed, TransientAwsError, Unavailable
from core.gates import refusal_at_last_gate
from core.i18n import T
from core.model import AccessRequest, Changes, Event, Expect, Notice, State, ended_notice
from core.outbox import flush
from core.ports import UnitOfWork
from core.schedule import expiry
from core.sessions import after_revocation

log = logging.getLogger(__name__)

GRANT_LEASE = timedelta(seconds=60)
ALERT_AFTER_ATTEMPTS = 3
GRANT_GIVE_UP_AFTER = 5
#: revocations ending together up to which each one's sessions are read inline (core.sessions.after_revocation)
INLINE_SESSION_READS = 8


def activate(ctx: Context, request_id: str, *, claimed: bool = False) -> AccessRequest | None:
    """Apply the grant of an approved request: ``approved`` → ``active``, or ``failed`` if AWS refuses.

    ``claimed``: the caller moved the request to ``approved`` with a lease in the same transaction (so the
    sweep leaves it alone while the caller grants); otherwise the lease is taken here. The request is read
    once, right before the grant (a revoke may have ended it since it was approved), with what may still stop
    the grant; the request then granted is the one returned.
    """
    now = ctx.clock.now()
    if not claimed:
        with ctx.uow() as uow:
            claimed = uow.repo.claim_grant(request_id, now, now + GRANT_LEASE)
            uow.commit()
        if not claimed:
            return None
    with ctx.uow() as uow:
        request = uow.repo.get(request_id)
        if request is None or request.state is not State.APPROVED:
            return None
        # the access it extends was revoked or released: never granted (core.chains)
        ended = ended_parent(uow.repo, request) if request.extends else None
        # the last gate of a lockout (core.lockout): whatever was approved, nothing is granted
        locked = uow.repo.lockout(request.requester) is not None
        if request.scheduled(now):  # granted at its start (core.schedule): the caller's lease is given back
            uow.repo.free_grant(request_id)
            uow.commit()
            return None
    try:  # the last gate (core.gates): what may have changed since the request was approved
        refused = refusal_at_last_gate(ctx, request, now, ended=ended, locked=locked)
    except Unavailable as err:  # who the requester is could not be read: never granted unchecked, retried
        _grant_not_confirmed(ctx, request, now, err)
        return None
    if refused is not None:  # an earlier attempt AWS did not confirm may have applied it: deleted then
        _refuse_grant(ctx, request, now, refused, applied=request.cleanup_attempts > 0)
        return None
    expires_at = expiry(request, now)
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
            ok = transition(uow, request, State.FAILED, actor="jitbot", action=Action.GRANT_FAILED, at=now,
                            detail={"error": ended}, say=Say(Notice.FAILED, reason=ended),
                            changes=Changes(ended_at=now, end_reason=ended, needs_cleanup=True, cleanup_attempts=0,
                                            lease_until=now + GRANT_LEASE))
        else:
            ok = transition(uow, request, State.ACTIVE, actor="jitbot", action=Action.GRANTED, at=now,
                            detail={"expires_at": expires_at.isoformat(), "principal": request.principal_arn},
                            say=Say(Notice.GRANTED), changes=Changes(granted_at=now, expires_at=expires_at,
                                                                     lease_until=None, cleanup_attempts=0))
        superseded = _supersede(uow, request, now) if ok and ended is None and request.extends else None
        uow.commit()
    if not ok:
        return None
    if ended is not None:  # AWS applied it: delete it now, retried like any revocation
        cleanup(ctx, request_id, claimed=True)
        flush(ctx, request_id)
        return None
    active = request.with_changes(state=State.ACTIVE, granted_at=now, expires_at=expires_at, lease_until=None,
                                  cleanup_attempts=0)
    if superseded is not None:
        if ctx.alarms is not None:
            ctx.alarms.disarm(superseded)
        cleanup(ctx, superseded, claimed=True)
    if ctx.alarms is not None:
        ctx.alarms.arm(active)
    flush(ctx, request_id)
    return active


def _refuse_grant(ctx: Context, request: AccessRequest, now: datetime, reason: str, *,
                  applied: bool = False) -> None:
    """``approved`` → ``failed``; the requester is told why. Nothing was applied on AWS by this attempt; with
    ``applied``, an earlier one may have been, and the policy is deleted like any revocation."""
    changes = Changes(ended_at=now, end_reason=reason, lease_until=None)
    if applied:  # deleted like any revocation, claimed here
        changes = replace(changes, needs_cleanup=True, cleanup_attempts=0, lease_until=now + GRANT_LEASE)
    with ctx.uow() as uow:
        ok = transition(uow, request, State.FAILED, actor="jitbot", action=Action.GRANT_FAILED, at=now,
                        detail={"error": reason}, say=Say(Notice.FAILED, reason=reason), changes=changes)
        uow.commit()
    if ok and applied:
        cleanup(ctx, request.id, claimed=True)
    flush(ctx, request.id)


def _grant_not_confirmed(ctx: Context, request: AccessRequest, now: datetime, err: Exception) -> None:
    """Retry later with backoff; after ``GRANT_GIVE_UP_AFTER`` attempts give up: ``failed``, and clean up
    whatever part of the grant AWS may have applied (the policy is deleted like any revocation)."""
    attempts = request.cleanup_attempts + 1
    if attempts < GRANT_GIVE_UP_AFTER:
        with ctx.uow() as uow:
            uow.repo.retry_grant_later(request.id, attempts, now + backoff(attempts, ctx.retry_backoff))
            record(uow, request.id, "jitbot", Action.GRANT_RETRY, now, attempt=attempts, error=str(err))
            uow.commit()
        return
    reason = f"AWS did not confirm the grant after {attempts} attempts ({err})"
    with ctx.uow() as uow:
        ok = transition(uow, request, State.FAILED, actor="jitbot", action=Action.GRANT_FAILED, at=now,
                        detail={"error": reason}, say=Say(Notice.FAILED, reason=reason),
                        changes=Changes(ended_at=now, end_reason=reason, needs_cleanup=True, cleanup_attempts=0,
                                        lease_until=now + backoff(1, ctx.retry_backoff)))
        uow.commit()
    if ok:
        flush(ctx, request.id)


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
    ok = transition(uow, old, State.EXPIRED, actor="jitbot", action=Action.SUPERSEDED, at=now,
                    detail={"by": extension.id},
                    changes=Changes(ended_at=now, end_reason=superseded_reason(extension.id), ended_by="jitbot",
                                    needs_cleanup=True, cleanup_attempts=0, lease_until=now + GRANT_LEASE))
    return old.id if ok else None


def end_access(ctx: Context, request_id: str, target: State, *, actor: str, reason: str,
               detail: Mapping[str, Any] | None = None) -> bool:
    """``active`` → ``expired``/``revoked`` in the database first, then revoke on AWS (``cleanup``). ``detail``
    joins the audit event (a revoker's authority: ``core.revokers``)."""
    request = ctx.load(request_id)
    return request.state is State.ACTIVE and _end(ctx, request, target, actor=actor, reason=reason,
                                                  detail=detail) is not None


def _end(ctx: Context, request: AccessRequest, target: State, *, actor: str, reason: str,
         detail: Mapping[str, Any] | None = None) -> AccessRequest | None:
    """``end_access`` for the active ``request`` the caller read (None when its state changed meanwhile); returns
    the request as this leaves it (``needs_cleanup`` still set when AWS has not confirmed)."""
    now = ctx.clock.now()
    changes = Changes(ended_at=now, end_reason=reason, ended_by=actor, needs_cleanup=True,
                      lease_until=now + GRANT_LEASE, cleanup_attempts=0)
    with ctx.uow() as uow:
        ok = transition(uow, request, target, actor=actor, action=Action(target.value), at=now,
                        detail={"reason": reason, **(detail or {})}, changes=changes)
        uow.commit()
    if not ok:
        return None
    if ctx.alarms is not None:
        ctx.alarms.disarm(request.id)
    ended = changes.apply(request, target)
    extensions = cancel_extensions(ctx, ended) if target is State.REVOKED else []
    links = free_links(ctx, ended) if target is State.REVOKED else []
    confirmed, events = revoke_claimed(ctx, [ended])
    tell(ctx, events)
    if links:
        cleanup_many(ctx, links)
    tell_cancelled(ctx, extensions)
    done = next((e.request for e in events if e.request.id == ended.id and ended.id in confirmed), None)
    return done or ended.with_changes(needs_cleanup=ended.id not in confirmed)


def cleanup(ctx: Context, request_id: str, *, claimed: bool = False) -> bool:
    """Revoke on AWS until it confirms; then tell everyone, once."""
    now = ctx.clock.now()
    if not claimed:
        with ctx.uow() as uow:
            claimed = uow.repo.claim_cleanup(request_id, now, now + GRANT_LEASE)
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
            if uow.repo.claim_cleanup(request.id, now, lease):
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
    # the sessions go on record with the revocation when a few end together (the end-of-access line lists them);
    # in a burst they are left to the sessions job, so that every grant of the burst is revoked first
    revoke = partial(_revoke, ctx, carried, len(requests) <= INLINE_SESSION_READS)
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
                uow.repo.retry_cleanup_later(request.id, attempts, now + backoff(attempts, ctx.retry_backoff))
                record(uow, request.id, "jitbot", Action.REVOKE_RETRY, now, attempt=attempts, error=str(outcome))
                if attempts == ALERT_AFTER_ATTEMPTS:
                    events.append(Event(Notice.REVOKE_FAILING, request, reason=str(outcome)))
                    owe(uow, events[-1], now)
                continue
            # a grant given up on: the requester was already told; a link taken over: their access goes on
            notify = request.state is not State.FAILED and superseded_by(request) is None
            done = replace(request, needs_cleanup=False, sessions_ended=outcome, lease_until=None)
            if not uow.repo.confirm_cleanup(request.id, outcome):
                continue
            record(uow, request.id, "jitbot", Action.REVOCATION_CONFIRMED, now, sessions_ended=outcome)
            confirmed.append(request.id)
            if notify:
                events.append(ended_notice(done))
                owe(uow, events[-1], now)
        uow.commit()
    return confirmed, events


def _revoke(ctx: Context, carried: frozenset[str], read_sessions: bool,
            request: AccessRequest) -> int | Exception:
    """The sessions AWS ended, or the error that stopped it (retried later with backoff)."""
    try:
        if request.id in carried:
            ctx.access.delete_policy(request.principal_arn, f"jitbot-{request.id}")
            return 0
        ended = ctx.access.revoke(request)
        if read_sessions:
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
    flush(ctx, *dict.fromkeys(event.request.id for event in events))


def cancel(ctx: Context, request_id: str, actor: str) -> AccessRequest:
    """The requester withdraws a pending request, or a scheduled one before its start (while nobody is granting
    it: the lease must be free)."""
    request = ctx.load(request_id)
    if request.requester != actor:
        raise NotAllowed(T("Only the requester can cancel a request."))
    now = ctx.clock.now()
    scheduled = request.state is State.APPROVED and request.scheduled(now)
    if request.state is not State.PENDING and not scheduled:
        raise Conflict(T("Request {id} is {state}; only pending requests, and scheduled ones before their start, "
                         "can be cancelled.", id=request_id, state=request.state.words))
    with ctx.uow() as uow:
        ok = transition(uow, request, State.CANCELLED, actor=actor, action=Action.CANCELLED, at=now,
                        say=Say(Notice.CANCELLED, actor=actor), expect=Expect(lease_free_at=now if scheduled else None),
                        changes=Changes(ended_at=now, ended_by=actor, end_reason="cancelled by the requester"))
        uow.commit()
    if not ok:
        raise Conflict(T("Request {id} changed meanwhile; it can no longer be cancelled.", id=request_id))
    flush(ctx, request_id)
    return ctx.load(request_id)


def release(ctx: Context, request_id: str, actor: str) -> AccessRequest:
    request = ctx.load(request_id)
    if request.requester != actor:
        raise NotAllowed(T("Only the requester can release their access; approvers use `/jit revoke`."))
    link = carrier(ctx, request)
    ended = _end(ctx, link, State.REVOKED, actor=actor, reason="released by the requester")
    if ended is None:
        raise Conflict(T("Request {id} ended meanwhile.", id=link.id))
    return ended


def revoke(ctx: Context, request_id: str, actor: str, reason: str) -> AccessRequest:
    request = ctx.load(request_id)
    approvers = [a for level in request.levels for a in level.approvers]
    if actor == request.requester or not ctx.includes(actor, approvers):
        raise NotAllowed(T("Only an approver of policy '{policy}' (other than the requester) can revoke this "
                           "access.", policy=request.policy))
    user = ctx.directory.user(actor)
    if user.deleted or user.is_bot:  # as for approvals: a deactivated account's leftover session acts no more
        raise NotAllowed(T("Your Slack account cannot revoke access."))
    if not reason.strip():
        raise InvalidInput(T("Say why: `/jit revoke <id> <reason>`."))
    link = carrier(ctx, request)  # the link an extension took over: its access goes on in that extension
    ended = _end(ctx, link, State.REVOKED, actor=actor, reason=" ".join(reason.split())[:1000])
    if ended is None:
        raise Conflict(T("Request {id} ended meanwhile.", id=link.id))
    return ended


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
                free = uow.repo.free_cleanup
            elif grants and request.state is State.APPROVED:
                free = uow.repo.free_grant
            else:
                continue
            if free(request.id):
                freed.append(request.id)
        uow.commit()
    return freed
