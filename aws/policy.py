"""The inline IAM policy of a grant (docs/architecture.md, docs/iam/README.md), built by a pure function."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aws.arns import document_arn, node_arn, parse_principal
from core.documents import REMOTE_DESKTOP, REMOTE_DESKTOP_DOCUMENT
from core.model import AccessRequest, Node

POLICY_PREFIX = "jitbot-"
#: IAM's aggregate limits on inline policies (characters, whitespace excluded): roles 10,240, users 2,048.
USER_INLINE_LIMIT = 2048


def policy_name(request_id: str) -> str:
    return f"{POLICY_PREFIX}{request_id}"


def iso_utc(moment: datetime) -> str:
    """``2026-01-01T10:00:00Z``; a naive datetime is taken as UTC. Seconds are truncated (fails closed)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grant_policy_document(request: AccessRequest, expires_at: datetime, documents: Sequence[str],
                          *, document_access_check: bool = True) -> dict[str, Any]:
    """The policy that lets ``request.principal_arn`` open sessions on ``request.nodes`` until ``expires_at``.

    * ``ssm:StartSession`` on each node of the request (one statement lists them all) and on each allowed session
      document. With ``document_access_check`` (``ssm:SessionDocumentAccessCheck``) a session that names no
      document is checked against the default document too, so only the listed documents can be used.
    * ``ssm:TerminateSession`` / ``ssm:ResumeSession`` on the principal's own sessions: AWS tags every session
      with ``aws:ssmmessages:session-id`` = the starter's ``aws:userid``, which works for users and for role
      sessions alike (``${aws:username}`` exists for users only).
    * Every statement carries ``DateLessThan aws:CurrentTime``: the grant fails closed at expiry even if
      jitbot is down.

    Raises ``ValueError`` for an unusable principal ARN or document name.
    """
    principal = parse_principal(request.principal_arn)
    return node_policy_document(request.nodes, expires_at, documents, partition=principal.partition,
                                document_access_check=document_access_check)


def node_policy_document(nodes: Sequence[Node], expires_at: datetime, documents: Sequence[str], *,
                         partition: str = "aws", document_access_check: bool = True) -> dict[str, Any]:
    """The statements of ``grant_policy_document`` for whoever carries them: an IAM role or user's inline policy,
    or an Identity Center permission set's (``aws/identity_center.py``). ``nodes`` are in one account and region
    (``core.selection``). Raises ``ValueError`` for a bad document name, or nodes in several places."""
    if not documents:
        raise ValueError("no session documents to allow")
    node = nodes[0]
    if any((other.account, other.region) != (node.account, node.region) for other in nodes):
        raise ValueError("one grant's nodes must be in one account and region")
    until = {"DateLessThan": {"aws:CurrentTime": iso_utc(expires_at)}}
    part = partition
    desktop = REMOTE_DESKTOP in documents
    names = [d for d in documents if d != REMOTE_DESKTOP] + ([REMOTE_DESKTOP_DOCUMENT] if desktop else [])
    resources = [node_arn(n.id, partition=part, region=n.region, account=n.account) for n in nodes]
    for name in dict.fromkeys(names):  # keep order, drop duplicates
        resources.append(document_arn(name, partition=part, region=node.region, account=node.account))
    start_condition: dict[str, Any] = dict(until)
    if document_access_check:
        start_condition["BoolIfExists"] = {"ssm:SessionDocumentAccessCheck": "true"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "JitbotStartSession",
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": resources,
                "Condition": start_condition,
            },
            {
                "Sid": "JitbotOwnSessions",
                "Effect": "Allow",
                "Action": ["ssm:ResumeSession", "ssm:TerminateSession"],
                "Resource": f"arn:{part}:ssm:{node.region}:{node.account}:session/*",
                "Condition": {
                    **until,
                    "StringLike": {"ssm:resourceTag/aws:ssmmessages:session-id": "${aws:userid}"},
                },
            },
            *([_remote_desktop(until)] if desktop else []),
        ],
    }


def _remote_desktop(until: dict[str, Any]) -> dict[str, Any]:
    """Fleet Manager Remote Desktop's own actions (its connections have no resource ARN to scope them to): the
    node and the port-forwarding document stay the limit, through ``ssm:StartSession`` above."""
    return {"Sid": "JitbotRemoteDesktop", "Effect": "Allow",
            "Action": ["ssm-guiconnect:StartConnection", "ssm-guiconnect:GetConnection",
                       "ssm-guiconnect:CancelConnection"],
            "Resource": "*", "Condition": dict(until)}


def policy_json(document: dict[str, Any]) -> str:
    """Compact JSON: whitespace does not count against IAM's size limits, but keep the request small."""
    return json.dumps(document, separators=(",", ":"), sort_keys=False)
