"""Hand-written in-memory fakes of core's ports, for tests of the use cases without I/O.

``FakeWorld`` builds a Context on them. The unit of work is serialised by a lock and works on a copy
that ``commit`` publishes (like SQLite's BEGIN IMMEDIATE), so concurrency tests mean something.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from core.audit import Action
from core.context import Context
from core.digest import WINDOW, Digest, Ranked
from core.errors import NodeNotFound, TransientAwsError
from core.model import (
    FINAL_STATES,
    AccessRequest,
    AuditEvent,
    Changes,
    Decision,
    Event,
    Expect,
    Intent,
    Kind,
    LevelSnapshot,
    Lockout,
    MessageRef,
    Node,
    NodeSession,
    Owed,
    State,
    UserInfo,
)
from core.policy import PolicyFile
from core.policy.loader import parse_policies

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told: ``clock.advance(hours=1)``."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


@dataclass
class Tables:
    requests: dict[str, AccessRequest] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    messages: dict[tuple[str, str], MessageRef] = field(default_factory=dict)
    lockouts: dict[str, Lockout] = field(default_factory=dict)
    #: the outbox: id → (item, state "due" | "sent" | "dead")
    outbox: dict[int, tuple[Owed, str]] = field(default_factory=dict)
    #: SSM sessions by id, and request id → (last read, for good)
    sessions: dict[str, NodeSession] = field(default_factory=dict)
    polls: dict[str, tuple[datetime, bool]] = field(default_factory=dict)

    def copy(self) -> Tables:
        return Tables(dict(self.requests), list(self.decisions), list(self.events), dict(self.messages),
                      dict(self.lockouts), dict(self.outbox), dict(self.sessions), dict(self.polls))


def _lease_free(request: AccessRequest, now: datetime) -> bool:
    return request.lease_until is None or request.lease_until < now


class InMemoryRepository:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def add(self, request: AccessRequest) -> None:
        assert request.id not in self.t.requests, f"duplicate id {request.id}"
        self.t.requests[request.id] = request

    def get(self, request_id: str, *, for_update: bool = False) -> AccessRequest | None:
        return self.t.requests.get(request_id)

    def _update(self, request_id: str, when: Callable[[AccessRequest], bool], **changes: Any) -> bool:
        """The conditional updates of store.updates: change the request if ``when`` holds of it."""
        request = self.t.requests.get(request_id)
        if request is None or not when(request):
            return False
        self.t.requests[request_id] = replace(request, **changes)
        return True

    def move(self, request: AccessRequest, target: State, changes: Changes = Changes(), *,
             expect: Expect = Expect()) -> bool:
        def when(r: AccessRequest) -> bool:
            return (r.state is request.state
                    and (expect.current_level is None or r.current_level == expect.current_level)
                    and (expect.lease_free_at is None or _lease_free(r, expect.lease_free_at)))
        return self._update(request.id, when, state=target, **changes.written())

    def claim_grant(self, request_id: str, now: datetime, until: datetime) -> bool:
        return self._update(request_id, lambda r: r.state is State.APPROVED and _lease_free(r, now)
                            and (r.starts_at is None or r.starts_at <= now), lease_until=until)

    def retry_grant_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        return self._update(request_id, lambda r: r.state is State.APPROVED, lease_until=retry_at,
                            cleanup_attempts=attempts)

    def free_grant(self, request_id: str) -> bool:
        return self._update(request_id, lambda r: r.state is State.APPROVED, lease_until=None)

    def claim_cleanup(self, request_id: str, now: datetime, until: datetime) -> bool:
        return self._update(request_id, lambda r: r.needs_cleanup and _lease_free(r, now), lease_until=until)

    def retry_cleanup_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        return self._update(request_id, lambda r: r.needs_cleanup, cleanup_attempts=attempts, lease_until=retry_at)

    def confirm_cleanup(self, request_id: str, sessions_ended: int) -> bool:
        return self._update(request_id, lambda r: r.needs_cleanup, needs_cleanup=False, lease_until=None,
                            sessions_ended=sessions_ended)

    def free_cleanup(self, request_id: str) -> bool:
        return self._update(request_id, lambda r: r.needs_cleanup, lease_until=None)

    def next_level(self, request_id: str, level: int) -> bool:
        return self._update(request_id, lambda r: r.state is State.PENDING and r.current_level == level,
                            current_level=level + 1, reminders_sent=0, last_reminder_at=None)

    def escalate(self, request_id: str, level: int) -> bool:
        return self._update(request_id, lambda r: r.state is State.PENDING and r.current_level == level
                            and r.escalated_level != level, escalated_level=level)

    def mark_warned(self, request_id: str) -> bool:
        return self._update(request_id, lambda r: r.state is State.ACTIVE and not r.warned, warned=True)

    def record_reminder(self, request_id: str, level: int, sent: int, at: datetime) -> bool:
        return self._update(request_id, lambda r: r.state is State.PENDING and r.current_level == level
                            and r.reminders_sent == sent, reminders_sent=sent + 1, last_reminder_at=at)

    def add_decision(self, decision: Decision) -> bool:
        if any(d.request_id == decision.request_id and d.approver == decision.approver for d in self.t.decisions):
            return False
        self.t.decisions.append(decision)
        return True

    def decisions(self, request_id: str) -> list[Decision]:
        return [d for d in self.t.decisions if d.request_id == request_id]

    def add_event(self, event: AuditEvent) -> None:
        self.t.events.append(replace(event, id=len(self.t.events) + 1))

    def events(self, request_id: str | None = None, *, since: datetime | None = None,
               limit: int | None = None) -> list[AuditEvent]:
        found = [e for e in self.t.events if (request_id is None or e.request_id == request_id)
                 and (since is None or e.at >= since)]
        return found[:limit] if limit is not None else found

    def add_message(self, ref: MessageRef) -> None:
        self.t.messages[(ref.request_id, ref.purpose)] = ref

    def messages(self, request_id: str) -> list[MessageRef]:
        return sorted((m for (rid, _), m in self.t.messages.items() if rid == request_id), key=lambda m: m.purpose)

    def in_states(self, states: Sequence[State], *, limit: int = 1000) -> list[AccessRequest]:
        found = [r for r in self.t.requests.values() if r.state in states]
        return sorted(found, key=lambda r: (r.created_at, r.id))[:limit]

    def by_requester(self, user_id: str, states: Sequence[State] | None = None,
                     *, limit: int = 50) -> list[AccessRequest]:
        found = [r for r in self.t.requests.values()
                 if r.requester == user_id and (states is None or r.state in states)]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def due_expiries(self, before: datetime, *, limit: int = 500, unwarned: bool = False) -> list[AccessRequest]:
        found = [r for r in self.t.requests.values()
                 if r.state is State.ACTIVE and r.expires_at is not None and r.expires_at <= before
                 and not (unwarned and r.warned)]
        return sorted(found, key=lambda r: (r.expires_at, r.id))[:limit]

    def due_work(self, now: datetime, *, limit: int = 500) -> list[AccessRequest]:
        found = [r for r in self.t.requests.values()
                 if ((r.state is State.APPROVED and (r.starts_at is None or r.starts_at <= now))
                     or r.needs_cleanup or r.notice_due)
                 and (r.lease_until is None or r.lease_until < now)]
        return sorted(found, key=lambda r: (r.created_at, r.id))[:limit]

    def lockout(self, user_id: str) -> Lockout | None:
        return self.t.lockouts.get(user_id)

    def add_lockout(self, lockout: Lockout) -> bool:
        if lockout.user_id in self.t.lockouts:
            return False
        self.t.lockouts[lockout.user_id] = lockout
        return True

    def remove_lockout(self, user_id: str) -> bool:
        return self.t.lockouts.pop(user_id, None) is not None

    def lockouts(self, *, limit: int = 100) -> list[Lockout]:
        return sorted(self.t.lockouts.values(), key=lambda x: (x.at, x.user_id))[:limit]

    def sessions(self, request_id: str) -> list[NodeSession]:
        found = [s for s in self.t.sessions.values() if s.request_id == request_id]
        return sorted(found, key=lambda s: (s.started_at or T0, s.id))

    def save_session(self, session: NodeSession) -> str | None:
        old = self.t.sessions.get(session.id)
        if old is not None and old.request_id != session.request_id:
            return None
        if old is not None and session.log is None:
            session = replace(session, log=old.log, log_url=old.log_url)
        if old is not None and old.ended_at is not None and session.ended_at is None:  # an end is never undone
            session = replace(session, ended_at=old.ended_at, status=old.status)
        self.t.sessions[session.id] = session
        if old is None:
            return "new"
        if old == session:
            return None
        return "ended" if old.ended_at is None and session.ended_at is not None else "changed"

    def sessions_due(self, polled_before: datetime, ended_after: datetime, *, limit: int = 500) -> list[AccessRequest]:
        def due(r: AccessRequest) -> bool:
            polled, final = self.t.polls.get(r.id, (None, False))
            if r.state is State.ACTIVE:
                return polled is None or polled <= polled_before
            return (r.state in (State.EXPIRED, State.REVOKED) and r.granted_at is not None and not r.needs_cleanup
                    and r.ended_at is not None and r.ended_at > ended_after and not final)
        return sorted((r for r in self.t.requests.values() if due(r)), key=lambda r: (r.created_at, r.id))[:limit]

    def sessions_polled(self, request_id: str, at: datetime, *, final: bool) -> None:
        self.t.polls[request_id] = (at, final)

    def owe(self, intent: Intent, at: datetime) -> None:
        new_id = max(self.t.outbox, default=0) + 1
        self.t.outbox[new_id] = (Owed(new_id, intent, at, 0, at), "due")

    def owed(self, request_ids: Sequence[str] | None = None, *, limit: int = 500) -> list[Owed]:
        return [item for _, (item, state) in sorted(self.t.outbox.items()) if state == "due"
                and (request_ids is None or item.intent.request_id in request_ids)][:limit]

    def claim_owed(self, owed_id: int, now: datetime, until: datetime) -> bool:
        item, state = self.t.outbox[owed_id]
        if state != "due" or item.next_attempt_at > now:
            return False
        self.t.outbox[owed_id] = (replace(item, next_attempt_at=until), state)
        return True

    def owed_sent(self, owed_id: int, at: datetime) -> None:
        self.t.outbox[owed_id] = (self.t.outbox[owed_id][0], "sent")

    def owed_failed(self, owed_id: int, *, attempts: int, retry_at: datetime, done: frozenset[str],
                    error: str, dead: bool) -> None:
        item = replace(self.t.outbox[owed_id][0], attempts=attempts, next_attempt_at=retry_at, done=done)
        self.t.outbox[owed_id] = (item, "dead" if dead else "due")

    def owed_counts(self) -> Mapping[str, int]:
        states = [state for _, state in self.t.outbox.values()]
        return {"due": states.count("due"), "dead": states.count("dead")}

    def retry_owed_now(self, now: datetime) -> int:
        waiting = [i for i, (item, state) in self.t.outbox.items() if state == "due" and item.next_attempt_at > now]
        for i in waiting:
            self.t.outbox[i] = (replace(self.t.outbox[i][0], next_attempt_at=now), "due")
        return len(waiting)


class InMemoryDatabase:
    """The shared state behind every unit of work of one FakeWorld."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.lock = threading.RLock()
        self.commits = 0


class InMemoryUnitOfWork:
    repo: InMemoryRepository

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def __enter__(self) -> InMemoryUnitOfWork:
        self.db.lock.acquire()
        self.repo = InMemoryRepository(self.db.tables.copy())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.db.lock.release()

    def commit(self) -> None:
        self.db.tables = self.repo.t
        self.repo = InMemoryRepository(self.db.tables.copy())
        self.db.commits += 1


@dataclass
class Sent:
    kind: str  # "post", "update", "announce"
    request: AccessRequest
    event: Event | None = None
    refs: tuple[MessageRef, ...] = ()
    level: int | None = None


class RecordingNotifier:
    """Records what would have been said; approval messages get fake channel timestamps."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._ts = 0

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        with self._lock:
            self._ts += 1
            self.sent.append(Sent("post", request, level=level))
            return MessageRef(request.id, f"level-{level}", request.levels[level].channel, f"{self._ts}.000")

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        with self._lock:
            self._ts += 1
            self.sent.append(Sent("escalation", request, level=level))
            return MessageRef(request.id, f"escalation-{level}", request.levels[level].escalate_channel or "",
                              f"{self._ts}.000")

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        with self._lock:
            self.sent.append(Sent("update", request, refs=(ref,)))

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        with self._lock:
            self.sent.append(Sent("announce", event.request, event=event, refs=tuple(refs)))

    def notices(self, notice: Any = None, request_id: str | None = None) -> list[Event]:
        with self._lock:
            return [s.event for s in self.sent if s.event is not None and (notice is None or s.event.notice == notice)
                    and (request_id is None or s.request.id == request_id)]

    def updates(self, request_id: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.kind == "update" and s.request.id == request_id]


class FakeDirectory:
    def __init__(self, users: Mapping[str, UserInfo] | None = None,
                 groups: Mapping[str, frozenset[str]] | None = None) -> None:
        self.users = dict(users or {})
        self.groups = dict(groups or {})

    def user(self, user_id: str) -> UserInfo:
        return self.users.get(user_id) or UserInfo(user_id, email=f"{user_id.lower()}@example.com",
                                                   email_confirmed=True)

    def group_members(self, group_id: str) -> frozenset[str]:
        return self.groups.get(group_id, frozenset())

    def find_by_name(self, handle: str) -> list[UserInfo]:
        return [u for u in self.users.values() if (u.name or "").lower() == handle.lower()]


class FakeNodes:
    def __init__(self, nodes: Sequence[Node] = ()) -> None:
        self.nodes = {n.id: n for n in nodes}

    def resolve(self, reference: str) -> Node:
        for node in self.nodes.values():
            if reference in (node.id, node.name, f"{node.account}/{node.region}/{node.id}"):
                return node
        raise NodeNotFound(f"There is no node '{reference}'.")

    def search(self, text: str, limit: int = 100) -> list[Node]:
        return [n for n in self.nodes.values() if text.lower() in f"{n.id} {n.name or ''}".lower()][:limit]

    def tagged(self, key: str, value: str, *, prefix: str | None = None, limit: int = 100) -> list[Node]:
        return [n for n in self.nodes.values() if n.tags.get(key) == value][:limit]


class FakeAccess:
    """Grants as a dict of principal → {policy name: expiry}; ``fail_revokes`` makes revocations transient-fail."""

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, datetime]] = {}
        self.revoked: list[str] = []
        self.fail_revokes = 0
        self._lock = threading.Lock()

    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        with self._lock:
            self.policies.setdefault(request.principal_arn, {})[f"jitbot-{request.id}"] = expires_at

    def revoke(self, request: AccessRequest) -> int:
        with self._lock:
            if self.fail_revokes:
                self.fail_revokes -= 1
                raise TransientAwsError("Throttling: rate exceeded")
            self.policies.get(request.principal_arn, {}).pop(f"jitbot-{request.id}", None)
            self.revoked.append(request.id)
            return 0

    def has_grant(self, request: AccessRequest) -> bool:
        return f"jitbot-{request.id}" in self.policies.get(request.principal_arn, {})

    def jit_policies(self, principal_arn: str) -> list[str]:
        return sorted(self.policies.get(principal_arn, {}))

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        with self._lock:
            self.policies.get(principal_arn, {}).pop(policy_name, None)

    def jit_principals(self) -> list[str]:
        return []


class RecordingAlarms:
    def __init__(self) -> None:
        self.armed: dict[str, AccessRequest] = {}
        self.disarmed: list[str] = []

    def arm(self, request: AccessRequest) -> None:
        self.armed[request.id] = request

    def disarm(self, request_id: str) -> None:
        self.armed.pop(request_id, None)
        self.disarmed.append(request_id)


def _window(at: datetime | None, since: datetime, until: datetime) -> bool:
    return at is not None and since <= at < until


class InMemoryReports:
    """core.reports.Reports over the in-memory tables: the reference the SQL adapter is checked against."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def _requests(self) -> list[AccessRequest]:
        with self.db.lock:
            return list(self.db.tables.requests.values())

    def _events(self) -> list[AuditEvent]:
        with self.db.lock:
            return list(self.db.tables.events)

    def created_by_state(self, since: datetime, until: datetime) -> Mapping[str, int]:
        counts = dict.fromkeys((s.value for s in State), 0)
        for r in self._requests():
            if _window(r.created_at, since, until):
                counts[r.state.value] += 1
        return counts

    def ended_by_state(self, since: datetime, until: datetime) -> Mapping[str, int]:
        counts = dict.fromkeys((s.value for s in State), 0)
        for r in self._requests():
            if _window(r.ended_at, since, until):
                counts[r.state.value] += 1
        return counts

    def ended(self, since: datetime, until: datetime, states: Sequence[State], *, limit: int) -> list[AccessRequest]:
        found = [r for r in self._requests() if r.state in states and _window(r.ended_at, since, until)]
        return sorted(found, key=lambda r: (r.ended_at, r.id), reverse=True)[:limit]

    def live(self, state: State, *, limit: int) -> list[AccessRequest]:
        return sorted((r for r in self._requests() if r.state is state), key=lambda r: (r.created_at, r.id))[:limit]

    def count_live(self, state: State) -> int:
        return sum(1 for r in self._requests() if r.state is state)

    def action_counts(self, actions: Sequence[Action], since: datetime, until: datetime) -> Mapping[str, int]:
        counts = dict.fromkeys(actions, 0)
        for e in self._events():
            if e.action in counts and _window(e.at, since, until):
                counts[e.action] += 1
        return counts

    def events(self, actions: Sequence[Action], since: datetime, until: datetime, *, limit: int) -> list[AuditEvent]:
        found = [e for e in self._events() if e.action in actions and _window(e.at, since, until)]
        return sorted(found, key=lambda e: (e.at, e.id or 0), reverse=True)[:limit]

    def lockouts(self, *, limit: int) -> list[Lockout]:
        with self.db.lock:
            found = list(self.db.tables.lockouts.values())
        return sorted(found, key=lambda x: (x.at, x.user_id))[:limit]

    def _ranked(self, key: Any, since: datetime, until: datetime) -> list[tuple[Any, int]]:
        counts: dict[Any, int] = {}
        for r in self._requests():
            if _window(r.created_at, since, until):
                counts[key(r)] = counts.get(key(r), 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def top_requesters(self, since: datetime, until: datetime, n: int) -> list[tuple[str, int]]:
        return self._ranked(lambda r: r.requester, since, until)[:n]

    def top_nodes(self, since: datetime, until: datetime, n: int) -> list[tuple[str, str | None, int]]:
        names = {r.node.id: r.node.name for r in sorted(self._requests(), key=lambda r: r.node.name or "")}
        return [(node, names.get(node), c) for node, c in self._ranked(lambda r: r.node.id, since, until)[:n]]

    def failing_cleanups(self, *, limit: int) -> list[AccessRequest]:
        found = [r for r in self._requests() if r.needs_cleanup and r.cleanup_attempts > 0]
        return sorted(found, key=lambda r: (r.ended_at or r.created_at, r.id))[:limit]

    def unconfirmed_revocations(self, now: datetime) -> tuple[int, int]:
        requests = self._requests()
        return (sum(1 for r in requests if r.needs_cleanup and r.state in FINAL_STATES),
                sum(1 for r in requests if r.state is State.ACTIVE and r.expires_at is not None
                    and r.expires_at <= now))

    def pending_revocations(self, ended_before: datetime, *, limit: int) -> list[AccessRequest]:
        found = [r for r in self._requests()
                 if (r.needs_cleanup and r.state in FINAL_STATES and (r.ended_at is None or r.ended_at <= ended_before))
                 or (r.state is State.ACTIVE and r.expires_at is not None and r.expires_at <= ended_before)]
        return sorted(found, key=lambda r: (r.ended_at or r.expires_at or r.created_at, r.id))[:limit]

    def unreviewed(self, kind: Kind, review_action: Action, *, limit: int) -> list[AccessRequest]:
        reviewed = {e.request_id for e in self._events() if e.action == review_action}
        found = [r for r in self._requests() if r.kind is kind and r.id not in reviewed]
        return sorted(found, key=lambda r: (r.created_at, r.id))[:limit]

    def session_counts(self, request_ids: Sequence[str]) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for session in self.db.tables.sessions.values():
            if session.request_id in request_ids:
                counts[session.request_id] = counts.get(session.request_id, 0) + 1
        return counts

    def sessions_started(self, since: datetime, until: datetime) -> tuple[int, int]:
        found = [s for s in self.db.tables.sessions.values() if _window(s.started_at, since, until)]
        return len(found), len({s.request_id for s in found})

    def purge_before(self, cutoff: datetime, *, limit: int) -> tuple[int, int]:
        with self.db.lock:
            t = self.db.tables.copy()
            old = [r.id for r in sorted(t.requests.values(), key=lambda r: r.id)
                   if r.state in FINAL_STATES and not r.needs_cleanup and (r.ended_at or r.created_at) < cutoff][:limit]
            for rid in old:
                del t.requests[rid]
            t.decisions = [d for d in t.decisions if d.request_id not in old]
            t.messages = {k: m for k, m in t.messages.items() if k[0] not in old}
            t.sessions = {k: s for k, s in t.sessions.items() if s.request_id not in old}
            t.polls = {k: p for k, p in t.polls.items() if k not in old}
            gone = [e.id for e in t.events if e.at < cutoff][:limit]
            t.events = [e for e in t.events if e.id not in gone]
            self.db.tables = t
            return len(old), len(gone)


POLICIES = """
[settings]
timezone = "Asia/Tokyo"
audit_channel = "C0AUDIT01"
approval_timeout = "24h"
reminder_interval = "1h"
expiry_warning = "10m"

[identities]
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"

[[manual_approval]]
name = "production"
targets = "all"
max_duration = "8h"

  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]

  [[manual_approval.levels]]
  name = "Manager"
  channel = "C0MGRAPPR"
  approvers = ["U0CAROL01"]
"""

WEB1 = Node("i-0123456789abcdef0", "111122223333", "eu-west-1", name="web-1", tags={"Environment": "prod"})
LEVELS = (LevelSnapshot("SRE lead", "C0SREAPPR", ("S0SRELEAD",), 1),
          LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01",), 1))


class FakeWorld:
    """A Context on the fakes above, with a fake clock: ``world.ctx``, ``world.clock.advance(hours=1)``."""

    def __init__(self, policies: str = POLICIES, start: datetime = T0) -> None:
        self.clock = FakeClock(start)
        self.db = InMemoryDatabase()
        self.notifier = RecordingNotifier()
        self.access = FakeAccess()
        self.alarms = RecordingAlarms()
        self.reports = InMemoryReports(self.db)
        self.directory = FakeDirectory(groups={"S0SRELEAD": frozenset({"U0SAM0001", "U0TINA001"})})
        self.policy_file: PolicyFile = parse_policies(policies, "policies.toml")
        self.ctx = Context(uow=lambda: InMemoryUnitOfWork(self.db), clock=self.clock, nodes=FakeNodes([WEB1]),
                           access=self.access, directory=self.directory, notifier=self.notifier,
                           policies=lambda: self.policy_file, alarms=self.alarms, reports=self.reports)

    def add(self, **overrides: Any) -> AccessRequest:
        """Store a request (pending at level 1 of two, created now, unless told otherwise)."""
        values: dict[str, Any] = {
            "id": f"R{len(self.db.tables.requests) + 1:08d}", "requester": "U0ALICE01",
            "principal_arn": "arn:aws:iam::111122223333:role/alice", "node": WEB1, "reason": "disk full",
            "duration": timedelta(hours=1), "policy": "production", "kind": Kind.MANUAL, "levels": LEVELS,
            "state": State.PENDING, "created_at": self.clock.now(),
        }
        values.update(overrides)
        request = AccessRequest(**values)
        with self.ctx.uow() as uow:
            uow.repo.add(request)
            for level in range(min(request.current_level + 1, len(request.levels))):
                uow.repo.add_message(MessageRef(request.id, f"level-{level}", request.levels[level].channel,
                                                f"{level}.1"))
            uow.commit()
        return request

    def grant(self, duration: timedelta = timedelta(hours=1), **overrides: Any) -> AccessRequest:
        """An active grant that started now, with its policy in the fake AWS."""
        now = self.clock.now()
        request = self.add(state=State.ACTIVE, duration=duration, granted_at=now, expires_at=now + duration,
                           current_level=len(LEVELS), **overrides)
        self.access.grant(request, now + duration, ["SSM-SessionManagerRunShell"])
        return request

    def get(self, request_id: str) -> AccessRequest:
        with self.ctx.uow() as uow:
            found = uow.repo.get(request_id)
        assert found is not None
        return found

    def actions(self, request_id: str | None = None) -> list[str]:
        with self.ctx.uow() as uow:
            return [e.action for e in uow.repo.events(request_id)]


# --- a seeded history for the digest (used by the core tests on the fakes and the store tests on SQL) ------

NOW = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)  # 09:30 in Asia/Tokyo
_NODES = {name: Node(f"i-0{c * 8}", "111122223333", "eu-west-1", name=name)
          for name, c in (("web-1", "a"), ("db-1", "b"), ("dev-1", "c"), ("pci-db", "d"), ("old-1", "e"))}
_H = timedelta(hours=1)
_D = timedelta(days=1)
#: id: (requester, node, state, created before NOW, ended before NOW or None, extra fields)
HISTORY: dict[str, tuple[str, str, State, timedelta, timedelta | None, dict[str, Any]]] = {
    "RA1": ("U0BOB0001", "web-1", State.ACTIVE, 2 * _H, None, {"kind": Kind.AUTO, "expires_at": NOW + 2 * _H}),
    "RA2": ("U0ALICE01", "db-1", State.ACTIVE, 5 * _H, None, {"expires_at": NOW + _H / 2}),
    "RP1": ("U0ALICE01", "web-1", State.PENDING, 3 * _H, None, {}),
    "RP2": ("U0DAVE001", "db-1", State.PENDING, 20 * _H, None, {}),
    "RJ1": ("U0ERIN001", "web-1", State.REJECTED, 6 * _H, 5 * _H, {"end_reason": "use the runbook",
                                                                    "ended_by": "U0SAM0001"}),
    "RE1": ("U0BOB0001", "dev-1", State.EXPIRED, 10 * _H, 8 * _H, {"kind": Kind.AUTO}),
    "RX1": ("U0BOB0001", "dev-1", State.EXPIRED, _H, timedelta(minutes=1), {"needs_cleanup": True}),
    "RV1": ("U0ALICE01", "web-1", State.REVOKED, 12 * _H, 11 * _H, {"end_reason": "incident over",
                                                                     "ended_by": "U0SAM0001"}),
    "RF1": ("U0ERIN001", "db-1", State.FAILED, 4 * _H, 4 * _H, {"end_reason": "AccessDenied: no iam:PutRolePolicy"}),
    "RT1": ("U0ERIN001", "web-1", State.TIMED_OUT, 30 * _H, 6 * _H, {}),
    "RO1": ("U0ALICE01", "web-1", State.EXPIRED, 3 * _D, 3 * _D - _H, {}),
    "RO2": ("U0ALICE01", "web-1", State.EXPIRED, 6 * _D, 6 * _D - _H, {}),
    "RO3": ("U0BOB0001", "dev-1", State.REVOKED, 5 * _D, 30 * _H, {"needs_cleanup": True, "cleanup_attempts": 4}),
    "RO4": ("U0ZED0001", "old-1", State.EXPIRED, 8 * _D, 8 * _D - _H, {}),
    "RB1": ("U0SAM0001", "pci-db", State.EXPIRED, 2 * _D, 2 * _D - _H, {"kind": Kind.BREAKGLASS}),
    "RB2": ("U0SAM0001", "pci-db", State.EXPIRED, 3 * _D, 3 * _D - _H, {"kind": Kind.BREAKGLASS}),
}
#: (request id or None, action, before NOW, detail)
EVENTS: list[tuple[str | None, str, timedelta, dict[str, Any]]] = [
    ("RA1", "auto_approved", 2 * _H, {}),
    ("RE1", "auto_approved", 10 * _H, {}),
    ("RO1", "auto_approved", 3 * _D, {}),
    (None, "drift_removed", _H, {"principal": "arn:aws:iam::111122223333:role/bob", "policy": "jitbot-RZZZ1",
                                 "why": "no live request explains it"}),
    (None, "drift_removed", 7 * _H, {"principal": "arn:aws:iam::111122223333:role/alice",
                                     "policy": "jitbot-RZZZ2", "why": "its request ended"}),
    (None, "drift_removed", 2 * _D, {"principal": "arn:aws:iam::111122223333:role/alice", "policy": "jitbot-RZZZ0",
                                     "why": "old"}),
    ("RO3", "revoke_retry", 20 * _H, {"attempt": 2}),
    ("RO3", "revoke_retry", 10 * _H, {"attempt": 3}),
    ("RO3", "revoke_retry", _H, {"attempt": 4}),
    ("RF1", "grant_retry", 4 * _H + timedelta(minutes=1), {}),
    ("RB2", "breakglass_reviewed", 2 * _D, {}),
]


def seed_history(uow_factory: Any, now: datetime = NOW) -> dict[str, AccessRequest]:
    """Write HISTORY and EVENTS through the Repository port (in memory or SQL), relative to ``now``."""
    made = {}
    with uow_factory() as uow:
        for rid, (who, node, state, created, ended, extra) in HISTORY.items():
            fields: dict[str, Any] = {"kind": Kind.MANUAL, **extra}
            if state is State.ACTIVE:
                fields.setdefault("granted_at", fields["expires_at"] - timedelta(hours=3))
            made[rid] = AccessRequest(
                id=rid, requester=who, principal_arn=f"arn:aws:iam::111122223333:role/{who.lower()}",
                node=_NODES[node], reason="seeded", duration=timedelta(hours=3), policy="production",
                levels=LEVELS if fields["kind"] is Kind.MANUAL else (), state=state, created_at=now - created,
                ended_at=None if ended is None else now - ended, **fields)
            uow.repo.add(made[rid])
        for rid, action, before, detail in EVENTS:
            uow.repo.add_event(AuditEvent(rid, now - before, "jitbot", action, detail))
        uow.commit()
    return made


_ZERO = {s.value: 0 for s in State}


def check_seeded_digest(digest: Digest) -> None:
    """The figures of tests.fakes_core.HISTORY at NOW; shared with the store's test of the SQL adapter."""
    assert digest.generated_at == NOW and digest.since == NOW - WINDOW
    assert digest.created == _ZERO | {"active": 2, "pending": 2, "rejected": 1, "expired": 2, "revoked": 1,
                                     "failed": 1}
    assert digest.created_total == 9
    assert digest.auto_approved == 2
    assert digest.ended == _ZERO | {"rejected": 1, "expired": 2, "revoked": 1, "failed": 1, "timed_out": 1}
    assert [(r.id, r.end_reason, r.ended_by) for r in digest.rejections] == [("RJ1", "use the runbook", "U0SAM0001")]
    assert [(r.id, r.end_reason) for r in digest.revocations] == [("RV1", "incident over")]
    assert [r.id for r in digest.grant_failures] == ["RF1"]
    assert digest.retries == {"grant_retry": 1, "revoke_retry": 3}
    assert [(t.request.id, t.span) for t in digest.active] == [("RA2", timedelta(minutes=30)),
                                                                ("RA1", timedelta(hours=2))]
    assert digest.active_total == 2
    assert [(t.request.id, t.span) for t in digest.pending] == [("RP2", timedelta(hours=20)),
                                                                 ("RP1", timedelta(hours=3))]
    assert digest.pending_total == 2
    assert digest.top_requesters == (Ranked("U0ALICE01", None, 5), Ranked("U0BOB0001", None, 4),
                                      Ranked("U0ERIN001", None, 3), Ranked("U0SAM0001", None, 2),
                                      Ranked("U0DAVE001", None, 1))
    assert digest.top_nodes == (Ranked("i-0aaaaaaaa", "web-1", 7), Ranked("i-0bbbbbbbb", "db-1", 3),
                                Ranked("i-0cccccccc", "dev-1", 3), Ranked("i-0dddddddd", "pci-db", 2))
    assert [(r.id, r.cleanup_attempts) for r in digest.failing_revocations] == [("RO3", 4)]
    assert digest.drift_total == 2
    assert [e.detail["policy"] for e in digest.drift] == ["jitbot-RZZZ1", "jitbot-RZZZ2"]
    assert [r.id for r in digest.unreviewed_breakglass] == ["RB1"]
    assert digest.needs_human
