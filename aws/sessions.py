"""Session Manager's sessions: ending someone's live sessions on a node (the last step of every revocation), and
reading the sessions of a grant for the record (``core.sessions``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.clients import Clients
from aws.session_logs import SessionLogs
from core.errors import JitError
from core.model import AccessRequest, Node, NodeSession

log = logging.getLogger(__name__)

_SESSION_GONE = frozenset({"DoesNotExistException", "InvalidSessionId"})
_ENDED = frozenset({"Terminated", "Terminating", "Failed"})


def terminate_sessions(clients: Clients, node: Node, owns: Callable[[str], bool], who: str) -> int:
    """End the active sessions on ``node`` whose ``Owner`` ``owns`` accepts; returns how many were ended.

    ``DescribeSessions`` filters on one exact ``Owner``, and role sessions are owned by assumed-role ARNs
    (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/<session>``), so the owner is matched here instead. Every failure
    is a ``TransientAwsError``: revocation retries until AWS confirms.
    """
    what = f"ending the sessions of {who} on {node.id}"
    ended = 0
    try:
        ssm = clients.ssm(node.account, node.region)
        paginator = ssm.get_paginator("describe_sessions")
        mine: list[str] = []
        for page in paginator.paginate(State="Active", Filters=[{"key": "Target", "value": node.id}]):
            for session in page.get("Sessions", []):
                owner, status = session.get("Owner", ""), session.get("Status", "")
                if owns(owner) and status not in _ENDED and "SessionId" in session:
                    mine.append(session["SessionId"])
        for session_id in mine:
            try:
                ssm.terminate_session(SessionId=session_id)
            except ClientError as err:
                if errors.error_code(err) in _SESSION_GONE:
                    continue
                raise
            ended += 1
            log.info("terminated session %s of %s on %s", session_id, who, node.id)
    except (ClientError, BotoCoreError, JitError) as err:
        raise errors.transient(err, what) from err
    return ended


#: Session Manager's statuses of a session that is over (``DescribeSessions`` ``History``)
_OVER = frozenset({"Terminated", "Failed"})


def find_sessions(clients: Clients, request: AccessRequest, owns: Callable[[str], bool], since: datetime,
                  until: datetime | None, logs: SessionLogs | None = None) -> list[NodeSession]:
    """The sessions on the request's nodes whose ``Owner`` ``owns`` accepts and that started between ``since`` and
    ``until`` (None: any time since), active and ended, each with where its log is (``logs``). Every failure is a
    ``TransientAwsError``."""
    found: dict[str, NodeSession] = {}
    for node in request.nodes:
        what = f"reading the sessions on {node.id}"
        try:
            _on_node(clients, request, node, owns, (since, until), logs, found)
        except (ClientError, BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
    return sorted(found.values(), key=lambda s: (s.started_at or since, s.id))


def _on_node(clients: Clients, request: AccessRequest, node: Node, owns: Callable[[str], bool],
             window: tuple[datetime, datetime | None], logs: SessionLogs | None,
             found: dict[str, NodeSession]) -> None:
    since, until = window
    ssm = clients.ssm(node.account, node.region)
    paginator = ssm.get_paginator("describe_sessions")
    after = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for state in ("Active", "History"):
        filters: list[Any] = [{"key": "Target", "value": node.id}, {"key": "InvokedAfter", "value": after}]
        for page in paginator.paginate(State=state, Filters=filters):
            for session in page.get("Sessions", []):
                started = session.get("StartDate")
                if not owns(session.get("Owner", "")) or "SessionId" not in session:
                    continue
                if started is not None and (started < since or (until is not None and started > until)):
                    continue
                found[session["SessionId"]] = _record(request, node, session, logs)


def _record(request: AccessRequest, node: Node, session: Mapping[str, Any], logs: SessionLogs | None) -> NodeSession:
    status = str(session.get("Status", ""))
    ended = session.get("EndDate") if status in _OVER or session.get("EndDate") else None
    where, url = logs.link(node, session["SessionId"]) if logs is not None else (None, None)
    return NodeSession(id=session["SessionId"], request_id=request.id, owner=str(session.get("Owner", "")),
                       status=status, document=session.get("DocumentName"), started_at=session.get("StartDate"),
                       ended_at=ended, log=where, log_url=url)
