"""The AWS side as the playground shows it: jitbot's grants in IAM (moto), the SSM sessions, and opening one.

Grants are read from IAM itself (the ``jitbot-*`` inline policies of the principals the policy file names), not
from jitbot's database: the panel shows what AWS would enforce. Opening a session checks those documents the
way IAM would for ``ssm:StartSession`` (the node's ARN among the resources, ``aws:CurrentTime`` before the
``DateLessThan``), at the playground's time, then starts it in the fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from aws.arns import parse_principal
from fakes.aws import FakeAws

JSON = dict[str, Any]
POLICY_PREFIX = "jitbot-"


@dataclass(frozen=True)
class Grant:
    request_id: str
    principal: str
    node_id: str
    expires: datetime | None


def _statements(document: JSON) -> list[JSON]:
    found = document.get("Statement") or []
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []


def _until(statement: JSON) -> datetime | None:
    text = (statement.get("Condition") or {}).get("DateLessThan", {}).get("aws:CurrentTime")
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _start_session(statement: JSON) -> bool:
    return statement.get("Effect") == "Allow" and "ssm:StartSession" in _listed(statement.get("Action"))


def grants(aws: FakeAws, principals: list[str]) -> list[Grant]:
    """Every ``jitbot-*`` inline policy of ``principals`` that allows ``ssm:StartSession`` on a node."""
    found: list[Grant] = []
    for principal in principals:
        try:
            documents = aws.inline_policies(principal)
        except ClientError:  # a principal that does not exist in IAM has no grants to show
            continue
        for name, document in sorted(documents.items()):
            if not name.startswith(POLICY_PREFIX):
                continue
            for statement in filter(_start_session, _statements(document)):
                nodes = [r.rsplit("/", 1)[-1] for r in _listed(statement.get("Resource"))
                         if ":instance/" in r or ":managed-instance/" in r]
                found += [Grant(name[len(POLICY_PREFIX):], principal, node, _until(statement)) for node in nodes]
    return found


def allowed(aws: FakeAws, principal: str, node_id: str, now: datetime) -> Grant | None:
    """The grant under which ``principal`` may start a session on ``node_id`` at ``now``, if any."""
    for grant in grants(aws, [principal]):
        if grant.node_id == node_id and (grant.expires is None or now < grant.expires):
            return grant
    return None


def session_owner(principal: str, person: str) -> str:
    """The ``Owner`` AWS records for a session: the user's ARN, or the role session (named after the person)."""
    parsed = parse_principal(principal)
    if parsed.kind == "user":
        return parsed.arn
    return f"arn:{parsed.partition}:sts::{parsed.account}:assumed-role/{parsed.name}/{person.lower()}"


def sessions(aws: FakeAws) -> list[JSON]:
    """Every session, newest first, with its dates as ISO text."""
    rows = []
    for row in aws.sessions():
        rows.append({"id": row["SessionId"], "node": row["Target"], "owner": row["Owner"], "status": row["Status"],
                     "document": row["DocumentName"],
                     "started": row["StartDate"].isoformat() if row.get("StartDate") else None,
                     "ended": row["EndDate"].isoformat() if row.get("EndDate") else None})
    rows.sort(key=lambda r: r["started"] or "", reverse=True)
    return rows
