"""core.policy.loader: the documented example, one test per located error, and totality."""

from __future__ import annotations

import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.model import Node
from core.policy import PolicyError, PolicyFile, load_policies, parse_policies
from core.policy.evaluate import matches
from core.policy.loader import format_location, targets_overlap
from core.policy.schema import Targets

DESIGN_EXAMPLE = """
[settings]
timezone = "Asia/Tokyo"          # IANA name; digest time and displayed times. Default "UTC"
audit_channel = "C0AUDIT01"      # every decision gets one line here; the daily digest goes here
digest_time = "09:00"            # local time of the daily digest; omit to disable it
approval_timeout = "24h"         # a pending request times out after this (default 24h, at most 30d)
reminder_interval = "1h"         # re-ping the approvers of a waiting level ("0" = never)
expiry_warning = "10m"           # warn the requester this long before access ends
session_documents = ["SSM-SessionManagerRunShell"]  # SSM documents a grant allows

[identities]                     # the AWS principal that receives each Slack user's grants
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"
"bob@example.com" = "arn:aws:iam::111122223333:user/bob"   # keys: Slack user id or email

[accounts]                       # other accounts: the role jitbot assumes there (optional)
"444455556666" = { role_arn = "arn:aws:iam::444455556666:role/jitbot" }

[[deny]]                         # evaluated first
name = "contractors-off-pci"
requesters = ["S0CONTRACT"]      # Slack user ids (U…/W…) or user-group ids (S…); omitted = everyone
targets = { tags = { DataClass = "pci" } }
block = "auto"                   # "auto": no auto-approval, manual approval still possible (JITNA); "all": refused

[[auto_approval]]                # approved at once
name = "dev-self-service"
requesters = ["S0DEVS"]
targets = { tags = { Environment = "dev" } }
max_duration = "8h"

[[manual_approval]]
name = "production"
description = "Production: an SRE lead, then two managers"
targets = { tags = { Environment = "prod" } }   # or targets = "all", or { nodes = ["i-0abc…"] }
requesters = ["S0ENGINEERS"]     # optional: who may ask at all
max_duration = "4h"
default_duration = "1h"

  [[manual_approval.levels]]     # levels run in order, at most 5
  name = "SRE lead"              # optional
  channel = "C0SREAPPR"          # where this level's Approve/Reject message is posted
  approvers = ["S0SRELEAD"]      # Slack user ids or user-group ids
  required = 1                   # distinct approvals needed at this level

  [[manual_approval.levels]]
  name = "Manager"
  channel = "C0MGRAPPR"
  approvers = ["U0CAROL01", "U0DAVE001"]
  required = 2
"""

LEVEL = """
  [[manual_approval.levels]]
  channel = "C0APPR001"
  approvers = ["U0APPR001"]
"""

NOT_A_PRINCIPAL = ("is not a Slack user id (U…/W…), user-group id (S…), IAM Identity Center group "
                   "(idc-group:<DisplayName> or idc-group:<GroupId>), PagerDuty schedule (pagerduty:<schedule id>) "
                   "or Opsgenie schedule (opsgenie:<schedule name or id>)")


def manual(name: str, targets: str = '"all"', extra: str = "", levels: str = LEVEL) -> str:
    """One [[manual_approval]] table with the given TOML fragments."""
    return f'\n[[manual_approval]]\nname = "{name}"\ntargets = {targets}\n{extra}\n{levels}\n'


def level(channel: str = "C0APPR001", approvers: str = '["U0APPR001"]', extra: str = "") -> str:
    return f'\n  [[manual_approval.levels]]\n  channel = "{channel}"\n  approvers = {approvers}\n  {extra}\n'


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policies(text)
    assert info.value.errors, "a PolicyError names at least one error"
    return info.value.errors


def only_error(text: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


# --- the documented example ---------------------------------------------------------------------


def test_design_example_parses() -> None:
    policies = parse_policies(DESIGN_EXAMPLE)
    s = policies.settings
    assert s.timezone == "Asia/Tokyo"
    assert s.zone.key == "Asia/Tokyo"
    assert s.audit_channel == "C0AUDIT01"
    assert s.digest_time == time(9, 0)
    assert s.approval_timeout == timedelta(hours=24)
    assert s.reminder_interval == timedelta(hours=1)
    assert s.expiry_warning == timedelta(minutes=10)
    assert s.session_documents == ("SSM-SessionManagerRunShell",)

    assert policies.identities == {
        "U0ALICE01": "arn:aws:iam::111122223333:role/alice",
        "bob@example.com": "arn:aws:iam::111122223333:user/bob",
    }
    assert policies.accounts["444455556666"].role_arn == "arn:aws:iam::444455556666:role/jitbot"

    (deny,) = policies.deny
    assert deny.name == "contractors-off-pci"
    assert deny.requesters == ("S0CONTRACT",)
    assert deny.targets.tags == {"DataClass": "pci"}
    assert deny.block == "auto"

    (auto,) = policies.auto_approval
    assert auto.name == "dev-self-service"
    assert auto.requesters == ("S0DEVS",)
    assert auto.targets.tags == {"Environment": "dev"}
    assert auto.max_duration == timedelta(hours=8)

    (prod,) = policies.manual_approval
    assert prod.name == "production"
    assert prod.description == "Production: an SRE lead, then two managers"
    assert prod.targets.tags == {"Environment": "prod"}
    assert prod.requesters == ("S0ENGINEERS",)
    assert prod.max_duration == timedelta(hours=4)
    assert prod.default_duration == timedelta(hours=1)
    assert [(lv.name, lv.channel, lv.approvers, lv.required) for lv in prod.levels] == [
        ("SRE lead", "C0SREAPPR", ("S0SRELEAD",), 1),
        ("Manager", "C0MGRAPPR", ("U0CAROL01", "U0DAVE001"), 2),
    ]
    assert policies.policy_names() == ["contractors-off-pci", "dev-self-service", "production"]
    assert policies.referenced_groups() == {"S0CONTRACT", "S0DEVS", "S0ENGINEERS", "S0SRELEAD"}
    assert policies.principal_for("U0ALICE01", None) == "arn:aws:iam::111122223333:role/alice"
    assert policies.principal_for("U0BOB0001", "Bob@Example.com") == "arn:aws:iam::111122223333:user/bob"
    assert policies.principal_for("U0NOBODY1", "nobody@example.com") is None


def test_empty_file_means_defaults() -> None:
    policies = parse_policies("")
    assert policies.settings.timezone == "UTC"
    assert policies.settings.digest_time is None
    assert policies.settings.approval_timeout == timedelta(hours=24)
    assert policies.deny == ()
    assert policies.auto_approval == ()
    assert policies.manual_approval == ()


def test_repository_example_policies_parse() -> None:
    path = Path(__file__).resolve().parents[2] / "policies.toml"
    if not path.exists():
        pytest.skip("no policies.toml at the repository root")
    assert isinstance(load_policies(path), PolicyFile)


def test_zero_intervals_mean_never() -> None:
    policies = parse_policies('[settings]\nreminder_interval = "0"\nexpiry_warning = "0"\n')
    assert policies.settings.reminder_interval == timedelta(0)
    assert policies.settings.expiry_warning == timedelta(0)


def test_default_duration_when_omitted() -> None:
    policies = parse_policies(
        manual("p", extra='max_duration = "4h"') + manual("q", '{ tags = { A = "b" } }', 'max_duration = "30m"')
    )
    assert policies.manual_approval[0].duration_default == timedelta(hours=1)
    assert policies.manual_approval[1].duration_default == timedelta(minutes=30)


def test_policy_error_message_lists_every_error() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies('[settings]\nfoo = 1\ntimezone = "Mars/Base"\n', source="x.toml")
    err = info.value
    assert err.source == "x.toml"
    assert len(err.errors) == 2
    assert str(err).startswith("x.toml: 2 error(s)\n")
    for line in err.errors:
        assert f"  {line}" in str(err)
    assert isinstance(err, ValueError)


# --- located errors ------------------------------------------------------------------------------


def test_toml_syntax_error_has_line_and_column() -> None:
    error = only_error('[settings]\ntimezone = "UTC"\naudit_channel = \n')
    assert error.startswith("TOML syntax: ")
    assert re.search(r"\(at line 3, column \d+\)", error), error


def test_toml_duplicate_key_is_a_syntax_error() -> None:
    error = only_error('[settings]\ntimezone = "UTC"\ntimezone = "UTC"\n')
    assert error.startswith("TOML syntax: ")
    assert "line 3" in error


def test_unknown_setting() -> None:
    assert only_error("[settings]\nfoo = 1\n") == "settings.foo: is not a known setting (check its spelling)"


def test_unknown_top_level_table() -> None:
    assert only_error('[setting]\ntimezone = "UTC"\n') == "setting: is not a known setting (check its spelling)"


def test_unknown_key_inside_a_level() -> None:
    error = only_error(manual("p", levels=level(extra="requried = 1")))
    assert error == "manual_approval[0].levels[0].requried: is not a known setting (check its spelling)"


def test_unknown_key_in_a_deny_policy() -> None:
    error = only_error('[[deny]]\nname = "d"\ntargets = "all"\nblok = "auto"\n')
    assert error == "deny[0].blok: is not a known setting (check its spelling)"


@pytest.mark.parametrize("zone", ["Mars/Base", "", "Europe/Paris/", "../etc/passwd", "/UTC"])
def test_bad_timezone(zone: str) -> None:
    error = only_error(f'[settings]\ntimezone = "{zone}"\n')
    assert error == f"settings.timezone: '{zone}' is not an IANA time zone such as \"Europe/Paris\""


@pytest.mark.parametrize("zone", ["America", "Etc", "US"])
def test_timezone_naming_a_zoneinfo_directory(zone: str) -> None:
    error = only_error(f'[settings]\ntimezone = "{zone}"\n')
    assert error.startswith("settings.timezone: ")


def test_timezone_too_long_for_a_file_name() -> None:
    error = only_error(f'[settings]\ntimezone = "{"A" * 300}"\n')
    assert error.startswith("settings.timezone: ")


@pytest.mark.parametrize("value", ['"9:00"', '"24:00"', '"09:60"', '"09:00:00"', '"nine"', '""', '"09h00"'])
def test_bad_digest_time(value: str) -> None:
    error = only_error(f"[settings]\ndigest_time = {value}\n")
    assert error == f"settings.digest_time: {value[1:-1]!r} is not a time of day as HH:MM"


def test_digest_time_as_toml_local_time() -> None:
    assert parse_policies("[settings]\ndigest_time = 18:30:00\n").settings.digest_time == time(18, 30)


def test_digest_time_of_wrong_type() -> None:
    assert only_error("[settings]\ndigest_time = true\n").startswith("settings.digest_time: ")


@pytest.mark.parametrize("value", ["9", "1.5"])
def test_digest_time_as_a_number_is_refused(value: str) -> None:
    assert only_error(f"[settings]\ndigest_time = {value}\n").startswith("settings.digest_time: ")


@pytest.mark.parametrize(
    ("fragment", "prefix", "message"),
    [
        (
            '[settings]\napproval_timeout = "2x"',
            "settings.approval_timeout",
            "'2x' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)",
        ),
        (
            '[settings]\napproval_timeout = "31d"',
            "settings.approval_timeout",
            "'31d' is longer than the maximum of 30d",
        ),
        (
            '[settings]\napproval_timeout = "0"',
            "settings.approval_timeout",
            "'0' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)",
        ),
        (
            '[settings]\nreminder_interval = "0s"',
            "settings.reminder_interval",
            "'0s' is shorter than the minimum of 1s",
        ),
        (
            "[settings]\nexpiry_warning = 10",
            "settings.expiry_warning",
            'must be a duration string such as "4h" or "PT4H"',
        ),
    ],
)
def test_bad_duration_in_settings(fragment: str, prefix: str, message: str) -> None:
    assert only_error(fragment + "\n") == f"{prefix}: {message}"


def test_bad_duration_in_a_policy() -> None:
    error = only_error(manual("p", extra='max_duration = "4 hours"'))
    assert (
        error == "manual_approval[0].max_duration: '4 hours' is not a duration (use e.g. 90s, 15m, 4h, 1d, "
        "1h30m or PT4H)"
    )


def test_bad_default_duration_in_a_policy() -> None:
    error = only_error(manual("p", extra='default_duration = "31d"'))
    assert error == "manual_approval[0].default_duration: '31d' is longer than the maximum of 30d"


def test_bad_auto_approval_duration() -> None:
    error = only_error('[[auto_approval]]\nname = "a"\ntargets = "all"\nmax_duration = "0s"\n')
    assert error == "auto_approval[0].max_duration: '0s' is shorter than the minimum of 1s"


def test_huge_duration_in_a_policy() -> None:
    error = only_error(manual("p", extra='max_duration = "99999999999999999999h"'))
    assert error.startswith("manual_approval[0].max_duration: ")


def test_default_duration_longer_than_max_duration() -> None:
    error = only_error(
        manual("a", '{ tags = { A = "1" } }') + manual("p", extra='max_duration = "1h"\ndefault_duration = "2h"')
    )
    assert error == "manual_approval[1]: default_duration is longer than max_duration"


def test_default_duration_longer_than_implicit_max_duration() -> None:
    error = only_error('[[auto_approval]]\nname = "a"\ntargets = "all"\ndefault_duration = "2h"\n')
    assert error == "auto_approval[0]: default_duration is longer than max_duration"


def test_default_duration_equal_to_max_duration_is_fine() -> None:
    parse_policies(manual("p", extra='max_duration = "2h"\ndefault_duration = "PT2H"'))


def test_max_continuous_is_optional_and_parsed_as_a_duration() -> None:
    policies = parse_policies(
        '[[auto_approval]]\nname = "a"\ntargets = "all"\nmax_duration = "4h"\nmax_continuous = "12h"\n'
        + manual("p", extra='max_duration = "2h"\nmax_continuous = "PT2H"'))
    assert policies.auto_approval[0].max_continuous == timedelta(hours=12)
    assert policies.manual_approval[0].max_continuous == timedelta(hours=2)  # equal to max_duration: fine
    assert parse_policies(manual("q")).manual_approval[0].max_continuous is None


def test_max_continuous_shorter_than_max_duration() -> None:
    error = only_error(
        manual("a", '{ tags = { A = "1" } }') + manual("p", extra='max_duration = "4h"\nmax_continuous = "3h"'))
    assert error == "manual_approval[1]: max_continuous is shorter than max_duration"


def test_max_continuous_shorter_than_implicit_max_duration() -> None:
    error = only_error('[[auto_approval]]\nname = "a"\ntargets = "all"\nmax_continuous = "30m"\n')
    assert error == "auto_approval[0]: max_continuous is shorter than max_duration"


def test_max_continuous_and_default_duration_both_wrong_are_both_said() -> None:
    error = only_error(manual("p", extra='max_duration = "1h"\ndefault_duration = "2h"\nmax_continuous = "30m"'))
    assert error == ("manual_approval[0]: default_duration is longer than max_duration; "
                     "max_continuous is shorter than max_duration")


def test_bad_max_continuous() -> None:
    error = only_error(manual("p", extra='max_continuous = "forever"'))
    assert error == ("manual_approval[0].max_continuous: 'forever' is not a duration (use e.g. 90s, 15m, 4h, 1d, "
                     "1h30m or PT4H)")


def test_five_levels_are_fine() -> None:
    policies = parse_policies(manual("p", levels=LEVEL * 5))
    assert len(policies.manual_approval[0].levels) == 5


def test_more_than_five_levels() -> None:
    error = only_error(manual("p", levels=LEVEL * 6))
    assert error == "manual_approval[0].levels: Tuple should have at most 5 items after validation, not 6"


def test_no_levels() -> None:
    assert only_error(manual("p", levels="")) == "manual_approval[0].levels: Field required"


def test_required_zero() -> None:
    error = only_error(manual("a", '{ tags = { A = "1" } }') + manual("p", levels=level(extra="required = 0")))
    assert error == "manual_approval[1].levels[0].required: Input should be greater than or equal to 1"


def test_required_more_than_listed_approvers() -> None:
    text = manual("a", '{ tags = { A = "1" } }') + manual(
        "p", levels=level(approvers='["U0CAROL01", "U0DAVE001"]', extra="required = 3")
    )
    error = only_error(text)
    assert error.startswith("manual_approval[1].levels[0]")
    assert error.endswith("required = 3 but only 2 approver(s) are listed")


def test_required_more_than_listed_approvers_names_required() -> None:
    text = manual("a", '{ tags = { A = "1" } }') + manual(
        "p", levels=level(approvers='["U0CAROL01", "U0DAVE001"]', extra="required = 3")
    )
    assert only_error(text).startswith("manual_approval[1].levels[0].required: ")


def test_required_more_than_listed_is_fine_with_a_group() -> None:
    parse_policies(manual("p", levels=level(approvers='["S0SRE0001", "U0DAVE001"]', extra="required = 3")))


def test_required_equal_to_listed_approvers_is_fine() -> None:
    parse_policies(manual("p", levels=level(approvers='["U0CAROL01", "U0DAVE001"]', extra="required = 2")))


@pytest.mark.parametrize(
    ("approvers", "message"),
    [
        ('["bob"]', f"'bob' {NOT_A_PRINCIPAL}"),
        ('["@carol"]', f"'@carol' {NOT_A_PRINCIPAL}"),
        ('["u0carol01"]', f"'u0carol01' {NOT_A_PRINCIPAL}"),
        ('["C0CHANNEL"]', f"'C0CHANNEL' {NOT_A_PRINCIPAL}"),
        ('["U0CAROL01", "U0CAROL01"]', "lists the same id twice"),
        ("[]", "Tuple should have at least 1 item after validation, not 0"),
    ],
)
def test_bad_approvers(approvers: str, message: str) -> None:
    error = only_error(manual("a", '{ tags = { A = "1" } }') + manual("p", levels=LEVEL + level(approvers=approvers)))
    assert error == f"manual_approval[1].levels[1].approvers: {message}"


@pytest.mark.parametrize(
    ("requesters", "message"),
    [
        ('["bob"]', f"'bob' {NOT_A_PRINCIPAL}"),
        ('["U0ALICE01", "x"]', f"'x' {NOT_A_PRINCIPAL}"),
        ('["S0DEVS", "S0DEVS"]', "lists the same id twice"),
        ("[]", "is empty: omit it to mean everyone"),
    ],
)
@pytest.mark.parametrize("kind", ["deny", "auto_approval", "manual_approval"])
def test_bad_requesters(kind: str, requesters: str, message: str) -> None:
    if kind == "manual_approval":
        text = manual("p", extra=f"requesters = {requesters}")
    else:
        text = f'[[{kind}]]\nname = "p"\ntargets = "all"\nrequesters = {requesters}\n'
    assert only_error(text) == f"{kind}[0].requesters: {message}"


def test_bad_breakglass_requesters() -> None:
    error = only_error('[breakglass]\nrequesters = ["bob"]\n')
    assert error == f"breakglass.requesters: 'bob' {NOT_A_PRINCIPAL}"


@pytest.mark.parametrize("channel", ["#sre", "general", "U0ALICE01", "c0lower01", "C"])
def test_bad_level_channel(channel: str) -> None:
    error = only_error(manual("p", levels=LEVEL + LEVEL + level(channel=channel)))
    assert error == f"manual_approval[0].levels[2].channel: '{channel}' is not a Slack channel id (C… or G…)"


def test_bad_audit_channel() -> None:
    error = only_error('[settings]\naudit_channel = "#audit"\n')
    assert error == "settings.audit_channel: '#audit' is not a Slack channel id (C… or G…)"


def test_private_channel_ids_are_fine() -> None:
    parse_policies('[settings]\naudit_channel = "G0PRIVATE"\n' + manual("p", levels=level(channel="G0APPR001")))


@pytest.mark.parametrize("key", ["bob", "alice@", "u0alice01", "S0GROUP01", "C0CHAN001", "a b@example.com"])
def test_bad_identity_key(key: str) -> None:
    error = only_error(f'[identities]\n"{key}" = "arn:aws:iam::111122223333:role/x"\n')
    assert error == f"identities: key '{key}' is neither a Slack user id (U…/W…) nor an email address"


NOT_AN_ARN = "is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); give the IAM role or user's ARN"


@pytest.mark.parametrize(
    ("arn", "why"),
    [
        ("arn:aws:iam::1111:role/x", "'1111' is not a 12-digit AWS account id"),
        ("arn:aws:iam::111122223333:group/x", "is not an IAM role or user ARN: its resource must be role/NAME or "
                                              "user/NAME"),
        ("arn:aws:sts::111122223333:assumed-role/x/y", "is a 'sts' ARN, not an IAM role or user ARN "
                                                       "(arn:aws:iam::ACCOUNT:role/NAME)"),
        ("arn:aws:iam::111122223333:role/", "'' is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)"),
        ("role/x", NOT_AN_ARN),
        ("", NOT_AN_ARN),
    ],
)
def test_bad_identity_arn(arn: str, why: str) -> None:
    error = only_error(f'[identities]\nU0ALICE01 = "{arn}"\n')
    sep = ": " if why.startswith("'") else " "
    assert error == f"identities.U0ALICE01: '{arn}'{sep}{why}"


def test_identity_center_user_as_identity() -> None:
    user = "arn:aws:identitystore:::user/9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11"
    assert parse_policies(f'[identities]\nU0ALICE01 = "{user}"\n').identities == {"U0ALICE01": user}
    error = only_error('[identities]\nU0ALICE01 = "arn:aws:identitystore:::user/alice"\n')
    assert error == ("identities.U0ALICE01: 'arn:aws:identitystore:::user/alice' is not an Identity Center user "
                     "(arn:aws:identitystore:::user/USER-ID, the UserId the Identity Store shows, such as "
                     "9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11)")


@pytest.mark.parametrize("document", [
    "SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession", "my_team.shell-1",
    "arn:aws:ssm:us-east-1::document/AWS-StartSSHSession", "arn:aws:ssm:eu-west-3:111122223333:document/Team-Shell",
    "arn:aws-us-gov:ssm:us-gov-west-1:111122223333:document/Shell"])
def test_session_documents_by_name_or_arn(document: str) -> None:
    assert parse_policies(f'[settings]\nsession_documents = ["{document}"]\n').settings.session_documents == (document,)


@pytest.mark.parametrize(("document", "why"), [
    ("*", "'*' contains a wildcard (*): name exactly one SSM document"),
    ("ab", "'ab' is not an SSM document name (3 to 128 of A-Z a-z 0-9 _ - .) nor a document ARN"),
    ("my doc", "'my doc' is not an SSM document name (3 to 128 of A-Z a-z 0-9 _ - .) nor a document ARN"),
    ("arn:aws:ec2:us-east-1:111122223333:instance/i-1", "'arn:aws:ec2:us-east-1:111122223333:instance/i-1' is not an "
                                                        "SSM document ARN (arn:aws:ssm:REGION:ACCOUNT:document/NAME)"),
    ("arn:aws:ssm::111122223333:document/Shell", "'arn:aws:ssm::111122223333:document/Shell': '' is not an AWS region"),
    ("arn:aws:ssm:us-east-1:1111:document/Shell", "'arn:aws:ssm:us-east-1:1111:document/Shell': '1111' is not a "
                                                  "12-digit AWS account id (or empty, for AWS's documents)"),
    ("arn:awz:ssm:us-east-1::document/Shell", "'arn:awz:ssm:us-east-1::document/Shell': 'awz' is not an AWS partition "
                                              "(aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, "
                                              "aws-eusc)"),
])
def test_bad_session_document_is_located(document: str, why: str) -> None:
    error = only_error(f'[settings]\nsession_documents = ["SSM-SessionManagerRunShell", "{document}"]\n')
    assert error == f"settings.session_documents[1]: {why}"


@pytest.mark.parametrize(("arn", "why"), [
    ("arn:aws:iam::111122223333:role/alicé", "'alicé' is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)"),
    ("arn:aws:iam:us-east-1:111122223333:role/x", "IAM ARNs have no region (arn:aws:iam::ACCOUNT:…)"),
    ("arn:aws:iam::111122223333:role//x", "'//' is not an IAM path (/ or /segment/…/, printable ASCII)"),
    ("arn:aws:iam::111122223333:user/" + "u" * 65, "'" + "u" * 65 + "' is not an IAM user name (1 to 64 of A-Z a-z "
                                                                     "0-9 + = , . @ _ -)"),
])
def test_identity_arn_is_strict(arn: str, why: str) -> None:
    assert only_error(f'[identities]\nU0ALICE01 = "{arn}"\n') == f"identities.U0ALICE01: '{arn}': {why}"


def test_account_role_must_be_of_that_account() -> None:
    error = only_error('[accounts]\n"444455556666" = { role_arn = "arn:aws:iam::111122223333:role/jitbot" }\n')
    assert error == ("accounts: 444455556666: role_arn 'arn:aws:iam::111122223333:role/jitbot' is a role of account "
                     "111122223333; jitbot assumes it to act in 444455556666, so it must be a role of 444455556666")


def test_identity_arn_of_other_partitions_is_fine() -> None:
    parse_policies('[identities]\nU0ALICE01 = "arn:aws-us-gov:iam::111122223333:role/path/alice"\n')


def test_identity_value_of_wrong_type() -> None:
    assert only_error("[identities]\nU0ALICE01 = 1\n") == "identities.U0ALICE01: Input should be a valid string"


@pytest.mark.parametrize("account", ["1234", "4444555566667", "44445555666a", ""])
def test_bad_account_id(account: str) -> None:
    error = only_error(f'[accounts]\n"{account}" = {{ role_arn = "arn:aws:iam::444455556666:role/jitbot" }}\n')
    assert error == f"accounts: key '{account}' is not a 12-digit AWS account id"


@pytest.mark.parametrize(
    ("arn", "why"),
    [("arn:aws:iam::444455556666:user/jitbot", " is not an IAM role ARN: its resource must be role/NAME"),
     ("arn:aws:iam::4444:role/jitbot", ": '4444' is not a 12-digit AWS account id"),
     ("jitbot", " is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); give the IAM role's ARN")],
)
def test_bad_account_role_arn(arn: str, why: str) -> None:
    error = only_error(f'[accounts]\n"444455556666" = {{ role_arn = "{arn}" }}\n')
    assert error == f"accounts.444455556666.role_arn: '{arn}'{why}"


def test_account_without_role_arn() -> None:
    assert only_error('[accounts]\n"444455556666" = {}\n') == "accounts.444455556666.role_arn: Field required"


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            '{ nodes = ["i-0123456789abcdef0"], tags = { A = "b" } }',
            'give exactly one of "all", nodes = [...] or tags = {...}',
        ),
        ("{}", 'give exactly one of "all", nodes = [...] or tags = {...}'),
        ('"some"', "'some' is not a target: use \"all\", { nodes = [...] } or { tags = {...} }"),
        ('"ALL"', "'ALL' is not a target: use \"all\", { nodes = [...] } or { tags = {...} }"),
        ("{ all = true }", "write targets = \"all\" rather than an 'all' key"),
        ('{ nodes = ["web-1"] }', "'web-1' is not a node id (i-… or mi-…)"),
        ('{ nodes = ["mi-0123"] }', "'mi-0123' is not a node id (i-… or mi-…)"),
        ('{ accounts = ["1234"] }', "'1234' is not a 12-digit AWS account id"),
    ],
)
@pytest.mark.parametrize("kind", ["deny", "auto_approval", "manual_approval"])
def test_bad_targets(kind: str, targets: str, message: str) -> None:
    text = manual("p", targets) if kind == "manual_approval" else f'[[{kind}]]\nname = "p"\ntargets = {targets}\n'
    assert only_error(text) == f"{kind}[0].targets: {message}"


def test_missing_targets() -> None:
    assert only_error('[[deny]]\nname = "d"\n') == "deny[0].targets: Field required"


def test_tag_value_of_wrong_type() -> None:
    error = only_error('[[deny]]\nname = "d"\ntargets = { tags = { A = 1 } }\n')
    assert error == "deny[0].targets.tags.A: Input should be a valid string"


def test_bad_block() -> None:
    assert only_error('[[deny]]\nname = "d"\ntargets = "all"\nblock = "some"\n') == (
        "deny[0].block: Input should be 'auto' or 'all'"
    )


def test_bad_ticket_pattern() -> None:
    error = only_error(manual("p", extra='ticket_pattern = "[A-Z"'))
    assert error.startswith("manual_approval[0].ticket_pattern: is not a valid regular expression: ")


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(" * 1200 + ")" * 1200])
def test_ticket_pattern_that_re_cannot_compile(pattern: str) -> None:
    assert only_error(manual("p", extra=f'ticket_pattern = "{pattern}"')).startswith(
        "manual_approval[0].ticket_pattern: "
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [('""', "String should have at least 1 character"), (f'"{"x" * 81}"', "String should have at most 80 characters")],
)
def test_bad_policy_name(name: str, message: str) -> None:
    assert only_error(f'[[deny]]\nname = {name}\ntargets = "all"\n') == f"deny[0].name: {message}"


def test_duplicate_policy_names() -> None:
    text = (
        '[[deny]]\nname = "x"\ntargets = "all"\n'
        '[[auto_approval]]\nname = "y"\ntargets = "all"\n'
        '[[auto_approval]]\nname = "x"\ntargets = { tags = { A = "b" } }\n'
        + manual("y", '{ nodes = ["i-0123456789abcdef0"] }')
    )
    assert errors_of(text) == [
        "auto_approval[1].name: 'x' is already the name of deny[0]",
        "manual_approval[0].name: 'y' is already the name of auto_approval[0]",
    ]


def test_duplicate_names_within_one_kind() -> None:
    text = manual("p", '{ tags = { A = "b" } }') + manual("p", '{ tags = { A = "b", C = "d" } }')
    assert only_error(text) == "manual_approval[1].name: 'p' is already the name of manual_approval[0]"


def test_schema_errors_are_all_reported_at_once() -> None:
    text = '[settings]\ntimezone = "Nowhere"\naudit_channel = "x"\n' + manual("p", levels=level(channel="y"))
    assert [e.split(":")[0] for e in errors_of(text)] == [
        "settings.timezone",
        "settings.audit_channel",
        "manual_approval[0].levels[0].channel",
    ]


# --- overlapping manual policies -----------------------------------------------------------------

OVERLAP = (
    "manual_approval[1].targets: 'b' and manual_approval[0] 'a' are equally specific and both match {}; "
    "make one more specific or split their targets"
)


def test_two_all_policies_overlap() -> None:
    assert only_error(manual("a") + manual("b")) == OVERLAP.format("every node")


def test_same_tag_count_with_compatible_tags_overlap() -> None:
    text = manual("a", '{ tags = { Env = "prod" } }') + manual("b", '{ tags = { Team = "web" } }')
    assert only_error(text) == OVERLAP.format("a node tagged Env=prod, Team=web")


def test_identical_tags_overlap() -> None:
    text = manual("a", '{ tags = { Env = "prod", Team = "web" } }') + manual(
        "b", '{ tags = { Team = "web", Env = "prod" } }'
    )
    assert only_error(text) == OVERLAP.format("a node tagged Env=prod, Team=web")


def test_shared_node_id_overlaps() -> None:
    text = manual("a", '{ nodes = ["i-0123456789abcdef0", "i-0123456789abcdef1"] }') + manual(
        "b", '{ nodes = ["mi-0123456789abcdef0", "i-0123456789abcdef1"] }'
    )
    assert only_error(text) == OVERLAP.format("node i-0123456789abcdef1")


def test_overlap_is_reported_for_each_pair_with_indexes() -> None:
    errors = errors_of(manual("a") + manual("b", '{ tags = { A = "1" } }') + manual("c"))
    assert errors == [
        "manual_approval[2].targets: 'c' and manual_approval[0] 'a' are equally specific and both match every "
        "node; make one more specific or split their targets"
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ('{ tags = { Env = "prod" } }', '{ tags = { Env = "dev" } }'),
        ('{ tags = { Env = "prod", Team = "web" } }', '{ tags = { Env = "dev", Team = "web" } }'),
        ('{ nodes = ["i-0123456789abcdef0"] }', '{ nodes = ["i-0123456789abcdef1"] }'),
        # different specificity: the more specific one wins, no error
        ('"all"', '{ tags = { Env = "prod" } }'),
        ('{ tags = { Env = "prod" } }', '{ tags = { Env = "prod", Team = "web" } }'),
        ('{ tags = { Env = "prod" } }', '{ nodes = ["i-0123456789abcdef0"] }'),
        ('"all"', '{ nodes = ["i-0123456789abcdef0"] }'),
        ('{ tags = { Env = "prod" } }', '{ tags = { Env = "prod" }, accounts = ["111122223333"] }'),
        # disjoint accounts
        (
            '{ tags = { Env = "prod" }, accounts = ["111122223333"] }',
            '{ tags = { Env = "prod" }, accounts = ["444455556666"] }',
        ),
    ],
)
def test_not_overlapping(a: str, b: str) -> None:
    policies = parse_policies(manual("a", a) + manual("b", b))
    assert [p.name for p in policies.manual_approval] == ["a", "b"]


def test_deny_and_auto_policies_may_overlap_freely() -> None:
    parse_policies(
        '[[deny]]\nname = "d1"\ntargets = "all"\nblock = "auto"\n'
        '[[deny]]\nname = "d2"\ntargets = "all"\n'
        '[[auto_approval]]\nname = "a1"\ntargets = "all"\n'
        '[[auto_approval]]\nname = "a2"\ntargets = "all"\n'
    )


def test_same_account_only_targets_overlap() -> None:
    text = manual("a", '{ accounts = ["111122223333"] }') + manual("b", '{ accounts = ["111122223333"] }')
    assert errors_of(text)[0].startswith("manual_approval[1].targets: 'b' and manual_approval[0] 'a' are equally ")


def test_targets_overlap_is_symmetric_on_examples() -> None:
    cases = [
        Targets.model_validate("all"),
        Targets(tags={"A": "1"}),
        Targets(tags={"A": "2"}),
        Targets(tags={"B": "1"}),
        Targets(nodes=("i-0123456789abcdef0",)),
        Targets(nodes=("i-0123456789abcdef1",)),
    ]
    for a in cases:
        for b in cases:
            assert (targets_overlap(a, b) is None) == (targets_overlap(b, a) is None), (a, b)


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("manual_approval", 1, "levels", 0, "required"), "manual_approval[1].levels[0].required"),
        (("settings", "foo"), "settings.foo"),
        ((), "(file)"),
        (("deny", 0, "function-after[_check(), Targets]", "targets"), "deny[0].targets"),
    ],
)
def test_format_location(loc: tuple[int | str, ...], text: str) -> None:
    assert format_location(loc) == text


# --- loading files -------------------------------------------------------------------------------


def test_load_policies_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(DESIGN_EXAMPLE, encoding="utf-8")
    assert load_policies(path).manual_approval[0].name == "production"
    assert load_policies(str(path)).manual_approval[0].name == "production"


def test_load_policies_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[settings]\nfoo = 1\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: 1 error(s)")


def test_load_policies_on_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    assert info.value.source == str(path)
    assert info.value.errors == ["cannot read the file: No such file or directory"]


def test_load_policies_on_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path)
    assert info.value.errors[0].startswith("cannot read the file: ")


@pytest.mark.parametrize("data", [b"\xff\xfe[settings]\n", b'[settings]\ntimezone = "\xe9"\n', b"\x80"])
def test_load_policies_on_non_utf8_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(data)
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    assert info.value.errors == ["the file is not UTF-8 text"]
    assert info.value.source == str(path)


@pytest.mark.parametrize("text", ["a = " + "[" * 5000, "a = " + "{ b = " * 3000])
def test_deeply_nested_toml(text: str) -> None:
    assert errors_of(text)


# --- totality ------------------------------------------------------------------------------------

def assert_total(text: str) -> PolicyFile | None:
    """Parse, allowing only a PolicyFile or a PolicyError that names its errors."""
    try:
        return parse_policies(text)
    except PolicyError as err:
        error = err
    assert error.errors
    assert all(isinstance(e, str) and e for e in error.errors)
    return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
@example('[settings]\ntimezone = "Nowhere"\n')
@example("[[manual_approval]]\n[[manual_approval.levels]]\n")
@example("deny = 1")
@example("[settings]\nfoo = 1")
def test_parse_policies_on_arbitrary_text(text: str) -> None:
    assert_total(text)


# A small TOML writer: inline tables and arrays only, checked against tomllib in the test itself.
def toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


INTERESTING = [
    "all",
    "auto",
    "4h",
    "1h",
    "0",
    "0s",
    "PT4H",
    "31d",
    "30d",
    "x",
    "U0ALICE01",
    "U0BOB0001",
    "W0ALICE01",
    "S0DEVS",
    "S0SRE0001",
    "C0APPR001",
    "G0APPR001",
    "#sre",
    "UTC",
    "Asia/Tokyo",
    "Nowhere/Zone",
    "09:00",
    "25:00",
    "111122223333",
    "444455556666",
    "prod",
    "Env",
    "[",
    "*",
    *["arn:aws:iam::111122223333:role/x", "arn:aws:iam::111122223333:user/y", "bob@example.com"],
    *["i-0123456789abcdef0", "mi-0123456789abcdef0"],
    "",
    "[A-Z]+-\\d+",
]
KEYS = [
    "settings",
    "identities",
    "accounts",
    "deny",
    "auto_approval",
    "manual_approval",
    "breakglass",
    "timezone",
    "audit_channel",
    *["digest_time", "approval_timeout", "reminder_interval", "expiry_warning", "session_documents", "retention"],
    *["reconcile_interval", "cedar_policies", "name", "description", "requesters", "targets", "block", "max_duration"],
    "default_duration",
    "ticket_pattern",
    "levels",
    "channel",
    "approvers",
    "required",
    "nodes",
    "tags",
    "all",
    "role_arn",
    *["U0ALICE01", "bob@example.com", "111122223333", "Env"],
]
ALPHABET = st.characters(codec="utf-8")  # no lone surrogates
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-3, max_value=100),
    st.sampled_from(INTERESTING),
    st.text(ALPHABET, max_size=10),
)
keys = st.sampled_from(KEYS) | st.text(ALPHABET, min_size=1, max_size=8)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=10,
)
documents = st.dictionaries(st.sampled_from(KEYS[:7]) | keys, values, max_size=5)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_parse_policies_on_arbitrary_documents(data: dict[str, Any]) -> None:
    text = toml_document(data)
    assert tomllib.loads(text) == data
    assert_total(text)


# Nearly valid files: the schema passes often, so the cross-policy checks get exercised.
NODE_IDS = ["i-0123456789abcdef0", "i-0123456789abcdef1", "mi-0123456789abcdef0"]
ACCOUNTS = ["111122223333", "444455556666"]
TAGS = {"Env": ["prod", "dev"], "Team": ["web", "db"]}

targets_strategy = st.one_of(
    st.just("all"),
    st.builds(lambda n: {"nodes": n}, st.lists(st.sampled_from(NODE_IDS), min_size=1, max_size=2, unique=True)),
    st.builds(
        lambda t: {"tags": t},
        st.lists(
            st.sampled_from([(k, v) for k, vs in TAGS.items() for v in vs]), min_size=1, unique_by=lambda kv: kv[0]
        ).map(dict),
    ),
).flatmap(
    lambda t: (
        st.just(t)
        if t == "all"
        else st.builds(
            lambda acc: {**t, "accounts": acc} if acc else t,
            st.lists(st.sampled_from(ACCOUNTS), max_size=1, unique=True),
        )
    )
)

level_strategy = st.fixed_dictionaries(
    {
        "channel": st.sampled_from(["C0APPR001", "G0APPR002"]),
        "approvers": st.lists(
            st.sampled_from(["U0CAROL01", "U0DAVE001", "S0SRE0001"]), min_size=1, max_size=3, unique=True
        ),
    },
    optional={"required": st.integers(min_value=1, max_value=2), "name": st.just("Level")},
)

manual_strategy = st.fixed_dictionaries(
    {
        "targets": targets_strategy,
        "levels": st.lists(level_strategy, min_size=1, max_size=3),
    },
    optional={
        "max_duration": st.sampled_from(["1h", "4h", "30d"]),
        "default_duration": st.just("30m"),
        "requesters": st.lists(st.sampled_from(["U0ALICE01", "S0DEVS"]), min_size=1, max_size=2, unique=True),
    },
)


def sample_nodes() -> list[Node]:
    nodes = []
    for node_id in NODE_IDS:
        for account in ACCOUNTS:
            for env in [None, *TAGS["Env"]]:
                for team in [None, *TAGS["Team"]]:
                    tags = {k: v for k, v in (("Env", env), ("Team", team)) if v}
                    nodes.append(Node(node_id, account, "eu-west-1", tags=tags))
    return nodes


SAMPLE_NODES = sample_nodes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(manual_strategy, max_size=4))
def test_accepted_files_have_one_most_specific_manual_policy_per_node(policies: list[dict[str, Any]]) -> None:
    data = {"manual_approval": [{"name": f"p{i}", **p} for i, p in enumerate(policies)]}
    text = toml_document(data)
    assert tomllib.loads(text) == data
    parsed = assert_total(text)
    if parsed is None:
        return
    for node in SAMPLE_NODES:
        candidates = [m for m in parsed.manual_approval if matches(m.targets, node)]
        if candidates:
            best = max(m.targets.specificity for m in candidates)
            tied = [m.name for m in candidates if m.targets.specificity == best]
            assert len(tied) == 1, (node, tied)


NOT_AN_ENTRY = (" is not a Slack user id (U…/W…), user-group id (S…), IAM Identity Center group "
                "(idc-group:<DisplayName> or idc-group:<GroupId>), PagerDuty schedule (pagerduty:<schedule id>) "
                "or Opsgenie schedule (opsgenie:<schedule name or id>)")


@pytest.mark.parametrize(
    ("revokers", "message"),
    [
        ('["carol"]', "'carol'" + NOT_AN_ENTRY),
        ('["U0CAROL01", "<@U0DAVE001>"]', "'<@U0DAVE001>'" + NOT_AN_ENTRY),
        ('["S0REVOKE", "S0REVOKE"]', "lists the same id twice"),
        ('"U0CAROL01"', "Input should be a valid tuple"),
    ],
)
def test_bad_revokers_are_located(revokers: str, message: str) -> None:
    assert only_error(f"[settings]\nrevokers = {revokers}\n") == f"settings.revokers: {message}"


def test_revokers_users_and_groups() -> None:
    policies = parse_policies('[settings]\nrevokers = ["U0CAROL01", "S0REVOKE", "W0DAVE001"]\n')
    assert policies.settings.revokers == ("U0CAROL01", "S0REVOKE", "W0DAVE001")
    assert parse_policies("").settings.revokers == ()


def test_max_start_ahead_is_optional_and_parsed_as_a_duration() -> None:
    policies = parse_policies(manual("p", '{ tags = { A = "1" } }', extra='max_start_ahead = "12h"') + manual("q"))
    assert policies.manual_approval[0].max_start_ahead == timedelta(hours=12)
    assert policies.manual_approval[1].max_start_ahead is None  # scheduling not allowed


def test_bad_max_start_ahead_is_located() -> None:
    error = only_error(manual("p", extra='max_start_ahead = "tonight"'))
    assert error == ("manual_approval[0].max_start_ahead: 'tonight' is not a duration (use e.g. 90s, 15m, 4h, 1d, "
                     "1h30m or PT4H)")


def test_max_nodes_defaults_to_one_and_is_read_per_policy() -> None:
    policies = parse_policies(manual("p", '{ tags = { A = "1" } }', extra="max_nodes = 5") + manual("q"))
    assert [p.max_nodes for p in policies.manual_approval] == [5, 1]


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("21", "21"), ('"3"', "'3'"), ("true", "True"),
                                             ("2.5", "2.5")])
def test_bad_max_nodes_is_located(value: str, shown: str) -> None:
    error = only_error(manual("p", extra=f"max_nodes = {value}"))
    assert error == f"manual_approval[0].max_nodes: {shown} is not a whole number of nodes from 1 to 20"
    auto = only_error(f'[[auto_approval]]\nname = "a"\ntargets = "all"\nmax_nodes = {value}\n')
    assert auto.startswith("auto_approval[0].max_nodes: ")
