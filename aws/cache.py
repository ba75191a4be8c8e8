"""A small thread-safe cache whose entries live at most ``ttl`` seconds (Identity Store answers, IAM tags)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The cached value, or ``load()``'s (kept for ``ttl`` seconds; an exception is not kept)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] > self.clock():
                return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (self.clock() + self.ttl, value)
            if len(self._items) > 10_000:  # forget what has expired, so a long-running bot stays small
                now = self.clock()
                self._items = {k: v for k, v in self._items.items() if v[0] > now}
        return value
