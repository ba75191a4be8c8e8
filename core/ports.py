"""The ports through which the domain talks to the world (typing.Protocol; adapters live outside core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from core.idc import IdcGroup, IdcUser
from core.model import (
    AccessRequest,
    AuditEvent,
    Change,
    Changes,
    Decision,
    Event,
    Expect,
    Intent,
    Lockout,
    MessageRef,
    Node,
    NodeSession,
    Owed,
    Review,
    State,
    UserInfo,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class NodeDirectory(Protocol):
    def resolve(self, reference: str) -> Node:
        """``i-…``, ``mi-…`` or a unique ``Name`` tag, optionally prefixed by ``region/`` or ``account/``.

        Raises ``NodeNotFound`` or ``AmbiguousNode`` (whose message lists the candidates), and ``InvalidInput``
        for a wildcard (``*``, ``?``), which AWS's filters would expand to every node.
        """
        ...

    def search(self, text: str, limit: int = 100) -> list[Node]:
        """Nodes whose id or name contains ``text`` (case-insensitive), for pickers and ``/jit nodes``."""
        ...

    def tagged(self, key: str, value: str, *, prefix: str | None = None, limit: int = 100) -> list[Node]:
        """At most ``limit`` nodes carrying the tag ``key`` = ``value`` exactly (a request's ``tag:Role=web``),
        in the default region of every configured account, or where ``prefix`` (``account/``, ``region/``,
        both) says. Raises ``InvalidInput`` for a wildcard, like ``resolve``."""
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

    def jit_principals(self) -> list[str]:
        """Principals that AWS itself lists as holding something named for jitbot, beyond ``[identities]``:
        the Identity Center users of ``jitbot-*`` permission sets (empty without Identity Center)."""
        ...


class SessionHistory(Protocol):
    """Session Manager's record of sessions (``DescribeSessions``, active and history)."""

    def sessions(self, request: AccessRequest, since: datetime, until: datetime | None) -> list[NodeSession]:
        """The sessions the request's principal opened on its node that started between ``since`` and ``until``
        (None: now), with where their log is; ``TransientAwsError`` when AWS cannot be asked."""
        ...


class Publisher(Protocol):
    """Other systems: EventBridge and the webhook of ``[events]`` (``core.events``)."""

    def configured(self) -> bool:
        """Whether the policy file in force names a place to publish to."""
        ...

    def publish(self, change: Change, done: frozenset[str]) -> None:
        """Publish ``change`` to each configured sink ("eventbridge", "webhook") not in ``done``. Raises
        ``Undelivered`` (``sent`` naming the sinks that took it) when a sink did not."""
        ...


class Directory(Protocol):
    """Slack's view of people: profiles and user-group membership (cached briefly by the adapter)."""

    def user(self, user_id: str) -> UserInfo:
        ...

    def group_members(self, group_id: str) -> frozenset[str]:
        ...

    def find_by_name(self, handle: str) -> list[UserInfo]:
        """The people whose Slack handle or display name is ``handle`` (no ``@``; case-insensitive)."""
        ...


class OnCall(Protocol):
    """On-call schedules (PagerDuty's, Opsgenie's), read only, answers cached for at most 60 s by the adapters."""

    def on_call(self, entry: str) -> frozenset[str]:
        """The emails (lower case) of whoever is on call now for an on-call entry of the policy file
        (``pagerduty:PABC123``, ``opsgenie:SRE``; core.oncall). ``NotFound`` when there is no such schedule;
        ``Unavailable`` (saying why) when its provider cannot be asked: not configured, unreachable, or refusing
        jitbot."""
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
    """Slack, as the outbox's sender sees it (``core.outbox``): each call raises ``Undelivered`` (or returns
    None for a post) when Slack did not take the message, and is retried."""

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        """Post the Approve/Reject message of ``level`` in its channel; returns where it went."""
        ...

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        """Post the escalated ``level``'s message, with its buttons, in its ``escalate_channel`` (purpose
        ``escalation-N``), mentioning its fallback approvers; returns where it went."""
        ...

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        """Re-render an approval message in place (buttons go when its level is done or the request ends)."""
        ...

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        """Tell everyone concerned: the requester by DM ("dm"), the threads of ``refs`` ("thread:<purpose>"),
        the audit channel ("audit"). Parts in ``done`` went out before and are skipped; when a part fails,
        the others are still tried and ``Undelivered.sent`` names the parts that went out."""
        ...


class BreakglassNotices(Protocol):
    """How break-glass is made loud (implemented on Slack by ``handlers.breakglass``; ``core.breakglass``)."""

    def alert(self, request: AccessRequest, reviewers: tuple[str, ...],
              done: frozenset[str] = frozenset()) -> list[MessageRef]:
        """Announce a use in the audit channel (``@here``) and in level 1's channel, each with a Review button,
        but those whose purpose is in ``done`` (posted before); returns where the messages went. Raises
        ``Undelivered`` (with the refs of those that went) when one could not be posted."""
        ...

    def reviewed(self, request: AccessRequest, refs: Sequence[MessageRef], review: Review,
                 done: frozenset[str] = frozenset()) -> None:
        """Replace the Review buttons with the review ("update:<purpose>"), and say so in the audit channel
        ("audit"), skipping the parts in ``done``; raises ``Undelivered`` naming the parts that went."""
        ...


class Repository(Protocol):
    """Requests and what hangs off them, inside one unit of work (one transaction)."""

    def add(self, request: AccessRequest) -> None: ...

    def get(self, request_id: str, *, for_update: bool = False) -> AccessRequest | None: ...

    # -- conditional updates: each changes the request only if it still is as the step requires, and says
    # whether it did (True: this caller won; False: someone else moved first, or there is no such request)
    def move(self, request: AccessRequest, target: State, changes: Changes = Changes(), *,
             expect: Expect = Expect()) -> bool:
        """Move ``request`` to ``target``, writing ``changes``, if it is still in ``request.state`` (and as
        ``expect`` says). ``core.context.transition`` checks the lifecycle and audits the move."""
        ...

    def claim_grant(self, request_id: str, now: datetime, until: datetime) -> bool:
        """Take the grant step of an approved request until ``until``, if nobody holds its lease at ``now`` and
        its start (``starts_at``, scheduled access) is not after ``now``."""
        ...

    def retry_grant_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        """AWS did not confirm the grant of this approved request: count ``attempts``, hold the step until
        ``retry_at``."""
        ...

    def free_grant(self, request_id: str) -> bool:
        """Drop the lease on the grant step of an approved request (its holder died)."""
        ...

    def claim_cleanup(self, request_id: str, now: datetime, until: datetime) -> bool:
        """Take the revocation of a request waiting for cleanup until ``until``, if nobody holds it at ``now``."""
        ...

    def retry_cleanup_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        """AWS did not confirm the revocation: count ``attempts``, hold the cleanup until ``retry_at``."""
        ...

    def confirm_cleanup(self, request_id: str, sessions_ended: int) -> bool:
        """AWS confirmed the revocation: the cleanup is done (lease freed, the sessions ended recorded). False
        when it was not waiting for cleanup (another worker confirmed it)."""
        ...

    def free_cleanup(self, request_id: str) -> bool:
        """Drop the lease (or backoff) on the cleanup of a request waiting for it, so the next try is now."""
        ...

    def next_level(self, request_id: str, level: int) -> bool:
        """A pending request still at ``level`` moves to the next level, its reminders counted afresh."""
        ...

    def mark_warned(self, request_id: str) -> bool:
        """An active request not warned yet is marked warned of its expiry."""
        ...

    def escalate(self, request_id: str, level: int) -> bool:
        """A pending request still at ``level``, not escalated at it yet, is escalated at it (``escalated_level``)."""
        ...

    def record_reminder(self, request_id: str, level: int, sent: int, at: datetime) -> bool:
        """A pending request still at ``level`` with ``sent`` reminders so far has one more, sent ``at``."""
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

    # -- lockouts (``/jit lockout``, core.revokers) --
    def lockout(self, user_id: str) -> Lockout | None:
        """The lockout of ``user_id``, if they are locked out."""
        ...

    def add_lockout(self, lockout: Lockout) -> bool:
        """Record a lockout; False (nothing changed) when that person is already locked out."""
        ...

    def remove_lockout(self, user_id: str) -> bool:
        """End a lockout; False when there was none."""
        ...

    def lockouts(self, *, limit: int = 100) -> list[Lockout]:
        """The people locked out now, the earliest first."""
        ...

    # -- SSM sessions of grants (core.sessions) --
    def sessions(self, request_id: str) -> list[NodeSession]:
        """The sessions recorded for a request, in the order they started."""
        ...

    def save_session(self, session: NodeSession) -> str | None:
        """Record or update a session: "new", "ended" (it ended since last seen), "changed", or None (as it was, or
        recorded for another request)."""
        ...

    def sessions_due(self, polled_before: datetime, ended_after: datetime, *, limit: int = 500) -> list[AccessRequest]:
        """Grants whose sessions should be read again: active and not read after ``polled_before``; or ended after
        ``ended_after``, revocation confirmed, and not read for good yet (the final read)."""
        ...

    def sessions_polled(self, request_id: str, at: datetime, *, final: bool) -> None:
        """Remember when the request's sessions were last read; ``final``: never again."""
        ...

    # -- the outbox: messages owed, recorded in the transaction of the change that owes them (core.outbox)
    def owe(self, intent: Intent, at: datetime) -> None:
        """Record a message owed; sent later, in the order owed for its request."""
        ...

    def owed(self, request_ids: Sequence[str] | None = None, *, limit: int = 500) -> list[Owed]:
        """Items not sent yet and not dead (of ``request_ids`` only, when given), in the order owed."""
        ...

    def claim_owed(self, owed_id: int, now: datetime, until: datetime) -> bool:
        """Take the item for sending until ``until`` if it is due (not sent, not dead, not claimed)."""
        ...

    def owed_sent(self, owed_id: int, at: datetime) -> None:
        """The item went out: it is never sent again."""
        ...

    def owed_failed(self, owed_id: int, *, attempts: int, retry_at: datetime, done: frozenset[str],
                    error: str, dead: bool) -> None:
        """An attempt failed: record it, the parts that went out, and when to try again (or that it is dead)."""
        ...

    def owed_counts(self) -> Mapping[str, int]:
        """Items by outbox state: "due" (not sent yet) and "dead" (given up on)."""
        ...

    def retry_owed_now(self, now: datetime) -> int:
        """Make every item not sent yet due ``now`` (claims and backoffs released); how many were waiting."""
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
