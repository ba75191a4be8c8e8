"""Ack first, work after: a listener acks in the HTTP thread and hands its slow part to a pool.

Bolt, when it runs listeners in its own executor (``process_before_response=False``), waits for their
``ack()`` by polling every 10 ms: every ack took at least 10 ms, and with 50 deliveries in flight 50 threads
woke a hundred times a second each to look. jitbot runs Bolt with ``process_before_response=True``: the
listener runs in the HTTP thread, does what must be in the ack (a modal's field errors, a picker's options),
acks, and passes the rest (the use case, Slack and AWS calls) to ``Later``; the response leaves as soon as
the listener returns.

What fails in the pool is logged with a reference and the user is told, as Bolt's error handler does for a
listener (``bot.errors``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, wait
from typing import Any

from slack_sdk import WebClient

from core.i18n import ENGLISH, Tr
from handlers.tell import tell

log = logging.getLogger(__name__)


def failure_message(reference: str, tr: Tr = ENGLISH) -> str:
    return tr(":boom: Something went wrong on jitbot's side (reference `{reference}`). Nothing was changed unless "
              "you were told so; please try again or tell your jitbot admins.", reference=reference)


#: how long work waits, at most, for the acks in flight to leave first
ACKS_FIRST = 0.05


class Acks:
    """The Slack deliveries being acknowledged right now. Work waits (briefly) until none is: with 50 people
    at once, the acks otherwise queued for the interpreter behind the use cases of those acked before them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            if not self._count:
                self._idle.notify_all()

    def settled(self, timeout: float = ACKS_FIRST) -> bool:
        """Wait until no ack is in flight, at most ``timeout`` seconds; whether none is."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._count, timeout)


class Later:
    def __init__(self, pool: Executor, client: WebClient, acks: Acks | None = None, *,
                 acks_first: float = ACKS_FIRST, tr_for: Callable[[str], Tr] | None = None) -> None:
        """``client`` tells the user when the work fails (through the body's response_url, else by DM), in their
        language (``tr_for``, the Context's; English when not given); ``acks``: work waits for these to leave
        first, ``acks_first`` seconds at most."""
        self._pool = pool
        self.client = client
        self._tr_for = tr_for
        self._acks = acks
        self._acks_first = acks_first
        self._running: set[Future[None]] = set()
        self._lock = threading.Lock()

    def __call__(self, body: Mapping[str, Any], work: Callable[..., object], *args: Any) -> None:
        """Run ``work(*args)`` soon, off this thread; ``body`` is the Slack payload it answers."""
        with self._lock:
            try:
                future = self._pool.submit(self._run, body, work, args)
            except RuntimeError:  # closed: jitbot is stopping (the HTTP server drains before the pool closes)
                log.warning("stopping: work after an ack dropped", extra={"type": body.get("type")})
                return
            self._running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    def close(self, timeout: float = 10.0) -> int:
        """Take no more work and wait up to ``timeout`` seconds for the work under way (a decision being
        applied, an answer being sent) before the scheduler and the database go; how many did not finish."""
        with self._lock:
            self._pool.shutdown(wait=False)
            running = set(self._running)
        _, left = wait(running, timeout)
        if left:
            log.warning("stopping with work after an ack unfinished", extra={"unfinished": len(left)})
        return len(left)

    def _run(self, body: Mapping[str, Any], work: Callable[..., object], args: tuple[Any, ...]) -> None:
        if self._acks is not None:
            self._acks.settled(self._acks_first)
        try:
            work(*args)
        except Exception as err:
            reference = secrets.token_hex(4)
            log.error("listener work failed", exc_info=err, extra={"ref": reference, "type": body.get("type")})
            user = (body.get("user") or {}).get("id") or body.get("user_id")
            try:
                if user:
                    tr = self._tr_for(str(user)) if self._tr_for is not None else ENGLISH
                    tell(self.client, body.get("response_url"), str(user), failure_message(reference, tr))
            except Exception:  # the original error is already logged with its reference
                log.exception("could not tell the user about error %s", reference)
