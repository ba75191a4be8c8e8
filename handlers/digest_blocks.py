"""The daily digest on Slack (Block Kit, posted to the audit channel) and as plain text (``jitbot digest``).

Both renderings come from the same sections, so what the CLI prints is what the channel reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from core.audit import Action
from core.digest import Digest, Timed
from core.durations import format_duration
from core.model import LIVE_STATES, AccessRequest, AuditEvent, State
from core.policy.file import PolicyFile
from core.reconcile import OUTSIDE
from handlers.text import escape, when

log = logging.getLogger(__name__)

TEXT_LIMIT = 3000  # a section's text
FIELD_LIMIT = 2000  # a section's field
ELLIPSIS = "…"
ENDED_ORDER = (State.EXPIRED, State.REVOKED, State.REJECTED, State.CANCELLED, State.TIMED_OUT, State.FAILED)
CREATED_ORDER = (*LIVE_STATES, *ENDED_ORDER)


@dataclass(frozen=True)
class Style:
    """How people, nodes and free text look: Slack mrkdwn, or plain text for a terminal."""

    slack: bool

    def user(self, user_id: str | None) -> str:
        if not user_id:
            return "jitbot"
        return f"<@{user_id}>" if self.slack else user_id

    def text(self, value: str | None, limit: int = 200) -> str:
        value = " ".join((value or "").split())
        if len(value) > limit:
            value = value[: limit - 1].rstrip() + ELLIPSIS
        return escape(value) if self.slack else value

    def code(self, value: str) -> str:
        return f"`{self.text(value, 100)}`" if self.slack else value

    def node(self, request: AccessRequest) -> str:
        node = request.node
        more = f" +{len(request.more_nodes)}" if request.more_nodes else ""  # a request for several nodes
        return (self.code(node.name) if node.name else self.code(node.id)) + more


def span(value: timedelta) -> str:
    """``1h20m`` beyond an hour (to the minute), ``45m``, ``30s``."""
    if value >= timedelta(hours=1):
        value = timedelta(minutes=value // timedelta(minutes=1))
    return format_duration(value)


def _counts(counts: Mapping[str, int], order: tuple[State, ...]) -> str:
    parts = [f"{counts[s.value]} {s.value.replace('_', ' ')}" for s in order if counts.get(s.value)]
    return ", ".join(parts) or "none"


def _ended_line(r: AccessRequest, style: Style) -> str:
    by = f" by {style.user(r.ended_by)}" if r.ended_by and r.ended_by not in ("jitbot", OUTSIDE) else ""
    why = f": {style.text(r.end_reason)}" if r.end_reason else ""
    return f"• {r.id} {style.user(r.requester)} on {style.node(r)}{by}{why}"


def _active_line(t: Timed, style: Style, zone: ZoneInfo) -> str:
    r = t.request
    until = when(r.expires_at, zone)
    return f"• {r.id} {style.user(r.requester)} on {style.node(r)} · {span(t.span)} left (until {until})"


def _pending_line(t: Timed, style: Style) -> str:
    r = t.request
    level = r.level
    where = f" · level {r.current_level + 1}/{len(r.levels)} ({style.text(level.name, 80)})" if level else ""
    return f"• {r.id} {style.user(r.requester)} on {style.node(r)} · waiting {span(t.span)}{where}"


def _drift_line(e: AuditEvent, style: Style, zone: ZoneInfo) -> str:
    policy, principal = str(e.detail.get("policy", "?")), str(e.detail.get("principal", "?"))
    why = f": {style.text(str(e.detail['why']))}" if e.detail.get("why") else ""
    return f"• drift removed at {when(e.at, zone)}: {style.code(policy)} from {style.code(principal)}{why}"


def _lockout_lines(digest: Digest, style: Style, zone: ZoneInfo) -> list[str]:
    """The day's lockouts and unlocks, then who is locked out now (until unlocked, in every digest)."""
    lines = []
    for e in digest.lockout_events:
        verb = "locked out" if e.action == Action.LOCKOUT else "unlocked"
        why = f": {style.text(str(e.detail['reason']))}" if e.detail.get("reason") else ""
        lines.append(f"• {style.user(str(e.detail.get('user') or '?'))} {verb} by {style.user(e.actor)} at "
                     f"{when(e.at, zone)}{why}")
    lines += [f"• still locked out: {style.user(held.user_id)} since {when(held.at, zone)} (by {style.user(held.by)}"
              f"): {style.text(held.reason)}" for held in digest.locked_out]
    return lines


def _session_lines(digest: Digest, style: Style) -> list[str]:
    """Sessions per grant: those that ended in the last 24 hours, then those active now."""
    counts = digest.session_counts
    lines = [f"• {r.id} {style.user(r.requester)} on {style.node(r)} ({r.state.value}): {counts.get(r.id, 0)} "
             "session(s)" for r in digest.ended_grants]
    lines += [f"• {t.request.id} {style.user(t.request.requester)} on {style.node(t.request)} (active): "
              f"{counts.get(t.request.id, 0)} session(s)" for t in digest.active]
    return lines


def _more(lines: list[str], total: int) -> list[str]:
    return lines + ([f"… and {total - len(lines)} more"] if total > len(lines) else [])


def sections(digest: Digest, style: Style) -> list[tuple[str, list[str]]]:
    """(title, lines) in the order they are shown; empty lists are left out by the renderers."""
    zone = ZoneInfo(digest.timezone)
    d = digest
    retries = f"{d.retries.get(Action.GRANT_RETRY, 0)} grant, {d.retries.get(Action.REVOKE_RETRY, 0)} revocation"
    last_day = [
        f"New requests: {d.created_total} ({_counts(d.created, CREATED_ORDER)})",
        f"Auto-approved: {d.auto_approved}",
        f"Ended: {_counts(d.ended, ENDED_ORDER)}",
        f"AWS steps retried: {retries}",
    ]
    human = [f"• revocation failing: {r.id} {style.user(r.requester)} on {style.node(r)} after "
             f"{r.cleanup_attempts} attempt(s), ended {when(r.ended_at, zone)}" for r in d.failing_revocations]
    human += _more([_drift_line(e, style, zone) for e in d.drift], d.drift_total)
    human += [f"• break-glass not reviewed: {r.id} {style.user(r.requester)} on {style.node(r)} at "
              f"{when(r.created_at, zone)}" for r in d.unreviewed_breakglass]
    top_people = [f"{i}. {style.user(r.key)}: {r.count}" for i, r in enumerate(d.top_requesters, 1)]
    top_nodes = [f"{i}. {style.code(r.label or r.key)}" + (f" ({r.key})" if r.label else "") + f": {r.count}"
                 for i, r in enumerate(d.top_nodes, 1)]
    return [
        ("Last 24 hours", last_day),
        (f"Rejected ({d.ended.get('rejected', 0)})",
         _more([_ended_line(r, style) for r in d.rejections], d.ended.get("rejected", 0))),
        (f"Revoked ({d.ended.get('revoked', 0)})",
         _more([_ended_line(r, style) for r in d.revocations], d.ended.get("revoked", 0))),
        (f"Grants that failed ({d.ended.get('failed', 0)})",
         _more([_ended_line(r, style) for r in d.grant_failures], d.ended.get("failed", 0))),
        (f"Active now ({d.active_total})",
         _more([_active_line(t, style, zone) for t in d.active], d.active_total) or ["none"]),
        (f"Waiting for approval ({d.pending_total})",
         _more([_pending_line(t, style) for t in d.pending], d.pending_total) or ["none"]),
        (f"Sessions opened ({d.sessions_started} on {d.session_grants} grant(s))", _session_lines(d, style)),
        ("Lockouts", _lockout_lines(d, style, zone)),
        ("Top requesters this week", top_people),
        ("Top nodes this week", top_nodes),
        ("Needs a human", human or ["nothing"]),
    ]


def title(digest: Digest) -> str:
    local = digest.generated_at.astimezone(ZoneInfo(digest.timezone))
    return f"jitbot daily digest · {local:%Y-%m-%d}"


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[: cut if cut > 0 else limit - 2] + "\n" + ELLIPSIS


def digest_blocks(digest: Digest) -> list[Block]:
    zone = ZoneInfo(digest.timezone)
    style = Style(slack=True)
    blocks: list[Block] = [
        HeaderBlock(text=title(digest)[:150]),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"{when(digest.since, zone)} → {when(digest.generated_at, zone)} · times in {digest.timezone}")]),
    ]
    tops: list[MarkdownTextObject] = []
    for heading, lines in sections(digest, style):
        if not lines:
            continue
        if heading.startswith("Top "):  # side by side, in one section
            tops.append(MarkdownTextObject(text=_clip(f"*{heading}*\n" + "\n".join(lines), FIELD_LIMIT)))
            continue
        if heading == "Needs a human":
            if tops:
                blocks.append(SectionBlock(fields=tops))
            blocks.append(DividerBlock())
            heading = (":rotating_light: " if digest.needs_human else ":white_check_mark: ") + heading
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"*{heading}*\n" + "\n".join(lines)))))
    return blocks


def digest_text(digest: Digest) -> str:
    """The notification's fallback text: one line."""
    attention = " · needs a human" if digest.needs_human else ""
    return (f"{title(digest)}: {digest.created_total} new request(s), {digest.active_total} active, "
            f"{digest.pending_total} waiting{attention}")


def plain_text(digest: Digest) -> str:
    """The digest for a terminal (``jitbot digest``)."""
    zone = ZoneInfo(digest.timezone)
    out = [title(digest), f"{when(digest.since, zone)} -> {when(digest.generated_at, zone)}"]
    for heading, lines in sections(digest, Style(slack=False)):
        if lines:
            out += ["", heading, *lines]
    return "\n".join(out) + "\n"


class DigestPoster:
    """Posts the digest to the policy file's audit channel."""

    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile]) -> None:
        self.client = client
        self.policies = policies

    def post(self, digest: Digest) -> str | None:
        """The posted message's ts; None (and a log line) when no audit channel is configured.
        Slack errors propagate: the caller (the scheduler's job, the CLI) reports them."""
        channel = self.policies().settings.audit_channel
        if not channel:
            log.warning("no [settings] audit_channel: the daily digest is not posted")
            return None
        response = self.client.chat_postMessage(channel=channel, text=digest_text(digest), unfurl_links=False,
                                                blocks=[b.to_dict() for b in digest_blocks(digest)])
        return str(response["ts"])
