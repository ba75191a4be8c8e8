"""The periodic sweep: everything overdue, caught up whatever happened before (crash, restart, lost job).

Each step is a conditional state change, so running the sweep twice, or on two workers, acts once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from core.access import activate, cleanup, end_access
from core.context import Context, transition
from core.model import AccessRequest, Event, Notice, State

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    errors: int = 0

    @property
    def acted(self) -> bool:
        return any((self.expired, self.activated, self.cleaned, self.timed_out, self.reminded, self.warned))


def expire(ctx: Context, request_id: str) -> bool:
    return end_access(ctx, request_id, State.EXPIRED, actor="jitbot", reason="the access window ended")


def warn(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    """Tell the requester their access ends soon, once."""
    with ctx.uow() as uow:
        ok = uow.repo.update_where(request.id, {"state": State.ACTIVE, "warned": False}, {"warned": True})
        uow.commit()
    if ok:
        ctx.announce(Event(Notice.WARNING, request))
    return ok


def reminder_due(request: AccessRequest, now: datetime, interval: timedelta) -> bool:
    """Growing intervals: the k-th reminder waits k × interval after the previous one (or the level start)."""
    if not interval or request.level is None:
        return False
    since = request.last_reminder_at or request.created_at
    return now - since >= interval * (request.reminders_sent + 1)


def remind(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    with ctx.uow() as uow:
        ok = uow.repo.update_where(
            request.id,
            {"state": State.PENDING, "current_level": request.current_level,
             "reminders_sent": request.reminders_sent},
            {"reminders_sent": request.reminders_sent + 1, "last_reminder_at": now},
        )
        uow.commit()
    if ok:
        ctx.announce(Event(Notice.REMINDER, request, level=request.current_level))
    return ok


def time_out(ctx: Context, request: AccessRequest, now: datetime) -> bool:
    with ctx.uow() as uow:
        ok = transition(uow, request, State.TIMED_OUT, actor="jitbot", action="timed_out", at=now,
                        ended_at=now, end_reason="no decision before the approval timeout")
        uow.commit()
        refs, decisions = uow.repo.messages(request.id), uow.repo.decisions(request.id)
    if ok:
        with ctx.uow() as uow:
            done = uow.repo.get(request.id)
        assert done is not None
        for ref in refs:
            if ref.purpose.startswith("level-"):
                ctx.notifier.update_approval(done, ref, decisions)
        ctx.notifier.announce(Event(Notice.TIMED_OUT, done), refs)
    return ok


def _activated(ctx: Context, request_id: str) -> bool:
    return activate(ctx, request_id) is not None


def sweep(ctx: Context) -> SweepReport:
    """One pass over everything due. Safe to run at any time, on any number of workers."""
    report = SweepReport()
    now = ctx.clock.now()
    settings = ctx.policies().settings
    with ctx.uow() as uow:
        due = uow.repo.due_expiries(now)
        work = uow.repo.due_work(now)
        pending = uow.repo.in_states([State.PENDING])
        warnable = uow.repo.due_expiries(now + settings.expiry_warning) if settings.expiry_warning else []
    steps: list[tuple[list[str], AccessRequest, Callable[[], bool]]] = []
    for request in due:
        steps.append((report.expired, request, partial(expire, ctx, request.id)))
    for request in work:
        if request.state is State.APPROVED:
            steps.append((report.activated, request, partial(_activated, ctx, request.id)))
        elif request.needs_cleanup:
            steps.append((report.cleaned, request, partial(cleanup, ctx, request.id)))
    for request in warnable:
        if not request.warned and request.expires_at and request.expires_at > now:
            steps.append((report.warned, request, partial(warn, ctx, request, now)))
    for request in pending:
        if now - request.created_at >= settings.approval_timeout:
            steps.append((report.timed_out, request, partial(time_out, ctx, request, now)))
        elif reminder_due(request, now, settings.reminder_interval):
            steps.append((report.reminded, request, partial(remind, ctx, request, now)))
    for bucket, request, step in steps:
        try:
            if step():
                bucket.append(request.id)
        except Exception:  # one bad request must not stop the sweep for the others
            report.errors += 1
            log.exception("sweep step failed for request %s", request.id)
    return report
