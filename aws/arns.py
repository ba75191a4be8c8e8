"""ARNs jitbot reads (IAM principals) and writes (node, document and session resources of a grant)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
MANAGED_ID = re.compile(r"^mi-[0-9a-f]{17}$")
DOCUMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,128}$")

_IAM_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>role|user)"
    r"(?P<path>/(?:[\x21-\x7e]*/)?)(?P<name>[\w+=,.@-]{1,128})$"
)
_ASSUMED_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<name>[\w+=,.@-]{1,64})/[^/]+$"
)
#: Documents AWS owns live in no account: their ARN has an empty account field.
_AWS_OWNED_PREFIXES = ("AWS-", "AWSEC2-", "AWSFleetManager-", "AWSSupport-", "AWSSSO-", "AmazonCloudWatch-")


@dataclass(frozen=True)
class Principal:
    """An IAM role or user that receives grants."""

    arn: str
    partition: str
    account: str
    kind: Literal["role", "user"]
    name: str

    @property
    def assumed_role_prefix(self) -> str | None:
        """Owners of this role's sessions look like ``arn:aws:sts::ACCOUNT:assumed-role/NAME/<session>``."""
        if self.kind != "role":
            return None
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.name}/"

    def owns(self, session_owner: str) -> bool:
        """Whether a session whose ``Owner`` is ``session_owner`` was started by this principal."""
        if session_owner == self.arn:
            return True
        prefix = self.assumed_role_prefix
        return prefix is not None and session_owner.startswith(prefix) and len(session_owner) > len(prefix)


def parse_principal(arn: str) -> Principal:
    """An IAM role or user ARN (with or without a path); an assumed-role ARN stands for its role.

    Raises ``ValueError`` with a message fit for the audit log.
    """
    text = arn.strip()
    match = _IAM_ARN.match(text)
    if match:
        kind: Literal["role", "user"] = "role" if match["kind"] == "role" else "user"
        return Principal(text, match["partition"], match["account"], kind, match["name"])
    match = _ASSUMED_ROLE_ARN.match(text)
    if match:
        return Principal(text, match["partition"], match["account"], "role", match["name"])
    raise ValueError(f"'{arn}' is not an IAM role or user ARN")


def is_aws_owned_document(name: str) -> bool:
    return name.startswith(_AWS_OWNED_PREFIXES)


def document_arn(name: str, *, partition: str, region: str, account: str) -> str:
    """The ARN of a session document as IAM sees it when a session starts in ``account``/``region``.

    Documents AWS owns (``AWS-StartPortForwardingSession`` …) have no account in their ARN; the account's own
    (``SSM-SessionManagerRunShell``, custom documents) do. A full ARN (a shared document) is kept as it is.
    """
    if name.startswith("arn:"):
        if not name.split(":")[2:3] == ["ssm"] or ":document/" not in name:
            raise ValueError(f"'{name}' is not an SSM document ARN")
        return name
    if not DOCUMENT_NAME.match(name):
        raise ValueError(f"'{name}' is not a valid SSM document name")
    owner = "" if is_aws_owned_document(name) else account
    return f"arn:{partition}:ssm:{region}:{owner}:document/{name}"


def node_arn(node_id: str, *, partition: str, region: str, account: str) -> str:
    if node_id.startswith("mi-"):
        return f"arn:{partition}:ssm:{region}:{account}:managed-instance/{node_id}"
    return f"arn:{partition}:ec2:{region}:{account}:instance/{node_id}"
