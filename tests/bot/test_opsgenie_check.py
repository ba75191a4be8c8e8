"""``opsgenie:<schedule name or id>`` entries in the policy file: validated where they stand, resolved by ``jitbot
policies check`` against Opsgenie's REST API (a fake one over HTTP) when a key is set; the adapter's answers,
refusals and cache bound."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import main
from bot.opsgenie import OpsgenieOnCall
from bot.settings import Settings
from core.errors import NotFound, Unavailable
from core.oncall import OnCallRouter
from core.policy import PolicyError, parse_policies
from fakes.aws import FakeAws
from fakes.opsgenie import API_KEY, FakeOpsgenie, id_of
from fakes.pagerduty import TOKEN, FakePagerDuty

POLICY = """
[[auto_approval]]
name = "on-call"
targets = {{ tags = {{ Environment = "dev" }} }}
requesters = ["opsgenie:SRE Primary"]
max_duration = "1h"
[[manual_approval]]
name = "prod"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001", "{approver}"]
  escalate_after = "30m"
  escalate_to = ["opsgenie:Managers", "pagerduty:PMGR456"]
"""


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("entry", ["opsgenie:", "opsgenie: SRE", "opsgenie:SRE ", "opsgenie:SRE\tPrimary",
                                   "opsgenie:" + "x" * 129])
def test_a_malformed_schedule_is_a_located_error(entry: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(POLICY.format(approver=entry))
    schedule = entry.removeprefix("opsgenie:")
    assert info.value.errors == [f"manual_approval[0].levels[0].approvers: '{entry}': '{schedule}' is not an "
                                 "Opsgenie schedule name or id (1 to 128 printable characters, no space at either "
                                 "end, such as opsgenie:SRE_Schedule)"]


def test_schedules_by_name_or_id_are_accepted_in_every_list_of_people() -> None:
    by_id = f"opsgenie:{id_of('SRE')}"
    policies = parse_policies(POLICY.format(approver=by_id) + '[settings]\nrevokers = ["opsgenie:Security"]\n')
    assert policies.auto_approval[0].requesters == ("opsgenie:SRE Primary",)
    assert policies.manual_approval[0].levels[0].approvers == ("U0SAM0001", by_id)
    assert policies.manual_approval[0].levels[0].escalate_to == ("opsgenie:Managers", "pagerduty:PMGR456")
    assert policies.settings.revokers == ("opsgenie:Security",)


@pytest.fixture
def env(fake_aws: tuple[FakeAws, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOpsgenie, FakePagerDuty]]:
    aws, _ = fake_aws
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    for key in ("SLACK_BOT_TOKEN", "JITBOT_WEBHOOK_SECRET", "PAGERDUTY_TOKEN", "OPSGENIE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    with FakeOpsgenie({"SRE Primary": ["bob@example.com"], "SRE Backup": []}) as opsgenie, \
            FakePagerDuty({"PMGR456": ["carol@example.com"]}) as pagerduty:
        monkeypatch.setenv("OPSGENIE_API_URL", opsgenie.url)
        monkeypatch.setenv("PAGERDUTY_API_URL", pagerduty.url)
        yield opsgenie, pagerduty


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    path = tmp_path / "policies.toml"
    path.write_text(POLICY.format(approver="opsgenie:SRE Backup"), "utf-8")
    code = main(["policies", "check", str(path), *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_policies_check_reports_an_unknown_schedule_where_the_file_names_it(
        env: tuple[FakeOpsgenie, FakePagerDuty], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    opsgenie, _ = env
    code, out, _ = check(tmp_path, capsys)
    assert code == 0 and "note: Opsgenie not asked (no OPSGENIE_API_KEY: at run time they refuse" in out
    assert "note: PagerDuty not asked (no PAGERDUTY_TOKEN" in out
    monkeypatch.setenv("OPSGENIE_API_KEY", API_KEY)
    monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
    code, out, err = check(tmp_path, capsys)
    assert code == 1
    assert ("errors: Opsgenie\n  manual_approval[0].levels[0].escalate_to[0]: 'opsgenie:Managers': Opsgenie has no "
            "schedule 'Managers' (or the API key cannot see it)") in err
    assert "SRE Primary" not in err and "SRE Backup" not in err and "PagerDuty" not in err  # PMGR456 is PagerDuty's
    assert ("manual_approval[0].levels[0].approvers[1]: nobody is on call for Opsgenie schedule 'SRE Backup' now"
            in out)
    opsgenie.schedules["Managers"] = ["carol@example.com"]
    opsgenie.schedules["SRE Backup"] = ["sam@example.com"]
    code, out, err = check(tmp_path, capsys)
    assert code == 0 and "Opsgenie" not in err + out and "PagerDuty" not in err + out
    opsgenie.down = True
    code, out, _ = check(tmp_path, capsys)
    assert code == 0 and "note: Opsgenie could not be asked (Opsgenie could not be asked who is on call" in out
    code, out, _ = check(tmp_path, capsys, "--offline")
    assert code == 0 and "note: Opsgenie not asked (--offline)" in out


def test_the_adapter_reads_by_name_or_id_and_refuses_a_bad_key_an_outage_or_an_unknown_schedule() -> None:
    with FakeOpsgenie({"SRE Primary": ["Bob@Example.com", "sre-escalation"]}) as fake:
        client = OpsgenieOnCall(API_KEY, fake.url + "/", now, cache_seconds=0)
        assert client.on_call("opsgenie:SRE Primary") == frozenset({"bob@example.com"})  # user names are emails
        assert client.on_call(f"opsgenie:{id_of('SRE Primary')}") == frozenset({"bob@example.com"})
        with pytest.raises(NotFound, match=r"Opsgenie has no schedule 'Other'\."):
            client.on_call("opsgenie:Other")
        with pytest.raises(Unavailable, match=r"Opsgenie refused jitbot's API key \(HTTP 401\)"):
            OpsgenieOnCall("wrong", fake.url, now).on_call("opsgenie:SRE Primary")
        fake.down = True
        with pytest.raises(Unavailable, match=r"could not be asked who is on call for schedule 'SRE Primary' "
                                              r"\(HTTP 503\); nothing was decided"):
            client.on_call("opsgenie:SRE Primary")
    with pytest.raises(ValueError, match="not an http"):
        OpsgenieOnCall(API_KEY, "ftp://api.opsgenie.com", now)


def test_each_answer_is_reused_for_at_most_a_minute() -> None:
    clock = [1000.0]
    with FakeOpsgenie({"SRE": ["bob@example.com"]}) as fake:
        client = OpsgenieOnCall(API_KEY, fake.url, now, monotonic=lambda: clock[0])
        assert client.on_call("opsgenie:SRE") == frozenset({"bob@example.com"}) and fake.calls == 1
        fake.schedules["SRE"] = ["carol@example.com"]
        clock[0] += 59.9
        assert client.on_call("opsgenie:SRE") == frozenset({"bob@example.com"}) and fake.calls == 1
        clock[0] += 0.1
        assert client.on_call("opsgenie:SRE") == frozenset({"carol@example.com"}) and fake.calls == 2
        longer = OpsgenieOnCall(API_KEY, fake.url, now, cache_seconds=3600, monotonic=lambda: clock[0])
        longer.on_call("opsgenie:SRE")
        fake.schedules["SRE"] = ["sam@example.com"]
        clock[0] += 60
        assert longer.on_call("opsgenie:SRE") == frozenset({"sam@example.com"})  # never more than a minute
    with pytest.raises(ValidationError):
        Settings(opsgenie_cache_seconds=61)


def test_the_router_asks_each_entry_of_its_own_provider_and_refuses_one_not_configured() -> None:
    with FakeOpsgenie({"SRE": ["sam@example.com"]}) as opsgenie, \
            FakePagerDuty({"POPS123": ["bob@example.com"]}) as pagerduty:
        from bot.pagerduty import PagerDutyOnCall

        both = OnCallRouter(PagerDutyOnCall(TOKEN, pagerduty.url, now), OpsgenieOnCall(API_KEY, opsgenie.url, now))
        assert both.on_call("opsgenie:SRE") == frozenset({"sam@example.com"}) and pagerduty.calls == 0
        assert both.on_call("pagerduty:POPS123") == frozenset({"bob@example.com"}) and opsgenie.calls == 1
        only = OnCallRouter(opsgenie=OpsgenieOnCall(API_KEY, opsgenie.url, now))
        with pytest.raises(Unavailable, match=r"^PagerDuty is not configured \(PAGERDUTY_TOKEN\)"):
            only.on_call("pagerduty:POPS123")
        with pytest.raises(Unavailable, match=r"^Opsgenie is not configured \(OPSGENIE_API_KEY\), so jitbot cannot "
                                              r"tell who is on call for schedule 'SRE'"):
            OnCallRouter().on_call("opsgenie:SRE")


def test_an_escalation_names_an_opsgenie_schedule_as_text_never_as_a_mention() -> None:
    from handlers.text import fallback

    shown = fallback(["opsgenie:SRE <Primary>", "pagerduty:PMGR456", "U0SAM0001", "U0ALICE01"], "U0ALICE01")
    assert shown == "opsgenie:SRE &lt;Primary&gt;, pagerduty:PMGR456, and <@U0SAM0001>"
