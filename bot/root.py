"""The composition root: one small function per part, each creating it from ``Settings`` the one way jitbot
creates it. ``bot.app.build`` (serve, demo, tests) assembles the whole bot from them; every CLI command takes
just the parts it needs from here (``jitbot reconcile`` a Context, ``jitbot digest`` the database and a Slack
client, ``jitbot policies check`` an AWS gateway for Identity Center …), so a client is configured (retries,
timeouts, endpoints) in one place.

Nothing here runs at import time; AWS's libraries are imported by the functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import failpoints
from bot.metrics import Metrics, SlackErrorCounter
from bot.settings import Settings
from core.context import Context
from core.policy import PolicyFile
from core.ports import Alarms, Clock, IdentityStore, Notifier, OnCall, PrincipalTags
from handlers.breakglass_notices import SlackBreakglassNotices
from handlers.directory import SlackDirectory
from handlers.notices import SsoPortal
from handlers.notifier import SlackNotifier
from handlers.tell import SlackWebClient
from store.engine import create_session_factory, make_engine
from store.migrate import upgrade
from store.reports import SqlReports
from store.uow import SqlUnitOfWork

Policies = Callable[[], PolicyFile]


# -- Slack ------------------------------------------------------------------------------------------------------
class ServerErrorsRetryHandler(ServerErrorRetryHandler):
    """Retries Slack's 502 and 504 as well (its load balancers answer them when busy); the SDK's own handler
    retries 500 and 503 only, so a single 502 lost a notice."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


def slack_client(settings: Settings, metrics: Metrics | None = None) -> WebClient:
    """The Web API client, retrying rate limits, resets and Slack's 5xx; ``metrics`` counts Slack's errors."""
    counting = [SlackErrorCounter(metrics)] if metrics else []
    return SlackWebClient(
        hooks_url=settings.slack_hooks_url,
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


def slack_notifier(client: WebClient, policies: Policies, clock: Clock, gateway: Any) -> SlackNotifier:
    """The Notifier port on Slack (messages only: App Homes are ``bot.homes``' decorator)."""
    return SlackNotifier(client, policies, clock.now, sso=lambda: sso_portal(gateway))


# -- the database ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    def unit_of_work(self, owes_events: Callable[[], bool] | None = None) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, owes_events=owes_events)

    def dispose(self) -> None:
        self.engine.dispose()


def database(settings: Settings, *, migrate: bool = False) -> Database:
    """The engine and sessions of ``DATABASE_URL``; ``migrate`` first applies the migrations up to head."""
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    return Database(engine, create_session_factory(engine))


# -- AWS ------------------------------------------------------------------------------------------------------
def account_roles(policies: PolicyFile) -> dict[str, str]:
    return {account: spec.role_arn for account, spec in policies.accounts.items()}


def identity_center_config(policies: PolicyFile) -> Any:
    """The policy file's ``[identity_center]`` as the grants' adapter takes it (None when not configured)."""
    from aws.identity_center import IdentityCenterConfig

    idc = policies.identity_center
    if idc is None:
        return None
    return IdentityCenterConfig(instance_arn=idc.instance_arn, identity_store_id=idc.identity_store_id,
                                region=idc.region, portal_url=idc.portal_url)


def aws_gateway(settings: Settings, policies: Policies, metrics: Metrics | None = None, *, attempts: int = 5) -> Any:
    """The AWS gateway (nodes, grants, revocations, sessions) in ``AWS_REGION``, assuming the ``[accounts]`` roles
    of the policy file in force; ``metrics`` observes every AWS call; ``attempts`` per call, retries included (a
    command that only reports, such as ``jitbot policies check``, gives up sooner)."""
    import boto3

    from aws.gateway import AwsGateway

    def session() -> Any:
        made = boto3.session.Session()
        return metrics.observe_aws(made) if metrics else made

    return AwsGateway(session, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
                      accounts=lambda: account_roles(policies()),
                      identity_center=lambda: identity_center_config(policies()), max_attempts=attempts)


def identity_center(gateway: Any, policies: Policies) -> tuple[IdentityStore | None, PrincipalTags | None]:
    """The Identity Store and IAM tag readers, on the gateway's clients (credentials, endpoint, retries); a
    gateway without them (a test's stand-in) has neither."""
    clients = getattr(gateway, "clients", None)
    if clients is None:
        return None, None
    from aws.identitystore import AwsIdentityStore
    from aws.tags import IamPrincipalTags

    return AwsIdentityStore(clients, lambda: policies().identity_center), IamPrincipalTags(clients)


def sso_portal(gateway: Any) -> SsoPortal | None:
    """The Identity Center access portal of the gateway's ``[identity_center]`` settings, if any."""
    config = getattr(gateway, "identity_center", None)
    return SsoPortal(config.portal_url, config.region) if config is not None else None


# -- on-call schedules: PagerDuty, Opsgenie -----------------------------------------------------------------------
def on_call(settings: Settings, clock: Clock) -> OnCall:
    """Who is on call: ``pagerduty:`` entries from PagerDuty's REST API (``PAGERDUTY_API_URL``, ``PAGERDUTY_TOKEN``),
    ``opsgenie:`` entries from Opsgenie's (``OPSGENIE_API_URL``, ``OPSGENIE_API_KEY``); an entry whose provider has
    no key refuses, saying so."""
    from core.oncall import OnCallRouter

    pagerduty: OnCall | None = None
    opsgenie: OnCall | None = None
    token = settings.secret("pagerduty_token")
    if token is not None:
        from bot.pagerduty import PagerDutyOnCall

        pagerduty = PagerDutyOnCall(token, settings.pagerduty_api_url, clock.now,
                                    cache_seconds=settings.pagerduty_cache_seconds)
    key = settings.secret("opsgenie_api_key")
    if key is not None:
        from bot.opsgenie import OpsgenieOnCall

        opsgenie = OpsgenieOnCall(key, settings.opsgenie_api_url, clock.now,
                                  cache_seconds=settings.opsgenie_cache_seconds)
    return OnCallRouter(pagerduty, opsgenie)


# -- the domain's Context ---------------------------------------------------------------------------------------
def context(settings: Settings, db: Database, policies: Policies, client: WebClient, gateway: Any, *,
            clock: Clock, notifier: Notifier, alarms: Alarms | None = None) -> Context:
    """The Context of the use cases, finished: every port is created here or passed in (``notifier``, decorated as
    the caller needs; ``alarms``, which exist before the scheduler runs)."""
    identities, tags = identity_center(gateway, policies)
    return Context(
        # lifecycle events go to the outbox only while [events] names a destination
        uow=partial(db.unit_of_work, lambda: policies().events is not None),
        clock=clock,
        nodes=gateway,
        access=failpoints.wrap(gateway),  # inert unless JITBOT_FAILPOINTS is set (crash tests)
        directory=SlackDirectory(client),
        notifier=notifier,
        policies=policies,
        alarms=alarms,
        breakglass=failpoints.wrap_breakglass(SlackBreakglassNotices(client, policies)),
        retry_backoff=timedelta(seconds=settings.retry_backoff_seconds),
        reports=SqlReports(db.sessions),
        identities=identities,
        principal_tags=tags,
        sessions=gateway if callable(getattr(gateway, "sessions", None)) else None,
        events=event_publisher(gateway, policies, settings),
        on_call=on_call(settings, clock),
    )


# -- evidence and integration: the sessions of grants (core.sessions), lifecycle events out (core.events) ---------
def event_publisher(gateway: Any, policies: Policies, settings: Settings) -> Any:
    """Events to the EventBridge bus of ``[events]`` (with the gateway's clients) and to its webhook."""
    from bot.events import EventPublisher

    clients = getattr(gateway, "clients", None)
    eventbridge = None
    if clients is not None:
        from aws.eventbridge import put_event

        def eventbridge(bus: str, change: Any) -> None:
            put_event(clients, bus, change)

    return EventPublisher(policies, eventbridge, lambda: settings.secret("jitbot_webhook_secret"))
