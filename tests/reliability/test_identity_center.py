"""IAM Identity Center as the source of who someone is and of authority (issue 15, items 1 to 4).

Through the real path: ``/jit`` commands and button clicks as signed HTTP into the bot, the fake Slack Web API over
HTTP, moto's server for the identity store (users, groups, memberships; the enterprise-extension attributes moto
lacks are kept by ``fakes/aws_identity.py``) and for IAM, ``jitbot policies check`` run as its CLI.

* a Slack user is the Identity Center user whose primary email (or user name) is their confirmed Slack email: their
  request names ``arn:aws:identitystore:::user/<UserId>``;
* an approver in an ``idc-group:`` approves (matched by email like a requester), and the audit event records the
  group's members as read; a non-member is refused; an ``idc-group:<GroupId>`` deny list refuses its members;
* an unknown email, an email two Identity Store users share, and an unreachable Identity Center are refused at
  once with clear messages, recording nothing;
* Cedar sees Identity Store attributes (``principal.division``) and IAM principal tags (``context.iam``);
* ``policies check`` locates unknown Identity Center groups, in the TOML and in the Cedar file.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from bot.cli import main
from core.idc import idc_user_principal
from core.model import State
from fakes import cast
from fakes.aws import FakeAws
from fakes.aws_identity import add_idc_group, add_idc_user
from fakes.slack_api import FakeSlack
from handlers import ids
from tests.reliability.conftest import StackMaker
from tests.reliability.support import AUDIT, RelStack, assert_unchanged, ctx, get, trail, world

STORE = "d-" + secrets.token_hex(5)
INSTANCE = "arn:aws:sso:::instance/ssoins-" + secrets.token_hex(8)
CHANNEL = "C0T9APPR1"
IVY, AARON, NINA, NOMATCH, TWIN, FARAWAY, CONNIE, ROB = (
    "U0T9IVY01", "U0T9AARON", "U0T9NINA1", "U0T9NOMAT", "U0T9TWIN1", "U0T9FAR01", "U0T9CONNI", "U0T9ROB01")
RESTRICTED_ROLE = "t9-restricted"


def _email(user: str) -> str:
    return f"{user.lower()}@idc.example"


@pytest.fixture(scope="module")
def people(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]]) -> dict[str, str]:
    """Slack users and their Identity Store users; returns Slack id (or group name) → Identity Store id."""
    aws, _ = fake_aws
    for user in (IVY, AARON, NINA, NOMATCH, TWIN, FARAWAY, CONNIE, ROB):
        fake_slack.add_user(user, email=_email(user), name=user)
    found = {user: add_idc_user(aws, STORE, _email(user), _email(user)) for user in (IVY, AARON, NINA)}
    found[CONNIE] = add_idc_user(aws, STORE, "connie", _email(CONNIE), attributes={"division": "Contractors"})
    found[FARAWAY] = add_idc_user(aws, STORE, "faraway", _email(FARAWAY))
    add_idc_user(aws, STORE, "twin-a", _email(TWIN))  # primary email …
    add_idc_user(aws, STORE, _email(TWIN), "twin-b@idc.example")  # … and another user's user name
    other = add_idc_user(aws, STORE, "other-sre", "other-sre@idc.example")
    found["sre"] = add_idc_group(aws, STORE, "t9-sre", [found[AARON], other])
    found["engineers"] = add_idc_group(aws, STORE, "t9-engineers", [found[u] for u in (IVY, NINA, CONNIE, FARAWAY)])
    found["blocked"] = add_idc_group(aws, STORE, "t9-blocked", [found[NINA]])
    iam = aws.client("iam")
    aws.create_role(RESTRICTED_ROLE)
    iam.tag_role(RoleName=RESTRICTED_ROLE, Tags=[{"Key": "Tier", "Value": "restricted"}])
    return found


CEDAR = """@id("no-contractors")
@block("all")
forbid (principal, action == AWS::SSM::Action::"getTokenForInstanceAccess", resource)
when { principal has division && principal.division == "Contractors" };

@id("restricted-roles")
@block("all")
forbid (principal, action == AWS::SSM::getTokenForInstanceAccess, resource)
when { context.iam.principalTags.hasTag("Tier") && context.iam.principalTags.getTag("Tier") == "restricted" };
"""


def _policies(folder: Path, people: dict[str, str]) -> str:
    (folder / "t9.cedar").write_text(CEDAR, "utf-8")
    return f"""[settings]
audit_channel = "{AUDIT}"
reminder_interval = "0"
expiry_warning = "0"
reconcile_interval = "0"
cedar_policies = "{folder / 't9.cedar'}"

[identities]
"{ROB}" = "arn:aws:iam::{cast.ACCOUNT}:role/{RESTRICTED_ROLE}"

[identity_center]
instance_arn = "{INSTANCE}"
identity_store_id = "{STORE}"
region = "us-east-1"

[[deny]]
name = "t9-blocked"
requesters = ["idc-group:{people['blocked']}"]
targets = "all"

[[manual_approval]]
name = "t9-idc"
requesters = ["idc-group:t9-engineers", "{ROB}"]
targets = "all"
max_duration = "4h"
  [[manual_approval.levels]]
  name = "SRE"
  channel = "{CHANNEL}"
  approvers = ["idc-group:t9-sre"]
  [[manual_approval.levels]]
  name = "Lead"
  channel = "{CHANNEL}"
  approvers = ["{cast.SAM}"]
"""


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, people: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> RelStack:
    return module_stacks(_policies(tmp_path_factory.mktemp("t9"), people), max_attempts=1)


def _live(stack: RelStack, user: str) -> list[str]:
    with ctx(stack).uow() as uow:
        return [r.id for r in uow.repo.by_requester(user, [State.PENDING, State.APPROVED, State.ACTIVE])]


def test_a_requester_is_their_identity_center_user_and_an_idc_group_approves(
        stack: RelStack, people: dict[str, str]) -> None:
    answer = stack.slash(IVY, "request web-1 1h read the logs")
    rid = _live(stack, IVY)[0]
    assert rid in answer
    request = get(stack, rid)
    assert request.state is State.PENDING
    assert request.principal_arn == idc_user_principal(people[IVY]) == f"arn:aws:identitystore:::user/{people[IVY]}"
    submitted = next(e for e in trail(stack, rid) if e.action == "submitted").detail["membership"]["t9-idc"]
    assert submitted["via"] == ["idc-group:t9-engineers"]
    assert submitted["groups"]["idc-group:t9-engineers"]["group_id"] == people["engineers"]

    before = world(stack)
    refused = stack.click(NINA, ids.APPROVE, rid, CHANNEL)  # an Identity Center user, not in t9-sre
    assert "Only the approvers of level 1 ('SRE')" in refused
    assert_unchanged(stack, before, "a non-member's approval")

    stack.click(AARON, ids.APPROVE, rid, CHANNEL)
    decided = get(stack, rid)
    assert decided.state is State.PENDING and decided.current_level == 1  # on to the Slack-named lead
    approval = next(e for e in trail(stack, rid) if e.action == "approve" and e.actor == AARON)
    basis = approval.detail["eligible_by"]
    assert basis["via"] == ["idc-group:t9-sre"]
    group = basis["groups"]["idc-group:t9-sre"]
    assert group["group_id"] == people["sre"] and group["identity_store_user"] == people[AARON]
    assert people[AARON] in group["members"] and group["count"] == 2
    stack.slash(IVY, f"cancel {rid}")


def test_a_deny_list_by_group_id_refuses_its_members(stack: RelStack) -> None:
    answer = stack.slash(NINA, "request web-1 1h read the logs")
    assert "denied by policy 't9-blocked'" in answer and not _live(stack, NINA)


@pytest.mark.parametrize(("user", "needles"), [
    (NOMATCH, [f"No IAM Identity Center user has {_email(NOMATCH)} (your Slack email) as primary email or user "
               "name", "Ask an admin to set it as your Identity Center user's primary email", NOMATCH]),
    (TWIN, [f"2 IAM Identity Center users have {_email(TWIN)} (your Slack email) as primary email or user name",
            "will not guess which one is you"]),
])
def test_no_match_or_two_matches_are_refused_at_once(stack: RelStack, user: str, needles: list[str]) -> None:
    before = world(stack)
    answer = stack.slash(user, "request web-1 1h read the logs")
    for needle in needles:
        assert needle in answer, answer
    assert_unchanged(stack, before, f"{user}'s refused request")


def test_an_unreachable_identity_center_refuses_and_records_nothing(stack: RelStack) -> None:
    before = world(stack)
    stack.aws.fail_next("identitystore:GetUserId", "ServiceUnavailableException", status=503,
                        message="Identity Center is down")
    try:
        answer = stack.slash(FARAWAY, "request web-1 1h read the logs")
    finally:
        stack.aws.clear_faults()
    assert f"jitbot could not ask IAM Identity Center who {_email(FARAWAY)} is" in answer, answer
    assert "Identity Center is down" in answer and "Nothing was recorded" in answer
    assert_unchanged(stack, before, "a request while Identity Center is unreachable")


def test_cedar_reads_identity_store_attributes_and_iam_principal_tags(stack: RelStack) -> None:
    assert "denied by policy 'no-contractors'" in stack.slash(CONNIE, "request web-1 1h read the logs")
    assert "denied by policy 'restricted-roles'" in stack.slash(ROB, "request web-1 1h read the logs")
    assert not _live(stack, CONNIE) and not _live(stack, ROB)


# -- policies check ---------------------------------------------------------------------------------------------
def test_policies_check_locates_unknown_identity_center_groups(
        tmp_path: Path, people: dict[str, str], fake_aws: tuple[FakeAws, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    aws, _ = fake_aws
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    (tmp_path / "p.cedar").write_text(
        'permit (\n  principal in AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE",\n'
        '  action == AWS::SSM::Action::"getTokenForInstanceAccess",\n  resource\n);\n'
        f'forbid (principal in AWS::IdentityStore::Group::"{people["blocked"]}", action, resource);\n', "utf-8")
    text = _policies(tmp_path, people).replace(f'cedar_policies = "{tmp_path / "t9.cedar"}"',
                                               'cedar_policies = "p.cedar"')
    text = text.replace('approvers = ["idc-group:t9-sre"]', 'approvers = ["idc-group:t9-sre", "idc-group:t9-nope"]')
    (tmp_path / "policies.toml").write_text(text, "utf-8")
    code = main(["policies", "check", str(tmp_path / "policies.toml")])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    problems = [line.strip() for line in err.splitlines() if line.strip()]
    assert problems == [
        "errors: IAM Identity Center",
        f"manual_approval[0].levels[0].approvers[1]: 'idc-group:t9-nope': identity store {STORE} has no group with "
        "this GroupId or DisplayName",
        'p.cedar:2:43: AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE" is not a group of '
        f"identity store {STORE}"]
