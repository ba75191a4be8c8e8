"""Domain objects: nodes, access requests, approvals, audit events, and the lifecycle's states."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


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


FINAL_STATES = frozenset(
    {State.EXPIRED, State.REVOKED, State.REJECTED, State.CANCELLED, State.TIMED_OUT, State.FAILED}
)

#: Every transition the lifecycle allows (docs/architecture.md). Anything else is a programming error.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    # revoked before access: a revoker ended the request (``core.revokers``); neither its approvers' decision
    # (rejected) nor the requester's withdrawal (cancelled)
    State.PENDING: frozenset({State.APPROVED, State.REJECTED, State.CANCELLED, State.TIMED_OUT, State.REVOKED}),
    State.APPROVED: frozenset({State.ACTIVE, State.FAILED, State.REVOKED}),
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
    #: the notice that access ended is confirmed in the database but not yet sent (a crash in between leaves it
    #: set, and the sweep sends it: ``core.access.resend_notice``)
    notice_due: bool = False

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


@dataclass(frozen=True)
class AuditEvent:
    request_id: str | None
    at: datetime
    actor: str
    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class MessageRef:
    """A Slack message jitbot posted for a request (so it can be updated and threaded on)."""

    request_id: str
    purpose: str  # "level-0", "level-1", …, "dm", "audit"
    channel: str
    ts: str


@dataclass(frozen=True)
class Lockout:
    """A person a revoker locked out (``/jit lockout``): their requests are refused until ``/jit unlock``."""

    user_id: str
    by: str
    reason: str
    at: datetime
