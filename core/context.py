"""What every use case needs: the ports, the policies in force, and the audit-recording helpers."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.identity import trusted_email
from core.model import AccessRequest, AuditEvent, Event, Intent, Kind, Notice, Send, State, can_transition
from core.policy.evaluate import Requester
from core.policy.schema import GROUP_ID, PolicyFile
from core.ports import AccessBackend, Alarms, Clock, Directory, NodeDirectory, Notifier, Reports, UnitOfWork

if TYPE_CHECKING:
    from core.breakglass import BreakglassNotices

log = logging.getLogger(__name__)


@dataclass
class Context:
    uow: Callable[[], UnitOfWork]
    clock: Clock
    nodes: NodeDirectory
    access: AccessBackend
    directory: Directory
    notifier: Notifier
    policies: Callable[[], PolicyFile]
    alarms: Alarms | None = None
    #: the loud break-glass announcements and their Review buttons (core.breakglass); None where unused
    breakglass: BreakglassNotices | None = None
    #: the first wait before retrying an AWS step that AWS did not confirm; doubles each attempt (core.access)
    retry_backoff: timedelta = timedelta(seconds=2)
    #: revocations sent to AWS at once when many grants end together (a burst of expiries, a restart)
    revoke_workers: int = 8
    #: the history in aggregate (daily digest, retention); None where nothing reads it
    reports: Reports | None = None

    def expand(self, principals: Iterable[str]) -> frozenset[str]:
        """User ids named directly or through user groups (live membership, cached by the adapter)."""
        users: set[str] = set()
        for principal in principals:
            if GROUP_ID.match(principal):
                users |= self.directory.group_members(principal)
            else:
                users.add(principal)
        return frozenset(users)

    def basis(self, user_id: str, principals: Iterable[str] | None) -> dict[str, Any]:
        """Why ``principals`` (a requesters, approvers, deny or revokers list) name ``user_id``, for the audit event
        of a decision that relied on it: ``via``, the entries naming them (their own id, or user groups they are
        in), and ``groups``, each such group's members as jitbot read them for this decision (members can edit
        many groups: this is what makes a later change traceable). ``None`` means everyone."""
        if principals is None:
            return {"via": ["everyone"], "groups": {}}
        via: list[str] = []
        groups: dict[str, Any] = {}
        for principal in principals:
            if GROUP_ID.match(principal):
                members = self.directory.group_members(principal)
                if user_id in members:
                    via.append(principal)
                    groups[principal] = membership(members)
            elif principal == user_id:
                via.append(principal)
        return {"via": via, "groups": groups}

    def requester(self, user_id: str) -> Requester:
        groups = frozenset(
            g for g in self.policies().referenced_groups() if user_id in self.directory.group_members(g)
        )
        return Requester(user_id, groups, email=trusted_email(self.directory.user(user_id)))

    def find(self, request_id: str) -> AccessRequest | None:
        with self.uow() as uow:
            return uow.repo.get(request_id)

    def load(self, request_id: str) -> AccessRequest:
        """The request, or ``NotFound`` with a message for the user."""
        request = self.find(request_id)
        if request is None:
            raise NotFound(f"There is no request {request_id}.")
        return request

    def flush(self, *request_ids: str) -> None:
        """Send now, in this thread, what was just owed for these requests (call right after the commit that
        owed it); what fails stays owed and the scheduler's periodic run retries it (``core.outbox``)."""
        from core.outbox import deliver  # core.outbox builds on this module

        try:
            deliver(self, request_ids)
        except Exception:  # the database or a bug: the messages stay owed, and the periodic run sends them
            log.exception("could not send the messages owed", extra={"request_ids": list(request_ids)})


#: members listed in an audit event per group; beyond, the count and a digest of the whole list still pin it down
MAX_LISTED_MEMBERS = 500


def membership(members: Iterable[str]) -> dict[str, Any]:
    """A group's members as an audit event records them: sorted ids (at most ``MAX_LISTED_MEMBERS``), their count,
    and the SHA-256 of the whole sorted list (one id per line)."""
    ids = sorted(members)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"members": ids[:MAX_LISTED_MEMBERS], "count": len(ids), "sha256": digest}


# -- messages owed: recorded in the transaction of the change that owes them, sent by core.outbox ----------
@dataclass(frozen=True)
class Say:
    """The notice a state change owes (``transition(..., say=Say(...))``): the Event but its request, which is
    the request as the change leaves it."""

    notice: Notice
    actor: str | None = None
    reason: str | None = None
    level: int | None = None
    sessions: int | None = None


def opened_levels(request: AccessRequest) -> range:
    """The levels whose approval message was posted (or is owed): a manual request's, up to its current one."""
    if request.kind is not Kind.MANUAL or not request.levels:
        return range(0)
    return range(min(request.current_level, len(request.levels) - 1) + 1)


def owe(uow: UnitOfWork, event: Event, at: datetime, *, threads: str = "all") -> None:
    """Owe ``event``'s notice: the requester's DM, the replies in ``threads`` ("all" of the request's approval
    messages, "none", or some of them: "level-0,level-1"), the audit line."""
    uow.repo.owe(Intent(Send.NOTICE, event.request.id, event=event, threads=threads), at)


def owe_level(uow: UnitOfWork, request: AccessRequest, level: int, at: datetime) -> None:
    """Owe the approval message of ``level`` (where it went is recorded when Slack answers)."""
    uow.repo.owe(Intent(Send.APPROVAL, request.id, level=level), at)


def owe_update(uow: UnitOfWork, request: AccessRequest, level: int, at: datetime) -> None:
    """Owe a re-render of ``level``'s approval message, as the request stands when it is sent."""
    uow.repo.owe(Intent(Send.UPDATE, request.id, level=level), at)


def owe_close_out(uow: UnitOfWork, event: Event, at: datetime) -> None:
    """A pending request ended: every approval message loses its buttons, then everyone is told."""
    for level in opened_levels(event.request):
        owe_update(uow, event.request, level, at)
    owe(uow, event, at)


def record(uow: UnitOfWork, request_id: str | None, actor: str, action: str, at: Any,
           **detail: Any) -> None:
    uow.repo.add_event(AuditEvent(request_id=request_id, at=at, actor=actor, action=action, detail=detail))


def transition(uow: UnitOfWork, request: AccessRequest, target: State, *, actor: str, action: str, at: Any,
               expected: Mapping[str, Any] | None = None, detail: Mapping[str, Any] | None = None,
               say: Say | None = None, **changes: Any) -> bool:
    """Move ``request`` from its current state to ``target`` if nobody else did first; audit it on success, and
    owe ``say``'s notice in the same transaction (a pending request that ends also owes the updates of its
    approval messages, whose buttons go)."""
    if not can_transition(request.state, target):
        raise ValueError(f"{request.state} → {target} is not a lifecycle transition")
    ok = uow.repo.update_where(request.id, {"state": request.state, **(expected or {})},
                               {"state": target, **changes})
    if ok:
        record(uow, request.id, actor, action, at, **{"from": request.state.value, "to": target.value,
                                                     **(detail or {})})
        if say is not None:
            event = Event(say.notice, request.with_changes(state=target, **changes), actor=say.actor,
                          reason=say.reason, level=say.level, sessions=say.sessions)
            if request.state is State.PENDING and target.is_final:
                owe_close_out(uow, event, at)
            else:
                owe(uow, event, at)
    return ok
