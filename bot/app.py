"""The composition root: builds every part once, from Settings, and wires them together.

Nothing here runs at import time; ``build`` is called by the CLI (``serve``, ``demo``) and by tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot import failpoints
from bot.clock import SystemClock
from bot.errors import register_error_handler
from bot.leader import Leadership
from bot.metrics import GrantGauges, Metrics, ObservedNotifier, OutboxGauges, SlackErrorCounter
from bot.policies import PolicyHolder, PolicyWatch
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import WsgiApp, make_wsgi
from core.access import reclaim
from core.context import Context
from core.outbox import retry_owed
from core.policy import PolicyFile
from core.ports import Clock
from handlers import actions, breakglass, commands, home, modals
from handlers.breakglass import SlackBreakglassNotices
from handlers.digest_blocks import DigestPoster
from handlers.directory import SlackDirectory
from handlers.later import Acks, Later
from handlers.notices import SsoPortal
from handlers.notifier import SlackNotifier
from handlers.tell import guard_callbacks
from store.engine import create_session_factory, make_engine
from store.homes import SqlHomeViews
from store.migrate import is_up_to_date, upgrade
from store.reports import SqlReports
from store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

#: workers per HTTP thread for the use cases that run after the ack (handlers.later)
LISTENERS_PER_HTTP_THREAD = 4


class ServerErrorsRetryHandler(ServerErrorRetryHandler):
    """Retries Slack's 502 and 504 as well (its load balancers answer them when busy); the SDK's own handler
    retries 500 and 503 only, so a single 502 lost a notice."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


def slack_client(settings: Settings, metrics: Metrics | None = None) -> WebClient:
    counting = [SlackErrorCounter(metrics)] if metrics else []
    return WebClient(
        token=settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            *counting,
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorsRetryHandler(max_retry_count=2),
        ],
    )


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
            detail["migrations"] = "head" if is_up_to_date(self.engine) else "behind"
        except Exception as err:  # health must answer, whatever the database says
            detail["database"] = f"error: {type(err).__name__}"
        role = self.leadership.role if self.leadership else "stopped"
        detail["scheduler"] = {"role": role, "running": bool(self.scheduler and self.scheduler.running)}
        detail["slack"] = self.slack_auth
        ok = (detail["database"] == "ok" and detail.get("migrations") == "head"
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
        self.ctx.alarms = scheduler
        scheduler.on_job_event(self.metrics.job_event)
        scheduler.start()

    def _deposed(self) -> None:
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
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = create_session_factory(engine)
    policies = PolicyHolder(settings.jit_policies)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    client = slack_client(settings, metrics)
    gateway = aws(settings, policies) if aws else default_aws(settings, policies, metrics)
    home_views = SqlHomeViews(engine)
    reports = SqlReports(sessions)
    notifier = SlackNotifier(client, policies, lambda: ctx, home_views, sso=lambda: sso_portal(gateway))
    ctx = Context(
        uow=lambda: SqlUnitOfWork(sessions),
        clock=clock or SystemClock(),
        nodes=gateway,
        access=failpoints.wrap(gateway),  # inert unless JITBOT_FAILPOINTS is set (crash tests)
        directory=SlackDirectory(client),
        notifier=failpoints.wrap_notifier(ObservedNotifier(notifier, metrics, clock or SystemClock())),
        policies=policies,
        breakglass=failpoints.wrap_breakglass(SlackBreakglassNotices(client, policies)),
        retry_backoff=timedelta(seconds=settings.retry_backoff_seconds),
        reports=reports,
    )
    _wire_identity_center(ctx, gateway, policies)
    _wire_evidence(ctx, gateway, policies, settings)
    # Listeners run in the HTTP thread and ack there (no waiting on Bolt's 10 ms poll for an ack made on another
    # thread); their use cases, Slack and AWS calls included, run after the ack on this pool (handlers.later).
    # Threads are started on demand, so an idle bot pays nothing for them.
    listeners = ThreadPoolExecutor(max_workers=LISTENERS_PER_HTTP_THREAD * settings.http_threads,
                                   thread_name_prefix="listener")
    acks = Acks()
    later = Later(listeners, client, acks)
    app = App(client=client, signing_secret=settings.secret("slack_signing_secret") or "",
              token_verification_enabled=False, process_before_response=True, listener_executor=listeners)
    register_error_handler(app)
    guard_callbacks(app, client)  # every response_url must point at Slack before anything answers on it
    commands.register(app, ctx, later)
    actions.register(app, ctx, later)
    breakglass.register(app, ctx, later)
    modals.register(app, ctx, later)
    home.register(app, ctx, later, home_views)
    registry.register(GrantGauges(reports, ctx.clock))
    registry.register(OutboxGauges(ctx.uow))
    runtime = Runtime(settings, engine, sessions, ctx, app, client, wsgi=lambda e, s: [], metrics=metrics)
    runtime.extras["closers"] = [notifier.close]
    runtime.extras["drains"] = [later.close]
    runtime.policy_watch = PolicyWatch(policies, ctx, client, settings.policy_poll_seconds, leading=runtime.leads)
    runtime.wsgi = make_wsgi(app, runtime.health, registry, acks,
                             signing_secret=settings.secret("slack_signing_secret") or "")
    return runtime


def sso_portal(gateway: Any) -> SsoPortal | None:
    """The Identity Center access portal of the gateway's ``[identity_center]`` settings, if any."""
    config = getattr(gateway, "identity_center", None)
    return SsoPortal(config.portal_url, config.region) if config is not None else None


# -- IAM Identity Center: who someone is and which groups they are in; the tags of IAM principals for Cedar ---------
def _wire_identity_center(ctx: Context, gateway: Any, policies: PolicyHolder) -> None:
    """The Identity Store and IAM tag readers share the gateway's clients (credentials, endpoint, retries); a
    gateway without them (a test's stand-in) leaves both unset."""
    clients = getattr(gateway, "clients", None)
    if clients is None:
        return
    from aws.identitystore import AwsIdentityStore
    from aws.tags import IamPrincipalTags

    ctx.identities = AwsIdentityStore(clients, lambda: policies().identity_center)
    ctx.principal_tags = IamPrincipalTags(clients)


# -- evidence and integration: the sessions of grants (core.sessions), lifecycle events out (core.events) ---------
def _wire_evidence(ctx: Context, gateway: Any, policies: PolicyHolder, settings: Settings) -> None:
    """Session Manager's record through the gateway (a stand-in without ``sessions`` reads none); events to the
    EventBridge bus (with the gateway's clients) and the webhook of ``[events]``."""
    from bot.events import EventPublisher

    if callable(getattr(gateway, "sessions", None)):
        ctx.sessions = gateway
    clients = getattr(gateway, "clients", None)
    eventbridge = None
    if clients is not None:
        from aws.eventbridge import put_event

        def eventbridge(bus: str, change: Any) -> None:
            put_event(clients, bus, change)

    ctx.events = EventPublisher(policies, eventbridge, lambda: settings.secret("jitbot_webhook_secret"))


def account_roles(policies: PolicyFile) -> dict[str, str]:
    return {account: spec.role_arn for account, spec in policies.accounts.items()}


def default_aws(settings: Settings, policies: PolicyHolder, metrics: Metrics | None = None) -> Any:
    import boto3

    from aws.gateway import AwsGateway

    def session() -> Any:
        made = boto3.session.Session()
        return metrics.observe_aws(made) if metrics else made

    return AwsGateway(session, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
                      accounts=lambda: account_roles(policies()),
                      identity_center=lambda: identity_center_config(policies()))


def identity_center_config(policies: PolicyFile) -> Any:
    """The policy file's ``[identity_center]`` as the grants' adapter takes it (None when not configured)."""
    from aws.identity_center import IdentityCenterConfig

    idc = policies.identity_center
    if idc is None:
        return None
    return IdentityCenterConfig(instance_arn=idc.instance_arn, identity_store_id=idc.identity_store_id,
                                region=idc.region, portal_url=idc.portal_url)
