"""``[identity_center]`` and ``idc-group:`` entries in the policy file: strict values, located errors, and the
agreed principal of an Identity Center person (``core.idc``)."""

from __future__ import annotations

import pytest

from core.idc import idc_user_id, idc_user_principal
from core.policy import PolicyError, parse_policies

GOOD = """[identity_center]
instance_arn = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
identity_store_id = "d-0123456789"
region = "eu-west-1"
portal_url = "https://d-0123456789.awsapps.com/start/"
"""
MANUAL = """
[[manual_approval]]
name = "prod"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = {approvers}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policies(text)
    return info.value.errors


def test_a_complete_table_loads() -> None:
    policies = parse_policies(GOOD + MANUAL.format(approvers='["idc-group:SRE leads", "U0SAM0001"]'))
    center = policies.identity_center
    assert center is not None and center.region == "eu-west-1"
    assert center.portal_url == "https://d-0123456789.awsapps.com/start"
    assert policies.referenced_idc_groups() == {"idc-group:SRE leads"}


@pytest.mark.parametrize(("line", "value", "message"), [
    ("instance_arn", "arn:aws:sso:::instance/*", "'arn:aws:sso:::instance/*' contains a wildcard (*): name exactly "
     "one IAM Identity Center instance"),
    ("instance_arn", "ssoins-0123456789abcdef", "'ssoins-0123456789abcdef' is not an ARN "
     "(arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); give the IAM Identity Center instance's ARN"),
    ("instance_arn", "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-1",
     "'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-1' is not an IAM Identity Center instance ARN "
     "(arn:aws:sso:::instance/ssoins-…; the console shows it under Settings)"),
    ("instance_arn", "arn:aws:sso:::instance/ssoins-short", "'arn:aws:sso:::instance/ssoins-short': 'ssoins-short' is "
     "not an instance id (ssoins- and 16 characters)"),
    ("identity_store_id", "d-12345", "'d-12345' is not an identity store id (d- and 10 lower-case hex digits, as the "
     "IAM Identity Center console shows it under Settings)"),
    ("region", "Europe", "'Europe' is not an AWS region such as \"eu-west-1\""),
    ("portal_url", "http://d-0123456789.awsapps.com/start", "'http://d-0123456789.awsapps.com/start' is not an access "
     "portal URL such as \"https://d-0123456789.awsapps.com/start\""),
])
def test_malformed_values_are_located(line: str, value: str, message: str) -> None:
    text = "\n".join(f'{line} = "{value}"' if row.startswith(f"{line} =") else row for row in GOOD.splitlines())
    assert errors_of(text) == [f"identity_center.{line}: {message}"]


def test_a_missing_value_is_located() -> None:
    text = "\n".join(row for row in GOOD.splitlines() if not row.startswith("identity_store_id"))
    assert errors_of(text) == ["identity_center.identity_store_id: Field required"]


def test_an_unknown_setting_is_located() -> None:
    assert errors_of(GOOD + 'store = "d-0123456789"\n') == [
        "identity_center.store: is not a known setting (check its spelling)"]


def test_idc_groups_need_the_table_and_a_name() -> None:
    assert errors_of(MANUAL.format(approvers='["U0SAM0001", "idc-group:SRE"]')) == [
        "manual_approval[0].levels[0].approvers[1]: 'idc-group:SRE' names an IAM Identity Center group, but the file "
        "has no [identity_center] table saying which identity store to read it from"]
    assert errors_of(GOOD + MANUAL.format(approvers='["idc-group:"]')) == [
        "manual_approval[0].levels[0].approvers: 'idc-group:' names no group: write idc-group:<DisplayName> or "
        "idc-group:<GroupId>"]
    assert errors_of(GOOD + '[breakglass]\nrequesters = ["idc-group: padded"]\n' + MANUAL.format(
        approvers='["U0SAM0001"]')) == [
        "breakglass.requesters: 'idc-group: padded': ' padded' is neither an Identity Store GroupId nor a group "
        "DisplayName (1 to 1024 printable characters, no leading or trailing space)"]


def test_the_agreed_principal_of_an_identity_center_person() -> None:
    user_id = "90677fa0fb-5513f9a2-9916-4fc2-aec5-0358ce119215"
    principal = idc_user_principal(user_id)
    assert principal == f"arn:aws:identitystore:::user/{user_id}"
    assert idc_user_id(principal) == user_id
    assert idc_user_id("arn:aws:iam::123456789012:role/alice") is None
    assert idc_user_id("arn:aws:identitystore:::user/") is None
    assert idc_user_id("arn:aws:identitystore:::group/abc") is None
    with pytest.raises(ValueError):
        idc_user_principal("a/b")
