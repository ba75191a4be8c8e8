"""The Notifier port on Slack's Web API, for the outbox's sender (``core.outbox``): a message Slack did not take
raises ``Undelivered`` (naming the parts that did go out), which the sender retries; it never undoes a state
change.

Besides messages, every notice republishes the App Home of the people it concerns (the requester, the
approvers of the level involved), off the caller's thread (``handlers.refresher``): with ``views``, only the
homes opened within ``refresher.HOME_WATCH``, each at most once per ``refresher.MIN_INTERVAL``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import partial

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.context import Context
from core.documents import documents_for
from core.errors import Undelivered
from core.model import AccessRequest, Decision, Event, MessageRef, Notice
from core.policy.schema import PolicyFile
from handlers import home, ids
from handlers.blocks import approval_blocks, approval_text, message_blocks, request_buttons
from handlers.notices import SsoPortal, render
from handlers.refresher import HomeRefresher, HomeViews

log = logging.getLogger(__name__)

#: the requester's buttons under each DM
DM_BUTTONS = {
    Notice.SUBMITTED: (ids.CANCEL,),
    Notice.GRANTED: (ids.EXTEND, ids.RELEASE),
    Notice.WARNING: (ids.EXTEND, ids.RELEASE),
}

#: Slack errors (``"ok": false``) that a later attempt may not meet; any other is permanent (a channel that does
#: not exist, a bot not in it, a message refused): the item is given up on at once rather than retried
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


class SlackNotifier:
    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile],
                 context: Callable[[], Context] | None = None, views: HomeViews | None = None,
                 sso: Callable[[], SsoPortal | None] | None = None) -> None:
        """``context`` (the Context this notifier serves, built after it) enables App Home refreshes and
        re-posting an approval message that could not be posted before. ``views`` (who opened their App
        Home when) limits the refreshes to the homes being looked at; without it every concerned home is."""
        self.client = client
        self.policies = policies
        self.context = context
        self.sso = sso  # the Identity Center access portal, for the "granted" DM of Identity Center people
        self.homes = HomeRefresher(self._expand, self._publish, views=views, now=self._now) if context else None

    def close(self) -> None:
        """Stop refreshing App Homes (the process is shutting down)."""
        if self.homes is not None:
            self.homes.close()

    def _call(self, method: str, **kwargs: object) -> dict[str, object] | None:
        """One Web API call; the client's retry handlers already retried rate limits and resets."""
        try:
            response = self.client.api_call(method, json=kwargs)
        except (SlackApiError, SlackClientError, OSError) as err:
            log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
            return None
        return response.data if isinstance(response.data, dict) else None

    def _must(self, method: str, **kwargs: object) -> dict[str, object]:
        """One Web API call that must go through: ``Undelivered`` (permanent or not) when it did not."""
        try:
            response = self.client.api_call(method, json=kwargs)
        except SlackApiError as err:
            code = str(err.response.get("error") or "") if err.response is not None else ""
            status = err.response.status_code if err.response is not None else 0
            log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
            permanent = 0 < status < 500 and status != 429 and code not in TRANSIENT_ERRORS
            raise Undelivered(f"{method}: {code or status}", permanent=permanent) from err
        except (SlackClientError, OSError) as err:
            log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
            raise Undelivered(f"{method}: {type(err).__name__}: {err}") from err
        return response.data if isinstance(response.data, dict) else {}

    # -- App Home ---------------------------------------------------------------------------------------
    def _expand(self, principals: Iterable[str]) -> Iterable[str]:
        assert self.context is not None
        return self.context().expand(principals)

    def _now(self) -> datetime:
        assert self.context is not None
        return self.context().clock.now()

    def _publish(self, user: str) -> None:
        assert self.context is not None
        home.publish(self.context(), self.client, user)

    def _refresh(self, request: AccessRequest, *levels: int) -> None:
        if self.homes is None:
            return
        principals = {request.requester}
        for level in levels:
            if 0 <= level < len(request.levels):
                principals.update(request.levels[level].approvers)
        self.homes.schedule(principals)

    # -- the Notifier port ------------------------------------------------------------------------------
    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        channel = request.levels[level].channel
        blocks = approval_blocks(request, level, decisions, self.policies().settings.zone)
        data = self._must("chat.postMessage", channel=channel, text=approval_text(request, level),
                          blocks=[b.to_dict() for b in blocks], unfurl_links=False)
        self._refresh(request, level)
        return MessageRef(request.id, f"level-{level}", str(data.get("channel", channel)), str(data["ts"]))

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        level = int(ref.purpose.removeprefix("level-"))
        blocks = approval_blocks(request, level, decisions, self.policies().settings.zone)
        self._must("chat.update", channel=ref.channel, ts=ref.ts, text=approval_text(request, level),
                   blocks=[b.to_dict() for b in blocks])
        self._refresh(request, level)

    def dm(self, user_id: str, text: str, buttons: Sequence[str] = (), request_id: str = "") -> None:
        opened = self._must("conversations.open", users=user_id)
        channel = opened.get("channel")
        if not isinstance(channel, dict) or not channel.get("id"):
            raise Undelivered("conversations.open: no channel in the answer")
        blocks = message_blocks(text)
        if buttons:
            blocks.append(request_buttons(request_id, *buttons))
        self._must("chat.postMessage", channel=channel["id"], text=text, blocks=[b.to_dict() for b in blocks],
                   unfurl_links=False)

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        settings = self.policies().settings
        text = render(event, settings.zone, self.context().clock.now() if self.context else None,
                      self.sso() if self.sso is not None else None,
                      documents_for(self.policies(), event.request.policy))
        request = event.request
        if event.notice is Notice.REMINDER and event.level is not None:
            self._repost_missing(request, event.level, refs)
        parts: list[tuple[str, Callable[[], object]]] = []
        if text.dm:
            dm = text.dm
            parts.append(("dm", lambda: self.dm(request.requester, dm, DM_BUTTONS.get(event.notice, ()), request.id)))
        if text.thread:
            for ref in refs:
                if ref.purpose.startswith("level-"):
                    parts.append((f"thread:{ref.purpose}", partial(
                        self._must, "chat.postMessage", channel=ref.channel, thread_ts=ref.ts, text=text.thread,
                        unfurl_links=False)))
        if text.audit and settings.audit_channel:
            parts.append(("audit", partial(self._must, "chat.postMessage", channel=settings.audit_channel,
                                           text=text.audit, unfurl_links=False)))
        sent: set[str] = set()
        failures: list[Undelivered] = []
        for name, send in parts:
            if name in done:
                continue
            try:
                send()
                sent.add(name)
            except Undelivered as err:  # the other parts still go; this one is retried
                failures.append(err)
        self._refresh(request, request.current_level)
        if failures:
            raise Undelivered("; ".join(str(f) for f in failures), sent=frozenset(sent),
                              permanent=all(f.permanent for f in failures))

    def _repost_missing(self, request: AccessRequest, level: int, refs: Sequence[MessageRef]) -> None:
        """The approval message of a waiting level failed to post (Slack down beyond the retries): the
        reminder posts it now, so that approvers get their buttons after all."""
        if self.context is None or any(r.purpose == f"level-{level}" for r in refs):
            return
        ctx = self.context()
        with ctx.uow() as uow:
            decisions = uow.repo.decisions(request.id)
        try:
            ref = self.post_approval(request, level, decisions)
        except Undelivered:  # the reminder itself still goes; the next one tries again
            return
        if ref is not None:
            with ctx.uow() as uow:
                uow.repo.add_message(ref)
                uow.commit()
            log.info("approval message posted late", extra={"request_id": request.id, "level": level})
