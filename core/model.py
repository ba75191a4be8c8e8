"""Domain objects: nodes, access requests, approvals, audit events, and the lifecycle's states."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any

from core.i18n import T, Text


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def words(self) -> Text:
        """The state as a message says it ("timed out"), in the reader's language."""
        return _STATE_WORDS[self]


_STATE_WORDS: Mapping[State, Text] = {
    State.PENDING: T("pending"), State.APPROVED: T("approved"), State.ACTIVE: T("active"),
    State.EXPIRED: T("expired"), State.REVOKED: T("revoked"), State.REJECTED: T("rejected"),
    State.CANCELLED: T("cancelled"), State.TIMED_OUT: T("timed out"), State.FAILED: T("failed"),
}

FINAL_STATES = frozenset(
    {State.EXPIRED, State.REVOKED, State.REJECTED, State.CANCELLED, State.TIMED_OUT, State.FAILED}
)

#: The states a request is live in (not final), in the order of the lifecycle: so ``LIVE_STATES.index`` ranks
#: them (active access says most, then approved, then pending).
LIVE_STATES: tuple[State, ...] = (State.PENDING, State.APPROVED, State.ACTIVE)

#: Every transition the lifecycle allows (docs/architecture.md). Anything else is a programming error.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    # revoked before access: a revoker ended the request (``core.revokers``); neither its approvers' decision
    # (rejected) nor the requester's withdrawal (cancelled)
    State.PENDING: frozenset({State.APPROVED, State.REJECTED, State.CANCELLED, State.TIMED_OUT, State.REVOKED}),
    # cancelled after approval: the requester withdrew a scheduled request before its start (``starts_at``)
    State.APPROVED: frozenset({State.ACTIVE, State.FAILED, State.REVOKED, State.CANCELLED}),
    State.ACTIVE: frozenset({State.EXPIRED, State.REVOKED}),
}


def can_transition(source: State, target: State) -> bool:
    return target in TRANSITIONS.get(source, frozenset())


class Kind(StrEnum):
    """How a request was decided."""

    AUTO = "auto"
    MANUAL = "manual"
    BREAKGLASS = "breakglass"


@dataclass(frozen=True)
class Node:
    """A managed node: an EC2 instance (``i-…``) or a hybrid managed node (``mi-…``)."""

    id: str
    account: str
    region: str
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    ping_status: str | None = None
    platform: str | None = None

    @property
    def arn(self) -> str:
        if self.id.startswith("mi-"):
            return f"arn:aws:ssm:{self.region}:{self.account}:managed-instance/{self.id}"
        return f"arn:aws:ec2:{self.region}:{self.account}:instance/{self.id}"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id


@dataclass(frozen=True)
class LevelSnapshot:
    """An approval level as it stood when the request was made: later edits of the file do not move it."""

    name: str
    channel: str
    approvers: tuple[str, ...]
    required: int
    #: escalation (docs/policies.md): after this long without the level's decision, ``escalate_to`` are asked
    #: too and count for the level from then on (``AccessRequest.escalated_level``)
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    escalate_channel: str | None = None


def new_request_id() -> str:
    """A short id people can type: ``R`` and 8 characters of Crockford-style base32."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "R" + "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass(frozen=True)
class AccessRequest:
    id: str
    requester: str
    principal_arn: str
    node: Node
    reason: str
    duration: timedelta
    policy: str
    kind: Kind
    levels: tuple[LevelSnapshot, ...]
    state: State
    created_at: datetime
    current_level: int = 0
    ticket: str | None = None
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    ended_by: str | None = None
    extends: str | None = None
    reminders_sent: int = 0
    last_reminder_at: datetime | None = None
    warned: bool = False
    #: set when access ended in the database but AWS has not yet confirmed the revocation
    needs_cleanup: bool = False
    cleanup_attempts: int = 0
    #: a short claim on the request's next AWS step (grant or cleanup), so that one worker acts at a time
    lease_until: datetime | None = None
    sessions_ended: int | None = None
    #: no longer set: the end-of-access notice is owed in the outbox (``core.outbox``) since migration 0007,
    #: which carried over the notices it left due (migration 0005)
    notice_due: bool = False
    #: the approval level the sweep escalated (its ``escalate_to`` count for it from then on); None: none yet
    escalated_level: int | None = None
    #: scheduled access: approved ahead, granted at this moment (not before), its expiry counted from it
    starts_at: datetime | None = None
    #: a request for several nodes (``max_nodes``): the nodes after ``node``, in the order asked; one grant, one
    #: approval path, all in ``node``'s account and region (``core.checks``)
    more_nodes: tuple[Node, ...] = ()

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the request, ``node`` first: what is approved, granted, revoked and shown."""
        return (self.node, *self.more_nodes)

    def scheduled(self, now: datetime) -> bool:
        """Whether the request waits for its start: approved ahead (or pending), ``starts_at`` still ahead."""
        return self.starts_at is not None and self.starts_at > now and not self.state.is_final \
            and self.state is not State.ACTIVE

    def escalated(self, level: int) -> bool:
        """Whether ``level`` was escalated: its fallback approvers have been asked and count for it."""
        return self.escalated_level == level

    def with_changes(self, **changes: Any) -> AccessRequest:
        return replace(self, **changes)

    @property
    def level(self) -> LevelSnapshot | None:
        """The level waiting for decisions, while pending."""
        if self.state is State.PENDING and self.current_level < len(self.levels):
            return self.levels[self.current_level]
        return None


@dataclass(frozen=True)
class Decision:
    """One approver's decision at one level of one request."""

    request_id: str
    level: int
    approver: str
    approve: bool
    at: datetime
    comment: str | None = None
    #: an approval for less than was asked ("Approve for…"): the grant is the shortest any approver chose
    duration: timedelta | None = None


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict on a break-glass use (``core.breakglass``)."""

    request_id: str
    reviewer: str
    at: datetime
    justified: bool
    note: str


class Notice(StrEnum):
    """Something people should hear about; the Notifier decides who and how."""

    SUBMITTED = "submitted"
    LEVEL_APPROVED = "level_approved"
    GRANTED = "granted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    WARNING = "warning"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RELEASED = "released"
    REVOKE_FAILING = "revoke_failing"
    REMINDER = "reminder"
    #: a level waited ``escalate_after``: its fallback approvers are asked too (``core.escalation``)
    ESCALATED = "escalated"
    #: the approvers approved for less than was asked (``core.approvals``); ``reason`` is what was asked
    SHORTENED = "shortened"
    DENIED = "denied"
    #: reconciliation removed a ``jitbot-*`` policy that no live request explains (audit channel)
    DRIFT_REMOVED = "drift_removed"
    #: reconciliation put back the missing policy of an active grant
    GRANT_REAPPLIED = "grant_reapplied"
    #: a revoker locked a person out, or let them back in (``core.revokers``; the request stands for the person)
    LOCKED_OUT = "locked_out"
    UNLOCKED = "unlocked"


@dataclass(frozen=True)
class Event:
    notice: Notice
    request: AccessRequest
    actor: str | None = None
    reason: str | None = None
    level: int | None = None
    sessions: int | None = None
    #: the SSM sessions recorded for the request, attached when an end-of-access notice is sent (core.sessions)
    records: tuple[NodeSession, ...] = ()


@dataclass(frozen=True)
class NodeSession:
    """An SSM session the holder of a grant opened on its node, as jitbot recorded it (``core.sessions``)."""

    id: str
    request_id: str
    owner: str
    status: str
    document: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: where Session Manager keeps its log: "s3", "cloudwatch", "none" (the account keeps none); None: unknown
    log: str | None = None
    #: the console URL of the log (the S3 prefix or the CloudWatch log stream)
    log_url: str | None = None


@dataclass(frozen=True)
class Change:
    """A lifecycle transition as other systems hear of it (``core.events``): owed with the transition."""

    id: str
    request: AccessRequest
    action: str
    #: None when the request was created (submitted) in ``target``
    source: State | None
    target: State
    actor: str
    at: datetime
    reason: str | None = None


def ended_notice(done: AccessRequest) -> Event:
    """The notice that ``done``'s access ended (expired, released by its requester, or revoked)."""
    notice = Notice.EXPIRED if done.state is State.EXPIRED else (
        Notice.RELEASED if done.ended_by == done.requester else Notice.REVOKED)
    return Event(notice, done, actor=done.ended_by, reason=done.end_reason, sessions=done.sessions_ended)


@dataclass(frozen=True)
class UserInfo:
    """A Slack user as jitbot needs them. Free-text profile fields a member edits themselves (title …) are not
    carried: nothing may authorize on them (docs/policies.md, "The Cedar model")."""

    id: str
    email: str | None = None
    name: str | None = None
    deleted: bool = False
    is_bot: bool = False
    #: Slack confirmed that the person controls ``email`` (users.info ``is_email_confirmed``)
    email_confirmed: bool = False
    #: a multi-channel (``is_restricted``) or single-channel (``is_ultra_restricted``) guest
    guest: bool = False
    #: not a member of the app's own workspace: ``is_stranger``, or a ``team_id`` other than the app's (Slack Connect)
    external: bool = False
    #: the person's Slack locale (``users.info`` with ``include_locale``: "ja-JP", "en-US"), when Slack says
    locale: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    request_id: str | None
    at: datetime
    actor: str
    #: a ``core.audit.Action`` when recorded; read back from the database as the plain string, equal to it
    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class MessageRef:
    """A Slack message jitbot posted for a request (so it can be updated and threaded on)."""

    request_id: str
    purpose: str  # "level-0", "level-1", …, "escalation-0" (an escalated level's buttons elsewhere), "breakglass-…"
    channel: str
    ts: str

    @property
    def level(self) -> int | None:
        """The approval level whose buttons the message carries (``level-N``, ``escalation-N``), else None."""
        kind, _, number = self.purpose.rpartition("-")
        return int(number) if kind in ("level", "escalation") and number.isdigit() else None


@dataclass(frozen=True)
class Lockout:
    """A person a revoker locked out (``/jit lockout``): their requests are refused until ``/jit unlock``."""

    user_id: str
    by: str
    reason: str
    at: datetime


class Send(StrEnum):
    """What one item of the outbox sends (``core.outbox``)."""

    #: post the Approve/Reject message of a level (its MessageRef is recorded when Slack answers)
    APPROVAL = "approval"
    #: re-render a level's approval message in place (buttons go when the level is done or the request ends)
    UPDATE = "update"
    #: a notice: the requester's DM, the replies in the request's threads, the audit line (each sent once)
    NOTICE = "notice"
    #: the loud announcements of a break-glass use, with their Review buttons
    BREAKGLASS = "breakglass"
    #: a break-glass review: the announcements updated, and a line in the audit channel
    REVIEWED = "reviewed"
    #: a lifecycle event for other systems (EventBridge, the webhook: ``core.events``); its own order per request
    EVENT = "event"
    #: an escalated level's approval message, with its buttons, in the level's ``escalate_channel``
    ESCALATION = "escalation"


@dataclass(frozen=True)
class Intent:
    """A message jitbot owes, recorded in the transaction of the state change that owes it."""

    send: Send
    request_id: str
    #: NOTICE: what to say, with the request as it was when it was said; None for an end-of-access notice
    #: carried over from ``notice_due`` (migration 0007): the request as it is then says it
    event: Event | None = None
    #: APPROVAL, UPDATE: whose level's message
    level: int | None = None
    #: NOTICE: the threads it goes to: "all" the request's approval messages, "none", or some ("level-0,level-1")
    threads: str = "all"
    #: EVENT: the transition to publish
    change: Change | None = None


@dataclass(frozen=True)
class Owed:
    """An outbox item not sent yet: its intent, the attempts so far, and the parts already sent."""

    id: int
    intent: Intent
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    #: the parts of the item Slack already took ("dm", "audit", "thread:level-0", …): never sent again
    done: frozenset[str] = frozenset()


class Keep(Enum):
    """The value of a ``Changes`` field that is not written (None is a value: it clears the field)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Changes:
    """What a state transition writes besides the state (``Repository.move``): each field is the ``AccessRequest``
    field of that name; one left ``KEEP`` stays as it is, None clears it (``lease_until=None`` frees the lease)."""

    ended_at: datetime | Keep | None = KEEP
    end_reason: str | Keep | None = KEEP
    ended_by: str | Keep | None = KEEP
    granted_at: datetime | Keep | None = KEEP
    expires_at: datetime | Keep | None = KEEP
    needs_cleanup: bool | Keep = KEEP
    cleanup_attempts: int | Keep = KEEP
    lease_until: datetime | Keep | None = KEEP
    #: the access granted, when the approvers chose less than was asked (``core.approvals``)
    duration: timedelta | Keep = KEEP

    def written(self) -> dict[str, Any]:
        """The fields written, by ``AccessRequest`` field name (the store maps them to columns)."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not KEEP}

    def apply(self, request: AccessRequest, state: State) -> AccessRequest:
        """``request`` as the transition to ``state`` with these changes leaves it."""
        return replace(request, state=state, **self.written())


@dataclass(frozen=True)
class Expect:
    """What a transition requires of the request besides the state it was read in (``Repository.move``); a field
    left None requires nothing."""

    #: the request is still waiting at this approval level (a decision was made at it)
    current_level: int | None = None
    #: nobody holds the request's lease at this moment: ``lease_until`` is NULL or earlier
    lease_free_at: datetime | None = None
