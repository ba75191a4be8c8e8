"""APScheduler wiring: a precise job per grant (warning, expiry) plus a sweep that catches everything else,
the daily digest (a cron job at ``digest_time`` in the policy file's ``timezone``) and the daily retention purge.

The job store is in memory and rebuilt from the database at start; the database stays the truth. Jobs are
armed for the grants that end (or are warned) within ``ARM_AHEAD``; a job every ``ARM_EVERY`` arms the next
ones, so a restart with 10,000 grants of a working day arms only the next hour's. An expiry job does not end
its one grant: it wakes the expiry runner, which ends every grant due in batches (``core.sweep.expire_due``);
the jobs of a thousand grants ending in the same second make one run, not a thousand.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from core import outbox, pending, reconcile, sessions, sweep
from core.audit import Action
from core.context import Context, record
from core.digest import Digest, daily_digest, unposted_slot
from core.model import AccessRequest
from core.policy.schema import PolicySettings

log = logging.getLogger(__name__)

#: the first retention purge runs this long after start, then every day
RETENTION_DELAY = timedelta(minutes=10)
#: a pause between retention batches, so that other writers get the database in between
RETENTION_PAUSE = 0.05
#: a digest that fell due while jitbot was down is posted this long after the start …
DIGEST_CATCH_UP_DELAY = timedelta(seconds=30)
#: … and marked late when posted this long after its time
DIGEST_LATE = timedelta(minutes=5)
#: grants get their jobs once they end (or are warned) within this much time …
ARM_AHEAD = timedelta(hours=1)
#: … checked this often (well within ARM_AHEAD)
ARM_EVERY = timedelta(minutes=10)
#: the sessions job asks the database this often which grants' sessions are due a read (core.sessions.POLL_EVERY)
SESSIONS_EVERY = timedelta(minutes=1)


class Coalesced:
    """Runs ``work`` on the caller's thread, one run at a time: a call that arrives during a run returns at
    once and makes the running one go round again, so every call is followed by a complete run."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        try:
            while True:
                self._again = False
                self._work()
                with self._lock:
                    if not self._again:
                        self._running = False
                        return
        except BaseException:
            with self._lock:
                self._running = False
            raise


def digest_trigger(settings: PolicySettings) -> CronTrigger | None:
    """Every day at ``digest_time`` in ``timezone``; None when the digest is off (no digest_time)."""
    if settings.digest_time is None:
        return None
    return CronTrigger(hour=settings.digest_time.hour, minute=settings.digest_time.minute, timezone=settings.zone)


class LeaderAlarms:
    """The ``Alarms`` port of the Context, which exists before this process knows whether it runs the scheduler:
    arms and disarms on the ``Scheduler`` of the replica that leads (``follow``), and does nothing while this
    one does not (the leader's "arm" job and the sweep then keep time)."""

    def __init__(self) -> None:
        self._scheduler: Scheduler | None = None

    def follow(self, scheduler: Scheduler | None) -> None:
        """Arm on ``scheduler`` from now on (this process leads); None: not any more."""
        self._scheduler = scheduler

    def arm(self, request: AccessRequest) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.arm(request)

    def disarm(self, request_id: str) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.disarm(request_id)


class Scheduler:
    """Runs the sweep and the precise jobs of the grants; ``LeaderAlarms`` arms them on it."""

    def __init__(self, ctx: Context, sweep_seconds: float = 5.0,
                 post_digest: Callable[[Digest], object] | None = None) -> None:
        self.ctx = ctx
        self.sweep_seconds = sweep_seconds
        self.post_digest = post_digest
        self._digest_at: tuple[object, str] | None = None
        self._digest_lock = threading.Lock()
        self._expire_due = Coalesced(lambda: sweep.expire_due(ctx))
        self._deliver = Coalesced(self._deliver_owed)
        self._scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        now = self.ctx.clock.now()
        # at once by APScheduler's own (system) clock, whatever the domain's clock says
        self._scheduler.add_job(self.run_sweep, "interval", seconds=self.sweep_seconds, id="sweep",
                                next_run_time=datetime.now(UTC))
        # the messages owed: sent right after each change by whoever made it; this retries what failed
        self._scheduler.add_job(self.run_outbox, "interval", seconds=self.sweep_seconds, id="outbox",
                                next_run_time=datetime.now(UTC))
        if self.ctx.reports is not None:
            self._scheduler.add_job(self.run_retention, "interval", days=1, id="retention",
                                    next_run_time=now + RETENTION_DELAY)
            self.sync_digest()
            if self.post_digest is not None:
                self._scheduler.add_job(self.catch_up_digest, "date", run_date=now + DIGEST_CATCH_UP_DELAY,
                                        id="digest-catch-up")
        # the SSM sessions of grants, on record: which grants are due is the database's to say (core.sessions)
        self._scheduler.add_job(self.run_sessions, "interval", seconds=SESSIONS_EVERY.total_seconds(),
                                id="sessions", next_run_time=datetime.now(UTC) + timedelta(seconds=30))
        every = self.ctx.policies().settings.reconcile_interval  # "0" = off; read at start
        if every > timedelta(0):
            self._scheduler.add_job(self.run_reconcile, "interval", seconds=every.total_seconds(), id="reconcile")
        self.rebuild()  # armed before the start: once running, every grant has its jobs (overdue ones run at once)
        self._scheduler.add_job(self.rebuild, "interval", seconds=ARM_EVERY.total_seconds(), id="arm")
        self._scheduler.start()

    def on_job_event(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener`` after every job run (executed or failed), e.g. for metrics."""
        self._scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def horizon(self) -> datetime:
        """Grants ending (or due a warning) before this moment have their jobs."""
        return self.ctx.clock.now() + ARM_AHEAD + ARM_EVERY + self.ctx.policies().settings.expiry_warning

    def rebuild(self) -> int:
        """Arm the jobs of the active grants in the database ending before ``horizon`` (overdue ones run as
        soon as the scheduler does); jobs already armed stay as they are. Returns the number of grants seen."""
        with self.ctx.uow() as uow:
            active = uow.repo.due_expiries(self.horizon(), limit=100_000)
        for request in active:
            if self._scheduler.get_job(f"expire:{request.id}") is None:
                self.arm(request)
        log.info("scheduler armed from the database", extra={"active_grants": len(active)})
        return len(active)

    def run_sweep(self) -> None:
        report = sweep.sweep(self.ctx)
        if report.acted or report.errors:
            log.info("sweep", extra={"report": report.__dict__})
        try:  # the scheduler's replica only: pending revocations said again every 15 minutes (core.pending)
            pending.realert(self.ctx)
        except Exception:
            log.exception("could not re-alert the pending revocations")
        if self.ctx.reports is not None:
            self.sync_digest()

    def run_outbox(self) -> None:
        self._deliver()

    def _deliver_owed(self) -> None:
        report = outbox.deliver(self.ctx)
        if report.failed or report.dead:
            log.info("outbox", extra={"sent": len(report.sent), "failed": len(report.failed),
                                      "dead": len(report.dead)})

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

    def run_digest(self) -> Digest | None:
        """Build the digest now and post it to the audit channel; nothing if this slot's is already posted."""
        return self._post_digest(catching_up=False)

    def catch_up_digest(self) -> Digest | None:
        """At start: post the digest that fell due while jitbot was down (the latest one only)."""
        return self._post_digest(catching_up=True)

    def _post_digest(self, *, catching_up: bool) -> Digest | None:
        with self._digest_lock:  # the cron job and the catch-up never post the same slot twice
            slot = unposted_slot(self.ctx, catching_up=catching_up)
            if slot is None or self.post_digest is None:
                return None
            digest = daily_digest(self.ctx)
            ts = self.post_digest(digest)
            if ts is None:  # no audit channel: nothing was posted
                return digest
            late = self.ctx.clock.now() - slot > DIGEST_LATE
            with self.ctx.uow() as uow:
                record(uow, None, "jitbot", Action.DIGEST_POSTED, self.ctx.clock.now(), scheduled=slot.isoformat(),
                       late=late, ts=str(ts))
                uow.commit()
            if late:
                log.warning("daily digest posted late (jitbot was down when it fell due)",
                            extra={"scheduled": slot.isoformat()})
            return digest

    def run_retention(self) -> sweep.Purged:
        purged = sweep.purge_history(self.ctx, pause=lambda: time.sleep(RETENTION_PAUSE))
        log.info("retention purge", extra={"cutoff": purged.cutoff.isoformat(), "requests": purged.requests,
                                           "events": purged.events, "batches": purged.batches})
        return purged

    def next_run(self, job_id: str) -> datetime | None:
        """When the job ``job_id`` (``sweep``, ``digest``, ``retention``, ``expire:<id>``…) runs next."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            return None
        if not hasattr(job, "next_run_time"):  # added before the start: APScheduler computes it then
            fire: datetime | None = job.trigger.get_next_fire_time(None, self.ctx.clock.now())
            return fire
        return job.next_run_time  # type: ignore[no-any-return]

    def run_sessions(self) -> sessions.Polled:
        report = sessions.poll_due(self.ctx)
        if report.new or report.ended or report.errors:
            log.info("sessions", extra={"grants": len(report.requests), "new": report.new, "ended": report.ended,
                                        "errors": report.errors[:10]})
        return report

    def run_reconcile(self) -> None:
        report = reconcile.reconcile(self.ctx)
        if report.acted or report.errors:
            log.info("reconcile", extra={"report": report.lines()})

    def arm(self, request: AccessRequest) -> None:
        if request.expires_at is None or request.expires_at > self.horizon():
            return  # the "arm" job arms it when it comes within the horizon
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
        """The grant's own moment: end it, and every other grant due with it, in one run."""
        self._expire_due()

    def _warn(self, request_id: str) -> None:
        with self.ctx.uow() as uow:
            request = uow.repo.get(request_id)
        now, warning = self.ctx.clock.now(), self.ctx.policies().settings.expiry_warning
        if request is not None and sweep.warning_due(request, now, warning):
            sweep.warn(self.ctx, request, now)
