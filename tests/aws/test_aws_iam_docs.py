"""docs/iam: jitbot's own least-privilege policy and the users' permissions boundary, linted with parliament
together with the grant policy jitbot really writes; and the documented policy checked against every AWS call
the gateway makes (nothing missing, nothing extra)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from parliament import analyze_policy_string, enhance_finding

from aws.gateway import AwsGateway
from bot.fakes.aws import SECOND_ACCOUNT, FakeAws
from core.model import AccessRequest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "iam"
REGION = "us-east-1"
#: parliament 1.6's IAM database predates ssm:SessionDocumentAccessCheck (a documented Session Manager key);
#: docs/iam/README.md lists this as the one known false positive.
KNOWN_FALSE_POSITIVES = [("UNKNOWN_CONDITION_FOR_ACTION", "ssm:SessionDocumentAccessCheck")]
#: calls that need no permission: STS answers GetCallerIdentity to anyone
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def findings_above_low(document: str) -> list[str]:
    found = []
    for finding in analyze_policy_string(document).findings:
        enhance_finding(finding)
        text = f"{finding.severity} {finding.issue} {finding.detail}"
        if finding.severity in ("LOW", "INFO", "MUTE"):
            continue
        if any(issue == finding.issue and key in text for issue, key in KNOWN_FALSE_POSITIVES):
            continue
        found.append(text)
    return found


def allowed_actions(document: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update(a.lower() for a in ([listed] if isinstance(listed, str) else listed))
    return actions


@pytest.mark.parametrize("name", ["jitbot-policy.json", "jitbot-users-boundary.json"])
def test_documented_policies_lint_clean(name: str) -> None:
    text = (DOCS / name).read_text("utf-8")
    document = json.loads(text)
    assert document["Version"] == "2012-10-17"
    assert findings_above_low(text) == []
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
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}".lower())

    def session() -> boto3.session.Session:
        made = moto_aws.session()
        made.events.register("before-call", record)
        return made

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

    documented = allowed_actions(json.loads((DOCS / "jitbot-policy.json").read_text("utf-8")))
    needed = calls - {c.lower() for c in NEEDS_NO_PERMISSION}
    assert sorted(needed - documented) == [], "jitbot calls these but the documented policy does not allow them"
    assert sorted(documented - needed) == [], "the documented policy allows these but jitbot never calls them"
    for call in needed:  # and every documented action is spelled as IAM spells it
        assert any(fnmatch.fnmatch(call, action) for action in documented)
