"""What the on-call adapters share (``bot.pagerduty``, ``bot.opsgenie``): one read-only HTTP call per schedule,
its answer cached for at most 60 s, retried once, every failure said in the reader's language and never taken
for "nobody is on call"; and their part of ``jitbot policies check``.

Each adapter says how to ask its API (``request``) and how to read the answer (``emails``); the rest is here.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import NotFound, Unavailable
from core.i18n import N_, T, Text
from core.policy import PolicyFile
from core.ports import OnCall

#: how long one schedule's answer is reused at most (the bound on how stale "on call now" may be)
CACHE_SECONDS = 60.0
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2


@dataclass(frozen=True)
class Provider:
    """An on-call provider as people and the policy file name it."""

    name: str
    #: the policy-file prefix of its entries (``pagerduty:``)
    prefix: str
    #: what jitbot authenticates with, as a message id (``N_("token")``)
    credential: str
    #: the setting that holds it, and the one of the API's address
    setting: str
    url_setting: str
    #: schedules are names that may hold spaces: shown in quotes
    quoted: bool = False

    def shown(self, schedule: str) -> str:
        return f"'{schedule}'" if self.quoted else schedule

    def names(self, entry: str) -> bool:
        return entry.startswith(self.prefix)


class CachedOnCall:
    """The ``OnCall`` port over one provider's HTTP API; subclasses give ``request`` and ``emails``."""

    provider: Provider

    def __init__(self, base_url: str, *, cache_seconds: float = CACHE_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"{self.provider.url_setting} '{base_url}' is not an http(s) address")
        self.base = base_url.rstrip("/")
        self._ttl = min(cache_seconds, CACHE_SECONDS)
        self._timeout = timeout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def request(self, schedule: str) -> urllib.request.Request:
        raise NotImplementedError

    def emails(self, body: Any) -> frozenset[str]:
        """The on-call people's emails (lower case) in the API's answer; ``ValueError`` for an answer not read."""
        raise NotImplementedError

    def on_call(self, entry: str) -> frozenset[str]:
        """Who is on call for an entry's schedule (a bare schedule is taken as well)."""
        schedule = entry.removeprefix(self.provider.prefix)
        with self._lock:
            cached = self._cache.get(schedule)
        if cached is not None and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        emails = self._fetch(schedule)
        with self._lock:
            self._cache[schedule] = (self._monotonic(), emails)
        return emails

    def _fetch(self, schedule: str) -> frozenset[str]:
        provider, shown = self.provider, self.provider.shown(schedule)
        request = self.request(schedule)
        reason: Text | str = T("no answer")
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310 (http(s) only)
                    return self.emails(json.loads(answer.read().decode("utf-8")))
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    raise NotFound(T("{provider} has no schedule {schedule}.", provider=provider.name,
                                     schedule=shown)) from None
                if err.code in (401, 403):
                    raise Unavailable(T("{provider} refused jitbot's {credential} (HTTP {code}), so jitbot cannot "
                                        "tell who is on call for schedule {schedule}; nothing was decided.",
                                        provider=provider.name, credential=T(provider.credential),
                                        code=str(err.code), schedule=shown)) from None
                reason = f"HTTP {err.code}"
                if err.code != 429 and err.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as err:
                reason = str(getattr(err, "reason", err)) or type(err).__name__
            if attempt + 1 < ATTEMPTS:
                time.sleep(0.2)
        raise Unavailable(T("{provider} could not be asked who is on call for schedule {schedule} ({reason}); "
                            "nothing was decided, try again in a moment.", provider=provider.name, schedule=shown,
                            reason=reason))


# --- jitbot policies check ------------------------------------------------------------------------------------

def schedule_problems(policies: PolicyFile, on_call: OnCall, provider: Provider) -> tuple[list[str], list[str]]:
    """(errors, warnings): every entry of ``provider`` resolved; an unknown schedule is an error located where the
    file names it, a schedule with nobody on call now a warning. ``Unavailable`` when the provider cannot be asked."""
    errors: list[str] = []
    found: list[str] = []
    for where, entries in policies.principal_lists():
        for index, entry in enumerate(entries):
            if not provider.names(entry):
                continue
            schedule = provider.shown(entry.removeprefix(provider.prefix))
            try:
                people = on_call.on_call(entry)
            except NotFound:
                errors.append(f"{where}[{index}]: '{entry}': {provider.name} has no schedule {schedule} (or the "
                              f"{provider.credential} cannot see it)")
                continue
            if not people:
                found.append(f"{where}[{index}]: nobody is on call for {provider.name} schedule {schedule} now")
    return errors, found


def report(policies: PolicyFile, secret: str | None, offline: bool, provider: Provider,
           client: Callable[[str], OnCall]) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of ``policies check`` about the file's entries of ``provider``; ``secret`` is its
    credential (None: not configured), ``client`` makes an uncached client from it."""
    if not any(provider.names(e) for _, entries in policies.principal_lists() for e in entries):
        return [], [], []
    prefix = provider.prefix
    if offline or secret is None:
        why = "--offline" if offline else f"no {provider.setting}: at run time they refuse, saying so"
        return [], [], [f"note: {provider.name} not asked ({why}): {prefix} schedules are not checked"]
    try:
        errors, found = schedule_problems(policies, client(secret), provider)
    except Unavailable as err:
        return [], [], [f"note: {provider.name} could not be asked ({err}): {prefix} schedules are not checked"]
    return errors, found, []


#: the credentials' names, for the catalogs
CREDENTIALS = (N_("token"), N_("API key"))
