"""``jitbot policies check`` with AWS reachable (moto; issue 19, item 2 and 3): a warning for each account a policy
grants in that keeps no session logs, none once Session Manager's preferences send them to S3; the [events] bus
that does not exist and a webhook without its secret are warned about too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from fakes.aws import DEFAULT_ACCOUNT, FakeAws

POLICY = """
[[auto_approval]]
name = "dev-shell"
targets = "all"
max_duration = "1h"
"""


@pytest.fixture
def aws_env(fake_aws: tuple[FakeAws, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    aws, _ = fake_aws
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    for key in ("SLACK_BOT_TOKEN", "JITBOT_WEBHOOK_SECRET"):
        monkeypatch.delenv(key, raising=False)
    yield aws
    with contextlib.suppress(Exception):
        aws.client("ssm").delete_document(Name="SSM-SessionManagerRunShell")


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    path = tmp_path / "policies.toml"
    path.write_text(text, "utf-8")
    code = main(["policies", "check", str(path), *flags])
    return code, capsys.readouterr().out


def test_an_account_without_session_logs_is_warned_about(aws_env: FakeAws, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(tmp_path, POLICY, capsys, "--strict")
    assert code == 2
    assert (f"account {DEFAULT_ACCOUNT} (us-east-1) keeps no session logs (Session Manager's preferences send none "
            "to S3 or CloudWatch Logs), and policy 'dev-shell' grants sessions on its nodes") in out
    code, out = _check(tmp_path, POLICY + POLICY.replace("dev-shell", "ops-shell"), capsys, "--strict")
    assert code == 2 and ("and policies 'dev-shell', 'ops-shell' grant sessions on its nodes: jitbot records those "
                          "sessions but nothing records what was done in them") in out

    aws_env.set_session_logs(bucket="session-logs", prefix="ssm/")
    code, out = _check(tmp_path, POLICY, capsys, "--strict")
    assert code == 0 and "keeps no session logs" not in out


def test_a_missing_bus_and_an_unsigned_webhook_are_warned_about(aws_env: FakeAws, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    aws_env.set_session_logs(log_group="/ssm")
    bus = f"arn:aws:events:us-east-1:{DEFAULT_ACCOUNT}:event-bus/nobody-made-it"
    text = POLICY + f'\n[events]\neventbridge_bus = "{bus}"\nwebhook_url = "https://siem.example.com/in"\n'
    code, out = _check(tmp_path, text, capsys)
    assert code == 0
    assert f"[events] eventbridge_bus: the event bus {bus} does not exist" in out
    assert "[events] webhook_url is set but JITBOT_WEBHOOK_SECRET is not" in out


def test_offline_asks_no_aws(aws_env: FakeAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(tmp_path, POLICY, capsys, "--offline", "--strict")
    assert code == 0 and "AWS not asked (--offline)" in out and "keeps no session logs" not in out
