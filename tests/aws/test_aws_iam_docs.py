"""docs/iam: jitbot's own least-privilege policy and the users' permissions boundary, linted with parliament
together with the grant policy jitbot really writes; and the documented policies checked against every AWS call
the gateway, the Identity Store reader and the IAM-tag reader make (nothing missing, nothing extra)."""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from parliament import analyze_policy_string, enhance_finding

from aws.clients import Clients
from aws.eventbridge import check_bus, put_event
from aws.gateway import AwsGateway
from aws.identity_center import IdentityCenterConfig
from aws.identitystore import AwsIdentityStore
from aws.tags import IamPrincipalTags
from core import events
from core.idc import idc_user_principal
from core.model import AccessRequest
from core.policy.schema import IdentityCenter
from fakes.aws import DEFAULT_ACCOUNT, SECOND_ACCOUNT, FakeAws
from fakes.aws_identity import add_idc_group, add_idc_user

DOCS = Path(__file__).resolve().parents[2] / "docs" / "iam"
REGION = "us-east-1"
#: parliament 1.6's IAM database predates ssm:SessionDocumentAccessCheck (a documented Session Manager key);
#: docs/iam/README.md lists this as the one known false positive.
KNOWN_FALSE_POSITIVES = [("UNKNOWN_CONDITION_FOR_ACTION", "ssm:SessionDocumentAccessCheck")]
IDC_POLICY = "jitbot-identity-center-grants.json"
IDENTITIES_POLICY = "jitbot-identity-center-identities.json"
AWS_CODE = Path(__file__).resolve().parents[2] / "aws"
#: calls that need no permission: STS answers GetCallerIdentity to anyone
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def findings_above_low(document: str, *, split_sso_resources: bool = False) -> list[str]:
    """parliament's findings above LOW, less the known false positives. ``split_sso_resources``: the Identity
    Center policy allows its changes on jitbot's tagged permission sets in one statement and on the instance and
    accounts in another (IAM authorises each resource of a request on its own); parliament wants every resource
    type of an action in each statement and reports RESOURCE_MISMATCH (docs/iam/README.md)."""
    found = []
    for finding in analyze_policy_string(document).findings:
        enhance_finding(finding)
        text = f"{finding.severity} {finding.issue} {finding.detail}"
        if finding.severity in ("LOW", "INFO", "MUTE"):
            continue
        if any(issue == finding.issue and key in text for issue, key in KNOWN_FALSE_POSITIVES):
            continue
        if (split_sso_resources and finding.issue == "RESOURCE_MISMATCH" and isinstance(finding.detail, list)
                and all(str(d.get("action", "")).startswith("sso:") for d in finding.detail)):
            continue
        found.append(text)
    return found


def recording_session(moto_aws: FakeAws, calls: set[str]) -> Callable[[], boto3.session.Session]:
    """Sessions on moto that add every API call made through them to ``calls``, as ``service:Operation``."""
    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}".lower())

    def session() -> boto3.session.Session:
        made = moto_aws.session()
        made.events.register("before-call", record)
        return made

    return session


def operations_named_in(module: str, service: str) -> set[str]:
    """Every API operation of ``service`` that ``aws/<module>`` names (a boto3 method, called or paginated), as
    ``service:Operation``: what the code can call, whether or not a test happens to reach it."""
    methods = boto3.session.Session(region_name=REGION).client(service).meta.method_to_api_mapping  # type: ignore[call-overload]
    words = set(re.findall(r"\b[a-z][a-z0-9_]*\b", (AWS_CODE / module).read_text("utf-8")))
    return {f"{service}:{methods[word]}".lower() for word in words & set(methods)}


def allowed_actions(document: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update(a.lower() for a in ([listed] if isinstance(listed, str) else listed))
    return actions


@pytest.mark.parametrize("name", ["jitbot-policy.json", "jitbot-users-boundary.json", IDC_POLICY,
                                  IDENTITIES_POLICY])
def test_documented_policies_lint_clean(name: str) -> None:
    text = (DOCS / name).read_text("utf-8")
    document = json.loads(text)
    assert document["Version"] == "2012-10-17"
    assert findings_above_low(text, split_sso_resources=name == IDC_POLICY) == []
    assert not any("*" in a for a in allowed_actions(document)), "no wildcard actions"


def test_the_grant_policy_jitbot_writes_lints_clean(moto_aws: FakeAws, gateway: AwsGateway,
                                                    make_request: Callable[..., AccessRequest], uid: str) -> None:
    role, user = moto_aws.create_role(f"lint-{uid}"), moto_aws.create_user(f"lint-{uid}")
    ec2 = gateway.resolve(moto_aws.add_instance(f"lint-{uid}"))
    hybrid = gateway.resolve(moto_aws.add_managed_node(f"lint-mi-{uid}"))
    until = datetime.now(UTC) + timedelta(hours=1)
    for node, principal in ((ec2, role), (hybrid, user)):
        request = make_request(node, principal)
        gateway.grant(request, until, ["SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession"])
        written = moto_aws.inline_policies(principal)[f"jitbot-{request.id}"]  # as IAM stores it
        assert findings_above_low(json.dumps(written)) == []
        # the users' boundary must let through everything a grant gives
        boundary = json.loads((DOCS / "jitbot-users-boundary.json").read_text("utf-8"))
        assert {a.lower() for s in written["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                               else s["Action"])} <= allowed_actions(boundary)


def test_the_documented_policy_allows_exactly_what_jitbot_calls(moto_aws: FakeAws, uid: str,
                                                                make_request: Callable[..., AccessRequest]) -> None:
    """Find nodes (home, hybrid, another account), grant, check, list, revoke with a session to end, and read the
    tags of the principals (Cedar's ``context.iam.principalTags``)."""
    calls: set[str] = set()
    session = recording_session(moto_aws, calls)
    gateway = AwsGateway(session, REGION, endpoint_url=moto_aws.endpoint_url, max_attempts=2, cache_seconds=0,
                         accounts={SECOND_ACCOUNT: f"arn:aws:iam::{SECOND_ACCOUNT}:role/jitbot"})
    role, user = moto_aws.create_role(f"calls-{uid}"), moto_aws.create_user(f"calls-{uid}")
    ec2 = gateway.resolve(moto_aws.add_instance(f"calls-{uid}"))
    moto_aws.add_managed_node(f"calls-mi-{uid}")
    hybrid = gateway.resolve(f"calls-mi-{uid}")
    moto_aws.add_instance(f"calls-far-{uid}", account=SECOND_ACCOUNT)
    gateway.resolve(f"{SECOND_ACCOUNT}/calls-far-{uid}")  # through sts:AssumeRole
    until = datetime.now(UTC) + timedelta(hours=1)
    for node, principal in ((ec2, role), (hybrid, user)):
        request = make_request(node, principal)
        gateway.grant(request, until, ["SSM-SessionManagerRunShell"])
        assert gateway.has_grant(request) and gateway.jit_policies(principal) == [f"jitbot-{request.id}"]
        moto_aws.start_session(node.id, principal)
        assert gateway.revoke(request) == 1
        assert len(gateway.sessions(request, until - timedelta(hours=2), None)) == 1  # the record, with its log
    bus, _ = moto_aws.event_queue(f"calls-{uid}")
    assert check_bus(gateway.clients, bus) is None
    put_event(gateway.clients, bus, events.change(request, None, request.state, action="submitted",
                                                  actor="U0ALICE01", at=until))
    moto_aws.client("iam").tag_role(RoleName=f"calls-{uid}", Tags=[{"Key": "Tier", "Value": "restricted"}])
    tags = IamPrincipalTags(gateway.clients)
    assert tags.principal_tags(role) == {"Tier": "restricted"} and tags.principal_tags(user) == {}

    documented = allowed_actions(json.loads((DOCS / "jitbot-policy.json").read_text("utf-8")))
    needed = calls - {c.lower() for c in NEEDS_NO_PERMISSION}
    assert sorted(needed - documented) == [], "jitbot calls these but the documented policy does not allow them"
    assert sorted(documented - needed) == [], "the documented policy allows these but jitbot never calls them"
    for call in needed:  # and every documented action is spelled as IAM spells it
        assert any(fnmatch.fnmatch(call, action) for action in documented)
    assert sorted(operations_named_in("tags.py", "iam") - documented) == [], "aws/tags.py names these"


def test_the_identity_center_policy_allows_exactly_what_jitbot_calls(
        moto_aws: FakeAws, uid: str, make_request: Callable[..., AccessRequest]) -> None:
    """Grant, check, list, reconcile and revoke (with a session to end) for an Identity Center user: every
    sso-admin call is in jitbot-identity-center-grants.json and nothing more; the rest (finding the node, ending
    sessions) is in jitbot-policy.json; the permission set's inline policy lints clean."""
    calls: set[str] = set()
    session = recording_session(moto_aws, calls)
    instance, store = moto_aws.identity_center()

    def make() -> AwsGateway:
        return AwsGateway(session, REGION, endpoint_url=moto_aws.endpoint_url, max_attempts=2, cache_seconds=0,
                          identity_center=IdentityCenterConfig(instance, store, REGION), idc_poll=0.01)

    gateway = make()
    node = gateway.resolve(moto_aws.add_instance(f"idc-calls-{uid}"))
    person = idc_user_principal(str(uuid.uuid4()))
    request = make_request(node, person)
    name = f"jitbot-{request.id}"
    moto_aws.idc_statuses("CreateAccountAssignment", "IN_PROGRESS", "SUCCEEDED")  # a status to read again
    gateway.grant(request, datetime.now(UTC) + timedelta(hours=1), ["SSM-SessionManagerRunShell"])
    moto_aws.idc_statuses("ProvisionPermissionSet", "IN_PROGRESS", "SUCCEEDED")
    gateway.grant(request, datetime.now(UTC) + timedelta(hours=1), ["SSM-SessionManagerRunShell"])  # a retry
    gateway = make()  # a restarted bot finds the permission set by its name
    assert findings_above_low(json.dumps(moto_aws.permission_sets()[name]["policy"])) == []
    assert gateway.has_grant(request) and gateway.jit_policies(person) == [name]
    assert person in gateway.jit_principals()
    moto_aws.start_session(node.id, moto_aws.idc_session_owner(name, "alice@example.com"))
    moto_aws.idc_statuses("DeleteAccountAssignment", "IN_PROGRESS", "SUCCEEDED")
    assert gateway.revoke(request) == 1

    sso = {c for c in calls if c.startswith("sso:")}
    documented = allowed_actions(json.loads((DOCS / IDC_POLICY).read_text("utf-8")))
    assert sorted(sso - documented) == [], "jitbot calls these but the documented policy does not allow them"
    assert sorted(documented - sso) == [], "the documented policy allows these but jitbot never calls them"
    rest = calls - sso - {c.lower() for c in NEEDS_NO_PERMISSION}
    assert sorted(rest - allowed_actions(json.loads((DOCS / "jitbot-policy.json").read_text("utf-8")))) == []


def test_the_identity_store_policy_allows_exactly_what_jitbot_calls(moto_aws: FakeAws, uid: str) -> None:
    """Who an email is (primary email, then user name), a user's attributes, a group by DisplayName and by
    GroupId, a group's members, a person's groups: every Identity Store call is in
    jitbot-identity-center-identities.json and nothing more, and so is every operation aws/identitystore.py names."""
    calls: set[str] = set()
    store_id = "d-" + uuid.uuid4().hex[:10]
    config = IdentityCenter(instance_arn=moto_aws.identity_center()[0], identity_store_id=store_id, region=REGION)
    clients = Clients(recording_session(moto_aws, calls), region=REGION, endpoint_url=moto_aws.endpoint_url,
                      account_id=DEFAULT_ACCOUNT, max_attempts=1)
    reader = AwsIdentityStore(clients, lambda: config, ttl=0)
    person = add_idc_user(moto_aws, store_id, f"pat-{uid}", f"pat-{uid}@x.example", attributes={"division": "Ops"})
    group = add_idc_group(moto_aws, store_id, f"sre-{uid}", [person])

    assert reader.users_by_email(f"pat-{uid}@x.example") == (person,)
    assert reader.user(person).attributes == {"division": "Ops"}
    found = reader.group(f"sre-{uid}")
    assert found is not None and found.group_id == group and reader.group(group) == found
    assert reader.group_member_ids(group) == {person} and reader.groups_of(person) == {group}

    documented = allowed_actions(json.loads((DOCS / IDENTITIES_POLICY).read_text("utf-8")))
    assert {c.split(":")[0] for c in calls} == {"identitystore"}
    assert sorted(calls - documented) == [], "jitbot calls these but the documented policy does not allow them"
    assert sorted(documented - calls) == [], "the documented policy allows these but jitbot never calls them"
    named = operations_named_in("identitystore.py", "identitystore")
    assert sorted(named ^ documented) == [], "aws/identitystore.py names these operations, or no longer does"
