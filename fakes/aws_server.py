"""The server side of ``FakeAws``: what moto lacks for Session Manager (``DescribeInstanceInformation``,
``DescribeSessions``, ``TerminateSession``, tags of managed nodes) and for IAM Identity Center (asynchronous
statuses, ``DescribePermissionSetProvisioningStatus``, provisioning per account), kept in a ``Store``, and the
fault-injection WSGI middleware. moto is imported inside the functions, when the fake starts."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

ACTIVE = frozenset({"Connected", "Connecting", "Disconnected"})
STATUS = {"AccessDenied": 403, "UnauthorizedOperation": 403, "NoSuchEntity": 404, "ServiceUnavailable": 503,
          "InternalError": 500, "InternalFailure": 500, "InternalServerError": 500, "ServiceFailure": 500}


@dataclass
class NodeRecord:
    """A node running SSM Agent: a hybrid node ``mi-…`` or an EC2 instance moto keeps (tags live in moto)."""

    id: str
    account: str
    region: str
    tags: dict[str, str]
    ping: str
    platform: str


@dataclass
class SessionRecord:
    SessionId: str
    Target: str
    Owner: str
    Status: str
    DocumentName: str
    Account: str
    Region: str
    StartDate: datetime = field(default_factory=lambda: datetime.now(UTC))
    EndDate: datetime | None = None


@dataclass
class Fault:
    service: str
    operation: str
    code: str
    status: int
    message: str
    remaining: int


class Store:
    """The state moto does not keep: which instances run SSM Agent, hybrid nodes, sessions, pending faults."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.nodes: dict[str, NodeRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.faults: list[Fault] = []
        #: Identity Center: scripted statuses per asynchronous operation (``FakeAws.idc_statuses``), the statuses
        #: still to report per request id, and what each account's role got at its last provisioning
        self.idc_scripts: dict[str, list[list[tuple[str, str]]]] = {}
        self.idc_requests: dict[str, list[tuple[str, str]]] = {}
        self.idc_roles: dict[tuple[str, str], str] = {}  # (permission set ARN, account) → inline policy
        #: the time of Session Manager's own changes (a session terminated); tests that drive time set it
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def take_fault(self, service: str, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.service in ("", service):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


def fault_middleware(app: Callable[..., Any], store: Store) -> Callable[..., Any]:
    """WSGI: answer the next matching call with an AWS-shaped error instead of passing it to moto."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not store.faults:
            return app(environ, start_response)
        scope = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else ""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            operation = target.rsplit(".", 1)[-1]
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            query = parse_qs(body.decode("utf-8", "replace")) or parse_qs(environ.get("QUERY_STRING", ""))
            operation = query.get("Action", [""])[0]
        fault = store.take_fault(service, operation)
        if fault is None:
            return app(environ, start_response)
        rid, message = str(uuid.uuid4()), escape(fault.message)
        if target:
            content = json.dumps({"__type": fault.code, "message": fault.message})
            kind = "application/x-amz-json-1.1"
        else:  # EC2's shape; botocore's query parser (IAM, STS) reads it as well
            content = (f"<Response><Errors><Error><Code>{fault.code}</Code><Message>{message}</Message>"
                       f"</Error></Errors><RequestID>{rid}</RequestID></Response>")
            kind = "text/xml"
        data = content.encode()
        start_response(f"{fault.status} {HTTPStatus(fault.status).phrase}",
                       [("Content-Type", kind), ("Content-Length", str(len(data))), ("x-amzn-RequestId", rid),
                        ("x-amzn-ErrorType", fault.code)])
        return [data]

    return middleware


def ssm_extension(store: Store) -> Any:
    """moto's SSM responses plus the Session Manager operations, reading EC2 state from moto's own backend."""
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends
    from moto.ssm.exceptions import SSMException
    from moto.ssm.responses import SimpleSystemManagerResponse

    def page(response: Any, items: list[dict[str, Any]], key: str, default: int) -> ActionResult:
        size = int(response._get_param("MaxResults") or default)
        start = int(response._get_param("NextToken") or 0)
        result: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    def matches(item: dict[str, Any], tags: Mapping[str, str], filters: Iterable[tuple[str, Any]]) -> bool:
        fields = {"InstanceIds": "InstanceId", "PingStatus": "PingStatus", "PlatformTypes": "PlatformType",
                  "ResourceType": "ResourceType"}
        for key, values in filters:
            if key in fields:
                ok = item.get(fields[key]) in values
            elif key.startswith("tag:"):
                ok = tags.get(key[4:]) in values
            elif key == "tag-key":
                ok = any(v in tags for v in values)
            else:
                raise SSMException("InvalidInstanceInformationFilterValue", f"unsupported filter {key}")
            if not ok:
                return False
        return True

    class ExtendedSSMResponse(SimpleSystemManagerResponse):
        def describe_instance_information(self) -> ActionResult:
            account, region = self.current_account, self.region
            now = datetime.now(UTC)
            agent = {"LastPingDateTime": now, "AgentVersion": "3.3.1611.0", "IsLatestVersion": True}
            filters = [(f["Key"], f["Values"]) for f in self._get_param("Filters") or []]
            old_style = self._get_param("InstanceInformationFilterList") or []
            filters += [(f["key"], f["valueSet"]) for f in old_style]
            ec2 = ec2_backends[account][region]
            found: list[dict[str, Any]] = []
            with store.lock:
                nodes = {n.id: n for n in store.nodes.values() if (n.account, n.region) == (account, region)}
            for inst in ec2.all_instances():
                agent_on = nodes.get(inst.id)
                if agent_on is None or inst.state == "terminated":
                    continue
                ping = agent_on.ping if inst.state == "running" else "ConnectionLost"
                item = {"InstanceId": inst.id, "PingStatus": ping, **agent,
                        "PlatformType": "Windows" if inst.platform == "windows" else "Linux",
                        "ResourceType": "EC2Instance", "IPAddress": inst.private_ip,
                        "ComputerName": inst.private_dns_name, "SourceId": inst.id,
                        "SourceType": "AWS::EC2::Instance"}
                if matches(item, ec2.tags.get(inst.id, {}), filters):
                    found.append(item)
            for node in (n for n in nodes.values() if n.id.startswith("mi-")):
                item = {"InstanceId": node.id, "PingStatus": node.ping, **agent, "RegistrationDate": now,
                        "PlatformType": node.platform, "ResourceType": "ManagedInstance",
                        "ComputerName": node.tags.get("Name", node.id), "Name": node.tags.get("Name", ""),
                        "SourceId": node.id, "SourceType": "AWS::SSM::ManagedInstance"}
                if matches(item, node.tags, filters):
                    found.append(item)
            return page(self, found, "InstanceInformationList", 50)

        def describe_sessions(self) -> ActionResult:
            state = self._get_param("State")
            wanted = {f["key"]: f["value"] for f in self._get_param("Filters") or []}
            with store.lock:
                rows = [asdict(s) for s in store.sessions.values()
                        if (s.Account, s.Region) == (self.current_account, self.region)
                        and (s.Status in ACTIVE) == (state == "Active")]
            for key in ("Target", "Owner", "Status", "SessionId"):
                if key in wanted:
                    rows = [r for r in rows if r[key] == wanted[key]]
            for key, after in (("InvokedAfter", True), ("InvokedBefore", False)):
                if key in wanted:  # AWS's format: 2018-08-29T00:00:00Z
                    moment = datetime.strptime(wanted[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                    rows = [r for r in rows if (r["StartDate"] >= moment) == after or r["StartDate"] == moment]
            rows.sort(key=lambda r: r["StartDate"], reverse=True)
            sessions = [{k: v for k, v in r.items() if v is not None and k not in ("Account", "Region")}
                        for r in rows]
            return page(self, sessions, "Sessions", 20)

        def terminate_session(self) -> ActionResult:
            session_id = self._get_param("SessionId")
            with store.lock:
                session = store.sessions.get(session_id)
                here = (self.current_account, self.region)
                if session is None or (session.Account, session.Region) != here:
                    raise SSMException("DoesNotExistException", f"Session {session_id} does not exist.")
                if session.Status in ACTIVE:
                    session.Status, session.EndDate = "Terminated", store.clock()
            return ActionResult({"SessionId": session_id})

        def list_tags_for_resource(self) -> ActionResult:
            if self._get_param("ResourceType") != "ManagedInstance":
                return super().list_tags_for_resource()
            node = store.nodes.get(self._get_param("ResourceId"))
            here = (self.current_account, self.region)
            if node is None or not node.id.startswith("mi-") or (node.account, node.region) != here:
                raise SSMException("InvalidResourceId", "Invalid Resource Id")
            return ActionResult({"TagList": [{"Key": k, "Value": v} for k, v in node.tags.items()]})

    return ExtendedSSMResponse


def sso_admin_extension(store: Store) -> Any:
    """moto's sso-admin responses, asynchronous like AWS's: each assignment, deletion or provisioning answers
    with a request status that ``Describe…Status`` reads again. By default it has ``SUCCEEDED``; a script
    (``FakeAws.idc_statuses``) makes it ``IN_PROGRESS`` for a few reads, or ``FAILED`` (then nothing changed).
    Provisioning is kept per account, with the inline policy each account's role received."""
    from moto.ssoadmin.exceptions import ResourceNotFoundException
    from moto.ssoadmin.models import ssoadmin_backends
    from moto.ssoadmin.responses import SSOAdminResponse

    def statuses(operation: str) -> list[tuple[str, str]]:
        with store.lock:
            scripts = store.idc_scripts.get(operation)
            return scripts.pop(0) if scripts else [("SUCCEEDED", "")]

    def answer(key: str, request_id: str, script: list[tuple[str, str]], fields: dict[str, Any]) -> str:
        first, rest = script[0], script[1:]
        with store.lock:
            store.idc_requests[request_id] = [*rest, (rest[-1] if rest else first)]
        status = {**fields, "RequestId": request_id, "Status": first[0]}
        if first[1]:
            status["FailureReason"] = first[1]
        return json.dumps({key: status})

    def reread(key: str, request_id: str) -> str:
        with store.lock:
            left = store.idc_requests.get(request_id)
            if left is None:
                raise ResourceNotFoundException(f"no request {request_id}")
            state, reason = left.pop(0) if len(left) > 1 else left[0]
        status: dict[str, Any] = {"RequestId": request_id, "Status": state}
        if reason:
            status["FailureReason"] = reason
        return json.dumps({key: status})

    class ExtendedSSOAdminResponse(SSOAdminResponse):
        def _backend(self) -> Any:
            return ssoadmin_backends[self.current_account][self.region]

        def _provision(self, arn: str, account: str) -> None:
            permission_set = self._backend()._find_permission_set(self._get_param("InstanceArn"), arn)
            with store.lock:
                store.idc_roles[(arn, account)] = permission_set.inline_policy

        def create_account_assignment(self) -> str:
            script = statuses("CreateAccountAssignment")
            arn, account = self._get_param("PermissionSetArn"), self._get_param("TargetId")
            fields = {k: self._get_param(k) for k in ("TargetId", "TargetType", "PermissionSetArn",
                                                        "PrincipalType", "PrincipalId")}
            if script[-1][0] != "FAILED":
                created = json.loads(super().create_account_assignment())["AccountAssignmentCreationStatus"]
                self._provision(arn, account)
                request_id = created["RequestId"]
            else:
                request_id = str(uuid.uuid4())
            return answer("AccountAssignmentCreationStatus", request_id, script, fields)

        def delete_account_assignment(self) -> str:
            script = statuses("DeleteAccountAssignment")
            arn, account = self._get_param("PermissionSetArn"), self._get_param("TargetId")
            fields = {k: self._get_param(k) for k in ("TargetId", "TargetType", "PermissionSetArn",
                                                        "PrincipalType", "PrincipalId")}
            request_id = str(uuid.uuid4())
            if script[-1][0] != "FAILED":
                super().delete_account_assignment()
                left = [a for a in self._backend().account_assignments
                        if a.permission_set_arn == arn and a.target_id == account]
                if not left:  # the last assignment in the account: Identity Center deletes the role there
                    with store.lock:
                        store.idc_roles.pop((arn, account), None)
            return answer("AccountAssignmentDeletionStatus", request_id, script, fields)

        def describe_account_assignment_creation_status(self) -> str:
            return reread("AccountAssignmentCreationStatus",
                          self._get_param("AccountAssignmentCreationRequestId"))

        def describe_account_assignment_deletion_status(self) -> str:
            return reread("AccountAssignmentDeletionStatus",
                          self._get_param("AccountAssignmentDeletionRequestId"))

        def provision_permission_set(self) -> str:
            script = statuses("ProvisionPermissionSet")
            arn, account = self._get_param("PermissionSetArn"), self._get_param("TargetId")
            targets = ([account] if self._get_param("TargetType") == "AWS_ACCOUNT" else
                       sorted({a for (p, a) in store.idc_roles if p == arn}))
            if script[-1][0] != "FAILED":
                for target in targets:
                    self._provision(arn, target)
            return answer("PermissionSetProvisioningStatus", str(uuid.uuid4()), script,
                          {"PermissionSetArn": arn, **({"AccountId": account} if account else {})})

        def describe_permission_set_provisioning_status(self) -> str:
            return reread("PermissionSetProvisioningStatus", self._get_param("ProvisionPermissionSetRequestId"))

        def list_accounts_for_provisioned_permission_set(self) -> str:
            arn = self._get_param("PermissionSetArn")
            self._backend()._find_permission_set(self._get_param("InstanceArn"), arn)
            with store.lock:
                accounts = sorted({a for (p, a) in store.idc_roles if p == arn})
            return json.dumps({"AccountIds": accounts})

        def delete_permission_set(self) -> str:
            arn = self._get_param("PermissionSetArn")
            done = super().delete_permission_set()
            with store.lock:
                for key in [k for k in store.idc_roles if k[0] == arn]:
                    store.idc_roles.pop(key)
            return done

    return ExtendedSSOAdminResponse
