"""``jitbot policies check`` counts in words: the per-person limit of the summary and the levels that can never be
satisfied read as English plurals for one and for many (and as Japanese counters)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.policy_report import SlackProbe, idc_problems, summary, warnings
from core.i18n import Catalogs
from core.idc import IdcGroup, IdcUser
from core.model import UserInfo
from core.policy import parse_policies

IDC = """[identity_center]
instance_arn = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
identity_store_id = "d-0123456789"
region = "eu-west-1"
portal_url = "https://d-0123456789.awsapps.com/start/"
"""
LEVELS = """
[[manual_approval]]
name = "prod"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = [{first}, "U0SAM0001"]
  required = 2
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = [{second}]
  required = 1
"""


class Probe(SlackProbe):
    """Slack as it would answer: Sam exists, nobody else does."""

    def __init__(self) -> None:
        super().__init__(client=None)

    def user(self, user_id: str) -> UserInfo | None:
        return UserInfo(user_id, name="Sam") if user_id == "U0SAM0001" else None

    def group_members(self, group_id: str) -> frozenset[str] | None:
        return None

    def is_member(self, channel: str) -> bool | None:
        return True


@dataclass
class EmptyGroups:
    """An identity store whose groups exist and have no members."""

    def users_by_email(self, email: str) -> tuple[str, ...]:
        return ()

    def user(self, user_id: str) -> IdcUser:
        raise AssertionError("not asked")

    def group(self, ref: str) -> IdcGroup | None:
        return IdcGroup(f"g-{len(ref)}", ref)

    def group_member_ids(self, group_id: str) -> frozenset[str]:
        return frozenset()


def test_the_per_person_limit_in_both_forms() -> None:
    one = summary(parse_policies('[settings]\nmax_active_grants = 1\n'), "p.toml")
    assert ", at most 1 open request per person" in one
    many = summary(parse_policies('[settings]\nmax_active_grants = 3\n'), "p.toml")
    assert ", at most 3 open requests per person" in many
    assert "1 人あたり未完了のリクエストは最大 3 件" in summary(parse_policies('[settings]\nmax_active_grants = 3\n'),
                                                          "p.toml", Catalogs().get("ja"))


def test_levels_slack_people_cannot_satisfy_in_both_forms() -> None:
    found = warnings(parse_policies(LEVELS.format(first='"U0NOBODY1"', second='"U0NOBODY2"')), Probe())
    assert ("manual_approval[0].levels[0].required: needs 2 approvals but only 1 person can approve once groups are "
            "expanded; this level can never be satisfied") in found
    assert ("manual_approval[0].levels[1].required: needs 1 approval but only 0 people can approve once groups are "
            "expanded; this level can never be satisfied") in found


def test_levels_identity_center_groups_cannot_satisfy_in_both_forms() -> None:
    policies = parse_policies(IDC + LEVELS.format(first='"idc-group:SRE leads"', second='"idc-group:Managers"'))
    errors, found = idc_problems(policies, EmptyGroups())
    assert errors == []
    assert ("manual_approval[0].levels[0].required: needs 2 approvals but only 1 person is listed once Identity "
            "Center groups are expanded; this level can never be satisfied") in found
    assert ("manual_approval[0].levels[1].required: needs 1 approval but only 0 people are listed once Identity "
            "Center groups are expanded; this level can never be satisfied") in found
    ja = idc_problems(policies, EmptyGroups(), Catalogs().get("ja"))[1]
    assert ("manual_approval[0].levels[0].required: 2 件の承認が必要ですが、Identity Center グループを展開しても "
            "1 人しかいません。このレベルは決して満たされません") in ja
