"""Ending someone's live Session Manager sessions on a node (the last step of every revocation)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.clients import Clients
from core.errors import JitError
from core.model import Node

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
