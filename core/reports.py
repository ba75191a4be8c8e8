"""The ``Reports`` port: the history read in aggregate (the daily digest, the metrics of pending revocations) and
trimmed for retention; ``store.reports.SqlReports`` implements it. Beside ``core.ports``, which holds the ports of
the live request path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from core.audit import Action
from core.model import AccessRequest, AuditEvent, Kind, Lockout, State


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

    def action_counts(self, actions: Sequence[Action], since: datetime, until: datetime) -> Mapping[str, int]:
        """Audit events of each of ``actions`` in the window (every action present)."""
        ...

    def events(self, actions: Sequence[Action], since: datetime, until: datetime, *,
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

    def unconfirmed_revocations(self, now: datetime) -> tuple[int, int]:
        """(grants that ended whose policy deletion AWS has not confirmed yet, active grants already past their
        end at ``now``): what ``pending_revocations`` lists, counted."""
        ...

    def pending_revocations(self, ended_before: datetime, *, limit: int) -> list[AccessRequest]:
        """Grants that ended (or, still active, reached their end) at or before ``ended_before`` and whose policy
        deletion AWS has not confirmed, the longest waiting first, at most ``limit``."""
        ...

    def unreviewed(self, kind: Kind, review_action: Action, *, limit: int) -> list[AccessRequest]:
        """Requests of ``kind`` with no audit event ``review_action`` yet (break-glass reviews)."""
        ...

    def lockouts(self, *, limit: int) -> list[Lockout]:
        """The people locked out now (``/jit lockout``), the earliest first."""
        ...

    def session_counts(self, request_ids: Sequence[str]) -> Mapping[str, int]:
        """How many SSM sessions are recorded for each of ``request_ids`` (those with none are absent)."""
        ...

    def sessions_started(self, since: datetime, until: datetime) -> tuple[int, int]:
        """(sessions recorded that started in the window, grants they belong to)."""
        ...

    def purge_before(self, cutoff: datetime, *, limit: int) -> tuple[int, int]:
        """Delete up to ``limit`` finished requests that ended before ``cutoff`` (not those still
        waiting for AWS cleanup) and up to ``limit`` audit events before it, in one short
        transaction of its own. Returns (requests, events) deleted."""
        ...
