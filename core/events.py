"""Lifecycle events for other systems: every transition of a request (and its creation) is owed as an event in
the transaction that makes it (``core.context.transition``), then published from the outbox (``core.outbox``) to
Amazon EventBridge and/or a signed HTTPS webhook (``[events]`` in the policy file; docs/events.md).

* Each event has an ``id`` (stable across retries: receivers deduplicate on it), the source ``jitbot`` and one
  detail-type per transition (``DETAIL_TYPES``); ``detail`` is built here, the same for both sinks.
* A request's events go out in the order they were owed, in a lane of their own: a webhook that is down holds
  back that request's later events, never its Slack messages.
* Retries: as the outbox's (2 s doubling, at most 5 minutes between attempts), for ``RETRY_FOR`` (a day); then a
  dead letter (audited ``message_undelivered``, logged, counted). An outage shorter than that loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from core.model import AccessRequest, Change, State

SOURCE = "jitbot"
#: the detail schema's version (docs/events.md); bumped on an incompatible change
VERSION = "1"
#: an event still failing this long after it was owed is given up on (a dead letter)
RETRY_FOR = timedelta(hours=24)

#: (from, to) → detail-type; ``None`` as "from": the request was created in that state
DETAIL_TYPES: dict[tuple[State | None, State], str] = {
    (None, State.PENDING): "Request Submitted",
    (State.PENDING, State.APPROVED): "Request Approved",
    (State.PENDING, State.REJECTED): "Request Rejected",
    (State.PENDING, State.CANCELLED): "Request Cancelled",
    (State.PENDING, State.TIMED_OUT): "Request Timed Out",
    (State.PENDING, State.REVOKED): "Request Revoked",
    (State.APPROVED, State.ACTIVE): "Access Granted",
    (State.APPROVED, State.FAILED): "Grant Failed",
    (State.APPROVED, State.REVOKED): "Request Revoked",
    (State.APPROVED, State.CANCELLED): "Request Cancelled",  # scheduled access withdrawn before its start
    (State.ACTIVE, State.EXPIRED): "Access Expired",
    (State.ACTIVE, State.REVOKED): "Access Revoked",
}


def change(request: AccessRequest, source: State | None, target: State, *, action: str, actor: str,
           at: datetime, reason: str | None = None) -> Change:
    """The event of a transition, ``request`` as the transition leaves it."""
    return Change(id=str(uuid.uuid4()), request=request, action=action, source=source, target=target,
                  actor=actor, at=at, reason=reason)


def detail_type(event: Change) -> str:
    return DETAIL_TYPES.get((event.source, event.target), f"Request {event.target.value.replace('_', ' ').title()}")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def detail(event: Change) -> dict[str, Any]:
    """The event's ``detail`` (docs/events.md): the transition, and the request as it left it."""
    r = event.request
    return {
        "version": VERSION,
        "id": event.id,
        "request_id": r.id,
        "action": event.action,
        "from": event.source.value if event.source is not None else None,
        "to": event.target.value,
        "actor": event.actor,
        "at": _iso(event.at),
        "reason": event.reason,
        "request": {
            "requester": r.requester,
            "principal_arn": r.principal_arn,
            "node": {"id": r.node.id, "account": r.node.account, "region": r.node.region, "name": r.node.name},
            # every node of the request, ``node`` first (one entry for a request of one node)
            "nodes": [{"id": n.id, "account": n.account, "region": n.region, "name": n.name} for n in r.nodes],
            "policy": r.policy,
            "kind": r.kind.value,
            "reason": r.reason,
            "ticket": r.ticket,
            "duration_seconds": int(r.duration.total_seconds()),
            "created_at": _iso(r.created_at),
            "granted_at": _iso(r.granted_at),
            "expires_at": _iso(r.expires_at),
            "ended_at": _iso(r.ended_at),
            "ended_by": r.ended_by,
            "end_reason": r.end_reason,
            "extends": r.extends,
        },
    }


def envelope(event: Change) -> dict[str, Any]:
    """What the webhook receives: EventBridge's own envelope, so one consumer can read both."""
    return {"version": "0", "id": event.id, "source": SOURCE, "detail-type": detail_type(event),
            "time": event.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [], "detail": detail(event)}
