"""The playground's clock: the system's time plus a shift that only grows.

It is the bot's ``Clock`` (``core.ports.Clock``), given to ``bot.app.build`` exactly as the tests give theirs:
time flows as usual, and a jump moves every reader at once (the sweep, the scheduler's horizon, the App Home,
the digest's slot). It never goes back: the bot's records assume time moves forward.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: the longest single jump (a week is enough to see retention-free history, digests and timeouts)
MAX_JUMP = timedelta(days=7)


class ShiftedClock:
    def __init__(self, system: Callable[[], datetime] | None = None) -> None:
        self._system = system or (lambda: datetime.now(UTC))
        self._shift = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._system() + self._shift

    @property
    def shift(self) -> timedelta:
        with self._lock:
            return self._shift

    def jump(self, delta: timedelta) -> datetime:
        """Move ahead by ``delta`` (more than zero, at most ``MAX_JUMP``); returns the new now."""
        if delta <= timedelta(0) or delta > MAX_JUMP:
            raise ValueError(f"a jump is more than 0 and at most {MAX_JUMP.days} days")
        with self._lock:
            self._shift += delta
            return self._system() + self._shift
