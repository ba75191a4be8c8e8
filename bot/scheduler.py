"""APScheduler wiring: a precise job per grant (warning, expiry) plus a sweep that catches everything else,
the daily digest (a cron job at ``digest_time`` in the policy file's ``timezone``) and the daily retention purge.

The job store is in memory and rebuilt from the database at start; the database stays the truth.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from core import reconcile, sweep
from core.context import Context
from core.digest import Digest, daily_digest
from core.model import AccessRequest, State
from core.policy.schema import PolicySettings

log = logging.getLogger(__name__)

#: the first retention purge runs this long after start, then every day
RETENTION_DELAY = timedelta(minutes=10)
#: a pause between retention batches, so that other writers get the database in between
RETENTION_PAUSE = 0.05


def digest_trigger(settings: PolicySettings) -> CronTrigger | None:
    """Every day at ``digest_time`` in ``timezone``; None when the digest is off (no digest_time)."""
    if settings.digest_time is None:
        return None
    return CronTrigger(hour=settings.digest_time.hour, minute=settings.digest_time.minute, timezone=settings.zone)


class Scheduler:
    """Implements the ``Alarms`` port and runs the sweep."""

    def __init__(self, ctx: Context, sweep_seconds: float = 5.0,
                 post_digest: Callable[[Digest], object] | None = None) -> None:
        self.ctx = ctx
        self.sweep_seconds = sweep_seconds
        self.post_digest = post_digest
        self._digest_at: tuple[object, str] | None = None
        self._scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        now = self.ctx.clock.now()
        self._scheduler.add_job(self.run_sweep, "interval", seconds=self.sweep_seconds, id="sweep",
                                next_run_time=now)
        if self.ctx.reports is not None:
            self._scheduler.add_job(self.run_retention, "interval", days=1, id="retention",
                                    next_run_time=now + RETENTION_DELAY)
            self.sync_digest()
        every = self.ctx.policies().settings.reconcile_interval  # "0" = off; read at start
        if every > timedelta(0):
            self._scheduler.add_job(self.run_reconcile, "interval", seconds=every.total_seconds(), id="reconcile")
        self.rebuild()  # armed before the start: once running, every grant has its jobs (overdue ones run at once)
        self._scheduler.start()

    def on_job_event(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener`` after every job run (executed or failed), e.g. for metrics."""
        self._scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def rebuild(self) -> int:
        """Arm a job for every active grant in the database (an overdue one runs as soon as the scheduler does)."""
        with self.ctx.uow() as uow:
            active = uow.repo.in_states([State.ACTIVE], limit=100_000)
        for request in active:
            self.arm(request)
        log.info("scheduler rebuilt from the database", extra={"active_grants": len(active)})
        return len(active)

    def run_sweep(self) -> None:
        report = sweep.sweep(self.ctx)
        if report.acted or report.errors:
            log.info("sweep", extra={"report": report.__dict__})
        if self.ctx.reports is not None:
            self.sync_digest()

    def sync_digest(self) -> None:
        """(Re)arm the digest's cron job when ``digest_time`` or ``timezone`` changed (policy reload)."""
        settings = self.ctx.policies().settings
        wanted = (settings.digest_time, settings.timezone)
        if wanted == self._digest_at:
            return
        self._digest_at = wanted
        trigger = digest_trigger(settings)
        if trigger is None or self.post_digest is None:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job("digest")
            return
        self._scheduler.add_job(self.run_digest, trigger, id="digest", replace_existing=True)
        log.info("daily digest armed", extra={"digest_time": str(settings.digest_time), "timezone": settings.timezone})

    def run_digest(self) -> Digest:
        """Build the digest now and post it to the audit channel."""
        digest = daily_digest(self.ctx)
        if self.post_digest is not None:
            self.post_digest(digest)
        return digest

    def run_retention(self) -> sweep.Purged:
        purged = sweep.purge_history(self.ctx, pause=lambda: time.sleep(RETENTION_PAUSE))
        log.info("retention purge", extra={"cutoff": purged.cutoff.isoformat(), "requests": purged.requests,
                                           "events": purged.events, "batches": purged.batches})
        return purged

    def next_run(self, job_id: str) -> datetime | None:
        """When the job ``job_id`` (``sweep``, ``digest``, ``retention``, ``expire:<id>``…) runs next."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    def run_reconcile(self) -> None:
        report = reconcile.reconcile(self.ctx)
        if report.acted or report.errors:
            log.info("reconcile", extra={"report": report.lines()})

    def arm(self, request: AccessRequest) -> None:
        if request.expires_at is None:
            return
        self._scheduler.add_job(self._expire, "date", run_date=request.expires_at, args=[request.id],
                                id=f"expire:{request.id}", replace_existing=True)
        warning = self.ctx.policies().settings.expiry_warning
        warn_at = request.expires_at - warning
        if warning > timedelta(0) and not request.warned and warn_at > self.ctx.clock.now():
            self._scheduler.add_job(self._warn, "date", run_date=warn_at, args=[request.id],
                                    id=f"warn:{request.id}", replace_existing=True)

    def disarm(self, request_id: str) -> None:
        for job in (f"expire:{request_id}", f"warn:{request_id}"):
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job)

    def _expire(self, request_id: str) -> None:
        sweep.expire(self.ctx, request_id)

    def _warn(self, request_id: str) -> None:
        with self.ctx.uow() as uow:
            request = uow.repo.get(request_id)
        now, warning = self.ctx.clock.now(), self.ctx.policies().settings.expiry_warning
        if request is not None and sweep.warning_due(request, now, warning):
            sweep.warn(self.ctx, request, now)
