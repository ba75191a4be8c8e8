"""The Notifier port on Slack's Web API. A failed post is logged and never undoes a state change."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.model import AccessRequest, Decision, Event, MessageRef
from core.policy.schema import PolicyFile
from handlers.blocks import approval_blocks, approval_text, message_blocks
from handlers.notices import render

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile]) -> None:
        self.client = client
        self.policies = policies

    def _call(self, method: str, **kwargs: object) -> dict[str, object] | None:
        """One Web API call; the client's retry handlers already retried rate limits and resets."""
        try:
            response = self.client.api_call(method, json=kwargs)
        except (SlackApiError, SlackClientError, OSError) as err:
            log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
            return None
        return response.data if isinstance(response.data, dict) else None

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        channel = request.levels[level].channel
        blocks = approval_blocks(request, level, decisions, self.policies().settings.zone)
        data = self._call("chat.postMessage", channel=channel, text=approval_text(request, level),
                          blocks=[b.to_dict() for b in blocks], unfurl_links=False)
        if not data:
            return None
        return MessageRef(request.id, f"level-{level}", str(data.get("channel", channel)), str(data["ts"]))

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        level = int(ref.purpose.removeprefix("level-"))
        blocks = approval_blocks(request, level, decisions, self.policies().settings.zone)
        self._call("chat.update", channel=ref.channel, ts=ref.ts, text=approval_text(request, level),
                   blocks=[b.to_dict() for b in blocks])

    def dm(self, user_id: str, text: str) -> None:
        opened = self._call("conversations.open", users=user_id)
        channel = opened.get("channel") if opened else None
        if isinstance(channel, dict) and channel.get("id"):
            self._call("chat.postMessage", channel=channel["id"], text=text,
                       blocks=[b.to_dict() for b in message_blocks(text)], unfurl_links=False)

    def announce(self, event: Event, refs: Sequence[MessageRef]) -> None:
        settings = self.policies().settings
        text = render(event, settings.zone)
        if text.dm:
            self.dm(event.request.requester, text.dm)
        if text.thread:
            for ref in refs:
                if ref.purpose.startswith("level-"):
                    self._call("chat.postMessage", channel=ref.channel, thread_ts=ref.ts, text=text.thread,
                               unfurl_links=False)
        if text.audit and settings.audit_channel:
            self._call("chat.postMessage", channel=settings.audit_channel, text=text.audit, unfurl_links=False)
