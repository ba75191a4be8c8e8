"""The composition root: builds every part once, from Settings, and wires them together.

Nothing here runs at import time; ``build`` is called by the CLI (``serve``, ``demo``) and by tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import SystemClock
from bot.errors import register_error_handler
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import WsgiApp, make_wsgi
from core.context import Context
from core.policy import PolicyFile, load_policies
from core.ports import Clock
from handlers import actions, commands
from handlers.directory import SlackDirectory
from handlers.notifier import SlackNotifier
from store.engine import create_session_factory, make_engine
from store.migrate import upgrade
from store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)


def slack_client(settings: Settings) -> WebClient:
    return WebClient(
        token=settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class PolicyHolder:
    """The policies in force; ``reload`` swaps them atomically after a successful load."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._current = load_policies(path)
        self._lock = threading.Lock()

    def __call__(self) -> PolicyFile:
        return self._current

    def reload(self) -> PolicyFile:
        fresh = load_policies(self.path)
        with self._lock:
            self._current = fresh
        return fresh


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    ctx: Context
    app: App
    scheduler: Scheduler
    wsgi: WsgiApp
    registry: CollectorRegistry
    extras: dict[str, Any] = field(default_factory=dict)

    def health(self, ready: bool) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {"status": "ok", "scheduler": "running" if self.scheduler.running else "stopped"}
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            detail["database"] = "ok"
        except Exception as err:  # health must answer, whatever the database says
            detail["database"] = f"error: {type(err).__name__}"
        ok = detail["database"] == "ok" and (not ready or self.scheduler.running)
        detail["status"] = "ok" if ok else "degraded"
        return ok, detail

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
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
    client = slack_client(settings)
    gateway = (aws or default_aws)(settings, policies)
    ctx = Context(
        uow=lambda: SqlUnitOfWork(sessions),
        clock=clock or SystemClock(),
        nodes=gateway,
        access=gateway,
        directory=SlackDirectory(client),
        notifier=SlackNotifier(client, policies),
        policies=policies,
    )
    scheduler = Scheduler(ctx, settings.sweep_seconds)
    ctx.alarms = scheduler
    app = App(client=client, signing_secret=settings.secret("slack_signing_secret") or "",
              token_verification_enabled=False, process_before_response=False)
    register_error_handler(app)
    commands.register(app, ctx)
    actions.register(app, ctx)
    registry = CollectorRegistry()
    runtime = Runtime(settings, engine, sessions, ctx, app, scheduler, wsgi=lambda e, s: [], registry=registry)
    runtime.wsgi = make_wsgi(app, runtime.health, registry)
    return runtime


def account_roles(policies: PolicyFile) -> dict[str, str]:
    return {account: spec.role_arn for account, spec in policies.accounts.items()}


def default_aws(settings: Settings, policies: PolicyHolder) -> Any:
    from aws.gateway import AwsGateway

    return AwsGateway(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
                      accounts=lambda: account_roles(policies()))
