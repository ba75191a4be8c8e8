"""App Homes kept current: a ``Notifier`` decorator that, after each message, republishes the App Home of the
people it concerns (the requester, the approvers of the level involved).

The publishing itself happens off the caller's thread (``handlers.refresher.HomeRefresher``): with ``views``,
only the homes opened within ``refresher.HOME_WATCH``, each at most once per ``refresher.MIN_INTERVAL``; a
home is rendered by ``handlers.home.publish``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from functools import partial

from slack_sdk import WebClient

from core.approvals import deciders
from core.context import Context
from core.errors import JitError, Undelivered
from core.idc import is_idc_group
from core.model import AccessRequest, Decision, Event, MessageRef
from core.oncall import is_on_call
from core.ports import Notifier
from handlers import home
from handlers.refresher import HOME_WATCH, HomeRefresher, HomeViews

log = logging.getLogger(__name__)


def concerned(ctx: Context, views: HomeViews | None,
              watch: timedelta = HOME_WATCH) -> Callable[[Iterable[str]], frozenset[str]]:
    """The Slack users ``principals`` name, for their App Homes: users and Slack user groups' members
    (``Context.expand``); and, since an Identity Center group or an on-call schedule has no Slack members to list,
    those of the people looking at their home now (``views``) whom such an entry names (``Context.includes``).
    When Identity Center or the on-call provider cannot be asked, those homes wait for their next opening."""
    def expand(principals: Iterable[str]) -> frozenset[str]:
        entries = list(principals)
        users = set(ctx.expand(entries))
        indirect = [p for p in entries if is_idc_group(p) or is_on_call(p)]
        if not indirect or views is None:
            return frozenset(users)
        for user in views.recent(ctx.clock.now() - watch) - users:
            try:
                if ctx.includes(user, indirect):
                    users.add(user)
            except JitError as err:  # Unavailable: Identity Center or the on-call provider did not answer
                log.info("App Home of %s not refreshed: %s", user, err)
        return frozenset(users)
    return expand


def home_refresher(ctx: Context, client: WebClient, views: HomeViews | None) -> HomeRefresher:
    """Republishes homes rendered from ``ctx``; ``views`` (who opened their home when) limits it to the homes
    being looked at, without it every concerned home is republished."""
    return HomeRefresher(concerned(ctx, views), partial(home.publish, ctx, client), views=views, now=ctx.clock.now)


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
