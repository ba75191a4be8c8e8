"""Grants to IAM Identity Center users: one permission set per request (docs/iam/README.md, "Identity Center").

A grant to ``arn:aws:identitystore:::user/<UserId>`` is the permission set ``jitbot-<request id>`` carrying
the grant's node-scoped inline policy (``aws.policy.node_policy_document``, ``DateLessThan aws:CurrentTime``
included), assigned to that user in the node's account. Identity Center provisions it there as the role
``AWSReservedSSO_jitbot-<request id>_<hash>``, which owns the person's sessions. Revocation deletes the inline
policy, re-provisions (the role loses the statement at once), deletes the assignment and the permission set,
then ends the sessions that role started on the node.

Assignments and provisioning are asynchronous: each call returns a request status that is polled until it
succeeds, fails or ``timeout`` passes; a failure or a timeout is a ``TransientAwsError`` (the request keeps
its lease and is retried; every step is idempotent). Nothing is shared between two grants, so concurrent grants
to one person (or revocations, on any replica) cannot lose each other's statements.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.clients import Clients
from aws.policy import iso_utc, node_policy_document, policy_json
from aws.sessions import terminate_sessions
from core.errors import GrantRefused, JitError, TransientAwsError
from core.idc import idc_user_id, idc_user_principal
from core.model import AccessRequest

log = logging.getLogger(__name__)

PERMISSION_SET_PREFIX = "jitbot-"
#: on every permission set jitbot creates: its IAM policy may then be scoped to ``aws:ResourceTag/jitbot:grant``
TAG_KEY = "jitbot:grant"
#: Identity Center's limit on an inline policy's non-whitespace characters (the JSON is written compact)
INLINE_POLICY_LIMIT = 10_240
#: codes of quotas reached (permission sets per instance, provisioned permission sets or roles per account)
_QUOTA = frozenset({"ServiceQuotaExceededException", "LimitExceededException"})
#: a write that collided with another one in flight (one provisioning per account at a time): try again
_RETRY = frozenset({"ConflictException"})
_GONE = frozenset({"ResourceNotFoundException"})
_OWNER = re.compile(r"^arn:[\w-]+:sts::\d{12}:assumed-role/(?P<role>[\w+=,.@-]+)/[^/]+$")
#: each asynchronous answer's status key → the call that reads it again, and its request-id parameter
_STATUS = {"AccountAssignmentCreationStatus": ("describe_account_assignment_creation_status",
                                               "AccountAssignmentCreationRequestId"),
           "AccountAssignmentDeletionStatus": ("describe_account_assignment_deletion_status",
                                               "AccountAssignmentDeletionRequestId"),
           "PermissionSetProvisioningStatus": ("describe_permission_set_provisioning_status",
                                               "ProvisionPermissionSetRequestId")}
_FOR = re.compile(r" for (arn:aws:identitystore:::user/[\w-]+)$")


@dataclass(frozen=True)
class IdentityCenterConfig:
    """The ``[identity_center]`` settings the grants need (the policy file's table, once it exists)."""

    instance_arn: str
    identity_store_id: str
    region: str
    portal_url: str | None = None

    @property
    def partition(self) -> str:
        return self.instance_arn.split(":")[1] if self.instance_arn.count(":") >= 2 else "aws"


def permission_set_name(request_id: str) -> str:
    return f"{PERMISSION_SET_PREFIX}{request_id}"


def owned_by(permission_set: str) -> Callable[[str], bool]:
    """Whether a session ``Owner`` is a role session of the role Identity Center made for ``permission_set``:
    ``arn:aws:sts::ACCOUNT:assumed-role/AWSReservedSSO_<permission set>_<hash>/<user name>``."""
    prefix = f"AWSReservedSSO_{permission_set}_"

    def owns(owner: str) -> bool:
        match = _OWNER.match(owner)
        return match is not None and match["role"].startswith(prefix) and len(match["role"]) > len(prefix)

    return owns


class IdentityCenterGrants:
    """The ``AccessBackend`` calls for Identity Center principals (``aws.gateway.AwsGateway`` routes to it)."""

    def __init__(self, clients: Clients, config: IdentityCenterConfig, *, timeout: float = 45.0,
                 poll: float = 1.0, document_access_check: bool = True, session_duration: str = "PT1H",
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.clients, self.config = clients, config
        self._timeout, self._poll, self._sleep, self._clock = timeout, poll, sleep, clock
        self._document_access_check = document_access_check
        self._session_duration = session_duration
        self._lock = threading.Lock()
        self._arns: dict[str, str] = {}  # jitbot permission set name → ARN
        self._owners: dict[str, str] = {}  # jitbot permission set name → principal it was made for
        self._seen: set[str] = set()  # ARNs already described (jitbot's or not)

    # -- the AccessBackend calls ---------------------------------------------------------------------------
    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        user_id = _user(request.principal_arn)
        node, name = request.node, permission_set_name(request.id)
        try:
            body = policy_json(node_policy_document(request.nodes, expires_at, documents,
                                                    partition=self.config.partition,
                                                    document_access_check=self._document_access_check))
        except ValueError as err:
            raise GrantRefused(str(err)) from None
        if len(body) > INLINE_POLICY_LIMIT:
            raise GrantRefused(f"the grant's policy is {len(body)} characters; an Identity Center permission set "
                               f"holds at most {INLINE_POLICY_LIMIT}: allow fewer session documents")
        what = f"granting {name} to Identity Center user {user_id} in account {node.account}"
        try:
            arn = self._permission_set(name, request, expires_at)
            try:
                self._sso().put_inline_policy_to_permission_set(
                    InstanceArn=self.config.instance_arn, PermissionSetArn=arn, InlinePolicy=body)
                self._assign(arn, user_id, node.account)
            except (ClientError, BotoCoreError) as err:
                raise self._for_grant(err, what) from err
        except GrantRefused:
            self._undo(name, node.account)
            raise
        except (ClientError, BotoCoreError) as err:
            raise self._for_grant(err, what) from err
        except JitError as err:
            raise GrantRefused(f"{what}: {err}") from None
        log.info("granted %s on %s to Identity Center user %s until %s", name, node.id, user_id,
                 iso_utc(expires_at))

    def revoke(self, request: AccessRequest) -> int:
        _user(request.principal_arn, cleanup=True)
        name = permission_set_name(request.id)
        self.remove(name, request.node.account)
        return sum(terminate_sessions(self.clients, node, owned_by(name), f"{name}'s role") for node in request.nodes)

    def has_grant(self, request: AccessRequest) -> bool:
        user_id = _user(request.principal_arn, cleanup=True)
        name = permission_set_name(request.id)
        what = f"reading {name}"
        try:
            arn = self._find(name)
            if arn is None:
                return False
            policy = self._sso().get_inline_policy_for_permission_set(
                InstanceArn=self.config.instance_arn, PermissionSetArn=arn).get("InlinePolicy", "")
            return "JitbotStartSession" in policy and self._assigned(arn, user_id, request.node.account)
        except ClientError as err:
            if errors.error_code(err) in _GONE:
                self._forget(name)
                return False
            raise errors.transient(err, what) from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err

    def jit_policies(self, principal_arn: str) -> list[str]:
        """The ``jitbot-*`` permission sets assigned to this user, or made for them (by their description)."""
        user_id = _user(principal_arn, cleanup=True)
        what = f"listing the permission sets of Identity Center user {user_id}"
        try:
            self._scan()
            names = {n for n, owner in self._owners.items() if owner == principal_arn}
            pages = self._sso().get_paginator("list_account_assignments_for_principal").paginate(
                InstanceArn=self.config.instance_arn, PrincipalId=user_id, PrincipalType="USER")
            arns = {a["PermissionSetArn"] for page in pages for a in page.get("AccountAssignments", [])}
            names.update(n for n, arn in self._arns.items() if arn in arns)
        except (ClientError, BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
        return sorted(names)

    def jit_principals(self) -> list[str]:
        """Every principal a ``jitbot-*`` permission set was made for (reconciliation looks at each)."""
        try:
            self._scan()
        except (ClientError, BotoCoreError, JitError) as err:
            raise errors.transient(err, "listing Identity Center's permission sets") from err
        return sorted(set(self._owners.values()))

    def remove(self, name: str, account: str | None = None) -> None:
        """Take a permission set's access away and delete it: inline policy, re-provisioning, assignments, the
        permission set itself. Already gone counts as done; anything else is a ``TransientAwsError``."""
        what = f"removing the permission set {name}"
        sso, instance = self._sso(), self.config.instance_arn
        try:
            arn = self._find(name)
            if arn is None:
                return
            sso.delete_inline_policy_from_permission_set(InstanceArn=instance, PermissionSetArn=arn)
            accounts = set(_paged(sso, "list_accounts_for_provisioned_permission_set", "AccountIds",
                                  InstanceArn=instance, PermissionSetArn=arn))
            for target in sorted(accounts):  # the role in each account loses the statement now
                self._wait(sso.provision_permission_set(InstanceArn=instance, PermissionSetArn=arn,
                                                        TargetType="AWS_ACCOUNT", TargetId=target),
                           "PermissionSetProvisioningStatus", f"re-provisioning {name} in {target}")
            for target in sorted(accounts | ({account} if account else set())):
                for assignment in list(_paged(sso, "list_account_assignments", "AccountAssignments",
                                              InstanceArn=instance, AccountId=target, PermissionSetArn=arn)):
                    self._wait(sso.delete_account_assignment(
                        InstanceArn=instance, TargetId=target, TargetType="AWS_ACCOUNT", PermissionSetArn=arn,
                        PrincipalType=assignment["PrincipalType"], PrincipalId=assignment["PrincipalId"]),
                        "AccountAssignmentDeletionStatus", f"deleting the assignment of {name} in {target}")
            sso.delete_permission_set(InstanceArn=instance, PermissionSetArn=arn)
        except ClientError as err:
            if errors.error_code(err) not in _GONE:
                raise errors.transient(err, what) from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
        self._forget(name)
        log.info("removed the permission set %s", name)

    # -- helpers -------------------------------------------------------------------------------------------
    def _sso(self) -> Any:
        return self.clients.sso_admin(self.config.region)

    def _permission_set(self, name: str, request: AccessRequest, expires_at: datetime) -> str:
        """The ARN of ``name``, created (tagged, described for reconciliation) unless it exists."""
        arn = self._find(name)
        if arn is not None:
            return arn
        node = request.node
        on = node.id if not request.more_nodes else f"{node.id} and {len(request.more_nodes)} other node(s)"
        description = (f"jitbot {request.id}: SSM sessions on {on} ({node.account} {node.region}) until "
                       f"{iso_utc(expires_at)} for {request.principal_arn}")
        try:
            made = self._sso().create_permission_set(
                InstanceArn=self.config.instance_arn, Name=name, Description=description,
                SessionDuration=self._session_duration, Tags=[{"Key": TAG_KEY, "Value": request.id}])
        except ClientError as err:
            if errors.error_code(err) in _RETRY:  # made meanwhile (another attempt): find it on the next try
                self._forget(name)
            raise
        arn = str(made["PermissionSet"]["PermissionSetArn"])
        with self._lock:
            self._arns[name], self._owners[name] = arn, request.principal_arn
            self._seen.add(arn)
        return arn

    def _assign(self, arn: str, user_id: str, account: str) -> None:
        """Assign the permission set to the user in ``account`` (which provisions it there); if it already is
        (a retry, a re-application), provision it again so that the account gets the new inline policy."""
        sso, instance = self._sso(), self.config.instance_arn
        if self._assigned(arn, user_id, account):
            self._wait(sso.provision_permission_set(InstanceArn=instance, PermissionSetArn=arn,
                                                    TargetType="AWS_ACCOUNT", TargetId=account),
                       "PermissionSetProvisioningStatus", f"provisioning it in {account}")
            return
        self._wait(sso.create_account_assignment(InstanceArn=instance, TargetId=account, TargetType="AWS_ACCOUNT",
                                                 PermissionSetArn=arn, PrincipalType="USER", PrincipalId=user_id),
                   "AccountAssignmentCreationStatus", f"assigning it in {account}")

    def _assigned(self, arn: str, user_id: str, account: str) -> bool:
        return any(a.get("PrincipalType") == "USER" and a.get("PrincipalId") == user_id
                   for a in _paged(self._sso(), "list_account_assignments", "AccountAssignments",
                                   InstanceArn=self.config.instance_arn, AccountId=account, PermissionSetArn=arn))

    def _wait(self, answer: dict[str, Any], key: str, what: str) -> None:
        """Poll an asynchronous request (``key`` names its status) until it succeeds. Failed: ``GrantRefused``
        for a quota, else ``TransientAwsError``; still in progress after ``timeout``: ``TransientAwsError``."""
        method, param = _STATUS[key]
        status: dict[str, Any] = answer[key]
        deadline = self._clock() + self._timeout
        while True:
            state, request_id = status.get("Status"), str(status.get("RequestId", ""))
            if state == "SUCCEEDED":
                return
            if state == "FAILED":
                reason = str(status.get("FailureReason") or "no reason given")
                if any(word in reason.lower() for word in ("quota", "limit")):
                    raise GrantRefused(f"{what}: Identity Center reached a quota: {reason}")
                raise TransientAwsError(f"{what}: Identity Center reports FAILED ({reason})")
            if self._clock() >= deadline:
                raise TransientAwsError(f"{what}: still {state} after {self._timeout:g} s (request {request_id})")
            self._sleep(self._poll)
            status = getattr(self._sso(), method)(InstanceArn=self.config.instance_arn, **{param: request_id})[key]

    def _find(self, name: str) -> str | None:
        with self._lock:
            if name in self._arns:
                return self._arns[name]
        self._scan()
        with self._lock:
            return self._arns.get(name)

    def _scan(self) -> None:
        """Learn the names of the permission sets not described yet (once each: names never change)."""
        sso, instance = self._sso(), self.config.instance_arn
        arns = list(_paged(sso, "list_permission_sets", "PermissionSets", InstanceArn=instance))
        with self._lock:
            new = [arn for arn in arns if arn not in self._seen]
        for arn in new:
            try:
                found = sso.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)["PermissionSet"]
            except ClientError as err:
                if errors.error_code(err) in _GONE:
                    continue
                raise
            name, description = str(found.get("Name", "")), str(found.get("Description", ""))
            with self._lock:
                self._seen.add(arn)
                if name.startswith(PERMISSION_SET_PREFIX):
                    self._arns[name] = arn
                    owner = _FOR.search(description)
                    if owner is not None:
                        self._owners[name] = owner.group(1)
        listed = set(arns)
        with self._lock:  # not listed: deleted since, or created by another thread after the listing; either
            gone = {n: arn for n, arn in self._arns.items() if arn not in listed}  # way the next scan knows
            for name, arn in gone.items():
                self._arns.pop(name, None)
                self._owners.pop(name, None)
                self._seen.discard(arn)

    def _forget(self, name: str) -> None:
        with self._lock:
            arn = self._arns.pop(name, None)
            self._owners.pop(name, None)
            self._seen.discard(arn or "")

    def _undo(self, name: str, account: str) -> None:
        """A refused grant leaves nothing behind; if removal fails too, reconciliation finds the leftover."""
        try:
            self.remove(name, account)
        except TransientAwsError as err:
            log.warning("could not remove %s after its grant was refused (reconciliation will): %s", name, err)

    @staticmethod
    def _for_grant(err: Exception, what: str) -> Exception:
        code = errors.error_code(err)
        if code in _QUOTA:
            return GrantRefused(f"{what}: Identity Center's quota is reached ({errors.describe(err)}). An "
                                "administrator can remove unused permission sets or ask AWS to raise the quota.")
        if code in _RETRY:
            return TransientAwsError(f"{what}: {errors.describe(err)}")
        return errors.for_grant(err, what)


def _user(principal: str, *, cleanup: bool = False) -> str:
    user_id = idc_user_id(principal)
    if user_id is None:
        message = f"'{principal}' is not an Identity Center user principal"
        raise TransientAwsError(message) if cleanup else GrantRefused(message)
    assert idc_user_principal(user_id) == principal
    return user_id


def _paged(sso: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    for page in sso.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])
