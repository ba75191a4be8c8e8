"""Republishing App Home tabs off the caller's thread: a state change never waits for them.

Requests to refresh the same person coalesce while the worker is busy or within ``delay`` seconds, so a
decision that updates two messages and sends three notices publishes each concerned home once. The
worker thread starts on demand and ends after ``idle`` seconds without work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


class HomeRefresher:
    def __init__(self, expand: Callable[[Iterable[str]], Iterable[str]], publish: Callable[[str], None], *,
                 delay: float = 0.2, idle: float = 30.0) -> None:
        """``expand`` turns user and user-group ids into user ids; ``publish`` republishes one user's home."""
        self._expand = expand
        self._publish = publish
        self._delay = delay
        self._idle = idle
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
                if not self._cond.wait_for(lambda: bool(self._pending) or self._closed, timeout=self._idle) \
                        or self._closed:
                    self._worker = None
                    return
                self._cond.wait(self._delay)  # let the other changes of the same moment arrive
                batch, self._pending = self._pending, set()
            self._refresh(batch)

    def _refresh(self, principals: set[str]) -> None:
        try:
            users = sorted(set(self._expand(principals)))
        except Exception:  # Slack or the database briefly unavailable: the next change refreshes again
            log.exception("could not expand the principals whose App Home to refresh")
            return
        for user in users:
            if self._closed:
                return
            try:
                self._publish(user)
            except Exception:  # one home that cannot be published must not stop the others
                log.exception("could not publish the App Home", extra={"slack_user": user})
