"""``OpsgenieOnCall``: the ``OnCall`` port on Opsgenie's REST API (``GET /v2/schedules/{identifier}/on-calls``,
flat: the on-call people's user names, which are their emails), read only, each schedule's answer cached for at
most 60 s.

Plain ``urllib`` with a timeout and one retry, like ``bot.pagerduty``. The key is an API integration's key
(``OPSGENIE_API_KEY``, sent as ``GenieKey``); one with only the Read right is enough and is all jitbot should be
given (docs/SECURITY.md). EU accounts set ``OPSGENIE_API_URL=https://api.eu.opsgenie.com``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.errors import NotFound, Unavailable
from core.i18n import T
from core.oncall import OPSGENIE_ID, OPSGENIE_PREFIX, is_opsgenie, schedule_of
from core.policy import PolicyFile
from core.ports import OnCall

if TYPE_CHECKING:
    from bot.settings import Settings

#: how long one schedule's answer is reused (the bound on how stale "on call now" may be)
CACHE_SECONDS = 60.0
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2


class OpsgenieOnCall:
    def __init__(self, api_key: str, base_url: str, now: Callable[[], datetime], *,
                 cache_seconds: float = CACHE_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"OPSGENIE_API_URL '{base_url}' is not an http(s) address")
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._now = now
        self._ttl = min(cache_seconds, CACHE_SECONDS)
        self._timeout = timeout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def on_call(self, entry: str) -> frozenset[str]:
        """Who is on call for an ``opsgenie:`` entry's schedule (a bare name or id is taken as well)."""
        schedule = entry.removeprefix(OPSGENIE_PREFIX)
        with self._lock:
            cached = self._cache.get(schedule)
        if cached is not None and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        emails = self._fetch(schedule)
        with self._lock:
            self._cache[schedule] = (self._monotonic(), emails)
        return emails

    def _fetch(self, schedule: str) -> frozenset[str]:
        query = urllib.parse.urlencode({
            "scheduleIdentifierType": "id" if OPSGENIE_ID.match(schedule) else "name",
            "flat": "true",
            "date": self._now().astimezone(UTC).isoformat(timespec="seconds"),
        })
        url = f"{self._base}/v2/schedules/{urllib.parse.quote(schedule, safe='')}/on-calls?{query}"
        request = urllib.request.Request(url, headers={  # noqa: S310 (an http(s) URL: __init__ checks it)
            "Authorization": f"GenieKey {self._key}",
            "Accept": "application/json",
        })
        reason = "no answer"
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                    body = json.loads(answer.read().decode("utf-8"))
                return _recipients(body)
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    raise NotFound(T("Opsgenie has no schedule '{schedule}'.", schedule=schedule)) from None
                if err.code in (401, 403):
                    raise Unavailable(T("Opsgenie refused jitbot's API key (HTTP {code}), so jitbot cannot tell "
                                        "who is on call for schedule '{schedule}'; nothing was decided.",
                                        code=str(err.code), schedule=schedule)) from None
                reason = f"HTTP {err.code}"
                if err.code != 429 and err.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as err:
                reason = str(getattr(err, "reason", err)) or type(err).__name__
            if attempt + 1 < ATTEMPTS:
                time.sleep(0.2)
        raise Unavailable(T("Opsgenie could not be asked who is on call for schedule '{schedule}' ({reason}); "
                            "nothing was decided, try again in a moment.", schedule=schedule, reason=reason))


def _recipients(body: object) -> frozenset[str]:
    """The emails of ``data.onCallRecipients`` (user names; anything without an ``@`` is no person's email)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ValueError("an answer without data")
    names = body["data"].get("onCallRecipients") or []
    if not isinstance(names, list):
        raise ValueError("onCallRecipients is not a list")
    return frozenset(n.strip().lower() for n in names if isinstance(n, str) and "@" in n)


# --- jitbot policies check ------------------------------------------------------------------------------------

def schedule_problems(policies: PolicyFile, on_call: OnCall) -> tuple[list[str], list[str]]:
    """(errors, warnings): every ``opsgenie:`` entry resolved in Opsgenie; an unknown schedule is an error located
    where the file names it, a schedule with nobody on call now a warning. ``Unavailable`` when Opsgenie cannot be
    asked."""
    errors: list[str] = []
    found: list[str] = []
    for where, entries in policies.principal_lists():
        for index, entry in enumerate(entries):
            if not is_opsgenie(entry):
                continue
            try:
                people = on_call.on_call(entry)
            except NotFound:
                errors.append(f"{where}[{index}]: '{entry}': Opsgenie has no schedule '{schedule_of(entry)}' (or the "
                              "API key cannot see it)")
                continue
            if not people:
                found.append(f"{where}[{index}]: nobody is on call for Opsgenie schedule '{schedule_of(entry)}' now")
    return errors, found


def report(policies: PolicyFile, settings: Settings, offline: bool) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of ``policies check`` about the file's ``opsgenie:`` entries."""
    if not any(is_opsgenie(e) for _, entries in policies.principal_lists() for e in entries):
        return [], [], []
    key = settings.secret("opsgenie_api_key")
    if offline or key is None:
        why = "--offline" if offline else "no OPSGENIE_API_KEY: at run time they refuse, saying so"
        return [], [], [f"note: Opsgenie not asked ({why}): opsgenie: schedules are not checked"]
    client = OpsgenieOnCall(key, settings.opsgenie_api_url, lambda: datetime.now(UTC), cache_seconds=0)
    try:
        errors, found = schedule_problems(policies, client)
    except Unavailable as err:
        return [], [], [f"note: Opsgenie could not be asked ({err}): opsgenie: schedules are not checked"]
    return errors, found, []
