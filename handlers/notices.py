"""What each lifecycle notice says, and to whom: the requester (a DM, in their language), the request's threads
and the audit line (in the channel language, ``[settings] channel_language``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.durations import DurationError, parse_duration
from core.i18n import N_, Tr
from core.model import Event, Notice
from core.reconcile import OUTSIDE
from handlers.connect import SsoPortal, instructions
from handlers.sessions_text import sessions_text
from handlers.text import escape, fallback, left, nodes_text, principal, user

#: actors that are not Slack users
ACTORS = {"jitbot": "jitbot", OUTSIDE: N_("someone outside jitbot")}
#: how a request was decided, as the audit line says it (``core.model.Kind``)
KINDS = {"auto": N_("auto"), "manual": N_("manual"), "breakglass": N_("breakglass")}


@dataclass(frozen=True)
class Rendered:
    dm: str | None
    thread: str | None
    audit: str | None


def render(event: Event, zone: ZoneInfo, dm_tr: Tr, channel_tr: Tr, now: datetime | None = None,
           sso: SsoPortal | None = None, documents: Sequence[str] = ()) -> Rendered:
    """The notice's DM in the requester's language (``dm_tr``), its thread reply and audit line in the channel
    language (``channel_tr``); None for a part the notice does not have."""
    thread, audit = _channel(event, zone, now, channel_tr)
    return Rendered(_dm(event, zone, now, sso, documents, dm_tr), thread, audit)


def _values(event: Event, zone: ZoneInfo, now: datetime | None, tr: Tr) -> dict[str, object]:
    """What the messages of a notice fill in, in ``tr``'s language."""
    r = event.request
    node = nodes_text(r.nodes, 300)
    actor = ACTORS.get(event.actor or "")
    level = event.level or 0
    return {
        "id": r.id, "node": node, "user": user(r.requester), "head": f"*{r.id}* · {user(r.requester)} · {node}",
        "by": tr(actor) if actor else user(event.actor), "why": f": {escape(event.reason)}" if event.reason else "",
        "until": tr.when(r.expires_at, zone), "duration": r.duration, "reason": escape(r.reason),
        "sessions": tr.plural(" {count} session terminated.", " {count} sessions terminated.", event.sessions)
        if event.sessions else "",
        "remaining": f" ({left(r.expires_at, now, tr)})" if now is not None else "",
        "level": level + 1, "next": level + 2,
    }


def _asked(event: Event) -> timedelta | str:
    """The duration a shortened request asked for (the notice's reason), as a duration when it reads as one."""
    try:
        return parse_duration(event.reason or "")
    except DurationError:
        return escape(event.reason)


def _escalation(event: Event, tr: Tr) -> dict[str, object]:
    r, level = event.request, event.level or 0
    spec = r.levels[level]
    return {"name": escape(spec.name), "who": fallback(spec.escalate_to, r.requester, tr),
            "after": spec.escalate_after if spec.escalate_after else tr("a while"),
            "where": tr(" in <#{channel}>", channel=spec.escalate_channel) if spec.escalate_channel else ""}


def _dm(event: Event, zone: ZoneInfo, now: datetime | None, sso: SsoPortal | None, documents: Sequence[str],
        tr: Tr) -> str | None:
    """What the requester (or the person locked out or unlocked) reads."""
    r, n, v = event.request, event.notice, _values(event, zone, now, tr)
    if n is Notice.SUBMITTED:
        first = r.levels[0]
        return tr("Your request *{id}* for {node} ({duration}) is waiting for level 1 ('{name}') in <#{channel}>.",
                  **v, name=escape(first.name), channel=first.channel)
    if n is Notice.LEVEL_APPROVED:
        nxt = r.levels[(event.level or 0) + 1]
        return tr("Level {level} approved your request *{id}*; now waiting for '{name}' in <#{channel}>.",
                  **v, name=escape(nxt.name), channel=nxt.channel)
    if n is Notice.GRANTED:
        return (tr(":unlock: Access granted: *{id}* on {node} until *{until}*.", **v) + "\n"
                + instructions(tr, r, sso, documents))
    if n is Notice.REJECTED:
        return tr(":x: {by} rejected your request *{id}* for {node}{why}", **v)
    if n is Notice.CANCELLED and event.reason:  # ended with the access it extends (core.chains)
        return tr(":no_entry_sign: Your request *{id}* for {node} was cancelled{why}", **v)
    if n is Notice.CANCELLED:
        return tr("You cancelled request *{id}*.", **v)
    if n is Notice.TIMED_OUT:
        return tr(":alarm_clock: Your request *{id}* for {node} timed out without a decision.", **v)
    if n is Notice.FAILED:
        return tr(":warning: Access for *{id}* could not be granted{why}", **v)
    if n is Notice.WARNING:
        return tr(":hourglass_flowing_sand: Your access *{id}* to {node} ends at *{until}*{remaining}. Need more "
                  "time? *Extend…* below, or `/jit extend {id} &lt;duration&gt; &lt;reason&gt;`", **v)
    if n is Notice.REVOKED and r.granted_at is None:  # a revoker ended it before any access was granted
        return tr(":no_entry_sign: Your request *{id}* for {node} was revoked by {by}{why}", **v)
    if n is Notice.LOCKED_OUT:  # r stands for the person locked out (no request behind it)
        return tr(":no_entry: {by} locked you out of jitbot{why}. Your access and requests have ended, and new "
                  "requests are refused until a revoker unlocks you.", **v)
    if n is Notice.UNLOCKED:
        return tr(":unlock: {by} unlocked you: you may request access again{why}.", **v)
    if n is Notice.EXPIRED:
        return tr(":lock: Your access *{id}* to {node} expired.{sessions}", **v)
    if n is Notice.REVOKED:
        return tr(":lock: Your access *{id}* to {node} was revoked by {by}{why}.{sessions}", **v)
    if n is Notice.RELEASED:
        return tr(":lock: Your access *{id}* to {node} was released by the requester.{sessions}", **v)
    if n is Notice.ESCALATED:
        return tr(":rotating_light: Nobody decided level {level} ('{name}') of your request *{id}* within {after}: "
                  "its fallback approvers have been asked too{where}.", **v, **_escalation(event, tr))
    if n is Notice.SHORTENED:
        return tr(":scissors: {by} approved your request *{id}* for *{duration}*, less than the {asked} you asked "
                  "for: your access lasts {duration}.", **v, asked=_asked(event))
    return None


def _channel(event: Event, zone: ZoneInfo, now: datetime | None, tr: Tr) -> tuple[str | None, str | None]:
    """The reply in the threads of the request's approval messages, and the audit channel's line."""
    r, n, v = event.request, event.notice, _values(event, zone, now, tr)
    if n is Notice.SUBMITTED:
        return None, tr("{head} · requested {duration}: {reason}", **v)
    if n is Notice.LEVEL_APPROVED:
        nxt = r.levels[(event.level or 0) + 1]
        return (tr("Level {level} approved; passed on to level {next} in <#{channel}>.", **v, channel=nxt.channel),
                tr("{head} · level {level} approved by {by}", **v))
    if n is Notice.GRANTED:
        kind = KINDS.get(r.kind.value)
        return (tr(":unlock: Access granted until {until}.", **v),
                tr("{head} · granted ({kind}) until {until}", **v, kind=tr(kind) if kind else r.kind.value))
    if n is Notice.REJECTED:
        return tr(":x: Rejected by {by}{why}", **v), tr("{head} · rejected by {by}{why}", **v)
    if n is Notice.CANCELLED and event.reason:
        return tr(":no_entry_sign: Cancelled{why}", **v), tr("{head} · cancelled by {by}{why}", **v)
    if n is Notice.CANCELLED:
        return tr("Cancelled by the requester.", **v), tr("{head} · cancelled by the requester", **v)
    if n is Notice.TIMED_OUT:
        return tr(":alarm_clock: Timed out without a decision.", **v), tr("{head} · timed out", **v)
    if n is Notice.FAILED:
        return tr(":warning: The grant failed{why}", **v), tr("{head} · grant FAILED{why}", **v)
    if n is Notice.WARNING:
        return tr("Access ends at {until}{remaining}.", **v), None
    if n is Notice.REVOKED and r.granted_at is None:
        return (tr(":no_entry_sign: Revoked by {by}{why}", **v),
                tr("{head} · revoked by {by} before any access{why}", **v))
    if n is Notice.LOCKED_OUT:
        return None, tr(":no_entry: {user} locked out by {by}{why}. Their live requests and grants are ended; new "
                        "ones are refused until `/jit unlock`.", **v)
    if n is Notice.UNLOCKED:
        return None, tr(":unlock: {user} unlocked by {by}{why}", **v)
    if n in (Notice.EXPIRED, Notice.REVOKED, Notice.RELEASED):
        return _ended(event, zone, tr, v)
    if n is Notice.REVOKE_FAILING:
        return None, tr(":rotating_light: {head} · revocation is failing and being retried{why}", **v)
    if n is Notice.REMINDER:
        who = tr.join([principal(a) for a in r.levels[event.level or 0].approvers])
        return tr(":bell: Reminder: {who}, request *{id}* is still waiting for your decision.", **v, who=who), None
    if n is Notice.ESCALATED and r.levels[event.level or 0].escalate_channel:  # mentioned there, not again here
        e = _escalation(event, tr)
        return (tr(":rotating_light: Escalated after {after}: its fallback approvers were asked{where}.", **v, **e),
                tr("{head} · level {level} escalated after {after} to {who}", **v, **e))
    if n is Notice.ESCALATED:
        e = _escalation(event, tr)
        return (tr(":rotating_light: Escalated after {after}{where}: {who}, request *{id}* is waiting; you can "
                   "approve or reject it too.", **v, **e),
                tr("{head} · level {level} escalated after {after} to {who}", **v, **e))
    if n is Notice.SHORTENED:  # reason: the duration asked
        asked = _asked(event)
        return (tr(":scissors: Approved for {duration} (asked: {asked}), as {by} chose.", **v, asked=asked),
                tr("{head} · approved for {duration} instead of {asked}, as {by} chose", **v, asked=asked))
    return _checks(event, tr, v)


def _ended(event: Event, zone: ZoneInfo, tr: Tr, v: dict[str, object]) -> tuple[str, str]:
    """An access that ended: expired, revoked or released; the audit line lists its sessions."""
    r, n = event.request, event.notice
    record = "\n" + sessions_text(event.records, zone, tr) if r.granted_at is not None else ""
    if n is Notice.EXPIRED:
        return (tr(":lock: Access expired.{sessions}", **v),
                tr("{head} · access expired.{sessions}", **v) + record)
    if n is Notice.REVOKED:
        return (tr(":lock: Access was revoked by {by}{why}.{sessions}", **v),
                tr("{head} · access was revoked by {by}{why}.{sessions}", **v) + record)
    return (tr(":lock: Access was released by the requester.{sessions}", **v),
            tr("{head} · access was released by the requester.{sessions}", **v) + record)


def _checks(event: Event, tr: Tr, v: dict[str, object]) -> tuple[str | None, str | None]:
    """What refusals and jitbot's own checks leave in the audit channel (and a request's threads)."""
    r, n = event.request, event.notice
    if n is Notice.DENIED:
        return None, tr(":no_entry: {user} · {node} · refused{why}", **v)
    if n is Notice.DRIFT_REMOVED:  # r may stand for an unknown request: only its id and principal are real
        whose = f" · {user(r.requester)} · {v['node']}" if r.requester else ""
        return None, tr(":broom: Reconciliation removed `jitbot-{request}` from `{principal}`{whose}{why}",
                        **v, request=escape(r.id), principal=escape(r.principal_arn), whose=whose)
    if n is Notice.GRANT_REAPPLIED:
        principal_arn = escape(r.principal_arn)
        return (tr(":wrench: Access check: its IAM policy was missing from `{principal}` and was re-applied until "
                   "{until}.", **v, principal=principal_arn),
                tr(":wrench: {head} · its IAM policy was missing from `{principal}` and was re-applied until {until}",
                   **v, principal=principal_arn))
    return None, tr("{head} · {notice}", **v, notice=n.value)
