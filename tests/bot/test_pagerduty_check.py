"""``pagerduty:<schedule id>`` entries in the policy file: validated strictly where they stand, and resolved by
``jitbot policies check`` against PagerDuty's REST API (a fake one over HTTP) when a token is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from core.policy import PolicyError, parse_policies
from fakes.aws import FakeAws
from fakes.pagerduty import TOKEN, FakePagerDuty

POLICY = """
[[auto_approval]]
name = "on-call"
targets = {{ tags = {{ Environment = "dev" }} }}
requesters = ["pagerduty:POPS123"]
max_duration = "1h"
[[manual_approval]]
name = "prod"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001", "{approver}"]
  escalate_after = "30m"
  escalate_to = ["pagerduty:PMGR456"]
"""


@pytest.mark.parametrize("entry", ["pagerduty:", "pagerduty:pops123", "pagerduty:POPS12", "pagerduty:POPS1234",
                                   "pagerduty:XOPS123", "pagerduty: POPS123"])
def test_a_malformed_schedule_id_is_a_located_error(entry: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(POLICY.format(approver=entry))
    schedule = entry.removeprefix("pagerduty:")
    assert info.value.errors == [f"manual_approval[0].levels[0].approvers: '{entry}': '{schedule}' is "
                                 "not a PagerDuty schedule id (P and 6 upper-case letters or digits, such as "
                                 "pagerduty:PABC123; the schedule's page shows it in its address)"]


def test_schedules_are_accepted_in_every_list_of_people() -> None:
    policies = parse_policies(POLICY.format(approver="pagerduty:PSRE789")
                              + '[settings]\nrevokers = ["pagerduty:PSEC000"]\n')
    assert policies.auto_approval[0].requesters == ("pagerduty:POPS123",)
    assert policies.manual_approval[0].levels[0].approvers == ("U0SAM0001", "pagerduty:PSRE789")
    assert policies.manual_approval[0].levels[0].escalate_to == ("pagerduty:PMGR456",)
    assert policies.settings.revokers == ("pagerduty:PSEC000",)


@pytest.fixture
def env(fake_aws: tuple[FakeAws, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePagerDuty]:
    aws, _ = fake_aws
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    for key in ("SLACK_BOT_TOKEN", "JITBOT_WEBHOOK_SECRET", "PAGERDUTY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with FakePagerDuty({"POPS123": ["bob@example.com"], "PSRE789": []}) as pagerduty:
        monkeypatch.setenv("PAGERDUTY_API_URL", pagerduty.url)
        yield pagerduty


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    path = tmp_path / "policies.toml"
    path.write_text(POLICY.format(approver="pagerduty:PSRE789"), "utf-8")
    code = main(["policies", "check", str(path), *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_policies_check_reports_an_unknown_schedule_where_the_file_names_it(
        env: FakePagerDuty, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = check(tmp_path, capsys)
    assert code == 0 and "note: PagerDuty not asked (no PAGERDUTY_TOKEN: at run time they refuse" in out
    monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
    code, out, err = check(tmp_path, capsys)
    assert code == 1
    assert ("manual_approval[0].levels[0].escalate_to[0]: 'pagerduty:PMGR456': PagerDuty has no schedule PMGR456 "
            "(or the token cannot see it)") in err
    assert "POPS123" not in err and "PSRE789" not in err
    assert "manual_approval[0].levels[0].approvers[1]: nobody is on call for PagerDuty schedule PSRE789 now" in out
    env.schedules["PMGR456"] = ["carol@example.com"]
    env.schedules["PSRE789"] = ["sam@example.com"]
    code, out, err = check(tmp_path, capsys)
    assert code == 0 and "PagerDuty" not in err + out
    env.down = True
    code, out, _ = check(tmp_path, capsys)
    assert code == 0 and "note: PagerDuty could not be asked (PagerDuty could not be asked who is on call" in out


def test_the_adapter_caches_each_answer_and_refuses_a_bad_token_or_an_outage() -> None:
    from datetime import UTC, datetime

    from bot.pagerduty import PagerDutyOnCall
    from core.errors import NotFound, Unavailable

    with FakePagerDuty({"POPS123": ["Bob@Example.com"]}) as fake:
        client = PagerDutyOnCall(TOKEN, fake.url, lambda: datetime.now(UTC))
        assert client.on_call("POPS123") == frozenset({"bob@example.com"})
        fake.schedules["POPS123"] = ["carol@example.com"]
        assert client.on_call("POPS123") == frozenset({"bob@example.com"}) and fake.calls == 1  # within 60 s
        assert PagerDutyOnCall(TOKEN, fake.url, lambda: datetime.now(UTC), cache_seconds=0).on_call(
            "POPS123") == frozenset({"carol@example.com"})
        with pytest.raises(NotFound):
            client.on_call("PNONE00")
        with pytest.raises(Unavailable, match=r"PagerDuty refused jitbot's token \(HTTP 401\)"):
            PagerDutyOnCall("wrong", fake.url, lambda: datetime.now(UTC)).on_call("POPS123")
        fake.down = True
        with pytest.raises(Unavailable, match=r"\(HTTP 503\)"):
            client.on_call("PMGR456")
