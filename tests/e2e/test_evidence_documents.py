"""Per-policy session documents, end to end (issue 19, item 4): a policy's ``session_documents`` replaces
``[settings]``'s for its grants, the IAM statement allows exactly those documents on the node, and the "granted"
DM gives the connect command of each; ``remote_desktop`` adds Fleet Manager's ``ssm-guiconnect`` actions."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from core.model import State
from core.policy.loader import PolicyError, parse_policies
from fakes import cast
from fakes.stack import Stack
from tests.aws.e2e_support import ALICE_ROLE, FAST_ELECTION, granted, policy_file, said

StackFactory = Callable[..., Stack]
LEVEL = """
  [[manual_approval.levels]]
  name = "SRE"
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""
POLICIES = f"""
[[manual_approval]]
name = "db-tunnel"
targets = {{ tags = {{ Role = "db" }} }}
max_duration = "2h"
session_documents = ["AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost"]
{LEVEL}
[[manual_approval]]
name = "desktops"
targets = {{ tags = {{ Role = "desktop" }} }}
max_duration = "2h"
remote_desktop = true
{LEVEL}
"""
FORWARDING = "arn:aws:ssm:us-east-1::document/AWS-StartPortForwardingSession"


def _statements(stack: Stack, rid: str) -> dict[str, dict[str, object]]:
    document = stack.aws.inline_policies(ALICE_ROLE)[f"jitbot-{rid}"]
    return {s["Sid"]: s for s in document["Statement"]}


def test_a_port_forwarding_grant_allows_those_documents_and_says_how_to_use_them(
        stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(extra=POLICIES), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"db-{uid}", {"Role": "db"})
    grant = granted(stack, cast.ALICE, f"request db-{uid} 1h run a migration", node)
    assert (grant.state, grant.policy) == (State.ACTIVE, "db-tunnel")

    start = _statements(stack, grant.id)["JitbotStartSession"]
    assert start["Resource"] == [f"arn:aws:ec2:us-east-1:{cast.ACCOUNT}:instance/{node}", FORWARDING,
                                 f"{FORWARDING}ToRemoteHost"]  # and not the shell of [settings]
    assert "JitbotRemoteDesktop" not in _statements(stack, grant.id)

    dm = str(said(stack, f"D{cast.ALICE}", grant.id, "Access granted").params["text"])
    assert (f"aws ssm start-session --target {node} --region us-east-1 --document-name "
            "AWS-StartPortForwardingSession --parameters") in dm
    assert "AWS-StartPortForwardingSessionToRemoteHost" in dm and "&lt;host the node reaches&gt;" in dm
    assert "localPortNumber" in dm and "SSM-SessionManagerRunShell" not in dm


def test_a_remote_desktop_grant_adds_fleet_managers_actions(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(extra=POLICIES), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"desk-{uid}", {"Role": "desktop"}, platform="Windows")
    grant = granted(stack, cast.ALICE, f"request desk-{uid} 1h check the console", node)
    assert grant.state is State.ACTIVE

    statements = _statements(stack, grant.id)
    assert statements["JitbotStartSession"]["Resource"] == [
        f"arn:aws:ec2:us-east-1:{cast.ACCOUNT}:instance/{node}",
        f"arn:aws:ssm:us-east-1:{cast.ACCOUNT}:document/SSM-SessionManagerRunShell", FORWARDING]
    desktop = statements["JitbotRemoteDesktop"]
    assert desktop["Action"] == ["ssm-guiconnect:StartConnection", "ssm-guiconnect:GetConnection",
                                 "ssm-guiconnect:CancelConnection"]
    assert "DateLessThan" in desktop["Condition"]  # type: ignore[operator]
    dm = str(said(stack, f"D{cast.ALICE}", grant.id, "Access granted").params["text"])
    assert "Connect with Remote Desktop" in dm and f"aws ssm start-session --target {node} --region us-east-1" in dm


def test_an_unknown_document_is_a_located_error() -> None:
    text = policy_file(extra=POLICIES.replace('"AWS-StartPortForwardingSessionToRemoteHost"',
                                              '"AWS-StartPortForwardingToRemoteHost"'))
    with pytest.raises(PolicyError) as caught:
        parse_policies(text)
    assert [e for e in caught.value.errors if "AWS-StartPortForwardingToRemoteHost" in e] == [
        "manual_approval[0].session_documents[1]: 'AWS-StartPortForwardingToRemoteHost' is not a Session Manager "
        "document AWS publishes (they are AWS-StartPortForwardingSession, AWS-StartPortForwardingSessionToRemoteHost, "
        "AWS-StartPortForwardingSessionToSocket, AWS-StartSSHSession, AWS-StartInteractiveCommand, "
        "AWS-StartNonInteractiveCommand, AWS-PasswordReset); an account's own documents may not start with AWS-"]
