"""A local AWS for tests and ``jitbot demo``: moto's threaded server on loopback, extended with what moto
lacks for Session Manager (``DescribeInstanceInformation``, ``DescribeSessions``, ``TerminateSession``, tags
of managed nodes) and with fault injection. moto is imported when the fake starts, not at import time."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.request import Request, urlopen

import boto3

from fakes.aws_server import (
    ACTIVE,
    STATUS,
    Fault,
    NodeRecord,
    SessionRecord,
    Store,
    fault_middleware,
    ssm_extension,
    sso_admin_extension,
)

DEFAULT_ACCOUNT = "123456789012"  # moto's account for any access key it did not issue
SECOND_ACCOUNT = "444455556666"


class FakeAws:
    """moto on ``127.0.0.1:<free port>`` in this process, plus test hooks. Sets nothing global (``env()``)."""

    def __init__(self, region: str = "us-east-1", host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.region, self.account, self.host = region, DEFAULT_ACCOUNT, host
        #: seconds every call waits before it is answered (benchmarks: a slow AWS); may change while running
        self.delay = delay
        self._store = Store()
        self._server: Any = None
        self._endpoint: str | None = None
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._loader: Any = None  # botocore's service-model loader, shared by every session this fake makes

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> FakeAws:
        from moto.core.utils import convert_to_flask_response
        from moto.identitystore.responses import IdentityStoreResponse
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from moto.ssm.responses import SimpleSystemManagerResponse
        from moto.ssoadmin.responses import SSOAdminResponse
        from werkzeug.serving import make_server

        from fakes.aws_identity import identitystore_extension

        store, fake = self._store, self
        extended: dict[Any, Any] = {SimpleSystemManagerResponse: ssm_extension(store),
                                    SSOAdminResponse: sso_admin_extension(store),
                                    IdentityStoreResponse: identitystore_extension()}

        def create_app(service: Any) -> Any:
            app = create_backend_app(service)
            for view in app.view_functions.values():  # route SSM, sso-admin and the identity store to the extensions
                if isinstance(view, convert_to_flask_response):
                    replacement = extended.get(getattr(view.callback, "__self__", None))
                    if replacement is not None:
                        view.callback = replacement.dispatch
            return app

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                inner = fault_middleware(DomainDispatcherApplication(create_app), store)

                def app(environ: dict[str, Any], start_response: Any) -> Any:
                    if fake.delay > 0:
                        time.sleep(fake.delay)
                    return inner(environ, start_response)

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
            return self._session("testing", "testing", None)
        found = self.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/FakeAwsAdmin",
                                               RoleSessionName="fake-aws")["Credentials"]
        return self._session(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])

    def _session(self, key: str, secret: str, token: str | None) -> boto3.session.Session:
        """Sessions share one model loader: a fresh botocore session re-reads every service model (~1 s),
        and the tests make a session per bot they start."""
        import botocore.session

        core = botocore.session.Session()
        if self._loader is None:
            self._loader = core.get_component("data_loader")
        core.register_component("data_loader", self._loader)
        return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                                     region_name=self.region, botocore_session=core)

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
            for kept in (self._store.nodes, self._store.sessions, self._store.faults, self._clients,
                         self._store.idc_scripts, self._store.idc_requests, self._store.idc_roles):
                kept.clear()
            self._store.clock = lambda: datetime.now(UTC)

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
                self._store.nodes[instance_id] = NodeRecord(instance_id, account, region, {}, ping, platform)
        return instance_id

    def add_managed_node(self, name: str | None = None, tags: Mapping[str, str] | None = None,
                         ping: str = "Online", account: str | None = None, region: str | None = None,
                         platform: str = "Linux") -> str:
        """A registered hybrid node ``mi-…`` (an on-premises server running SSM Agent)."""
        node_id = "mi-" + secrets.token_hex(9)[:17]
        all_tags = {**({"Name": name} if name else {}), **(tags or {})}
        with self._store.lock:
            self._store.nodes[node_id] = NodeRecord(node_id, account or self.account, region or self.region,
                                               all_tags, ping, platform)
        return node_id

    def set_ping(self, node_id: str, ping: str) -> None:
        with self._store.lock:
            self._store.nodes[node_id].ping = ping

    def start_session(self, target: str, owner_arn: str, document: str = "SSM-SessionManagerRunShell",
                      status: str = "Connected", started: datetime | None = None) -> str:
        """An SSM session on ``target`` owned by an IAM user ARN or an ``…:assumed-role/ROLE/SESSION`` ARN,
        started ``started`` (default: the fake's clock, ``set_clock``). Its id starts, as AWS's do, with the user
        name or the role session name."""
        with self._store.lock:
            node = self._store.nodes.get(target)
            account, region = (node.account, node.region) if node else (owner_arn.split(":")[4], self.region)
            session_id = f"{owner_arn.rsplit('/', 1)[-1]}-{secrets.token_hex(9)[:17]}"
            self._store.sessions[session_id] = SessionRecord(session_id, target, owner_arn, status, document,
                                                        account, region, started or self._store.clock())
        return session_id

    def end_session(self, session_id: str, ended: datetime | None = None, status: str = "Terminated") -> None:
        """The session's holder ended it (``exit``) at ``ended`` (default: the fake's clock); ``Failed`` too."""
        with self._store.lock:
            session = self._store.sessions[session_id]
            session.Status, session.EndDate = status, ended or self._store.clock()

    def set_clock(self, now: Callable[[], datetime] | None) -> None:
        """The time of Session Manager's own records (sessions started or terminated); None: the system's."""
        with self._store.lock:
            self._store.clock = now or (lambda: datetime.now(UTC))

    def set_session_logs(self, bucket: str | None = None, prefix: str = "", log_group: str | None = None,
                         account: str | None = None, region: str | None = None) -> None:
        """Session Manager's preferences in ``account``: the ``SSM-SessionManagerRunShell`` document whose inputs
        say where session logs go (created, or updated as its default version)."""
        ssm = self.client("ssm", account, region)
        content = json.dumps({"schemaVersion": "1.0", "description": "Session Manager preferences",
                              "sessionType": "Standard_Stream",
                              "inputs": {"s3BucketName": bucket or "", "s3KeyPrefix": prefix,
                                         "s3EncryptionEnabled": True, "cloudWatchLogGroupName": log_group or "",
                                         "cloudWatchEncryptionEnabled": True, "runAsEnabled": False}})
        name = "SSM-SessionManagerRunShell"
        try:
            ssm.create_document(Name=name, DocumentType="Session", Content=content, DocumentFormat="JSON")
        except ssm.exceptions.DocumentAlreadyExists:
            version = ssm.update_document(Name=name, Content=content, DocumentVersion="$LATEST",
                                          DocumentFormat="JSON")["DocumentDescription"]["DocumentVersion"]
            ssm.update_document_default_version(Name=name, DocumentVersion=version)

    def event_queue(self, bus_name: str, queue_name: str | None = None) -> tuple[str, str]:
        """An EventBridge bus whose events (source ``jitbot``) a rule copies to an SQS queue: (bus ARN, queue URL).
        ``events_on`` reads them back."""
        events, sqs = self.client("events"), self.client("sqs")
        try:
            bus = str(events.create_event_bus(Name=bus_name)["EventBusArn"])
        except events.exceptions.ResourceAlreadyExistsException:
            bus = str(events.describe_event_bus(Name=bus_name)["Arn"])
        queue = str(sqs.create_queue(QueueName=queue_name or f"{bus_name}-events")["QueueUrl"])
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"{bus_name}-all", EventBusName=bus, EventPattern=json.dumps({"source": ["jitbot"]}))
        events.put_targets(Rule=f"{bus_name}-all", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
        return bus, queue

    def events_on(self, queue_url: str) -> list[dict[str, Any]]:
        """The events the queue of ``event_queue`` holds (taken off it), in the order they arrived."""
        sqs, found = self.client("sqs"), list[dict[str, Any]]()
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

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
        code_status = status or STATUS.get(error_code, 400)
        with self._store.lock:
            self._store.faults.append(Fault(service.lower(), operation, error_code, code_status,
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

    def put_inline_policy(self, principal_arn: str, name: str, document: Mapping[str, Any] | None = None) -> None:
        """Attach an inline policy by hand (drift: a leftover ``jitbot-*`` policy, someone else's policy)."""
        iam, who, kind = self._iam_principal(principal_arn)
        body = json.dumps(document or {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}]})
        put = iam.put_role_policy if kind == "role" else iam.put_user_policy
        put(**who, PolicyName=name, PolicyDocument=body)

    def delete_inline_policy(self, principal_arn: str, name: str) -> None:
        """Remove an inline policy by hand (drift: someone deleted a grant outside jitbot)."""
        iam, who, kind = self._iam_principal(principal_arn)
        delete = iam.delete_role_policy if kind == "role" else iam.delete_user_policy
        delete(**who, PolicyName=name)

    def _iam_principal(self, principal_arn: str) -> tuple[Any, dict[str, str], str]:
        account, (kind, _, name) = principal_arn.split(":")[4], principal_arn.split(":")[5].partition("/")
        who = {"RoleName" if kind == "role" else "UserName": name.rsplit("/", 1)[-1]}
        return self.client("iam", account), who, kind

    def inline_policies(self, principal_arn: str) -> dict[str, dict[str, Any]]:
        """The inline policies of a role or user, by name (documents decoded)."""
        iam, who, kind = self._iam_principal(principal_arn)
        listing, get = ((iam.list_role_policies, iam.get_role_policy) if kind == "role" else
                        (iam.list_user_policies, iam.get_user_policy))
        found: dict[str, dict[str, Any]] = {}
        for name in listing(**who)["PolicyNames"]:
            try:
                found[name] = get(**who, PolicyName=name)["PolicyDocument"]
            except iam.exceptions.NoSuchEntityException:
                continue  # deleted between the listing and the read (a revocation running meanwhile)
        return found


    # -- IAM Identity Center -------------------------------------------------------------------------------
    def identity_center(self) -> tuple[str, str]:
        """(instance ARN, identity store id) of moto's Identity Center instance in the home account."""
        found = self.client("sso-admin").list_instances()["Instances"][0]
        return str(found["InstanceArn"]), str(found["IdentityStoreId"])

    def idc_statuses(self, operation: str, *statuses: str, reason: str = "") -> None:
        """Script the next ``operation`` (``CreateAccountAssignment``, ``DeleteAccountAssignment``,
        ``ProvisionPermissionSet``): its answer and each later ``Describe…Status`` read report these statuses in
        turn, the last one for good (``IN_PROGRESS`` forever: a timeout). A last ``FAILED`` (with ``reason``)
        changes nothing."""
        script = [(s, reason if s == "FAILED" else "") for s in statuses]
        with self._store.lock:
            self._store.idc_scripts.setdefault(operation, []).append(script)

    def permission_sets(self) -> dict[str, dict[str, Any]]:
        """Every permission set by name: its ARN, description, inline policy (decoded) and assignments."""
        sso = self.client("sso-admin")
        instance, _ = self.identity_center()
        found: dict[str, dict[str, Any]] = {}
        for arn in sso.list_permission_sets(InstanceArn=instance, MaxResults=100)["PermissionSets"]:
            with self._store.lock:
                accounts = sorted({a for (p, a) in self._store.idc_roles if p == arn})
            try:
                described = sso.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)["PermissionSet"]
                inline = sso.get_inline_policy_for_permission_set(InstanceArn=instance, PermissionSetArn=arn)
                assigned = [(a["AccountId"], a["PrincipalId"]) for account in accounts for a in
                            sso.list_account_assignments(InstanceArn=instance, AccountId=account,
                                                         PermissionSetArn=arn)["AccountAssignments"]]
            except sso.exceptions.ResourceNotFoundException:  # deleted since it was listed (a revocation ran)
                continue
            found[described["Name"]] = {"arn": arn, "description": described.get("Description", ""),
                                        "policy": json.loads(inline["InlinePolicy"] or "{}"),
                                        "assignments": assigned}
        return found

    def idc_role_policy(self, permission_set_name: str, account: str | None = None) -> dict[str, Any] | None:
        """The inline policy that the role of ``permission_set_name`` has in ``account`` as last provisioned
        there, or None when the permission set is not provisioned there (no assignment: no role)."""
        found = self.permission_sets().get(permission_set_name)
        if found is None:
            return None
        with self._store.lock:
            policy = self._store.idc_roles.get((found["arn"], account or self.account))
        return None if policy is None else json.loads(policy or "{}")

    def idc_session_owner(self, permission_set_name: str, user_name: str, account: str | None = None) -> str:
        """The ``Owner`` of a session started through the role Identity Center made for a permission set."""
        return (f"arn:aws:sts::{account or self.account}:assumed-role/"
                f"AWSReservedSSO_{permission_set_name}_0123456789abcdef/{user_name}")
