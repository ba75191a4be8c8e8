"""The ``Publisher`` port: lifecycle events to the EventBridge bus and/or the webhook of ``[events]``.

The webhook gets EventBridge's envelope as JSON (``core.events.envelope``), signed like Slack signs its requests:
``X-Jitbot-Request-Timestamp`` (Unix seconds) and ``X-Jitbot-Signature: v0=<hex HMAC-SHA256>`` over
``v0:<timestamp>:<body>`` with the secret in ``JITBOT_WEBHOOK_SECRET``; ``X-Jitbot-Event-Id`` repeats the event's id
(stable across retries). Any 2xx is delivered; anything else (an error status, a timeout, a refused connection)
is retried by the outbox. Sent from the outbox's threads, never from an HTTP listener: no ack waits on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from core import events
from core.errors import Undelivered
from core.model import Change
from core.policy import PolicyFile

log = logging.getLogger(__name__)

SIGNATURE_VERSION = "v0"
#: seconds the webhook has to answer
WEBHOOK_TIMEOUT = 5.0
#: the most of an error answer kept (in the log and the dead letter)
_ANSWER = 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: retried, never followed (the event goes where it was configured)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex>``: HMAC-SHA256 of ``v0:<timestamp>:<body>`` (as Slack's ``X-Slack-Signature``)."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class EventPublisher:
    """Reads ``[events]`` from the policy file in force at each event (a reload takes effect at once)."""

    def __init__(self, policies: Callable[[], PolicyFile], eventbridge: Callable[[str, Change], None] | None,
                 secret: Callable[[], str | None], *, timeout: float = WEBHOOK_TIMEOUT,
                 clock: Callable[[], float] = time.time) -> None:
        self._policies, self._eventbridge, self._secret = policies, eventbridge, secret
        self._timeout, self._clock = timeout, clock
        self._opener = urllib.request.build_opener(_NoRedirect)

    def configured(self) -> bool:
        return self._policies().events is not None

    def publish(self, change: Change, done: frozenset[str]) -> None:
        config = self._policies().events
        if config is None:
            return
        sent: set[str] = set()
        failures: list[str] = []
        sinks: list[tuple[str, str | None, Callable[[str, Change], None] | None]] = [
            ("eventbridge", config.eventbridge_bus, self._eventbridge), ("webhook", config.webhook_url, self._post)]
        for name, where, send in sinks:
            if where is None or name in done:
                continue
            try:
                if send is None:
                    raise RuntimeError("no EventBridge client (jitbot has no AWS gateway)")
                send(where, change)
                sent.add(name)
            except Exception as err:  # each sink on its own: the other one still gets the event
                failures.append(f"{name}: {err}")
        if failures:
            raise Undelivered("; ".join(failures), sent=frozenset(sent))

    def _post(self, url: str, change: Change) -> None:
        secret = self._secret()
        if not secret:
            raise RuntimeError("JITBOT_WEBHOOK_SECRET is not set: jitbot signs every webhook request and sends none "
                               "unsigned")
        body = json.dumps(events.envelope(change), separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 (validated URL)
            "Content-Type": "application/json", "User-Agent": "jitbot",
            "X-Jitbot-Request-Timestamp": timestamp, "X-Jitbot-Signature": signature(secret, timestamp, body),
            "X-Jitbot-Event-Id": change.id})
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                status = answer.status
        except urllib.error.HTTPError as err:
            text = err.read(_ANSWER).decode("utf-8", "replace")
            raise RuntimeError(f"{url} answered {err.code}{': ' + text if text else ''}") from None
        except (urllib.error.URLError, OSError) as err:
            reason: Any = getattr(err, "reason", err)
            raise RuntimeError(f"{url} could not be reached: {reason}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"{url} answered {status}")
