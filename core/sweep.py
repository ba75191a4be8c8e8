"""The periodic sweep: everything overdue, caught up whatever happened before (crash, restart, lost job).

Each step is a conditional state change, so running the sweep twice, or on two workers, acts once and
tells people once. Also here: the daily retention purge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from core.access import GRANT_LEASE, activate, cleanup_many, revoke_claimed, tell
from core.audit import Action
from core.chains import orphaned
from core.context import Context, Say, owe, owe_level, record, transition
from core.durations import format_duration
from core.escalation import escalate, escalation_due
from core.model import AccessRequest, Changes, Decision, Event, Notice, State
from core.outbox import flush

log = logging.getLogger(__name__)

#: requests purged per transaction: short enough that SQLite's write lock is never held for long
PURGE_BATCH = 500
#: grants ended per transaction by ``expire_due`` (then revoked on AWS together)
EXPIRE_BATCH = 100
EXPIRED_REASON = "the access window ended"


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    #: pending extensions of access that was revoked (``core.chains.orphaned``)
    cancelled: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    #: pending requests whose waiting level was escalated (``core.escalation``)
    escalated: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    errors: int = 0

    @property
    def acted(self) -> bool:
        return any((self.expired, self.activated, self.cleaned, self.timed_out, self.cancelled, self.reminded,
                    self.warned, self.escalated))



def expire_due(ctx: Context, *, limit: int = 100_000) -> list[str]:
    """End every active grant whose window has closed, many at a time: one transaction per
    ``EXPIRE_BATCH`` moves them to ``expired`` (each with its audit event and a cleanup lease), AWS revokes
    the batch in parallel, one transaction confirms. The notices go out once every due grant is revoked:
    deleting the policies is what matters, the messages can follow. Returns the ids this call ended."""
    ended: list[str] = []
    events: list[Event] = []
    while len(ended) < limit:
        now = ctx.clock.now()
        claimed: list[AccessRequest] = []
        with ctx.uow() as uow:
            due = uow.repo.due_expiries(now, limit=EXPIRE_BATCH)
            changes = Changes(ended_at=now, end_reason=EXPIRED_REASON, ended_by="jitbot", needs_cleanup=True,
                              lease_until=now + GRANT_LEASE, cleanup_attempts=0)
            for request in due:
                if transition(uow, request, State.EXPIRED, actor="jitbot", action=Action.EXPIRED, at=now,
                              detail={"reason": EXPIRED_REASON}, changes=changes):
                    claimed.append(changes.apply(request, State.EXPIRED))
            uow.commit()
        if ctx.alarms is not None:
            for request in claimed:
                ctx.alarms.disarm(request.id)
        events += revoke_claimed(ctx, claimed)[1]
        ended += [request.id for request in claimed]
        if len(due) < EXPIRE_BATCH or not claimed:
            break
    tell(ctx, events)
    return ended


def warning_due(request: AccessRequest, now: datetime, warning: timedelta) -> bool:
    """Whether the requester should now hear that access ends soon: active, not yet warned, less than
    ``warning`` left, and a grant longer than the warning (else the grant's own message said it all)."""
    if not warning or request.state is not State.ACTIVE or request.warned:
        return False
    if request.expires_at is None or request.expires_at <= now or request.expires_at - warning > now:
        return False
    return request.granted_at is None or request.expires_at - request.granted_at > warning


def warn(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    """Tell the requester their access ends soon (DM and thread), once."""
    with ctx.uow() as uow:
        ok = uow.repo.mark_warned(request.id)
        if ok:
            left = format_duration((request.expires_at or now) - now)
            record(uow, request.id, "jitbot", Action.EXPIRY_WARNED, now, left=left)
            owe(uow, Event(Notice.WARNING, request.with_changes(warned=True)), now)
        uow.commit()
    if ok:
        flush(ctx, request.id)
    return ok


def level_started(request: AccessRequest, decisions: Sequence[Decision]) -> datetime:
    """When the request's current level began waiting: its creation, or the last approval of the level before."""
    if request.current_level == 0:
        return request.created_at
    previous = [d.at for d in decisions if d.level == request.current_level - 1 and d.approve]
    return max(previous, default=request.created_at)


def reminder_due(request: AccessRequest, now: datetime, interval: timedelta,
                 started: datetime | None = None) -> bool:
    """Growing intervals: the k-th reminder of a level waits k × interval after the previous one (the
    first waits one interval after the level began), so a level hears at most one reminder per interval."""
    if not interval or request.level is None:
        return False
    since = request.last_reminder_at or started or request.created_at
    return now - since >= interval * (request.reminders_sent + 1)


def remind(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    """Re-announce the waiting level in its own thread, mentioning its approvers; once per due reminder. A level
    whose approval message was given up on (Slack refused it, or was down beyond the outbox's retries) gets it
    posted again first, so that its approvers get their buttons after all and the reminder its thread."""
    level = request.current_level
    with ctx.uow() as uow:
        ok = uow.repo.record_reminder(request.id, level, request.reminders_sent, now)
        if ok:
            record(uow, request.id, "jitbot", Action.REMINDED, now, level=level, reminder=request.reminders_sent + 1)
            if not any(ref.purpose == f"level-{level}" for ref in uow.repo.messages(request.id)):
                owe_level(uow, request, level, now)
            owe(uow, Event(Notice.REMINDER, request, level=level), now, threads=f"level-{level}")
        uow.commit()
    if ok:
        flush(ctx, request.id)
    return ok


def time_out(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    """``pending`` → ``timed_out``: the approval messages lose their buttons and the requester is told."""
    with ctx.uow() as uow:
        ok = transition(uow, request, State.TIMED_OUT, actor="jitbot", action=Action.TIMED_OUT, at=now,
                        say=Say(Notice.TIMED_OUT),
                        changes=Changes(ended_at=now, end_reason="no decision before the approval timeout"))
        uow.commit()
    if ok:
        flush(ctx, request.id)
    return ok


def _activated(ctx: Context, request_id: str) -> bool:
    return activate(ctx, request_id) is not None


def _pending_steps(ctx: Context, pending: list[AccessRequest], now: datetime,
                   report: SweepReport) -> list[tuple[list[str], AccessRequest, Callable[[], bool]]]:
    settings = ctx.policies().settings
    steps: list[tuple[list[str], AccessRequest, Callable[[], bool]]] = []
    for request in pending:
        if request.extends is not None:  # the access it extends was revoked by a path that did not end it
            steps.append((report.cancelled, request, partial(orphaned, ctx, request)))
        if now - request.created_at >= settings.approval_timeout:
            steps.append((report.timed_out, request, partial(time_out, ctx, request, now)))
            continue
        started = None
        level = request.level
        escalating = level is not None and level.escalate_after is not None \
            and not request.escalated(request.current_level)
        if request.current_level > 0 and (escalating or (request.last_reminder_at is None
                                          and settings.reminder_interval)):
            with ctx.uow() as uow:
                started = level_started(request, uow.repo.decisions(request.id))
        began = started or request.created_at
        if escalating and escalation_due(request, now, began):
            steps.append((report.escalated, request, partial(escalate, ctx, request, now, now - began)))
        if reminder_due(request, now, settings.reminder_interval, started):
            steps.append((report.reminded, request, partial(remind, ctx, request, now)))
    return steps


def sweep(ctx: Context) -> SweepReport:
    """One pass over everything due. Safe to run at any time, on any number of workers."""
    report = SweepReport()
    now = ctx.clock.now()
    warning = ctx.policies().settings.expiry_warning
    with ctx.uow() as uow:
        work = uow.repo.due_work(now)
        pending = uow.repo.in_states([State.PENDING])
        warnable = uow.repo.due_expiries(now + warning, unwarned=True) if warning else []
    ending: list[tuple[list[str], Callable[[], list[str]]]] = [
        (report.expired, partial(expire_due, ctx)),
        (report.cleaned, partial(cleanup_many, ctx, [r for r in work if r.needs_cleanup
                                                     and r.state is not State.APPROVED])),
    ]
    for bucket, batch in ending:
        try:
            bucket.extend(batch())
        except Exception:  # the database or a bug: the rest of the sweep still runs, and the next pass retries
            report.errors += 1
            log.exception("sweep: ending access failed")
    steps: list[tuple[list[str], AccessRequest, Callable[[], bool]]] = []
    for request in work:
        if request.state is State.APPROVED:
            steps.append((report.activated, request, partial(_activated, ctx, request.id)))
    for request in warnable:
        if warning_due(request, now, warning):
            steps.append((report.warned, request, partial(warn, ctx, request, now)))
    steps += _pending_steps(ctx, pending, now, report)
    for bucket, request, step in steps:
        try:
            if step():
                bucket.append(request.id)
        except Exception:  # one bad request must not stop the sweep for the others
            report.errors += 1
            log.exception("sweep step failed for request %s", request.id)
    return report


@dataclass(frozen=True)
class Purged:
    cutoff: datetime
    requests: int
    events: int
    batches: int


def purge_history(ctx: Context, *, batch: int = PURGE_BATCH, pause: Callable[[], None] | None = None) -> Purged:
    """Retention: delete finished requests and audit events older than ``[settings] retention``, in short
    batches (``pause`` runs between them so other writers get the database), then audit the counts."""
    if ctx.reports is None:
        raise RuntimeError("no Reports adapter in the Context: retention needs the store")
    retention = ctx.policies().settings.retention
    now = ctx.clock.now()
    cutoff = now - retention
    requests = events = batches = 0
    while True:
        gone_requests, gone_events = ctx.reports.purge_before(cutoff, limit=batch)
        requests, events, batches = requests + gone_requests, events + gone_events, batches + 1
        if gone_requests < batch and gone_events < batch:
            break
        if pause is not None:
            pause()
    with ctx.uow() as uow:
        record(uow, None, "jitbot", Action.RETENTION_PURGED, ctx.clock.now(), cutoff=cutoff.isoformat(),
               retention=format_duration(retention), requests=requests, events=events, batches=batches)
        uow.commit()
    return Purged(cutoff, requests, events, batches)
