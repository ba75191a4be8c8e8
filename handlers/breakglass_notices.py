"""The ``core.breakglass.BreakglassNotices`` port on Slack's Web API: the loud alerts of a break-glass use and,
once reviewed, the review. Like ``SlackNotifier`` (the same Slack call, ``handlers.slack_api``), what Slack did
not take raises ``Undelivered`` naming the parts that did go out, for the outbox to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from slack_sdk import WebClient

from core.errors import Undelivered
from core.i18n import Catalogs
from core.model import AccessRequest, MessageRef, Review
from core.policy.file import PolicyFile
from handlers.blocks import breakglass_blocks, breakglass_text
from handlers.slack_api import call
from handlers.text import escape, user


class SlackBreakglassNotices:
    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile],
                 catalogs: Catalogs | None = None) -> None:
        self.client = client
        self.policies = policies
        #: the alerts are channel messages: in ``[settings] channel_language``
        self.catalogs = catalogs or Catalogs()

    def alert(self, request: AccessRequest, reviewers: tuple[str, ...],
              done: frozenset[str] = frozenset()) -> list[MessageRef]:
        settings = self.policies().settings
        targets: dict[str, tuple[str, bool]] = {}
        if settings.audit_channel:
            targets[settings.audit_channel] = ("breakglass-audit", True)
        if request.levels and request.levels[0].channel not in targets:
            targets[request.levels[0].channel] = ("breakglass-level-0", False)
        refs, missed = [], []
        for channel, (purpose, here) in targets.items():
            if purpose in done:
                continue
            tr = self.catalogs.get(settings.channel_lang)
            blocks = breakglass_blocks(tr, request, reviewers, settings.zone, here=here)
            data = call(self.client, "chat.postMessage", channel=channel,
                        text=breakglass_text(tr, request, reviewers, here), blocks=[b.to_dict() for b in blocks],
                        unfurl_links=False)
            if data and data.get("ts"):
                refs.append(MessageRef(request.id, purpose, str(data.get("channel", channel)), str(data["ts"])))
            else:
                missed.append(channel)
        if missed:
            raise Undelivered(f"break-glass announcement not posted in {', '.join(missed)}", refs=tuple(refs))
        return refs

    def reviewed(self, request: AccessRequest, refs: Sequence[MessageRef], review: Review,
                 done: frozenset[str] = frozenset()) -> None:
        settings = self.policies().settings
        reviewers = request.levels[0].approvers if request.levels else ()
        sent: set[str] = set()
        missed: list[str] = []
        for ref in refs:
            if f"update:{ref.purpose}" in done:
                continue
            blocks = breakglass_blocks(self.catalogs.get(settings.channel_lang), request, reviewers, settings.zone,
                                       here=False, review=review)
            if call(self.client, "chat.update", channel=ref.channel, ts=ref.ts,
                    text=f"Break-glass {request.id}: reviewed", blocks=[b.to_dict() for b in blocks]):
                sent.add(f"update:{ref.purpose}")
            else:
                missed.append(f"update:{ref.purpose}")
        if settings.audit_channel and "audit" not in done:
            thread = next((r.ts for r in refs if r.channel == settings.audit_channel), None)
            verdict = "justified" if review.justified else "NOT justified"
            if call(self.client, "chat.postMessage", channel=settings.audit_channel, thread_ts=thread,
                    unfurl_links=False, text=f"*{request.id}* · break-glass of {user(request.requester)} reviewed "
                                             f"by {user(review.reviewer)}: {verdict}. {escape(review.note)}"):
                sent.add("audit")
            else:
                missed.append("audit")
        if missed:
            raise Undelivered(f"break-glass review not shown: {', '.join(missed)}", sent=frozenset(sent))
