"""The daily digest: the last 24 hours, what is live right now, the week's busiest, what needs a human.

A pure builder over the ``Reports`` port: the store aggregates with indexed queries, this module only
arranges the figures into a ``Digest`` that handlers render (Block Kit) and the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from core.audit import Action
from core.context import Context
from core.model import AccessRequest, AuditEvent, Kind, Lockout, State
from core.policy.schema import PolicySettings
from core.reports import Reports

WINDOW = timedelta(hours=24)
WEEK = timedelta(days=7)
#: at most this many lines per list (rejections, revocations, …); the totals stay exact
LIST_LIMIT = 10
#: at most this many active grants and pending requests listed
LIVE_LIMIT = 25
TOP_N = 5

RETRY_ACTIONS = (Action.GRANT_RETRY, Action.REVOKE_RETRY)
#: what core.reconcile records when it deletes a ``jitbot-*`` policy that no live request explains
DRIFT_ACTIONS = (Action.DRIFT_REMOVED,)
#: a revoker locked someone out, or let them back in (core.lockout)
LOCKOUT_ACTIONS = (Action.LOCKOUT, Action.UNLOCK)


@dataclass(frozen=True)
class Timed:
    """A live request and a span: the time left (active) or the time waited so far (pending)."""

    request: AccessRequest
    span: timedelta


@dataclass(frozen=True)
class Ranked:
    key: str
    label: str | None
    count: int


@dataclass(frozen=True)
class Digest:
    generated_at: datetime
    timezone: str
    since: datetime
    week_since: datetime
    #: requests created in the last 24 h, by their state now (every state present)
    created: Mapping[str, int]
    auto_approved: int
    #: requests that ended in the last 24 h, by final state (every state present)
    ended: Mapping[str, int]
    rejections: tuple[AccessRequest, ...]
    revocations: tuple[AccessRequest, ...]
    grant_failures: tuple[AccessRequest, ...]
    #: AWS steps retried in the last 24 h (``grant_retry``, ``revoke_retry``)
    retries: Mapping[str, int]
    active: tuple[Timed, ...]
    active_total: int
    pending: tuple[Timed, ...]
    pending_total: int
    top_requesters: tuple[Ranked, ...]
    top_nodes: tuple[Ranked, ...]
    failing_revocations: tuple[AccessRequest, ...]
    drift: tuple[AuditEvent, ...]
    drift_total: int
    unreviewed_breakglass: tuple[AccessRequest, ...]
    #: lockouts and unlocks in the last 24 h, the latest first; and who is locked out now, the earliest first
    lockout_events: tuple[AuditEvent, ...] = ()
    locked_out: tuple[Lockout, ...] = ()
    #: SSM sessions that started in the last 24 h, and the grants they belong to (core.sessions)
    sessions_started: int = 0
    session_grants: int = 0
    #: grants that ended in the last 24 h (expired, revoked), the latest first, for their sessions
    ended_grants: tuple[AccessRequest, ...] = ()
    #: sessions recorded per grant listed (ended in the last 24 h, active now)
    session_counts: Mapping[str, int] = field(default_factory=dict)
    #: scheduled access approved ahead, the soonest start first (span: the time until it starts), and how many
    scheduled: tuple[Timed, ...] = ()
    scheduled_total: int = 0

    @property
    def created_total(self) -> int:
        return sum(self.created.values())

    @property
    def needs_human(self) -> bool:
        return bool(self.failing_revocations or self.drift_total or self.unreviewed_breakglass)


def build_digest(reports: Reports, now: datetime, timezone: str = "UTC") -> Digest:
    """The digest of the 24 hours before ``now`` (and of the 7 days before it for the tops)."""
    since, week = now - WINDOW, now - WEEK
    counts = reports.action_counts([Action.AUTO_APPROVED, *RETRY_ACTIONS, *DRIFT_ACTIONS], since, now)
    active = reports.live(State.ACTIVE, limit=LIVE_LIMIT)
    pending = reports.live(State.PENDING, limit=LIVE_LIMIT)
    digest = _digest(reports, now, timezone, since, week, counts, active, pending)
    ended_grants = tuple(r for r in reports.ended(since, now, [State.EXPIRED, State.REVOKED], limit=LIST_LIMIT)
                         if r.granted_at is not None)
    started, grants = reports.sessions_started(since, now)
    listed = [r.id for r in ended_grants] + [r.id for r in active]
    scheduled, scheduled_total = _scheduled(reports, now)
    return replace(digest, sessions_started=started, session_grants=grants, ended_grants=ended_grants,
                   session_counts=dict(reports.session_counts(listed)), scheduled=scheduled,
                   scheduled_total=scheduled_total)


def _scheduled(reports: Reports, now: datetime) -> tuple[tuple[Timed, ...], int]:
    """Approved requests whose start is still to come (``core.schedule``), the soonest first, and how many there
    are. An approved request without a start is being granted this very moment: not scheduled."""
    approved = reports.live(State.APPROVED, limit=LIVE_LIMIT)
    ahead = sorted((Timed(r, r.starts_at - now) for r in approved if r.starts_at is not None and r.starts_at > now),
                   key=lambda t: (t.span, t.request.id))
    total = len(ahead) if len(approved) < LIVE_LIMIT else max(len(ahead), reports.count_live(State.APPROVED))
    return tuple(ahead), total


def _digest(reports: Reports, now: datetime, timezone: str, since: datetime, week: datetime,
            counts: Mapping[str, int], active: list[AccessRequest], pending: list[AccessRequest]) -> Digest:
    return Digest(
        generated_at=now,
        timezone=timezone,
        since=since,
        week_since=week,
        created=dict(reports.created_by_state(since, now)),
        auto_approved=counts[Action.AUTO_APPROVED],
        ended=dict(reports.ended_by_state(since, now)),
        rejections=tuple(reports.ended(since, now, [State.REJECTED], limit=LIST_LIMIT)),
        revocations=tuple(reports.ended(since, now, [State.REVOKED], limit=LIST_LIMIT)),
        grant_failures=tuple(reports.ended(since, now, [State.FAILED], limit=LIST_LIMIT)),
        retries={action: counts[action] for action in RETRY_ACTIONS},
        active=tuple(sorted((Timed(r, max((r.expires_at or now) - now, timedelta(0))) for r in active),
                            key=lambda t: (t.span, t.request.id))),
        active_total=reports.count_live(State.ACTIVE),
        pending=tuple(sorted((Timed(r, now - r.created_at) for r in pending),
                             key=lambda t: (-t.span, t.request.id))),
        pending_total=reports.count_live(State.PENDING),
        top_requesters=tuple(Ranked(who, None, n) for who, n in reports.top_requesters(week, now, TOP_N)),
        top_nodes=tuple(Ranked(node, name, n) for node, name, n in reports.top_nodes(week, now, TOP_N)),
        failing_revocations=tuple(reports.failing_cleanups(limit=LIST_LIMIT)),
        drift=tuple(reports.events(DRIFT_ACTIONS, since, now, limit=LIST_LIMIT)),
        drift_total=sum(counts[action] for action in DRIFT_ACTIONS),
        # a break-glass use stays in every digest until it is reviewed
        unreviewed_breakglass=tuple(reports.unreviewed(Kind.BREAKGLASS, Action.BREAKGLASS_REVIEWED,
                                                       limit=LIST_LIMIT)),
        lockout_events=tuple(reports.events(LOCKOUT_ACTIONS, since, now, limit=LIST_LIMIT)),
        locked_out=tuple(reports.lockouts(limit=LIST_LIMIT)),
    )


def daily_digest(ctx: Context) -> Digest:
    """The digest as of now, in the policy file's time zone."""
    if ctx.reports is None:
        raise RuntimeError("no Reports adapter in the Context: the digest needs the store")
    return build_digest(ctx.reports, ctx.clock.now(), ctx.policies().settings.timezone)


#: a digest missed while jitbot was down is posted late only if one was posted within this long before
#: (a first start after ``digest_time`` posts nothing: nobody missed a digest that never existed)
CATCH_UP_AFTER = timedelta(days=7)


def last_slot(settings: PolicySettings, now: datetime) -> datetime | None:
    """The latest moment at or before ``now`` when the daily digest fell due (``digest_time`` in the policy
    file's time zone); None when the digest is off."""
    if settings.digest_time is None:
        return None
    local = now.astimezone(settings.zone)
    slot = datetime.combine(local.date(), settings.digest_time, tzinfo=settings.zone)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), settings.digest_time, tzinfo=settings.zone)
    return slot.astimezone(UTC)


def unposted_slot(ctx: Context, *, catching_up: bool) -> datetime | None:
    """The latest slot whose digest is not posted yet, or None. ``catching_up`` (at start): only when a digest
    was posted in the ``CATCH_UP_AFTER`` before it, i.e. jitbot was down when it fell due."""
    if ctx.reports is None:
        return None
    now = ctx.clock.now()
    slot = last_slot(ctx.policies().settings, now)
    if slot is None or ctx.reports.events((Action.DIGEST_POSTED,), slot, now + timedelta(microseconds=1), limit=1):
        return None
    if catching_up and not ctx.reports.events((Action.DIGEST_POSTED,), slot - CATCH_UP_AFTER, slot, limit=1):
        return None
    return slot
