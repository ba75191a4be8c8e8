"""A local AWS for tests and ``jitbot demo``: moto's threaded server on loopback, extended with what moto
lacks for Session Manager (``DescribeInstanceInformation``, ``DescribeSessions``, ``TerminateSession``, tags
of managed nodes) and with fault injection. moto is imported when the fake starts, not at import time."""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs
from urllib.request import Request, urlopen
from xml.sax.saxutils import escape

import boto3

DEFAULT_ACCOUNT = "123456789012"  # moto's account for any access key it did not issue
SECOND_ACCOUNT = "444455556666"
ACTIVE = frozenset({"Connected", "Connecting", "Disconnected"})
_STATUS = {"AccessDenied": 403, "UnauthorizedOperation": 403, "NoSuchEntity": 404, "ServiceUnavailable": 503,
           "InternalError": 500, "InternalFailure": 500, "InternalServerError": 500, "ServiceFailure": 500}


@dataclass
class _Node:
    """A node running SSM Agent: a hybrid node ``mi-…`` or an EC2 instance moto keeps (tags live in moto)."""

    id: str
    account: str
    region: str
    tags: dict[str, str]
    ping: str
    platform: str


@dataclass
class _Session:
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
class _Fault:
    service: str
    operation: str
    code: str
    status: int
    message: str
    remaining: int


class _Store:
    """The state moto does not keep: which instances run SSM Agent, hybrid nodes, sessions, pending faults."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.nodes: dict[str, _Node] = {}
        self.sessions: dict[str, _Session] = {}
        self.faults: list[_Fault] = []

    def take_fault(self, service: str, operation: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.service in ("", service):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


def _fault_middleware(app: Callable[..., Any], store: _Store) -> Callable[..., Any]:
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
        rid, message = secrets.token_hex(16), escape(fault.message)
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


def _ssm_extension(store: _Store) -> Any:
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
                    session.Status, session.EndDate = "Terminated", datetime.now(UTC)
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


class FakeAws:
    """moto on ``127.0.0.1:<free port>`` in this process, plus test hooks. Sets nothing global (``env()``)."""

    def __init__(self, region: str = "us-east-1", host: str = "127.0.0.1") -> None:
        self.region, self.account, self.host = region, DEFAULT_ACCOUNT, host
        self._store = _Store()
        self._server: Any = None
        self._endpoint: str | None = None
        self._clients: dict[tuple[str, str, str], Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> FakeAws:
        from moto.core.utils import convert_to_flask_response
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from moto.ssm.responses import SimpleSystemManagerResponse
        from werkzeug.serving import make_server

        store, extended = self._store, _ssm_extension(self._store)

        def create_app(service: Any) -> Any:
            app = create_backend_app(service)
            for view in app.view_functions.values():  # route SSM to the extended responses
                if (isinstance(view, convert_to_flask_response)
                        and getattr(view.callback, "__self__", None) is SimpleSystemManagerResponse):
                    view.callback = extended.dispatch
            return app

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = _fault_middleware(DomainDispatcherApplication(create_app), store)
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=QuietHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        if self._server is None:
            self._server = Server(ip_address=self.host, port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self._endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server, self._endpoint = None, None

    def __enter__(self) -> FakeAws:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("FakeAws is not started")
        return self._endpoint

    def env(self) -> dict[str, str]:
        """Environment for a process (or a boto3 session) that should talk to this fake."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region}

    def session(self, account: str | None = None) -> boto3.session.Session:
        """A boto3 session in ``account``. moto tells accounts apart by the access key it issued in each, so
        another account is reached by STS AssumeRole of a role there (moto lets any role be assumed)."""
        account = account or self.account
        if account == self.account:
            return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                         region_name=self.region)
        found = self.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/FakeAwsAdmin",
                                               RoleSessionName="fake-aws")["Credentials"]
        return boto3.session.Session(aws_access_key_id=found["AccessKeyId"], region_name=self.region,
                                     aws_secret_access_key=found["SecretAccessKey"],
                                     aws_session_token=found["SessionToken"])

    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        key = (service, account or self.account, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session(account).client(  # type: ignore[call-overload]
                service, region_name=key[2], endpoint_url=self.endpoint_url)
        return self._clients[key]

    def reset(self) -> None:
        """Forget everything: moto's backends (all of them, process-wide), sessions, nodes and faults."""
        urlopen(Request(f"{self.endpoint_url}/moto-api/reset", method="POST"), timeout=10).close()  # noqa: S310
        with self._store.lock:
            for kept in (self._store.nodes, self._store.sessions, self._store.faults, self._clients):
                kept.clear()

    # -- test hooks --------------------------------------------------------------------------------------
    def add_instance(self, name: str | None = None, tags: Mapping[str, str] | None = None,
                     account: str | None = None, managed: bool = True, ping: str = "Online",
                     region: str | None = None, platform: str = "Linux") -> str:
        """A running EC2 instance (really created in moto); ``managed`` marks it as running SSM Agent."""
        account, region = account or self.account, region or self.region
        pairs = [{"Key": k, "Value": v} for k, v in {**({"Name": name} if name else {}), **(tags or {})}.items()]
        extra = {"TagSpecifications": [{"ResourceType": "instance", "Tags": pairs}]} if pairs else {}
        image = "ami-03cf127a" if platform == "Windows" else "ami-1e749f67"  # moto's Windows / Ubuntu images
        found = self.client("ec2", account, region).run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                                                  InstanceType="t3.micro", **extra)
        instance_id: str = found["Instances"][0]["InstanceId"]
        if managed:
            with self._store.lock:
                self._store.nodes[instance_id] = _Node(instance_id, account, region, {}, ping, platform)
        return instance_id

    def add_managed_node(self, name: str | None = None, tags: Mapping[str, str] | None = None,
                         ping: str = "Online", account: str | None = None, region: str | None = None,
                         platform: str = "Linux") -> str:
        """A registered hybrid node ``mi-…`` (an on-premises server running SSM Agent)."""
        node_id = "mi-" + secrets.token_hex(9)[:17]
        all_tags = {**({"Name": name} if name else {}), **(tags or {})}
        with self._store.lock:
            self._store.nodes[node_id] = _Node(node_id, account or self.account, region or self.region,
                                               all_tags, ping, platform)
        return node_id

    def set_ping(self, node_id: str, ping: str) -> None:
        with self._store.lock:
            self._store.nodes[node_id].ping = ping

    def start_session(self, target: str, owner_arn: str, document: str = "SSM-SessionManagerRunShell",
                      status: str = "Connected") -> str:
        """An SSM session on ``target`` owned by an IAM user ARN or an ``…:assumed-role/ROLE/SESSION`` ARN.
        Its id starts, as AWS's do, with the user name or the role session name."""
        with self._store.lock:
            node = self._store.nodes.get(target)
            account, region = (node.account, node.region) if node else (owner_arn.split(":")[4], self.region)
            session_id = f"{owner_arn.rsplit('/', 1)[-1]}-{secrets.token_hex(9)[:17]}"
            self._store.sessions[session_id] = _Session(session_id, target, owner_arn, status, document,
                                                        account, region)
        return session_id

    def sessions(self, target: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Sessions (``state``: ``Active`` or ``History``) as ``DescribeSessions`` fields, plus where."""
        with self._store.lock:
            rows = [asdict(s) for s in self._store.sessions.values()]
        return [r for r in rows if (target is None or r["Target"] == target)
                and (state is None or (r["Status"] in ACTIVE) == (state == "Active"))]

    def fail_next(self, service_operation: str, error_code: str, times: int = 1, status: int | None = None,
                  message: str | None = None) -> None:
        """Answer the next ``times`` calls of ``service:Operation`` (or ``service.Operation``, or any
        service's ``Operation``) with ``error_code``. The status defaults by code: 403 AccessDenied,
        404 NoSuchEntity, 5xx for service failures, else 400."""
        service, _, operation = service_operation.replace(".", ":").rpartition(":")
        code_status = status or _STATUS.get(error_code, 400)
        with self._store.lock:
            self._store.faults.append(_Fault(service.lower(), operation, error_code, code_status,
                                             message or f"injected {error_code}", times))

    def clear_faults(self) -> None:
        with self._store.lock:
            self._store.faults.clear()

    def create_role(self, name: str, account: str | None = None, path: str = "/") -> str:
        """An IAM role (idempotent) that the home account may assume; returns its ARN."""
        iam = self.client("iam", account)
        home = {"AWS": f"arn:aws:iam::{self.account}:root"}
        trust = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": home}]}
        try:
            return str(iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))
                       ["Role"]["Arn"])
        except iam.exceptions.EntityAlreadyExistsException:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])

    def create_user(self, name: str, account: str | None = None, path: str = "/") -> str:
        iam = self.client("iam", account)
        try:
            return str(iam.create_user(UserName=name, Path=path)["User"]["Arn"])
        except iam.exceptions.EntityAlreadyExistsException:
            return str(iam.get_user(UserName=name)["User"]["Arn"])

    def add_account(self, account: str = SECOND_ACCOUNT, role_name: str = "jitbot") -> str:
        """Make ``account`` reachable as jitbot reaches it: returns the ARN of the role to assume there."""
        return self.create_role(role_name, account)

    def inline_policies(self, principal_arn: str) -> dict[str, dict[str, Any]]:
        """The inline policies of a role or user, by name (documents decoded)."""
        account, (kind, _, name) = principal_arn.split(":")[4], principal_arn.split(":")[5].partition("/")
        name = name.rsplit("/", 1)[-1]
        iam, who = self.client("iam", account), {"RoleName" if kind == "role" else "UserName": name}
        listing, get = ((iam.list_role_policies, iam.get_role_policy) if kind == "role" else
                        (iam.list_user_policies, iam.get_user_policy))
        return {p: get(**who, PolicyName=p)["PolicyDocument"] for p in listing(**who)["PolicyNames"]}

