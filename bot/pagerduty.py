"""``PagerDutyOnCall``: the ``OnCall`` port on PagerDuty's REST API v2 (``GET /schedules/{id}/users``), read only,
each schedule's answer cached for at most 60 s.

Plain ``urllib`` with a timeout and one retry: the port needs one read-only call. The token is a REST API key
(``PAGERDUTY_TOKEN``); a read-only key is enough and is all jitbot should be given (docs/SECURITY.md).
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import oncall_http
from bot.oncall_http import CACHE_SECONDS, TIMEOUT_SECONDS, CachedOnCall, Provider
from core.oncall import PAGERDUTY_PREFIX
from core.policy import PolicyFile
from core.ports import OnCall

if TYPE_CHECKING:
    from bot.settings import Settings

PAGERDUTY = Provider("PagerDuty", PAGERDUTY_PREFIX, "token", "PAGERDUTY_TOKEN", "PAGERDUTY_API_URL")


class PagerDutyOnCall(CachedOnCall):
    provider = PAGERDUTY

    def __init__(self, token: str, base_url: str, now: Callable[[], datetime], *,
                 cache_seconds: float = CACHE_SECONDS, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(base_url, cache_seconds=cache_seconds, timeout=timeout)
        self._token = token
        self._now = now

    def request(self, schedule: str) -> urllib.request.Request:
        now = self._now()
        query = urllib.parse.urlencode({"since": now.isoformat(), "until": (now + timedelta(seconds=1)).isoformat()})
        url = f"{self.base}/schedules/{urllib.parse.quote(schedule, safe='')}/users?{query}"
        return urllib.request.Request(url, headers={  # noqa: S310 (an http(s) URL: the base is checked)
            "Authorization": f"Token token={self._token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        })

    def emails(self, body: Any) -> frozenset[str]:
        return frozenset(str(u["email"]).lower() for u in body.get("users", []) if u.get("email"))


# --- jitbot policies check ------------------------------------------------------------------------------------

def schedule_problems(policies: PolicyFile, on_call: OnCall) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the file's ``pagerduty:`` entries (``oncall_http.schedule_problems``)."""
    return oncall_http.schedule_problems(policies, on_call, PAGERDUTY)


def report(policies: PolicyFile, settings: Settings, offline: bool) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of ``policies check`` about the file's ``pagerduty:`` entries."""
    def client(secret: str) -> OnCall:
        return PagerDutyOnCall(secret, settings.pagerduty_api_url, lambda: datetime.now(UTC), cache_seconds=0)

    return oncall_http.report(policies, settings.secret("pagerduty_token"), offline, PAGERDUTY, client)
