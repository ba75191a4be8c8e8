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
from aws.identity_center import IdentityCenterConfig, IdentityCenterGrants, owned_by, permission_set_name
from aws.nodes import NodeFinder
from aws.policy import POLICY_PREFIX, grant_policy_document, policy_json, policy_name
from aws.session_logs import SessionLogs
from aws.sessions import find_sessions, terminate_sessions
from core.errors import GrantRefused, JitError, TransientAwsError
from core.idc import idc_user_id
from core.model import AccessRequest, Node, NodeSession

log = logging.getLogger(__name__)

IdentityCenter = IdentityCenterConfig | Callable[[], IdentityCenterConfig | None] | None

_GONE = frozenset({"NoSuchEntity"})


class AwsGateway:
    """Looks nodes up and grants/revokes session access through IAM inline policies.

    ``session_factory`` makes the boto3 session of jitbot's own (home account) credentials: the standard chain
    (``AWS_ACCESS_KEY_ID``…, profiles, instance roles). ``region`` defaults to ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``, then the session's. ``endpoint_url`` overrides every service endpoint; without it
    boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) by itself. ``accounts`` maps
    other account ids to the role jitbot assumes there (the ``[accounts]`` table), or is a callable returning
    that mapping, called on each use so a reloaded policy file takes effect. ``account_id`` spares the STS
    call that finds the home account. No client is created before the first call.

    ``identity_center`` (the ``[identity_center]`` settings, or a callable returning them, re-read on each use)
    enables grants to Identity Center users (``arn:aws:identitystore:::user/<UserId>``): those go to
    ``aws.identity_center``; IAM roles and users are unchanged. ``idc_timeout`` / ``idc_poll`` bound the wait
    for Identity Center's asynchronous assignments and provisioning.
    """

    def __init__(self, session_factory: SessionFactory = boto3.session.Session, region: str | None = None, *,
                 accounts: Accounts | None = None, endpoint_url: str | None = None,
                 account_id: str | None = None, retry_mode: Literal["standard", "adaptive"] = "standard",
                 max_attempts: int = 5, cache_seconds: float = 30.0,
                 document_access_check: bool = True, clock: Callable[[], float] = time.monotonic,
                 identity_center: IdentityCenter = None, idc_timeout: float = 45.0,
                 idc_poll: float = 1.0) -> None:
        self.clients = Clients(session_factory, region=region, endpoint_url=endpoint_url, accounts=accounts,
                               account_id=account_id, retry_mode=retry_mode, max_attempts=max_attempts)
        self.nodes = NodeFinder(self.clients, ttl=cache_seconds, clock=clock)
        self._document_access_check = document_access_check
        self._identity_center = identity_center
        self._idc_wait = (idc_timeout, idc_poll)
        self._idc: IdentityCenterGrants | None = None
        self.session_logs = SessionLogs(self.clients, ttl=cache_seconds * 20, clock=clock)

    @property
    def identity_center(self) -> IdentityCenterConfig | None:
        source = self._identity_center
        return source() if callable(source) else source

    def _idc_for(self, principal_arn: str, *, cleanup: bool) -> IdentityCenterGrants | None:
        """The Identity Center grants for an Identity Center principal; None for an IAM one."""
        if idc_user_id(principal_arn) is None:
            return None
        config = self.identity_center
        if config is None:
            message = (f"{principal_arn} is an Identity Center user, but [identity_center] is not configured: "
                       "jitbot cannot grant to (or revoke from) Identity Center without it")
            raise TransientAwsError(message) if cleanup else GrantRefused(message)
        return self._idc_grants(config)

    def _idc_grants(self, config: IdentityCenterConfig) -> IdentityCenterGrants:
        if self._idc is None or self._idc.config != config:
            timeout, poll = self._idc_wait
            self._idc = IdentityCenterGrants(self.clients, config, timeout=timeout, poll=poll,
                                             document_access_check=self._document_access_check)
        return self._idc

    # -- NodeDirectory -----------------------------------------------------------------------------------
    def resolve(self, reference: str) -> Node:
        return self.nodes.resolve(reference)

    def search(self, text: str, limit: int = 100) -> list[Node]:
        return self.nodes.search(text, limit)

    def tagged(self, key: str, value: str, *, prefix: str | None = None, limit: int = 100) -> list[Node]:
        return self.nodes.tagged(key, value, prefix=prefix, limit=limit)

    # -- AccessBackend -----------------------------------------------------------------------------------
    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        idc = self._idc_for(request.principal_arn, cleanup=False)
        if idc is not None:
            idc.grant(request, expires_at, documents)
            return
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
        log.info("granted %s on %s to %s until %s", name, ",".join(n.id for n in request.nodes), principal.arn,
                 expires_at.isoformat())

    def revoke(self, request: AccessRequest) -> int:
        idc = self._idc_for(request.principal_arn, cleanup=True)
        if idc is not None:
            return idc.revoke(request)
        principal = self._principal_for_cleanup(request.principal_arn)
        self._delete(principal, policy_name(request.id))
        return sum(terminate_sessions(self.clients, node, principal.owns, principal.arn) for node in request.nodes)

    def has_grant(self, request: AccessRequest) -> bool:
        idc = self._idc_for(request.principal_arn, cleanup=True)
        if idc is not None:
            return idc.has_grant(request)
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
        idc = self._idc_for(principal_arn, cleanup=True)
        if idc is not None:
            return idc.jit_policies(principal_arn)
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
        idc = self._idc_for(principal_arn, cleanup=True)
        if idc is not None:
            idc.remove(policy_name)
            return
        self._delete(self._principal_for_cleanup(principal_arn), policy_name)

    def jit_principals(self) -> list[str]:
        """Principals holding something named for jitbot that AWS itself lists: the Identity Center users of
        ``jitbot-*`` permission sets (IAM principals come from ``[identities]``)."""
        config = self.identity_center
        return self._idc_grants(config).jit_principals() if config is not None else []

    # -- SessionHistory ----------------------------------------------------------------------------------
    def sessions(self, request: AccessRequest, since: datetime, until: datetime | None) -> list[NodeSession]:
        """The sessions the request's principal opened on its node in the window: an IAM role's (assumed-role
        owners) or user's, or those of the role Identity Center made for the grant's permission set."""
        if idc_user_id(request.principal_arn) is not None:
            owns = owned_by(permission_set_name(request.id))
        else:
            owns = self._principal_for_cleanup(request.principal_arn).owns
        return find_sessions(self.clients, request, owns, since, until, self.session_logs)

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
