"""The Notifier port on Slack's Web API, for the outbox's sender (``core.outbox``): a message Slack did not take
raises ``Undelivered`` (naming the parts that did go out), which the sender retries; it never undoes a state
change. It only sends: the App Homes of the people a message concerns are republished by a decorator
(``bot/homes.py``), and an approval message given up on is owed again by the sweep's reminder (``core.sweep``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from slack_sdk import WebClient

from core.documents import documents_for
from core.errors import Undelivered
from core.i18n import ENGLISH, Catalogs, Tr
from core.model import AccessRequest, Decision, Event, MessageRef, Notice
from core.policy.file import PolicyFile
from handlers import ids
from handlers.blocks import approval_blocks, approval_text, escalation_text, message_blocks, request_buttons
from handlers.notices import SsoPortal, render
from handlers.slack_api import must

log = logging.getLogger(__name__)

#: the requester's buttons under each DM
DM_BUTTONS = {
    Notice.SUBMITTED: (ids.CANCEL,),
    Notice.GRANTED: (ids.EXTEND, ids.RELEASE),
    Notice.WARNING: (ids.EXTEND, ids.RELEASE),
}

class SlackNotifier:
    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile],
                 now: Callable[[], datetime] | None = None,
                 sso: Callable[[], SsoPortal | None] | None = None) -> None:
        """``now`` (the domain's clock) dates what the texts say relative to now ("in 2 hours"); ``sso`` is the
        Identity Center access portal, for the "granted" DM of Identity Center people."""
        self.client = client
        self.policies = policies
        self.now = now
        self.sso = sso
        self.catalogs = Catalogs()

    def _tr_channel(self) -> Tr:
        """Channel messages in ``[settings] channel_language``."""
        return self.catalogs.get(self.policies().settings.channel_lang)

    def _must(self, method: str, **kwargs: object) -> dict[str, object]:
        """One Web API call that must go through: ``Undelivered`` (permanent or not) when it did not."""
        return must(self.client, method, **kwargs)

    # -- the Notifier port ------------------------------------------------------------------------------
    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        channel, tr = request.levels[level].channel, self._tr_channel()
        blocks = approval_blocks(tr, request, level, decisions, self.policies().settings.zone)
        data = self._must("chat.postMessage", channel=channel, text=approval_text(tr, request, level),
                          blocks=[b.to_dict() for b in blocks], unfurl_links=False)
        return MessageRef(request.id, f"level-{level}", str(data.get("channel", channel)), str(data["ts"]))

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        channel, tr = request.levels[level].escalate_channel or request.levels[level].channel, self._tr_channel()
        blocks = approval_blocks(tr, request, level, decisions, self.policies().settings.zone, escalation=True)
        data = self._must("chat.postMessage", channel=channel, text=escalation_text(tr, request, level),
                          blocks=[b.to_dict() for b in blocks], unfurl_links=False)
        return MessageRef(request.id, f"escalation-{level}", str(data.get("channel", channel)), str(data["ts"]))

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        level = ref.level or 0
        escalation, tr = ref.purpose.startswith("escalation-"), self._tr_channel()
        blocks = approval_blocks(tr, request, level, decisions, self.policies().settings.zone, escalation=escalation)
        self._must("chat.update", channel=ref.channel, ts=ref.ts, text=approval_text(tr, request, level),
                   blocks=[b.to_dict() for b in blocks])

    def dm(self, user_id: str, text: str, buttons: Sequence[str] = (), request_id: str = "") -> None:
        opened = self._must("conversations.open", users=user_id)
        channel = opened.get("channel")
        if not isinstance(channel, dict) or not channel.get("id"):
            raise Undelivered("conversations.open: no channel in the answer")
        blocks = message_blocks(text)
        if buttons:
            blocks.append(request_buttons(ENGLISH, request_id, *buttons))  # the DMs' language: handlers.notices
        self._must("chat.postMessage", channel=channel["id"], text=text, blocks=[b.to_dict() for b in blocks],
                   unfurl_links=False)

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        settings = self.policies().settings
        text = render(event, settings.zone, self.now() if self.now is not None else None,
                      self.sso() if self.sso is not None else None,
                      documents_for(self.policies(), event.request.policy))
        request = event.request
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
        if failures:
            raise Undelivered("; ".join(str(f) for f in failures), sent=frozenset(sent),
                              permanent=all(f.permanent for f in failures))
