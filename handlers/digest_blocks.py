"""The daily digest on Slack (Block Kit, posted to the audit channel) and as plain text (``jitbot digest``).

Both renderings come from the same sections, so what the CLI prints is what the channel reads: in the language
of channel messages (``[settings] channel_language``), given as ``tr``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from core.audit import Action
from core.digest import Digest, Timed
from core.i18n import N_, Catalogs, Tr
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
#: "2 expired": how many requests are in each state
COUNTED = {
    State.PENDING: N_("{count} pending"), State.APPROVED: N_("{count} approved"), State.ACTIVE: N_("{count} active"),
    State.EXPIRED: N_("{count} expired"), State.REVOKED: N_("{count} revoked"), State.REJECTED: N_("{count} rejected"),
    State.CANCELLED: N_("{count} cancelled"), State.TIMED_OUT: N_("{count} timed out"),
    State.FAILED: N_("{count} failed"),
}
#: a grant's state in the sessions section
STATES = {State.EXPIRED: N_("expired"), State.REVOKED: N_("revoked"), State.FAILED: N_("failed"),
          State.ACTIVE: N_("active")}


class Kind(Enum):
    """Where a section goes on Slack: one of its own, side by side with the other tops, or the last one."""

    PLAIN = "plain"
    TOP = "top"
    HUMAN = "human"


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]
    kind: Kind = Kind.PLAIN


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


def span(value: timedelta) -> timedelta:
    """To the minute beyond an hour (``1h 20m``), else as it is (``45m``, ``30s``)."""
    if value >= timedelta(hours=1):
        value = timedelta(minutes=value // timedelta(minutes=1))
    return value


def _counts(tr: Tr, counts: Mapping[str, int], order: tuple[State, ...]) -> str:
    parts = [tr(COUNTED[s], count=counts[s.value]) for s in order if counts.get(s.value)]
    return ", ".join(parts) or tr("none")


def _ended_line(tr: Tr, r: AccessRequest, style: Style) -> str:
    who, node = style.user(r.requester), style.node(r)
    by = style.user(r.ended_by) if r.ended_by and r.ended_by not in ("jitbot", OUTSIDE) else None
    line = (tr("• {id} {who} on {node} by {by}", id=r.id, who=who, node=node, by=by) if by
            else tr("• {id} {who} on {node}", id=r.id, who=who, node=node))
    return line + (f": {style.text(r.end_reason)}" if r.end_reason else "")


def _active_line(tr: Tr, t: Timed, style: Style, zone: ZoneInfo) -> str:
    r = t.request
    return tr("• {id} {who} on {node} · {left} left (until {until})", id=r.id, who=style.user(r.requester),
              node=style.node(r), left=span(t.span), until=when(r.expires_at, zone, tr))


def _scheduled_line(tr: Tr, t: Timed, style: Style, zone: ZoneInfo) -> str:
    r = t.request
    return tr("• {id} {who} on {node} · starts in {wait} ({start}), for {duration}", id=r.id,
              who=style.user(r.requester), node=style.node(r), wait=span(t.span), start=when(r.starts_at, zone, tr),
              duration=r.duration)


def _pending_line(tr: Tr, t: Timed, style: Style) -> str:
    r = t.request
    level = r.level
    line = tr("• {id} {who} on {node} · waiting {waited}", id=r.id, who=style.user(r.requester), node=style.node(r),
              waited=span(t.span))
    if level:
        line += tr(" · level {level}/{levels} ({name})", level=r.current_level + 1, levels=len(r.levels),
                   name=style.text(level.name, 80))
    return line


def _drift_line(tr: Tr, e: AuditEvent, style: Style, zone: ZoneInfo) -> str:
    policy, principal = str(e.detail.get("policy", "?")), str(e.detail.get("principal", "?"))
    why = f": {style.text(str(e.detail['why']))}" if e.detail.get("why") else ""
    return tr("• drift removed at {at}: {policy} from {principal}", at=when(e.at, zone, tr),
              policy=style.code(policy), principal=style.code(principal)) + why


def _lockout_lines(tr: Tr, digest: Digest, style: Style, zone: ZoneInfo) -> list[str]:
    """The day's lockouts and unlocks, then who is locked out now (until unlocked, in every digest)."""
    lines = []
    for e in digest.lockout_events:
        who, by, at = style.user(str(e.detail.get("user") or "?")), style.user(e.actor), when(e.at, zone, tr)
        line = (tr("• {who} locked out by {by} at {at}", who=who, by=by, at=at) if e.action == Action.LOCKOUT
                else tr("• {who} unlocked by {by} at {at}", who=who, by=by, at=at))
        lines.append(line + (f": {style.text(str(e.detail['reason']))}" if e.detail.get("reason") else ""))
    lines += [tr("• still locked out: {who} since {at} (by {by}): {reason}", who=style.user(held.user_id),
                 at=when(held.at, zone, tr), by=style.user(held.by), reason=style.text(held.reason))
              for held in digest.locked_out]
    return lines


def _session_lines(tr: Tr, digest: Digest, style: Style) -> list[str]:
    """Sessions per grant: those that ended in the last 24 hours, then those active now."""
    counts = digest.session_counts
    return [tr.plural("• {id} {who} on {node} ({state}): {count} session", "• {id} {who} on {node} ({state}): "
                      "{count} sessions", counts.get(r.id, 0), id=r.id, who=style.user(r.requester),
                      node=style.node(r), state=tr(STATES[r.state]) if r.state in STATES else r.state.value)
            for r in [*digest.ended_grants, *(t.request for t in digest.active)]]


def _more(tr: Tr, lines: list[str], total: int) -> list[str]:
    return lines + ([tr("… and {count} more", count=total - len(lines))] if total > len(lines) else [])


def _failing_line(tr: Tr, r: AccessRequest, style: Style, zone: ZoneInfo) -> str:
    at = when(r.ended_at, zone, tr)  # apart: a nested tr hides the plural from Babel
    return tr.plural("• revocation failing: {id} {who} on {node} after {count} attempt, ended {at}",
                     "• revocation failing: {id} {who} on {node} after {count} attempts, ended {at}",
                     r.cleanup_attempts, id=r.id, who=style.user(r.requester), node=style.node(r), at=at)


def _human(tr: Tr, d: Digest, style: Style, zone: ZoneInfo) -> list[str]:
    human = [_failing_line(tr, r, style, zone) for r in d.failing_revocations]
    human += _more(tr, [_drift_line(tr, e, style, zone) for e in d.drift], d.drift_total)
    human += [tr("• break-glass not reviewed: {id} {who} on {node} at {at}", id=r.id, who=style.user(r.requester),
                 node=style.node(r), at=when(r.created_at, zone, tr)) for r in d.unreviewed_breakglass]
    return human or [tr("nothing")]


def sections(tr: Tr, digest: Digest, style: Style) -> list[Section]:
    """The sections in the order they are shown; those without lines are left out by the renderers."""
    zone = ZoneInfo(digest.timezone)
    d = digest
    last_day = [
        tr("New requests: {total} ({counts})", total=d.created_total, counts=_counts(tr, d.created, CREATED_ORDER)),
        tr("Auto-approved: {count}", count=d.auto_approved),
        tr("Ended: {counts}", counts=_counts(tr, d.ended, ENDED_ORDER)),
        tr("AWS steps retried: {grants} grant, {revocations} revocation", grants=d.retries.get(Action.GRANT_RETRY, 0),
           revocations=d.retries.get(Action.REVOKE_RETRY, 0)),
    ]
    top_people = [f"{i}. {style.user(r.key)}: {tr.number(r.count)}" for i, r in enumerate(d.top_requesters, 1)]
    top_nodes = [f"{i}. {style.code(r.label or r.key)}" + (f" ({r.key})" if r.label else "")
                 + f": {tr.number(r.count)}" for i, r in enumerate(d.top_nodes, 1)]
    ended = d.ended.get
    return [
        Section(tr("Last 24 hours"), last_day),
        Section(tr("Rejected ({count})", count=ended("rejected", 0)),
                _more(tr, [_ended_line(tr, r, style) for r in d.rejections], ended("rejected", 0))),
        Section(tr("Revoked ({count})", count=ended("revoked", 0)),
                _more(tr, [_ended_line(tr, r, style) for r in d.revocations], ended("revoked", 0))),
        Section(tr("Grants that failed ({count})", count=ended("failed", 0)),
                _more(tr, [_ended_line(tr, r, style) for r in d.grant_failures], ended("failed", 0))),
        Section(tr("Active now ({count})", count=d.active_total),
                _more(tr, [_active_line(tr, t, style, zone) for t in d.active], d.active_total) or [tr("none")]),
        Section(tr("Waiting for approval ({count})", count=d.pending_total),
                _more(tr, [_pending_line(tr, t, style) for t in d.pending], d.pending_total) or [tr("none")]),
        Section(tr("Scheduled ({count})", count=d.scheduled_total),
                _more(tr, [_scheduled_line(tr, t, style, zone) for t in d.scheduled], d.scheduled_total)),
        Section(tr.plural("Sessions opened ({sessions} on {count} grant)", "Sessions opened ({sessions} on {count} "
                          "grants)", d.session_grants, sessions=d.sessions_started), _session_lines(tr, d, style)),
        Section(tr("Lockouts"), _lockout_lines(tr, d, style, zone)),
        Section(tr("Top requesters this week"), top_people, Kind.TOP),
        Section(tr("Top nodes this week"), top_nodes, Kind.TOP),
        Section(tr("Needs a human"), _human(tr, d, style, zone), Kind.HUMAN),
    ]


def title(tr: Tr, digest: Digest) -> str:
    local = digest.generated_at.astimezone(ZoneInfo(digest.timezone))
    return tr("jitbot daily digest · {date}", date=local.strftime("%Y-%m-%d"))


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[: cut if cut > 0 else limit - 2] + "\n" + ELLIPSIS


def digest_blocks(tr: Tr, digest: Digest) -> list[Block]:
    zone = ZoneInfo(digest.timezone)
    style = Style(slack=True)
    blocks: list[Block] = [
        HeaderBlock(text=title(tr, digest)[:150]),
        ContextBlock(elements=[MarkdownTextObject(text=tr(
            "{since} → {until} · times in {zone}", since=when(digest.since, zone, tr),
            until=when(digest.generated_at, zone, tr), zone=digest.timezone))]),
    ]
    tops: list[MarkdownTextObject] = []
    for section in sections(tr, digest, style):
        if not section.lines:
            continue
        heading, body = section.title, "\n".join(section.lines)
        if section.kind is Kind.TOP:  # side by side, in one section
            tops.append(MarkdownTextObject(text=_clip(f"*{heading}*\n{body}", FIELD_LIMIT)))
            continue
        if section.kind is Kind.HUMAN:
            if tops:
                blocks.append(SectionBlock(fields=tops))
            blocks.append(DividerBlock())
            heading = (":rotating_light: " if digest.needs_human else ":white_check_mark: ") + heading
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"*{heading}*\n{body}"))))
    return blocks


def digest_text(tr: Tr, digest: Digest) -> str:
    """The notification's fallback text: one line."""
    counts = dict(title=title(tr, digest), active=digest.active_total, waiting=digest.pending_total)
    if digest.needs_human:
        return tr.plural("{title}: {count} new request, {active} active, {waiting} waiting · needs a human",
                         "{title}: {count} new requests, {active} active, {waiting} waiting · needs a human",
                         digest.created_total, **counts)
    return tr.plural("{title}: {count} new request, {active} active, {waiting} waiting",
                     "{title}: {count} new requests, {active} active, {waiting} waiting", digest.created_total,
                     **counts)


def plain_text(tr: Tr, digest: Digest) -> str:
    """The digest for a terminal (``jitbot digest``)."""
    zone = ZoneInfo(digest.timezone)
    out = [title(tr, digest), f"{when(digest.since, zone, tr)} -> {when(digest.generated_at, zone, tr)}"]
    for section in sections(tr, digest, Style(slack=False)):
        if section.lines:
            out += ["", section.title, *section.lines]
    return "\n".join(out) + "\n"


class DigestPoster:
    """Posts the digest to the policy file's audit channel, in the language of channel messages."""

    def __init__(self, client: WebClient, policies: Callable[[], PolicyFile], catalogs: Catalogs | None = None) -> None:
        self.client = client
        self.policies = policies
        self.catalogs = catalogs or Catalogs()

    def post(self, digest: Digest) -> str | None:
        """The posted message's ts; None (and a log line) when no audit channel is configured.
        Slack errors propagate: the caller (the scheduler's job, the CLI) reports them."""
        settings = self.policies().settings
        if not settings.audit_channel:
            log.warning("no [settings] audit_channel: the daily digest is not posted")
            return None
        tr = self.catalogs.get(settings.channel_lang)
        response = self.client.chat_postMessage(channel=settings.audit_channel, text=digest_text(tr, digest),
                                                unfurl_links=False,
                                                blocks=[b.to_dict() for b in digest_blocks(tr, digest)])
        return str(response["ts"])
