"""``PagerDutyOnCall``: the ``OnCall`` port on PagerDuty's REST API v2 (``GET /schedules/{id}/users``), read only,
each schedule's answer cached for at most 60 s.

Plain ``urllib`` with a timeout and one retry: the port needs one read-only call. The token is a REST API key
(``PAGERDUTY_TOKEN``); a read-only key is enough and is all jitbot should be given (docs/SECURITY.md).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.errors import NotFound, Unavailable
from core.i18n import T, Text
from core.oncall import PAGERDUTY_PREFIX, is_pagerduty, schedule_of
from core.policy import PolicyFile
from core.ports import OnCall

if TYPE_CHECKING:
    from bot.settings import Settings

#: how long one schedule's answer is reused (the brief's bound on how stale "on call now" may be)
CACHE_SECONDS = 60.0
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2


class PagerDutyOnCall:
    def __init__(self, token: str, base_url: str, now: Callable[[], datetime], *,
                 cache_seconds: float = CACHE_SECONDS, timeout: float = TIMEOUT_SECONDS) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"PAGERDUTY_API_URL '{base_url}' is not an http(s) address")
        self._token = token
        self._base = base_url.rstrip("/")
        self._now = now
        self._ttl = cache_seconds
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def on_call(self, entry: str) -> frozenset[str]:
        """Who is on call for a ``pagerduty:`` entry's schedule (a bare schedule id is taken as well)."""
        schedule_id = entry.removeprefix(PAGERDUTY_PREFIX)
        with self._lock:
            cached = self._cache.get(schedule_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        emails = self._fetch(schedule_id)
        with self._lock:
            self._cache[schedule_id] = (time.monotonic(), emails)
        return emails

    def _fetch(self, schedule_id: str) -> frozenset[str]:
        now = self._now()
        query = urllib.parse.urlencode({"since": now.isoformat(), "until": (now + timedelta(seconds=1)).isoformat()})
        url = f"{self._base}/schedules/{urllib.parse.quote(schedule_id, safe='')}/users?{query}"
        request = urllib.request.Request(url, headers={  # noqa: S310 (an http(s) URL: __init__ checks it)
            "Authorization": f"Token token={self._token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        })
        reason: Text | str = T("no answer")
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                    body = json.loads(answer.read().decode("utf-8"))
                return frozenset(str(u["email"]).lower() for u in body.get("users", []) if u.get("email"))
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    raise NotFound(T("PagerDuty has no schedule {schedule}.", schedule=schedule_id)) from None
                if err.code in (401, 403):
                    raise Unavailable(T("PagerDuty refused jitbot's token (HTTP {code}), so jitbot cannot tell who "
                                        "is on call for schedule {schedule}; nothing was decided.",
                                        code=str(err.code), schedule=schedule_id)) from None
                reason = f"HTTP {err.code}"
                if err.code != 429 and err.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as err:
                reason = str(getattr(err, "reason", err)) or type(err).__name__
            if attempt + 1 < ATTEMPTS:
                time.sleep(0.2)
        raise Unavailable(T("PagerDuty could not be asked who is on call for schedule {schedule} ({reason}); nothing "
                            "was decided, try again in a moment.", schedule=schedule_id, reason=reason))


# --- jitbot policies check ------------------------------------------------------------------------------------

def schedule_problems(policies: PolicyFile, on_call: OnCall) -> tuple[list[str], list[str]]:
    """(errors, warnings): every ``pagerduty:`` entry resolved in PagerDuty; an unknown schedule is an error located
    where the file names it, a schedule with nobody on call now a warning. ``Unavailable`` when PagerDuty cannot be
    asked."""
    errors: list[str] = []
    found: list[str] = []
    for where, entries in policies.principal_lists():
        for index, entry in enumerate(entries):
            if not is_pagerduty(entry):
                continue
            try:
                people = on_call.on_call(entry)
            except NotFound:
                errors.append(f"{where}[{index}]: '{entry}': PagerDuty has no schedule {schedule_of(entry)} (or the "
                              "token cannot see it)")
                continue
            if not people:
                found.append(f"{where}[{index}]: nobody is on call for PagerDuty schedule {schedule_of(entry)} now")
    return errors, found


def report(policies: PolicyFile, settings: Settings, offline: bool) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of ``policies check`` about the file's ``pagerduty:`` entries."""
    if not any(is_pagerduty(e) for _, entries in policies.principal_lists() for e in entries):
        return [], [], []
    token = settings.secret("pagerduty_token")
    if offline or token is None:
        why = "--offline" if offline else "no PAGERDUTY_TOKEN: at run time they refuse, saying so"
        return [], [], [f"note: PagerDuty not asked ({why}): pagerduty: schedules are not checked"]
    client = PagerDutyOnCall(token, settings.pagerduty_api_url, lambda: datetime.now(UTC), cache_seconds=0)
    try:
        errors, found = schedule_problems(policies, client)
    except Unavailable as err:
        return [], [], [f"note: PagerDuty could not be asked ({err}): pagerduty: schedules are not checked"]
    return errors, found, []
