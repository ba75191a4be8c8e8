"""The whole bot: ``build`` assembles it from the parts of the composition root (``bot/root.py``), and
``Runtime`` starts and stops it.

Nothing here runs at import time; ``build`` is called by the CLI (``serve``, ``demo``) and by tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot import failpoints
from bot.clock import SystemClock
from bot.errors import register_error_handler
from bot.homes import RefreshingHomes, home_refresher
from bot.leader import Leadership
from bot.metrics import GrantGauges, Metrics, ObservedNotifier, OutboxGauges
from bot.policies import PolicyHolder, PolicyWatch
from bot.root import aws_gateway, context, database, slack_client, slack_notifier
from bot.scheduler import LeaderAlarms, Scheduler
from bot.settings import Settings
from bot.web import WsgiApp, make_wsgi
from core.access import reclaim
from core.context import Context
from core.outbox import retry_owed
from core.ports import Clock
from handlers import actions, breakglass, commands, home, modals
from handlers.digest_blocks import DigestPoster
from handlers.later import Acks, Later
from handlers.tell import guard_callbacks
from store.homes import SqlHomeViews
from store.migrate import migration_state

log = logging.getLogger(__name__)

#: workers per HTTP thread for the use cases that run after the ack (handlers.later)
LISTENERS_PER_HTTP_THREAD = 4


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    ctx: Context
    app: App
    client: WebClient
    wsgi: WsgiApp
    metrics: Metrics
    #: the Context's ``Alarms``: on this process's Scheduler while it leads
    alarms: LeaderAlarms = field(default_factory=LeaderAlarms)
    scheduler: Scheduler | None = None
    leadership: Leadership | None = None
    policy_watch: PolicyWatch | None = None
    slack_auth: str = "unknown"
    extras: dict[str, Any] = field(default_factory=dict)

    def health(self, ready: bool) -> tuple[bool, dict[str, Any]]:
        """Liveness by default; with ``ready``: database, migrations, scheduler role and Slack auth too."""
        detail: dict[str, Any] = {"status": "ok"}
        if not ready:
            return True, detail
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            detail["database"] = "ok"
            # "ahead": a newer release migrated the database first (upgrade order: migrations, then replicas); the
            # old replicas keep serving until they are replaced, which is what makes the roll-out rolling
            detail["migrations"] = migration_state(self.engine)
        except Exception as err:  # health must answer, whatever the database says
            detail["database"] = f"error: {type(err).__name__}"
        role = self.leadership.role if self.leadership else "stopped"
        detail["scheduler"] = {"role": role, "running": bool(self.scheduler and self.scheduler.running)}
        detail["slack"] = self.slack_auth
        ok = (detail["database"] == "ok" and detail.get("migrations") in ("head", "ahead")
              and role in ("leader", "follower", "single") and self.slack_auth == "ok")
        detail["status"] = "ok" if ok else "not ready"
        return ok, detail

    def _elected(self) -> None:
        alone = self.leadership is None or self.leadership.role == "single"
        freed = reclaim(self.ctx, grants=alone)
        if freed:  # a process died in the middle of these AWS steps: the first sweep does them again
            log.warning("retrying the AWS steps of a previous process", extra={"requests": freed})
        if alone:  # the only process: a claim on an owed message is a dead process's, freed now
            owed = retry_owed(self.ctx)
            if owed:
                log.warning("sending the messages still owed", extra={"owed": owed})
        scheduler = Scheduler(self.ctx, self.settings.sweep_seconds, DigestPoster(self.client, self.ctx.policies).post)
        self.scheduler = scheduler
        self.alarms.follow(scheduler)
        scheduler.on_job_event(self.metrics.job_event)
        scheduler.start()

    def _deposed(self) -> None:
        self.alarms.follow(None)
        if self.scheduler is not None:
            self.scheduler.stop()

    def start(self) -> None:
        try:
            self.client.auth_test()
            self.slack_auth = "ok"
        except Exception as err:  # readiness reports it; the bot still serves what it can
            self.slack_auth = f"error: {type(err).__name__}"
            log.error("Slack auth.test failed", extra={"error": str(err)})
        self.leadership = Leadership(self.settings.database_url, self._elected, self._deposed,
                                     interval=self.settings.leader_seconds)
        self.leadership.start()
        if self.policy_watch is not None:
            self.policy_watch.start()

    def leads(self) -> bool:
        """Whether this process runs the scheduler (the one replica that speaks for all, e.g. in Slack)."""
        return self.leadership is not None and self.leadership.role in ("leader", "single")

    def stop(self) -> None:
        for drain in self.extras.get("drains", ()):  # work after the acks finishes while its ports still work
            drain()
        if self.policy_watch is not None:
            self.policy_watch.stop()
        if self.leadership is not None:
            self.leadership.stop()
        for close in self.extras.get("closers", ()):
            close()
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None,
          aws: Callable[[Settings, PolicyHolder], Any] | None = None,
          migrate: bool = True) -> Runtime:
    """Build the whole bot. ``aws`` builds the AWS gateway (tests pass one pointed at moto)."""
    db = database(settings, migrate=migrate)
    policies = PolicyHolder(settings.jit_policies)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    client = slack_client(settings, metrics)
    gateway = aws(settings, policies) if aws else aws_gateway(settings, policies, metrics)
    clock = clock or SystemClock()
    alarms = LeaderAlarms()
    slack = slack_notifier(client, policies, clock, gateway)
    # App Homes are rendered from the same ports as the use cases, through a Context whose notifier is the plain one
    # (rendering a home notifies nobody); the use cases' Context differs only by the decorated notifier, which
    # republishes the homes concerned after each message.
    reader = context(settings, db, policies, client, gateway, clock=clock, notifier=slack, alarms=alarms)
    homes_views = SqlHomeViews(db.engine)
    homes = home_refresher(reader, client, homes_views)
    ctx = replace(reader, notifier=failpoints.wrap_notifier(
        ObservedNotifier(RefreshingHomes(slack, homes), metrics, clock)))
    # Listeners run in the HTTP thread and ack there (no waiting on Bolt's 10 ms poll for an ack made on another
    # thread); their use cases, Slack and AWS calls included, run after the ack on this pool (handlers.later).
    # Threads are started on demand, so an idle bot pays nothing for them.
    listeners = ThreadPoolExecutor(max_workers=LISTENERS_PER_HTTP_THREAD * settings.http_threads,
                                   thread_name_prefix="listener")
    acks = Acks()
    later = Later(listeners, client, acks, tr_for=ctx.tr_for)  # "something went wrong" in the person's language
    app = App(client=client, signing_secret=settings.secret("slack_signing_secret") or "",
              token_verification_enabled=False, process_before_response=True, listener_executor=listeners)
    register_error_handler(app, ctx.tr_for)
    guard_callbacks(app, client)  # every response_url must point at Slack before anything answers on it
    commands.register(app, ctx, later)
    actions.register(app, ctx, later)
    breakglass.register(app, ctx, later)
    modals.register(app, ctx, later)
    home.register(app, ctx, later, homes_views)
    if ctx.reports is not None:
        registry.register(GrantGauges(ctx.reports, ctx.clock))
    registry.register(OutboxGauges(ctx.uow))
    runtime = Runtime(settings, db.engine, db.sessions, ctx, app, client, wsgi=lambda e, s: [], metrics=metrics,
                      alarms=alarms)
    runtime.extras["closers"] = [homes.close]
    runtime.extras["drains"] = [later.close]
    runtime.policy_watch = PolicyWatch(policies, ctx, client, settings.policy_poll_seconds, leading=runtime.leads)
    runtime.wsgi = make_wsgi(app, runtime.health, registry, acks,
                             signing_secret=settings.secret("slack_signing_secret") or "")
    return runtime
