"""Slack waits 3 seconds for some answers (option lists, modal validation): bounded waits on slow lookups.

A lookup that overruns goes on in the background, so that the cache it fills serves the next attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Late(Exception):
    """The call did not finish in time; it goes on in the background."""


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def within(seconds: float, call: Callable[[], T], what: str) -> T:
    """``call()``'s result if it returns within ``seconds``; its exception if it raises in time; else ``Late``."""
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as err:  # handed to the waiting caller, or logged if it left
            outcome.error = err
        finally:
            outcome.done.set()
            if outcome.error is not None and late.is_set():
                log.warning("late %s failed", what, exc_info=outcome.error)

    late = threading.Event()
    threading.Thread(target=run, name=f"bounded-{what}", daemon=True).start()
    if not outcome.done.wait(seconds):
        late.set()
        log.warning("%s took longer than %.1fs; answering without it", what, seconds)
        raise Late(what)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]


def in_background(call: Callable[[], object], what: str) -> None:
    """Run ``call`` on a daemon thread, logging its failure (used to warm caches ahead of need)."""
    def run() -> None:
        try:
            call()
        except Exception:
            log.warning("background %s failed", what, exc_info=True)

    threading.Thread(target=run, name=f"background-{what}", daemon=True).start()
