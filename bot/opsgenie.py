"""``OpsgenieOnCall``: the ``OnCall`` port on Opsgenie's REST API (``GET /v2/schedules/{identifier}/on-calls``,
flat: the on-call people's user names, which are their emails), read only, each schedule's answer cached for at
most 60 s.

Plain ``urllib`` with a timeout and one retry, like ``bot.pagerduty``. The key is an API integration's key
(``OPSGENIE_API_KEY``, sent as ``GenieKey``); one with only the Read right is enough and is all jitbot should be
given (docs/SECURITY.md). EU accounts set ``OPSGENIE_API_URL=https://api.eu.opsgenie.com``.
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot import oncall_http
from bot.oncall_http import CACHE_SECONDS, TIMEOUT_SECONDS, CachedOnCall, Provider
from core.oncall import OPSGENIE_ID, OPSGENIE_PREFIX
from core.policy import PolicyFile
from core.ports import OnCall

if TYPE_CHECKING:
    from bot.settings import Settings

OPSGENIE = Provider("Opsgenie", OPSGENIE_PREFIX, "API key", "OPSGENIE_API_KEY", "OPSGENIE_API_URL", quoted=True)


class OpsgenieOnCall(CachedOnCall):
    provider = OPSGENIE

    def __init__(self, api_key: str, base_url: str, now: Callable[[], datetime], *,
                 cache_seconds: float = CACHE_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(base_url, cache_seconds=cache_seconds, timeout=timeout, monotonic=monotonic)
        self._key = api_key
        self._now = now

    def request(self, schedule: str) -> urllib.request.Request:
        query = urllib.parse.urlencode({
            "scheduleIdentifierType": "id" if OPSGENIE_ID.match(schedule) else "name",
            "flat": "true",
            "date": self._now().astimezone(UTC).isoformat(timespec="seconds"),
        })
        url = f"{self.base}/v2/schedules/{urllib.parse.quote(schedule, safe='')}/on-calls?{query}"
        return urllib.request.Request(url, headers={  # noqa: S310 (an http(s) URL: the base is checked)
            "Authorization": f"GenieKey {self._key}",
            "Accept": "application/json",
        })

    def emails(self, body: Any) -> frozenset[str]:
        """The emails of ``data.onCallRecipients`` (user names; anything without an ``@`` is no person's email)."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ValueError("an answer without data")
        names = body["data"].get("onCallRecipients") or []
        if not isinstance(names, list):
            raise ValueError("onCallRecipients is not a list")
        return frozenset(n.strip().lower() for n in names if isinstance(n, str) and "@" in n)


# --- jitbot policies check ------------------------------------------------------------------------------------

def schedule_problems(policies: PolicyFile, on_call: OnCall) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the file's ``opsgenie:`` entries (``oncall_http.schedule_problems``)."""
    return oncall_http.schedule_problems(policies, on_call, OPSGENIE)


def report(policies: PolicyFile, settings: Settings, offline: bool) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of ``policies check`` about the file's ``opsgenie:`` entries."""
    def client(secret: str) -> OnCall:
        return OpsgenieOnCall(secret, settings.opsgenie_api_url, lambda: datetime.now(UTC), cache_seconds=0)

    return oncall_http.report(policies, settings.secret("opsgenie_api_key"), offline, OPSGENIE, client)
