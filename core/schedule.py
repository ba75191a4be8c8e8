"""Scheduled access: a request with a start (``/jit request web-1 2h at 22:00 …``) is approved ahead and granted
at its start, not before; its expiry counts from the start.

The start is read in the policy file's ``[settings] timezone`` and must lie within the deciding policy's
``max_start_ahead`` (no such key: scheduling is refused). It is kept on the request (``starts_at``), so the
database says when to grant: the grant claim (``Repository.claim_grant``) and the sweep's ``due_work`` leave a
scheduled request alone until then, across restarts. At the start the policy is read again
(``refusal_at_start``): one that was removed, or that now allows less than was approved, fails the request.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.continuous import granting_policy
from core.durations import format_duration
from core.errors import InvalidInput, NotAllowed
from core.i18n import T
from core.model import AccessRequest
from core.policy.file import PolicyFile
from core.policy.schema import AutoApprovalPolicy, ManualApprovalPolicy

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
FORMATS = T("`22:00` (today, or tomorrow once passed) or `2026-12-07 09:30`")


def _time(text: str) -> time:
    match = _TIME.match(text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InvalidInput(T("'{text}' is not a time of day: give {formats}.", text=text[:40],
                             formats=FORMATS)).at("start")
    return time(int(match.group(1)), int(match.group(2)))


def parse_start(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The moment ``text`` names, in UTC: ``HH:MM`` (the next such moment in ``zone``: today, or tomorrow once
    it has passed) or ``YYYY-MM-DD HH:MM`` in ``zone``."""
    words = text.split()
    if len(words) == 1 and not _DATE.match(words[0]):
        local = now.astimezone(zone)
        at = _time(words[0])
        start = datetime.combine(local.date(), at, tzinfo=zone)
        if start <= local:
            start = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
        return start.astimezone(UTC)
    match = _DATE.match(words[0]) if len(words) == 2 else None
    if match is None:
        raise InvalidInput(T("'{text}' is not a start time: give {formats}.", text=text[:40],
                             formats=FORMATS)).at("start")
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise InvalidInput(T("'{text}' is not a date: give {formats}.", text=words[0],
                             formats=FORMATS)).at("start") from None
    return datetime.combine(day, _time(words[1]), tzinfo=zone).astimezone(UTC)


def check_start(policy: AutoApprovalPolicy | ManualApprovalPolicy, start: datetime, now: datetime,
                zone: ZoneInfo) -> datetime:
    """``start`` if the policy lets access be scheduled then: in the future, within ``max_start_ahead``."""
    ahead = policy.max_start_ahead
    if ahead is None:
        raise NotAllowed(T("Policy '{policy}' does not allow scheduled access (it sets no max_start_ahead): ask "
                           "without `at …` when you need the access.", policy=policy.name)).at("start")
    shown = shown_at(start, zone)
    if start <= now:
        raise InvalidInput(T("The start ({start}) has already passed; give a time in the future.",
                             start=shown)).at("start")
    if start - now > ahead:
        raise InvalidInput(T("The start ({start}) is more than {ahead} ahead, the most policy '{policy}' allows "
                             "(max_start_ahead).", start=shown, ahead=ahead, policy=policy.name)).at("start")
    return start


def shown_at(moment: datetime, zone: ZoneInfo) -> str:
    """``2026-12-07 09:30 Europe/Paris``: a start as people read it, in the policy file's timezone."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def refusal_at_start(policies: PolicyFile, request: AccessRequest) -> str | None:
    """Why a scheduled request may not be granted at its start under the policy file in force now, or None: its
    policy was removed, or now allows less than was approved."""
    policy = granting_policy(policies, request.policy)
    if policy is None:
        return f"policy '{request.policy}' is no longer in the policy file, so the scheduled access was not granted"
    if request.duration > policy.max_duration:
        return (f"policy '{policy.name}' now allows at most {format_duration(policy.max_duration)}, less than the "
                f"{format_duration(request.duration)} approved, so the scheduled access was not granted")
    if len(request.nodes) > policy.max_nodes:
        return (f"policy '{policy.name}' now allows at most {policy.max_nodes} node(s) in one request, fewer than the "
                f"{len(request.nodes)} approved, so the scheduled access was not granted")
    return None


def expiry(request: AccessRequest, now: datetime) -> datetime:
    """When the grant ends: the duration counted from the start for scheduled access, else from ``now``."""
    return (request.starts_at or now) + request.duration
