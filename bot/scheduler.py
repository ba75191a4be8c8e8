"""APScheduler wiring: a precise job per grant (warning, expiry) plus a sweep that catches everything else.

The job store is in memory and rebuilt from the database at start; the database stays the truth.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from core import reconcile, sweep
from core.context import Context
from core.model import AccessRequest, State

log = logging.getLogger(__name__)


class Scheduler:
    """Implements the ``Alarms`` port and runs the sweep."""

    def __init__(self, ctx: Context, sweep_seconds: float = 5.0) -> None:
        self.ctx = ctx
        self.sweep_seconds = sweep_seconds
        self._scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.add_job(self.run_sweep, "interval", seconds=self.sweep_seconds, id="sweep",
                                next_run_time=datetime.now(UTC))
        every = self.ctx.policies().settings.reconcile_interval  # "0" = off; read at start
        if every > timedelta(0):
            self._scheduler.add_job(self.run_reconcile, "interval", seconds=every.total_seconds(), id="reconcile")
        self._scheduler.start()
        self.rebuild()

    def on_job_event(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener`` after every job run (executed or failed), e.g. for metrics."""
        self._scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def rebuild(self) -> int:
        """Arm a job for every active grant in the database (overdue ones are left to the first sweep)."""
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
        if warning > timedelta(0) and not request.warned and warn_at > datetime.now(UTC):
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
        if request is not None and request.state is State.ACTIVE:
            sweep.warn(self.ctx, request, self.ctx.clock.now())
