"""Conversions between rows and the frozen dataclasses of core.model, and field → column mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Row, Table

from core.model import (
    AccessRequest,
    AuditEvent,
    Decision,
    Kind,
    LevelSnapshot,
    MessageRef,
    Node,
    State,
)
from store.models import AuditEventRow, DecisionRow, MessageRow, RequestRow

#: The tables, for Core statements (the repository reads and writes rows without the ORM's unit of work).
REQUESTS = cast(Table, RequestRow.__table__)
DECISIONS = cast(Table, DecisionRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
MESSAGES = cast(Table, MessageRow.__table__)


def _node_columns(node: Any) -> dict[str, Any]:
    if not isinstance(node, Node):
        raise TypeError(f"node: expected a Node, got {type(node).__name__}")
    return {
        "node_id": node.id,
        "node_account": node.account,
        "node_region": node.region,
        "node_name": node.name,
        "node_tags": dict(node.tags),
        "node_ping_status": node.ping_status,
        "node_platform": node.platform,
    }


def _node_dict(node: Node) -> dict[str, Any]:
    return {"id": node.id, "account": node.account, "region": node.region, "name": node.name,
            "tags": dict(node.tags), "ping_status": node.ping_status, "platform": node.platform}


def _dict_node(value: Mapping[str, Any]) -> Node:
    return Node(id=value["id"], account=value["account"], region=value["region"], name=value.get("name"),
                tags=dict(value.get("tags") or {}), ping_status=value.get("ping_status"),
                platform=value.get("platform"))


def _more_nodes(value: Any) -> dict[str, Any]:
    """NULL for a request of one node (most of them): rows written before migration 0011 look the same."""
    nodes = [_node_dict(node) for node in value]
    return {"more_nodes": nodes or None}


def _duration_seconds(value: Any) -> int:
    if not isinstance(value, timedelta):
        raise TypeError(f"duration: expected a timedelta, got {type(value).__name__}")
    return int(value.total_seconds())


def _level_dict(level: LevelSnapshot | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(level, LevelSnapshot):
        level = _snapshot(level)
    out: dict[str, Any] = {
        "name": level.name,
        "channel": level.channel,
        "approvers": list(level.approvers),
        "required": level.required,
    }
    if level.escalate_after is not None:  # levels without escalation keep the shape they always had
        out.update(escalate_after=int(level.escalate_after.total_seconds()), escalate_to=list(level.escalate_to),
                   escalate_channel=level.escalate_channel)
    return out


def _snapshot(level: Mapping[str, Any]) -> LevelSnapshot:
    after = level.get("escalate_after")
    return LevelSnapshot(
        name=level["name"],
        channel=level["channel"],
        approvers=tuple(level["approvers"]),
        required=int(level["required"]),
        escalate_after=timedelta(seconds=int(after)) if after is not None else None,
        escalate_to=tuple(level.get("escalate_to") or ()),
        escalate_channel=level.get("escalate_channel"),
    )


def _levels(value: Any) -> list[dict[str, Any]]:
    return [_level_dict(level) for level in value]


def _single(column: str, convert: Callable[[Any], Any] | None = None) -> Callable[[Any], dict[str, Any]]:
    def to_columns(value: Any) -> dict[str, Any]:
        if convert is not None and value is not None:
            value = convert(value)
        return {column: value}

    return to_columns


#: AccessRequest field → function of the field's value giving the column values to write.
FIELD_COLUMNS: Mapping[str, Callable[[Any], dict[str, Any]]] = {
    "id": _single("id"),
    "requester": _single("requester"),
    "principal_arn": _single("principal_arn"),
    "node": _node_columns,
    "reason": _single("reason"),
    "duration": lambda value: {"duration_seconds": _duration_seconds(value)},
    "policy": _single("policy"),
    "kind": _single("kind", lambda value: Kind(value).value),
    "levels": lambda value: {"levels": _levels(value)},
    "state": _single("state", lambda value: State(value).value),
    "created_at": _single("created_at"),
    "current_level": _single("current_level"),
    "ticket": _single("ticket"),
    "granted_at": _single("granted_at"),
    "expires_at": _single("expires_at"),
    "ended_at": _single("ended_at"),
    "end_reason": _single("end_reason"),
    "ended_by": _single("ended_by"),
    "extends": _single("extends"),
    "reminders_sent": _single("reminders_sent"),
    "last_reminder_at": _single("last_reminder_at"),
    "warned": _single("warned"),
    "needs_cleanup": _single("needs_cleanup"),
    "cleanup_attempts": _single("cleanup_attempts"),
    "lease_until": _single("lease_until"),
    "sessions_ended": _single("sessions_ended"),
    "notice_due": _single("notice_due"),
    "escalated_level": _single("escalated_level"),
    "starts_at": _single("starts_at"),
    "more_nodes": _more_nodes,
}

def request_columns(request: AccessRequest) -> dict[str, Any]:
    """Every column of ``requests`` for ``request``."""
    values: dict[str, Any] = {}
    for f in fields(request):
        values.update(FIELD_COLUMNS[f.name](getattr(request, f.name)))
    return values


def row_to_request(row: RequestRow | Row[Any]) -> AccessRequest:
    return AccessRequest(
        id=row.id,
        requester=row.requester,
        principal_arn=row.principal_arn,
        node=Node(
            id=row.node_id,
            account=row.node_account,
            region=row.node_region,
            name=row.node_name,
            tags=dict(row.node_tags or {}),
            ping_status=row.node_ping_status,
            platform=row.node_platform,
        ),
        reason=row.reason,
        duration=timedelta(seconds=row.duration_seconds),
        policy=row.policy,
        kind=Kind(row.kind),
        levels=tuple(_snapshot(level) for level in row.levels or ()),
        state=State(row.state),
        created_at=row.created_at,
        current_level=row.current_level,
        ticket=row.ticket,
        granted_at=row.granted_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        ended_by=row.ended_by,
        extends=row.extends,
        reminders_sent=row.reminders_sent,
        last_reminder_at=row.last_reminder_at,
        warned=row.warned,
        needs_cleanup=row.needs_cleanup,
        cleanup_attempts=row.cleanup_attempts,
        lease_until=row.lease_until,
        sessions_ended=row.sessions_ended,
        notice_due=row.notice_due,
        escalated_level=row.escalated_level,
        starts_at=row.starts_at,
        more_nodes=tuple(_dict_node(n) for n in row.more_nodes or ()),
    )


def decision_columns(decision: Decision) -> dict[str, Any]:
    return {
        "request_id": decision.request_id,
        "level": decision.level,
        "approver": decision.approver,
        "approve": decision.approve,
        "comment": decision.comment,
        "at": decision.at,
        "duration_seconds": _duration_seconds(decision.duration) if decision.duration is not None else None,
    }


def row_to_decision(row: DecisionRow | Row[Any]) -> Decision:
    return Decision(
        request_id=row.request_id,
        level=row.level,
        approver=row.approver,
        approve=row.approve,
        at=row.at,
        comment=row.comment,
        duration=timedelta(seconds=row.duration_seconds) if row.duration_seconds is not None else None,
    )


def event_columns(event: AuditEvent) -> dict[str, Any]:
    """Columns of a new audit row; ``event.id`` is ignored (the database numbers the trail)."""
    return {
        "request_id": event.request_id,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "detail": dict(event.detail),
    }


def row_to_event(row: AuditEventRow | Row[Any]) -> AuditEvent:
    return AuditEvent(
        request_id=row.request_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        detail=dict(row.detail or {}),
        id=row.id,
    )


def message_columns(ref: MessageRef) -> dict[str, Any]:
    return {"request_id": ref.request_id, "purpose": ref.purpose, "channel": ref.channel, "ts": ref.ts}


def row_to_message(row: MessageRow | Row[Any]) -> MessageRef:
    return MessageRef(request_id=row.request_id, purpose=row.purpose, channel=row.channel, ts=row.ts)
