"""App Homes kept current: a ``Notifier`` decorator that, after each message, republishes the App Home of the
people it concerns (the requester, the approvers of the level involved).

The publishing itself happens off the caller's thread (``handlers.refresher.HomeRefresher``): with ``views``,
only the homes opened within ``refresher.HOME_WATCH``, each at most once per ``refresher.MIN_INTERVAL``; a
home is rendered by ``handlers.home.publish``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from slack_sdk import WebClient

from core.approvals import deciders
from core.context import Context
from core.errors import Undelivered
from core.model import AccessRequest, Decision, Event, MessageRef
from core.ports import Notifier
from handlers import home
from handlers.refresher import HomeRefresher, HomeViews


def home_refresher(ctx: Context, client: WebClient, views: HomeViews | None) -> HomeRefresher:
    """Republishes homes rendered from ``ctx``; ``views`` (who opened their home when) limits it to the homes
    being looked at, without it every concerned home is republished."""
    return HomeRefresher(ctx.expand, partial(home.publish, ctx, client), views=views, now=ctx.clock.now)


class RefreshingHomes:
    """A ``Notifier`` that sends through ``inner``, then has ``homes`` republish the homes concerned: after an
    approval message is posted or updated, and after a notice, even one only partly delivered."""

    def __init__(self, inner: Notifier, homes: HomeRefresher) -> None:
        self.inner = inner
        self.homes = homes

    def close(self) -> None:
        """Stop refreshing App Homes (the process is shutting down)."""
        self.homes.close()

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        ref = self.inner.post_approval(request, level, decisions)
        self._refresh(request, level)
        return ref

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        ref = self.inner.post_escalation(request, level, decisions)
        self._refresh(request, level)
        return ref

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        self.inner.update_approval(request, ref, decisions)
        self._refresh(request, ref.level or 0)

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        try:
            self.inner.announce(event, refs, done)
        except Undelivered:  # some parts may have gone: the homes show the state change either way
            self._refresh(event.request, event.request.current_level)
            raise
        self._refresh(event.request, event.request.current_level)

    def _refresh(self, request: AccessRequest, level: int) -> None:
        principals = {request.requester}
        if 0 <= level < len(request.levels):
            principals.update(deciders(request.levels[level], request.escalated(level)))
        self.homes.schedule(principals)
