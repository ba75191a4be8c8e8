"""The record of calls the fake Slack received, and the helpers tests use to look at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CallPredicate = Callable[["RecordedCall"], bool]

_SUMMARY_KEYS = ("channel", "user", "users", "email", "usergroup", "text", "view_id", "user_id", "trigger_id")


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received.

    `params` are the decoded parameters (query string, form or JSON body), without the token;
    JSON strings in `blocks`/`view`/`attachments`/`metadata` are decoded into Python objects.
    `status` is the HTTP status answered (0: the connection was reset), `response` the JSON answered,
    `fault` names the injected fault that produced the answer (None for a normal answer).
    """

    method: str
    params: dict[str, Any]
    at: float
    token: str | None = None
    path: str = ""
    status: int = 200
    response: dict[str, Any] | None = None
    fault: str | None = None

    @property
    def ok(self) -> bool:
        """True when Slack answered successfully (HTTP 200 and `"ok": true`, or a response_url post)."""
        if self.status != 200 or self.fault is not None:
            return False
        return self.response is None or self.response.get("ok") is True


class CallLog:
    """A thread-safe, append-only list of RecordedCall that can be waited on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: list[RecordedCall] = []

    def record(self, call: RecordedCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def snapshot(self) -> list[RecordedCall]:
        with self._cond:
            return list(self._calls)

    def clear(self) -> None:
        with self._cond:
            self._calls.clear()

    def calls_to(self, method: str, *, include_faults: bool = False) -> list[RecordedCall]:
        return [c for c in self.snapshot() if c.method == method and (include_faults or c.fault is None)]

    def messages(self, channel: str | None = None) -> list[RecordedCall]:
        found = []
        for call in self.calls_to("chat.postMessage"):
            answered = (call.response or {}).get("channel")
            if call.ok and (channel is None or channel in (call.params.get("channel"), answered)):
                found.append(call)
        return found

    def wait_for(
        self, predicate_or_method: str | CallPredicate, timeout: float = 5.0, *, include_faults: bool = False
    ) -> RecordedCall:
        matches, label = _matcher(predicate_or_method)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._cond:
            while True:
                for call in self._calls[checked:]:
                    if (include_faults or call.fault is None) and matches(call):
                        return call
                checked = len(self._calls)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            summary = self.summary()
        raise AssertionError(f"no Slack call matching {label} within {timeout:g}s; {summary}")

    def summary(self) -> str:
        """One line per recorded call: method, the telling parameters, and the outcome."""
        calls = self.snapshot()
        if not calls:
            return "no calls were recorded"
        lines = [f"{len(calls)} call(s) recorded:"]
        for call in calls:
            shown = ", ".join(f"{k}={str(call.params[k])[:40]!r}" for k in _SUMMARY_KEYS if k in call.params)
            outcome = call.fault or ("ok" if call.ok else (call.response or {}).get("error", call.status))
            lines.append(f"  {call.method}({shown}) -> {outcome}")
        return "\n".join(lines)


def _matcher(predicate_or_method: str | CallPredicate) -> tuple[CallPredicate, str]:
    if isinstance(predicate_or_method, str):
        wanted = predicate_or_method
        return (lambda call: call.method == wanted), repr(wanted)
    return predicate_or_method, getattr(predicate_or_method, "__name__", "predicate")
