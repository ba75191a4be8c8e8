"""``jitbot policies check`` and ``jitbot policies explain`` run in-process: located Cedar errors, overlap
detection, the warnings only Slack can confirm (asked through the fake Slack Web API), and explain on a
hypothetical node or a node found in AWS (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack

REPO_POLICIES = (Path(__file__).resolve().parents[2] / "policies.toml").read_text("utf-8")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    for name in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "JIT_POLICIES"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def online(offline: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack) -> FakeSlack:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url)
    return fake_slack


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(folder: Path, toml: str, cedar: str | None = None) -> str:
    if cedar is not None:
        (folder / "policies.cedar").write_text(cedar, "utf-8")
        toml = toml.replace("[settings]\n", '[settings]\ncedar_policies = "policies.cedar"\n', 1)
    path = folder / "policies.toml"
    path.write_text(toml, "utf-8")
    return str(path)


def test_cedar_syntax_error_is_located(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cedar = '@id("a")\npermit (principal, action, resource)\n  when { context.hasTicket && };\n'
    path = write(offline, REPO_POLICIES, cedar)
    code, out, err = run(capsys, "policies", "check", path)
    assert code == 1 and not out
    assert "policies.cedar:3:32: unexpected token `}`" in err


def test_cedar_statements_in_the_summary(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(offline, REPO_POLICIES, '@id("dev") @max_duration("2h")\npermit (principal, action, resource);\n'
                                         '@block("all")\nforbid (principal, action, resource) when { false };\n')
    code, out, _ = run(capsys, "policies", "check", path, "--offline")
    assert code == 0
    assert "Cedar 'policies.cedar:3' (policies.cedar:3): deny: refused" in out
    assert "Cedar 'dev' (policies.cedar:1): auto-approval, up to 2h" in out
    assert out.endswith("note: Slack not asked (--offline): user and group ids, group sizes and channel membership "
                        "are not checked\n")
    assert "\nwarnings:\n" not in out  # the groups' reminders are apart, and --strict does not count them:
    assert "\nwarnings: user groups with authority (not counted by --strict)\n  user group S0CONTRACT (" in out
    assert run(capsys, "policies", "check", path, "--offline", "--strict")[0] == 0


OVERLAP = """
[[manual_approval]]
name = "prod"
targets = { tags = { Environment = "prod" } }
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]

[[manual_approval]]
name = "web"
targets = { tags = { Team = "web" } }
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]

[[manual_approval]]
name = "one-node"
targets = { nodes = ["i-0123456789abcdef0", "i-0123456789abcdef1"] }
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]

[[manual_approval]]
name = "same-node"
targets = { nodes = ["i-0123456789abcdef1"] }
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""


def test_overlap_names_the_tag_set_or_the_node(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "policies", "check", write(offline, OVERLAP))
    assert code == 1
    assert ("manual_approval[1].targets: 'web' and manual_approval[0] 'prod' are equally specific and both match a "
            "node tagged Environment=prod, Team=web; make one more specific or split their targets") in err
    assert ("manual_approval[3].targets: 'same-node' and manual_approval[2] 'one-node' are equally specific and both "
            "match node i-0123456789abcdef1") in err


SLACK_TROUBLE = """
[settings]
audit_channel = "C0NOTIN01"

[[auto_approval]]
name = "ghosts"
requesters = ["S0NOSUCH1", "U0GHOST01", "U0NOBODY1"]
targets = { tags = { Environment = "dev" } }

[[manual_approval]]
name = "three-leads"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD", "U0NOBODY1"]
  required = 3

[breakglass]
requesters = ["S0SRELEAD"]
"""


def test_slack_warnings(online: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    online.set_not_member("C0NOTIN01")
    path = write(online_folder(), SLACK_TROUBLE)
    code, out, _ = run(capsys, "policies", "check", path)
    assert code == 0
    warnings = out.split("\nwarnings:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [w.strip() for w in warnings] == [
        "auto_approval[0].requesters: S0NOSUCH1 is not a Slack user group",
        "auto_approval[0].requesters: U0GHOST01 is a deactivated Slack user",
        "auto_approval[0].requesters: U0NOBODY1 is not a Slack user",
        "manual_approval[0].levels[0].approvers: U0NOBODY1 is not a Slack user",
        "manual_approval[0].levels[0].required: needs 3 approvals but only 2 people can approve once groups "
        "are expanded; this level can never be satisfied",
        "settings.audit_channel: the bot is not a member of channel C0NOTIN01; invite it (/invite @jitbot) or its "
        "messages cannot be posted there",
    ]
    assert run(capsys, "policies", "check", path, "--strict")[0] == 2
    assert online.calls_to("users.info") and online.calls_to("conversations.info")


def online_folder() -> Path:
    return Path.cwd()  # the `offline` fixture moved into tmp_path


def test_slack_that_cannot_be_asked_is_a_warning(online: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    online.fail_next("*", error="invalid_auth")
    code, out, _ = run(capsys, "policies", "check", write(online_folder(), SLACK_TROUBLE))
    assert code == 0
    assert ("Slack could not be asked (usergroups.users.list: invalid_auth): user and group ids, group sizes and "
            "channel membership are not checked") in out


def test_breakglass_without_a_catch_all_manual_policy(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = REPO_POLICIES.replace('targets = "all"', 'targets = { tags = { Environment = "staging" } }')
    text += '\n[breakglass]\nrequesters = ["S0SRELEAD"]\n'
    code, out, _ = run(capsys, "policies", "check", write(offline, text))
    assert code == 0
    assert ("breakglass.requesters: no manual-approval policy targets \"all\": break-glass is refused on nodes no "
            "manual policy covers (nobody could review it)") in out
    assert "break-glass: S0SRELEAD, up to 1h, reviewed by level 1 of the manual policy" in out


def test_explain_offline_on_a_hypothetical_node(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(offline, REPO_POLICIES)
    code, out, _ = run(capsys, "policies", "explain", "--policies", path, "--user", "U0BOB0001",
                       "--tags", "Environment=dev", "--groups", "S0DEVS", "--duration", "9h")
    assert code == 0
    assert out.startswith("If U0BOB0001 asks for i-0000000000000000 (account 000000000000, us-east-1; "
                          "Environment=dev) for 9h:")
    assert "approves at once, but only up to 8h" in out
    assert "Decision: your request needs approval under manual-approval policy 'everything-else'" in out
    code, _, err = run(capsys, "policies", "explain", "--policies", path, "--user", "U0BOB0001", "--tags", "oops")
    assert code == 1 and "'oops' is not key=value" in err
    code, _, err = run(capsys, "policies", "explain", "--policies", path, "--user", "U0BOB0001")
    assert code == 1 and "Which node?" in err


def test_explain_online_resolves_the_node_in_aws_and_the_user_in_slack(
        online: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    aws, nodes = fake_aws
    for name, value in aws.env().items():
        monkeypatch.setenv(name, value)
    path = write(online_folder(), REPO_POLICIES)
    code, out, err = run(capsys, "policies", "explain", "--policies", path, "--user", "U0ALICE01", "--node", "web-1")
    assert code == 0, err
    assert out.startswith(f"If Alice (U0ALICE01) asks for web-1 ({nodes['web-1']})")
    assert "  1. SRE lead: 1 approval from Sam, Tina (group S0SRELEAD), asked in channel C0SREAPPR." in out
    code, _, err = run(capsys, "policies", "explain", "--policies", path, "--user", "U0ALICE01", "--node", "nope-9")
    assert code == 1 and "nope-9" in err


def test_revokers_are_checked_against_slack(online: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(online_folder(), '[settings]\nrevokers = ["U0CAROL01", "S0NOSUCH1", "U0GHOST01", "U0NOBODY1"]\n')
    code, out, _ = run(capsys, "policies", "check", path)
    assert code == 0
    assert "revokers (any request, /jit lockout): U0CAROL01, S0NOSUCH1, U0GHOST01, U0NOBODY1" in out
    listed, groups = out.split("\nwarnings:\n", 1)[1].split("\n\nwarnings: user groups with authority", 1)
    warnings = [w.strip() for w in listed.splitlines()]
    assert "S0NOSUCH1 (settings.revokers)" in groups
    assert warnings == ["settings.revokers: S0NOSUCH1 is not a Slack user group",
                        "settings.revokers: U0GHOST01 is a deactivated Slack user",
                        "settings.revokers: U0NOBODY1 is not a Slack user"]
