"""Authority that members cannot edit (issue 14, section 2) and strict AWS values in the policy file (3.4).

Through the real path: ``/jit`` commands and button clicks as signed HTTP into the bot, the fake Slack Web API
over HTTP (users.info and usergroups.users.list answer like Slack), moto for IAM, ``jitbot policies check``
run as its CLI.

* a member edits a user group (adds themselves to the approvers): jitbot goes by the group as it reads it, and
  the audit events of the submission and the approval record which entries and which members it relied on, so
  the edit is traceable after the group is put back;
* a Cedar statement deciding on the Slack title (which every member edits) or withholding on the email is an
  error of ``policies check``, located and explained;
* an email-keyed identity is refused, with the reason, to an unconfirmed email, a guest, a Slack Connect user
  and a stranger, recording nothing; a confirmed full member gets it; an id-keyed identity needs none of this;
* wildcard ARNs and session documents are located errors of ``policies check``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from core.model import AuditEvent, State
from fakes import cast
from fakes.slack_api import FakeSlack
from handlers import ids
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    ROLE,
    RelStack,
    assert_unchanged,
    ctx,
    get,
    policies_of,
    policy_file,
    settled,
    trail,
    world,
)

REQUESTERS, APPROVERS, BLOCKED = "S0T4REQS", "S0T4APPR", "S0T4DENY"
APPR_CHANNEL = "C0T4APPR1"
NEWCOMER = "U0T4NEW01"  # an ordinary member who adds themselves to the approvers' group
#: email-keyed people of every kind Slack reports, and what jitbot must tell each
GOOD, UNCONFIRMED, GUEST, SINGLE, CONNECT, STRANGER, GUEST_BY_ID = (
    "U0T4GOOD1", "U0T4UNCF1", "U0T4GST01", "U0T4GST02", "U0T4EXT01", "U0T4STR01", "U0T4GST03")
REFUSALS = {
    UNCONFIRMED: "Slack has not confirmed that you control u0t4uncf1@example.com",
    GUEST: "your Slack account is a guest account, not a full member of this workspace",
    SINGLE: "your Slack account is a guest account, not a full member of this workspace",
    CONNECT: "your Slack account belongs to another organisation (Slack Connect or external), not this workspace",
    STRANGER: "your Slack account belongs to another organisation (Slack Connect or external), not this workspace",
}


def _email(user: str) -> str:
    return f"{user.lower()}@example.com"


@pytest.fixture(scope="module")
def people(fake_slack: FakeSlack) -> FakeSlack:
    fake_slack.add_user(NEWCOMER, email=_email(NEWCOMER), name="Newcomer")
    fake_slack.add_group(REQUESTERS, [cast.ALICE, cast.ERIN])
    fake_slack.add_group(APPROVERS, [cast.SAM, cast.TINA])
    fake_slack.add_group(BLOCKED, [cast.MALLORY])
    fake_slack.add_user(GOOD, email=_email(GOOD), name="Good")
    fake_slack.add_user(UNCONFIRMED, email=_email(UNCONFIRMED), name="Unconfirmed", email_confirmed=False)
    fake_slack.add_user(GUEST, email=_email(GUEST), name="Guest", is_restricted=True)
    fake_slack.add_user(SINGLE, email=_email(SINGLE), name="Single", is_ultra_restricted=True)
    fake_slack.add_user(CONNECT, email=_email(CONNECT), name="Connect", team_id="T0OTHERORG")
    fake_slack.add_user(STRANGER, email=_email(STRANGER), name="Stranger", is_stranger=True, team_id="T0OTHERORG")
    fake_slack.add_user(GUEST_BY_ID, email=_email(GUEST_BY_ID), name="Guest by id", is_restricted=True,
                        email_confirmed=False)
    return fake_slack


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, people: FakeSlack) -> RelStack:
    identities = {cast.ALICE: ROLE, cast.MALLORY: ROLE, GUEST_BY_ID: ROLE,
                  **{_email(u): ROLE for u in (GOOD, UNCONFIRMED, GUEST, SINGLE, CONNECT, STRANGER)}}
    deny = (f'[[deny]]\nname = "t4-blocked"\nrequesters = ["{BLOCKED}"]\n'
            'targets = { tags = { DataClass = "pci" } }\nblock = "all"\n\n'
            '[[auto_approval]]\nname = "t4-staging"\ntargets = { tags = { Environment = "staging" } }\n'
            'max_duration = "1h"\n')
    return module_stacks(policy_file([{"name": "Approvers", "channel": APPR_CHANNEL, "approvers": [APPROVERS]}],
                                     name="t4-groups", identities=identities, extra=deny,
                                     targets='{ tags = { Environment = "prod" } }').replace(
        'max_duration = "4h"', f'max_duration = "4h"\nrequesters = ["{REQUESTERS}"]'))


def _events(stack: RelStack, action: str, request_id: str | None = None) -> list[AuditEvent]:
    return [e for e in trail(stack, request_id) if e.action == action]


def _members(detail: dict[str, Any], group: str) -> list[str]:
    listed: list[str] = detail["groups"][group]["members"]
    assert detail["groups"][group]["count"] == len(listed)
    return listed


def _live(stack: RelStack, user: str) -> list[str]:
    with ctx(stack).uow() as uow:
        return [r.id for r in uow.repo.by_requester(user, [State.PENDING, State.APPROVED, State.ACTIVE])]


# -- 2.1 user groups: the membership each decision relied on --------------------------------------------------
def test_a_member_edits_a_group_and_the_audit_shows_the_membership_relied_on(stack: RelStack, people: FakeSlack,
                                                                            figures: Counter[str]) -> None:
    people.add_group(APPROVERS, [cast.SAM, cast.TINA, NEWCOMER])  # any member may edit groups in this workspace
    answer = stack.slash(cast.ALICE, "request web-1 1h look at the logs")
    rid = _live(stack, cast.ALICE)[0]
    assert rid in answer
    submitted = _events(stack, "submitted", rid)[0].detail["membership"]
    assert submitted["t4-groups"]["via"] == [REQUESTERS]
    assert _members(submitted["t4-groups"], REQUESTERS) == sorted([cast.ALICE, cast.ERIN])

    answer = stack.click(NEWCOMER, ids.APPROVE, rid, APPR_CHANNEL)  # jitbot goes by the group as it reads it
    assert "access was granted" in answer, answer
    people.add_group(APPROVERS, [cast.SAM, cast.TINA])  # an admin notices and puts the group back
    approval = _events(stack, "approve", rid)[0]
    assert approval.actor == NEWCOMER and approval.detail["eligible_by"]["via"] == [APPROVERS]
    assert _members(approval.detail["eligible_by"], APPROVERS) == sorted([cast.SAM, cast.TINA, NEWCOMER])
    assert len(approval.detail["eligible_by"]["groups"][APPROVERS]["sha256"]) == 64
    stack.slash(cast.ALICE, f"release {rid}")
    settled(stack, rid)
    figures["requests: authority"] += 2


def test_a_refusal_by_a_group_records_the_group_as_it_was(stack: RelStack) -> None:
    stack.slash(cast.MALLORY, "request pci-db 1h read the card data")
    refused = _events(stack, "request_refused")[-1]
    assert refused.actor == cast.MALLORY and refused.detail["policy"] == "t4-blocked"
    basis = refused.detail["membership"]["t4-blocked"]
    assert basis["via"] == [BLOCKED] and _members(basis, BLOCKED) == [cast.MALLORY]


# -- 2.3 identity by email ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("user", list(REFUSALS))
def test_an_email_identity_is_refused_unless_slack_vouches_for_it(stack: RelStack, user: str,
                                                                  figures: Counter[str]) -> None:
    before = world(stack)
    answer = stack.slash(user, f"request {stack.nodes['batch']} 30m deploy the fix")
    assert REFUSALS[user] in answer, answer
    assert f"map your Slack user id ({user}) in [identities]" in answer
    assert_unchanged(stack, before, f"an email identity for {user}")
    figures["requests: authority"] += 1


def test_the_form_and_explain_say_why_too(stack: RelStack) -> None:
    assert stack.sim is not None
    events = trail(stack)
    assert REFUSALS[CONNECT] in stack.slash(CONNECT, f"explain {stack.nodes['batch']}")
    since = len(stack.slack.calls)
    assert stack.sim.command(GUEST, "request").status == 200
    opened = stack.slack.wait_for(lambda c: c.method == "views.open" and stack.slack.calls.index(c) >= since)
    assert REFUSALS[GUEST] in str(opened.params["view"]["blocks"])
    assert trail(stack) == events


def test_a_confirmed_full_member_gets_the_email_identity(stack: RelStack) -> None:
    answer = stack.slash(GOOD, f"request {stack.nodes['batch']} 30m deploy the fix")
    rid = _live(stack, GOOD)[0]
    assert rid in answer and get(stack, rid).state is State.ACTIVE and get(stack, rid).principal_arn == ROLE
    assert f"jitbot-{rid}" in policies_of(stack)
    stack.slash(GOOD, f"release {rid}")
    settled(stack, rid)


def test_an_id_keyed_identity_needs_no_email(stack: RelStack) -> None:
    """A guest whose email is unconfirmed, mapped by user id: the admin named exactly this account."""
    stack.slash(GUEST_BY_ID, f"request {stack.nodes['batch']} 30m deploy the fix")
    rid = _live(stack, GUEST_BY_ID)[0]
    assert get(stack, rid).state is State.ACTIVE
    stack.slash(GUEST_BY_ID, f"release {rid}")
    settled(stack, rid)


# -- policies check: 2.2 (Cedar on self-edited attributes) and 3.4 (strict AWS values) ----------------------------
def _check(folder: Path, toml: str, capsys: pytest.CaptureFixture[str], cedar: str | None = None,
           monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, list[str]]:
    if cedar is not None:
        (folder / "policies.cedar").write_text(cedar, "utf-8")
        toml = '[settings]\ncedar_policies = "policies.cedar"\n' + toml
    path = folder / "policies.toml"
    path.write_text(toml + MANUAL, "utf-8")
    code = main(["policies", "check", str(path), "--offline"])
    _, err = capsys.readouterr()
    return code, [line.strip() for line in err.splitlines()[1:]]


MANUAL = """
[[manual_approval]]
name = "prod"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""
TITLE_FORBID = """@id("contractors-off-pci")
@block("all")
forbid (
  principal,
  action == AWS::SSM::Action::"getTokenForInstanceAccess",
  resource
) when {
  principal has title && principal.title like "*Contractor*"
};

@id("contractors-by-email")
forbid (principal, action, resource) when { principal has email && principal.email like "*@contractor.example" };
"""


def test_policies_check_refuses_cedar_on_self_edited_attributes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, errors = _check(tmp_path, "", capsys, TITLE_FORBID)
    assert code == 1
    assert errors == [
        "policies.cedar:8:17: `principal.title` is a field of the Slack profile, which each member edits themselves: "
        "it cannot decide access, and jitbot does not offer it; name an admin-managed user group (principal in "
        "AWS::IdentityStore::Group::\"S…\") instead",
        "policies.cedar:12:59: `principal.email` may only grant, never withhold: a member who can change their Slack "
        "email moves to another address they control and steps out of this forbid; deny by an admin-managed user "
        "group (principal in AWS::IdentityStore::Group::\"S…\") instead",
    ]


WILDCARDS = f"""
[settings]
session_documents = ["SSM-SessionManagerRunShell", "arn:aws:ssm:*:*:document/*", "AWS-Start?"]

[identities]
U0ALICE01 = "arn:aws:iam::{cast.ACCOUNT}:role/*"
U0BOB0001 = "arn:aws:iam::{cast.ACCOUNT}:role/jit-users/*/bob"
"erin@example.com" = "arn:aws:iam::*:user/erin"
U0SAM0001 = "arn:aws:iam::{cast.ACCOUNT}:role/sam"

[accounts]
"444455556666" = {{ role_arn = "arn:aws:iam::444455556666:role/jit*" }}
"""


def test_policies_check_locates_wildcard_arns_and_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, errors = _check(tmp_path, WILDCARDS, capsys)
    assert code == 1
    role, one_role, one_user = "name exactly one IAM role or user", "name exactly one IAM role", "SSM document"
    assert errors == [
        f"settings.session_documents[1]: 'arn:aws:ssm:*:*:document/*' contains a wildcard (*): name exactly one "
        f"{one_user}",
        f"settings.session_documents[2]: 'AWS-Start?' contains a wildcard (?): name exactly one {one_user}",
        f"identities.U0ALICE01: 'arn:aws:iam::{cast.ACCOUNT}:role/*' contains a wildcard (*): {role}",
        f"identities.U0BOB0001: 'arn:aws:iam::{cast.ACCOUNT}:role/jit-users/*/bob' contains a wildcard (*): {role}",
        f"identities.erin@example.com: 'arn:aws:iam::*:user/erin' contains a wildcard (*): {role}",
        f"accounts.444455556666.role_arn: 'arn:aws:iam::444455556666:role/jit*' contains a wildcard (*): {one_role}",
    ]


def test_a_running_bot_rejects_a_wildcard_reload(stack: RelStack) -> None:
    """The same check guards a change while jitbot runs: the file in force stays, the rejection is on record."""
    assert stack.runtime is not None and stack.runtime.policy_watch is not None
    good = stack.policies_path.read_text("utf-8")
    try:
        stack.policies_path.write_text(good.replace(f'"{ROLE}"', '"arn:aws:iam::123456789012:role/*"', 1), "utf-8")
        stack.runtime.policy_watch.holder.check(force=True)
        failed = _events(stack, "policies_reload_failed")[-1]
        assert "identities.U0ALICE01: 'arn:aws:iam::123456789012:role/*' contains a wildcard (*): name exactly one " \
               "IAM role or user" in failed.detail["errors"]
        assert stack.runtime.ctx.policies().identities[cast.ALICE] == ROLE
    finally:
        stack.policies_path.write_text(good, "utf-8")
        stack.runtime.policy_watch.holder.check(force=True)
