"""Republishing App Home tabs off the caller's thread: a state change never waits for them.

What is republished, and when:

- **Only homes being looked at.** ``app_home_opened`` records when each person opened their tab
  (``HomeViews``, a table shared by every replica); a change republishes the home of a concerned person only
  if they opened it within ``watch`` (``HOME_WATCH``, 1 hour, by default). Someone who opens the tab later gets
  a fresh render from ``app_home_opened`` anyway. Without ``views`` every concerned home is republished.
- **At most one publish per person per ``interval``** (``MIN_INTERVAL``, 1 s, by default). Changes for a person
  published less than ``interval`` ago wait, coalesced, and are published once when it has passed: the last
  state is always published, never dropped.
- Requests to refresh the same person coalesce while the worker is busy or within ``delay`` seconds, so a
  decision that updates two messages and sends three notices publishes each concerned home once.

The worker thread starts on demand and ends after ``idle`` seconds without work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

log = logging.getLogger(__name__)

#: how recently a person must have opened their App Home for a change to republish it
HOME_WATCH: Final = timedelta(hours=1)
#: the least time between two publishes of one person's home (seconds)
MIN_INTERVAL: Final = 1.0


class HomeViews(Protocol):
    """When people opened their App Home (``store.homes.SqlHomeViews``)."""

    def opened(self, user: str, at: datetime) -> None:
        """``user`` opened their App Home at ``at``."""

    def watching(self, users: Iterable[str], since: datetime) -> set[str]:
        """Those of ``users`` who opened their App Home at or after ``since`` (one query, not one per user)."""

    def recent(self, since: datetime, limit: int = 1000) -> set[str]:
        """Everyone who opened their App Home at or after ``since`` (the most recent ``limit``)."""


class Pacing:
    """The per-person minimum interval between publishes. ``want`` people, publish those ``ready`` (telling
    ``published``); someone wanted again before the interval has passed is ready once it has, however many
    times they were wanted meanwhile. Times are seconds of a monotonic clock. Not thread-safe: the worker's."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}  # person -> their latest publish, while within the interval
        self._due: dict[str, float] = {}  # person wanted -> when they may be published

    def want(self, users: Iterable[str], now: float) -> None:
        for user in users:
            if user not in self._due:  # already waiting: coalesced into the publish to come
                last = self._last.get(user)
                self._due[user] = now if last is None else max(now, last + self.interval)

    def ready(self, now: float) -> list[str]:
        """The people wanted whose interval has passed, no longer wanted (sorted)."""
        ready = sorted(user for user, due in self._due.items() if due <= now)
        for user in ready:
            del self._due[user]
        self._last = {user: at for user, at in self._last.items() if at + self.interval > now}
        return ready

    def published(self, user: str, at: float) -> None:
        self._last[user] = at

    def next_due(self) -> float | None:
        """When the next person waiting may be published; None when nobody waits."""
        return min(self._due.values(), default=None)

    @property
    def waiting(self) -> frozenset[str]:
        return frozenset(self._due)


class HomeRefresher:
    def __init__(self, expand: Callable[[Iterable[str]], Iterable[str]], publish: Callable[[str], None], *,
                 delay: float = 0.2, idle: float = 30.0, views: HomeViews | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), watch: timedelta = HOME_WATCH,
                 interval: float = MIN_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        """``expand`` turns user and user-group ids into user ids; ``publish`` republishes one user's home.
        ``views`` and ``now`` (the domain's clock) say who opened their home within ``watch``; ``clock``
        (monotonic seconds) paces the publishes, ``interval`` apart per person."""
        self._expand = expand
        self._publish = publish
        self._delay = delay
        self._idle = idle
        self._views = views
        self._now = now
        self._watch = watch
        self._clock = clock
        self._pacing = Pacing(interval)
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    def schedule(self, principals: Iterable[str]) -> None:
        """Refresh the homes of these users and user groups' members, soon."""
        wanted = {p for p in principals if p}
        if not wanted:
            return
        with self._cond:
            if self._closed:
                return
            self._pending |= wanted
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="home-refresh", daemon=True)
                self._worker.start()
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Drop what is pending and stop the worker (waiting up to ``timeout`` for a publish under way)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            worker = self._worker
            self._cond.notify_all()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._await_work():
                    self._worker = None
                    return
                if self._pending:
                    self._cond.wait(self._delay)  # let the other changes of the same moment arrive
                batch, self._pending = self._pending, set()
            if batch:
                self._pacing.want(self._concerned(batch), self._clock())
            for user in self._pacing.ready(self._clock()):
                if self._closed:
                    return
                self._pacing.published(user, self._clock())
                try:
                    self._publish(user)
                except Exception:  # one home that cannot be published must not stop the others
                    log.exception("could not publish the App Home", extra={"slack_user": user})

    def _await_work(self) -> bool:
        """Under the lock: wait for changes, or for someone waiting out their interval. False when closed, or
        after ``idle`` seconds with nothing to do."""
        while not self._closed:
            if self._pending:
                return True
            due = self._pacing.next_due()
            if due is None:
                if not self._cond.wait_for(lambda: bool(self._pending) or self._closed, timeout=self._idle):
                    return False
                continue
            remaining = due - self._clock()
            if remaining <= 0:
                return True
            self._cond.wait(remaining)
        return False

    def _concerned(self, principals: set[str]) -> set[str]:
        """The users among (or in the groups of) ``principals`` whose home is worth publishing."""
        try:
            users = set(self._expand(principals))
        except Exception:  # Slack or the database briefly unavailable: the next change refreshes again
            log.exception("could not expand the principals whose App Home to refresh")
            return set()
        if self._views is None or not users:
            return users
        try:
            return set(self._views.watching(users, self._now() - self._watch))
        except Exception:
            # The database briefly down: publish every concerned home, as before homes were watched. A stale home
            # misleads whoever looks at it (an approval already given, access already ended), while an extra
            # publish only costs CPU; and changes need the database too, so few arrive while it is down.
            log.warning("could not read who looks at their App Home; republishing every concerned home",
                        exc_info=True)
            return users
