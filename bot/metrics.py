"""Prometheus metrics, observed at the edges so that the domain stays pure.

- decisions and their timing: a Notifier decorator sees every lifecycle notice;
- Slack errors: a retry handler placed first in the WebClient's chain counts failed attempts (never retries);
- AWS errors: botocore's event hooks on every session jitbot creates;
- active grants and pending revocations: a collector that asks the database at scrape time;
- the outbox: messages owed and not sent yet, and those given up on (dead letters), asked at scrape time;
- scheduler jobs: APScheduler's job events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from core.errors import Undelivered
from core.model import AccessRequest, Decision, Event, Kind, MessageRef, Notice, State
from core.ports import Clock, Notifier, UnitOfWork
from core.reports import Reports

log = logging.getLogger("jitbot.decisions")

OUTCOMES = {Notice.SUBMITTED: "submitted", Notice.GRANTED: "granted", Notice.REJECTED: "rejected",
            Notice.CANCELLED: "cancelled", Notice.TIMED_OUT: "timed_out", Notice.FAILED: "failed",
            Notice.DENIED: "denied", Notice.EXPIRED: "expired", Notice.REVOKED: "revoked",
            Notice.RELEASED: "released"}


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter("jitbot_requests_total", "Requests by outcome and policy",
                                ["outcome", "policy", "kind"], registry=registry)
        self.decision_seconds = Histogram(
            "jitbot_time_to_decision_seconds", "From submission to the final decision (granted or rejected)",
            ["kind"], registry=registry, buckets=(1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600))
        self.revocation_lag = Histogram(
            "jitbot_revocation_lag_seconds", "From expires_at to the revocation confirmed by AWS",
            registry=registry, buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.slack_errors = Counter("jitbot_slack_errors_total", "Failed Slack Web API attempts",
                                    ["method", "reason"], registry=registry)
        self.aws_errors = Counter("jitbot_aws_errors_total", "Failed AWS API calls", ["operation", "code"],
                                  registry=registry)
        self.job_runs = Counter("jitbot_scheduler_job_runs_total", "Scheduler job runs", ["job"], registry=registry)
        self.job_failures = Counter("jitbot_scheduler_job_failures_total", "Scheduler job failures", ["job"],
                                    registry=registry)

    def observe_aws(self, session: Any) -> Any:
        """Hook a boto3 session's events so every failed call is counted by operation."""
        def after_call(http_response: Any = None, parsed: Any = None, model: Any = None, **kw: Any) -> None:
            if http_response is not None and http_response.status_code >= 400 and model is not None:
                code = (parsed or {}).get("Error", {}).get("Code", str(http_response.status_code))
                self.aws_errors.labels(model.name, code).inc()

        def after_error(event_name: str = "", exception: Exception | None = None, **kw: Any) -> None:
            self.aws_errors.labels(event_name.rsplit(".", 1)[-1], type(exception).__name__).inc()

        session.events.register("after-call", after_call)
        session.events.register("after-call-error", after_error)
        return session

    def job_event(self, event: Any) -> None:
        job = str(getattr(event, "job_id", "?")).split(":", 1)[0]
        self.job_runs.labels(job).inc()
        if getattr(event, "exception", None) is not None:
            self.job_failures.labels(job).inc()


class SlackErrorCounter(RetryHandler):
    """Counts every failed Slack attempt; never asks for a retry (the real handlers come after it)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=1_000_000)
        self.metrics = metrics

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        reason = type(error).__name__ if error is not None else str(response.status_code if response else "?")
        self.metrics.slack_errors.labels(method, reason).inc()
        return False


class GrantGauges(Collector):
    """Asks the database at scrape time: grants that may still work on AWS, and revocations not yet confirmed."""

    def __init__(self, reports: Reports, clock: Clock) -> None:
        self.reports = reports
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        active = GaugeMetricFamily("jitbot_active_grants",
                                   "Grants active, or ended but with their policy deletion not yet confirmed by AWS")
        pending = GaugeMetricFamily("jitbot_revocations_pending",
                                    "Grants past their end or revoked whose policy deletion AWS has not confirmed")
        try:
            live = self.reports.count_live(State.ACTIVE)
            ended, past_end = self.reports.unconfirmed_revocations(self.clock.now())
        except Exception:  # a scrape must not fail because the database is briefly unavailable
            log.warning("could not count the grants for /metrics")
            return
        active.add_metric([], live + ended)
        pending.add_metric([], ended + past_end)
        yield active
        yield pending


class OutboxGauges(Collector):
    """``jitbot_outbox_pending`` (messages owed, not sent yet) and ``jitbot_outbox_dead`` (given up on after
    their retries: each one is also logged and audited as ``message_undelivered``)."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self.uow = uow

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.uow() as uow:
                counts = uow.repo.owed_counts()
        except Exception:  # a scrape must not fail because the database is briefly unavailable
            log.warning("could not count the outbox for /metrics")
            return
        yield GaugeMetricFamily("jitbot_outbox_pending", "Slack messages owed and not sent yet",
                                value=counts.get("due", 0))
        yield GaugeMetricFamily("jitbot_outbox_dead", "Slack messages given up on after their retries",
                                value=counts.get("dead", 0))


class ObservedNotifier:
    """A Notifier that counts and logs each decision, then delegates."""

    def __init__(self, inner: Notifier, metrics: Metrics, clock: Clock) -> None:
        self.inner = inner
        self.metrics = metrics
        self.clock = clock

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        return self.inner.post_approval(request, level, decisions)

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        return self.inner.post_escalation(request, level, decisions)

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        self.inner.update_approval(request, ref, decisions)

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        """Counted once per notice: at the attempt where its first part goes out (the outbox retries the rest)."""
        try:
            self.inner.announce(event, refs, done)
        except Undelivered as err:
            if not done and err.sent:
                self._observe(event)
            raise
        if not done:
            self._observe(event)

    def _observe(self, event: Event) -> None:
        request, now = event.request, self.clock.now()
        outcome = OUTCOMES.get(event.notice)
        if outcome:
            self.metrics.requests.labels(outcome, request.policy, request.kind.value).inc()
        if event.notice in (Notice.GRANTED, Notice.REJECTED) and request.kind is Kind.MANUAL:
            self.metrics.decision_seconds.labels(request.kind.value).observe(
                max(0.0, (now - request.created_at).total_seconds()))
        if event.notice is Notice.EXPIRED and request.expires_at is not None:
            self.metrics.revocation_lag.observe(max(0.0, (now - request.expires_at).total_seconds()))
        log.info("decision", extra={"request_id": request.id, "notice": event.notice.value,
                                    "policy": request.policy, "requester": request.requester,
                                    "actor": event.actor, "node": request.node.id, "state": request.state.value})
