"""The ports through which the domain talks to the world (typing.Protocol; adapters live outside core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from core.idc import IdcGroup, IdcUser
from core.model import AccessRequest, AuditEvent, Decision, Event, Kind, MessageRef, Node, State, UserInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class NodeDirectory(Protocol):
    def resolve(self, reference: str) -> Node:
        """``i-…``, ``mi-…`` or a unique ``Name`` tag, optionally prefixed by ``region/`` or ``account/``.

        Raises ``NodeNotFound`` or ``AmbiguousNode`` (whose message lists the candidates).
        """
        ...

    def search(self, text: str, limit: int = 100) -> list[Node]:
        """Nodes whose id or name contains ``text`` (case-insensitive), for pickers and ``/jit nodes``."""
        ...


class AccessBackend(Protocol):
    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        """Attach the inline policy ``jitbot-<id>`` to the request's principal, valid until ``expires_at``.

        Idempotent (same name, same document). Raises ``GrantRefused`` for a permanent refusal and
        ``TransientAwsError`` when AWS did not confirm.
        """
        ...

    def revoke(self, request: AccessRequest) -> int:
        """Delete ``jitbot-<id>`` (already gone counts as done), then terminate the principal's sessions on
        the node. Returns how many sessions were terminated; raises ``TransientAwsError`` if not confirmed."""
        ...

    def has_grant(self, request: AccessRequest) -> bool:
        """Whether the request's inline policy is present on its principal."""
        ...

    def jit_policies(self, principal_arn: str) -> list[str]:
        """Names of the ``jitbot-*`` inline policies on a principal."""
        ...

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        ...


class Directory(Protocol):
    """Slack's view of people: profiles and user-group membership (cached briefly by the adapter)."""

    def user(self, user_id: str) -> UserInfo:
        ...

    def group_members(self, group_id: str) -> frozenset[str]:
        ...


class IdentityStore(Protocol):
    """IAM Identity Center's identity store, read only, answers cached for at most 60 s by the adapter.

    Every method raises ``Unavailable`` (saying why) when the identity store cannot be asked: not configured,
    unreachable, or refusing jitbot.
    """

    def users_by_email(self, email: str) -> tuple[str, ...]:
        """The ids of the users whose primary email, or whose ``UserName``, is ``email`` (none, one, or more)."""
        ...

    def user(self, user_id: str) -> IdcUser:
        """``NotFound`` when there is no such user."""
        ...

    def group(self, ref: str) -> IdcGroup | None:
        """The group with this GroupId, else the one with this DisplayName; None when there is none."""
        ...

    def group_member_ids(self, group_id: str) -> frozenset[str]:
        """The user ids of the group's direct members."""
        ...

    def groups_of(self, user_id: str) -> frozenset[str]:
        """The GroupIds of the groups the user is a direct member of."""
        ...


class PrincipalTags(Protocol):
    def principal_tags(self, principal_arn: str) -> Mapping[str, str]:
        """The tags of an IAM role or user (``Unavailable`` when they cannot be read)."""
        ...


class Notifier(Protocol):
    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        """Post the Approve/Reject message of ``level`` in its channel; returns where it went."""
        ...

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        """Re-render an approval message in place (buttons go when its level is done or the request ends)."""
        ...

    def announce(self, event: Event, refs: Sequence[MessageRef]) -> None:
        """Tell everyone concerned: the requester by DM, the request's threads, the audit channel."""
        ...


class Repository(Protocol):
    """Requests and what hangs off them, inside one unit of work (one transaction)."""

    def add(self, request: AccessRequest) -> None: ...

    def get(self, request_id: str, *, for_update: bool = False) -> AccessRequest | None: ...

    def update_where(self, request_id: str, expected: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
        """``UPDATE … SET changes WHERE id = :id AND <expected>``; True when exactly one row changed."""
        ...

    def add_decision(self, decision: Decision) -> bool:
        """False when this approver already decided on this request (unique per request and approver)."""
        ...

    def decisions(self, request_id: str) -> list[Decision]: ...

    def add_event(self, event: AuditEvent) -> None: ...

    def events(self, request_id: str | None = None, *, since: datetime | None = None,
               limit: int | None = None) -> list[AuditEvent]: ...

    def add_message(self, ref: MessageRef) -> None: ...

    def messages(self, request_id: str) -> list[MessageRef]: ...

    def in_states(self, states: Sequence[State], *, limit: int = 1000) -> list[AccessRequest]: ...

    def by_requester(self, user_id: str, states: Sequence[State] | None = None,
                     *, limit: int = 50) -> list[AccessRequest]: ...

    def due_expiries(self, before: datetime, *, limit: int = 500, unwarned: bool = False) -> list[AccessRequest]:
        """Active requests whose ``expires_at`` is at or before ``before``, earliest first; with ``unwarned``,
        only those not yet warned of their expiry."""
        ...

    def due_work(self, now: datetime, *, limit: int = 500) -> list[AccessRequest]:
        """Requests with an AWS step to (re)try: approved and not leased, or ended with cleanup pending."""
        ...


class UnitOfWork(Protocol):
    repo: Repository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back unless ``commit`` was called."""
        ...

    def commit(self) -> None: ...


class Alarms(Protocol):
    """Precise timers for one grant (expiry warning, expiry); the periodic sweep is the safety net."""

    def arm(self, request: AccessRequest) -> None: ...

    def disarm(self, request_id: str) -> None: ...


class Reports(Protocol):
    """The history, read in aggregate for the daily digest and trimmed for retention.

    Every method answers from indexes in the store (no scan of the history in Python); time windows
    are half-open, ``[since, until)``.
    """

    def created_by_state(self, since: datetime, until: datetime) -> Mapping[str, int]:
        """Requests created in the window, counted by their current state (every state present)."""
        ...

    def ended_by_state(self, since: datetime, until: datetime) -> Mapping[str, int]:
        """Requests that ended in the window (``ended_at``), counted by final state (every state present)."""
        ...

    def ended(self, since: datetime, until: datetime, states: Sequence[State], *,
              limit: int) -> list[AccessRequest]:
        """Requests in ``states`` that ended in the window, the latest first, at most ``limit``."""
        ...

    def live(self, state: State, *, limit: int) -> list[AccessRequest]:
        """Requests now in ``state`` (pending, approved, active), the oldest first, at most ``limit``."""
        ...

    def count_live(self, state: State) -> int:
        ...

    def action_counts(self, actions: Sequence[str], since: datetime, until: datetime) -> Mapping[str, int]:
        """Audit events of each of ``actions`` in the window (every action present)."""
        ...

    def events(self, actions: Sequence[str], since: datetime, until: datetime, *,
               limit: int) -> list[AuditEvent]:
        """Audit events of ``actions`` in the window, the latest first, at most ``limit``."""
        ...

    def top_requesters(self, since: datetime, until: datetime, n: int) -> list[tuple[str, int]]:
        """(requester, requests created in the window), most first, ties by id."""
        ...

    def top_nodes(self, since: datetime, until: datetime, n: int) -> list[tuple[str, str | None, int]]:
        """(node id, a name it carried, requests created in the window), most first, ties by id."""
        ...

    def failing_cleanups(self, *, limit: int) -> list[AccessRequest]:
        """Ended requests whose AWS revocation failed at least once and is still not confirmed."""
        ...

    def unreviewed(self, kind: Kind, review_action: str, *, limit: int) -> list[AccessRequest]:
        """Requests of ``kind`` with no audit event ``review_action`` yet (break-glass reviews)."""
        ...

    def purge_before(self, cutoff: datetime, *, limit: int) -> tuple[int, int]:
        """Delete up to ``limit`` finished requests that ended before ``cutoff`` (not those still
        waiting for AWS cleanup) and up to ``limit`` audit events before it, in one short
        transaction of its own. Returns (requests, events) deleted."""
        ...
