"""``AwsGateway``: the ``NodeDirectory`` and ``AccessBackend`` ports on boto3."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.arns import Principal, parse_principal
from aws.clients import Accounts, Clients, SessionFactory
from aws.nodes import NodeFinder
from aws.policy import POLICY_PREFIX, grant_policy_document, policy_json, policy_name
from core.errors import GrantRefused, JitError, TransientAwsError
from core.model import AccessRequest, Node

log = logging.getLogger(__name__)

_GONE = frozenset({"NoSuchEntity"})
_SESSION_GONE = frozenset({"DoesNotExistException", "InvalidSessionId"})
_ENDED = frozenset({"Terminated", "Terminating", "Failed"})


class AwsGateway:
    """Looks nodes up and grants/revokes session access through IAM inline policies.

    ``session_factory`` makes the boto3 session of jitbot's own (home account) credentials: the standard chain
    (``AWS_ACCESS_KEY_ID``…, profiles, instance roles). ``region`` defaults to ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``, then the session's. ``endpoint_url`` overrides every service endpoint; without it
    boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) by itself. ``accounts`` maps
    other account ids to the role jitbot assumes there (the ``[accounts]`` table), or is a callable returning
    that mapping, called on each use so a reloaded policy file takes effect. ``account_id`` spares the STS
    call that finds the home account. No client is created before the first call.
    """

    def __init__(self, session_factory: SessionFactory = boto3.session.Session, region: str | None = None, *,
                 accounts: Accounts | None = None, endpoint_url: str | None = None,
                 account_id: str | None = None, retry_mode: Literal["standard", "adaptive"] = "standard",
                 max_attempts: int = 5, cache_seconds: float = 30.0,
                 document_access_check: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.clients = Clients(session_factory, region=region, endpoint_url=endpoint_url, accounts=accounts,
                               account_id=account_id, retry_mode=retry_mode, max_attempts=max_attempts)
        self.nodes = NodeFinder(self.clients, ttl=cache_seconds, clock=clock)
        self._document_access_check = document_access_check

    # -- NodeDirectory -----------------------------------------------------------------------------------
    def resolve(self, reference: str) -> Node:
        return self.nodes.resolve(reference)

    def search(self, text: str, limit: int = 100) -> list[Node]:
        return self.nodes.search(text, limit)

    # -- AccessBackend -----------------------------------------------------------------------------------
    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        try:
            principal = parse_principal(request.principal_arn)
            document = grant_policy_document(request, expires_at, documents,
                                             document_access_check=self._document_access_check)
        except ValueError as err:
            raise GrantRefused(str(err)) from None
        if principal.account != request.node.account:
            raise GrantRefused(
                f"{principal.arn} is in account {principal.account} but {request.node.label} is in account "
                f"{request.node.account}: sessions are authorised in the node's account, so map this "
                "requester to a role or user there.")
        name = policy_name(request.id)
        body = policy_json(document)
        what = f"putting {name} on {principal.arn}"
        try:
            iam = self.clients.iam(principal.account)
            if principal.kind == "role":
                iam.put_role_policy(RoleName=principal.name, PolicyName=name, PolicyDocument=body)
            else:
                iam.put_user_policy(UserName=principal.name, PolicyName=name, PolicyDocument=body)
        except (ClientError, BotoCoreError) as err:
            raise errors.for_grant(err, what) from err
        except JitError as err:  # the principal's account is not configured
            raise GrantRefused(f"{what}: {err}") from None
        log.info("granted %s on %s to %s until %s", name, request.node.id, principal.arn,
                 expires_at.isoformat())

    def revoke(self, request: AccessRequest) -> int:
        principal = self._principal_for_cleanup(request.principal_arn)
        self._delete(principal, policy_name(request.id))
        return self._terminate_sessions(principal, request.node)

    def has_grant(self, request: AccessRequest) -> bool:
        principal = self._principal_for_cleanup(request.principal_arn)
        name = policy_name(request.id)
        try:
            iam = self.clients.iam(principal.account)
            if principal.kind == "role":
                iam.get_role_policy(RoleName=principal.name, PolicyName=name)
            else:
                iam.get_user_policy(UserName=principal.name, PolicyName=name)
        except ClientError as err:
            if errors.error_code(err) in _GONE:
                return False
            raise errors.transient(err, f"reading {name} of {principal.arn}") from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, f"reading {name} of {principal.arn}") from err
        return True

    def jit_policies(self, principal_arn: str) -> list[str]:
        principal = self._principal_for_cleanup(principal_arn)
        names: list[str] = []
        try:
            iam = self.clients.iam(principal.account)
            if principal.kind == "role":
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=principal.name):
                    names.extend(page["PolicyNames"])
            else:
                for page in iam.get_paginator("list_user_policies").paginate(UserName=principal.name):
                    names.extend(page["PolicyNames"])
        except ClientError as err:
            if errors.error_code(err) in _GONE:
                return []
            raise errors.transient(err, f"listing the inline policies of {principal.arn}") from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, f"listing the inline policies of {principal.arn}") from err
        return sorted(n for n in names if n.startswith(POLICY_PREFIX))

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        self._delete(self._principal_for_cleanup(principal_arn), policy_name)

    # -- helpers -----------------------------------------------------------------------------------------
    @staticmethod
    def _principal_for_cleanup(arn: str) -> Principal:
        try:
            return parse_principal(arn)
        except ValueError as err:  # cleanup must never look "done" when it was not: keep it retrying, loudly
            raise TransientAwsError(str(err)) from None

    def _delete(self, principal: Principal, name: str) -> None:
        what = f"deleting {name} from {principal.arn}"
        try:
            iam = self.clients.iam(principal.account)
            if principal.kind == "role":
                iam.delete_role_policy(RoleName=principal.name, PolicyName=name)
            else:
                iam.delete_user_policy(UserName=principal.name, PolicyName=name)
        except ClientError as err:
            if errors.error_code(err) in _GONE:  # the policy, or the whole principal, is already gone
                log.info("%s: already gone", what)
                return
            raise errors.transient(err, what) from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
        log.info("deleted %s from %s", name, principal.arn)

    def _terminate_sessions(self, principal: Principal, node: Node) -> int:
        """End the principal's active sessions on the node: its own (a user) or any of its role sessions.

        ``DescribeSessions`` filters on one exact ``Owner``, and a role's sessions are owned by assumed-role
        ARNs (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/<session>``), so the owner is matched here instead.
        """
        what = f"ending the sessions of {principal.arn} on {node.id}"
        ended = 0
        try:
            ssm = self.clients.ssm(node.account, node.region)
            paginator = ssm.get_paginator("describe_sessions")
            mine: list[str] = []
            for page in paginator.paginate(State="Active", Filters=[{"key": "Target", "value": node.id}]):
                for session in page.get("Sessions", []):
                    owner, status = session.get("Owner", ""), session.get("Status", "")
                    if principal.owns(owner) and status not in _ENDED and "SessionId" in session:
                        mine.append(session["SessionId"])
            for session_id in mine:
                try:
                    ssm.terminate_session(SessionId=session_id)
                except ClientError as err:
                    if errors.error_code(err) in _SESSION_GONE:
                        continue
                    raise
                ended += 1
                log.info("terminated session %s of %s on %s", session_id, principal.arn, node.id)
        except (ClientError, BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
        return ended
