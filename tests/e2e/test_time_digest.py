"""The daily digest (cron in the policy's time zone, posted to the audit channel, `jitbot digest`) and
retention (`jitbot audit export`, then the daily purge), end to end on the Stack."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.scheduler import digest_trigger
from core.model import State
from core.policy.schema import PolicySettings
from fakes import cast
from fakes.stack import Stack
from tests.e2e.test_time import auto_grant, policies, scheduler_of
from tests.helpers import eventually, request, valid_blocks

StackFactory = Callable[..., Stack]


@pytest.mark.parametrize(("zone", "local", "utc"), [
    ("Asia/Tokyo", "09:00", datetime(2025, 3, 11, 0, 0, tzinfo=UTC)),
    ("UTC", "09:00", datetime(2025, 3, 10, 9, 0, tzinfo=UTC)),
    ("America/New_York", "09:00", datetime(2025, 3, 10, 13, 0, tzinfo=UTC)),  # EDT from 9 March 2025
    ("Europe/Paris", "09:00", datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
])
def test_the_digest_fires_at_its_local_time(zone: str, local: str, utc: datetime) -> None:
    settings = PolicySettings(timezone=zone, digest_time=local)  # type: ignore[arg-type]
    trigger = digest_trigger(settings)
    assert trigger is not None
    after = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after) == utc
    assert digest_trigger(PolicySettings()) is None  # no digest_time: no digest


def cli_env(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> None:
    for name, value in {"DATABASE_URL": stack.database_url, "JIT_POLICIES": str(stack.policies_path),
                        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_API_URL": stack.slack.url}.items():
        monkeypatch.setenv(name, value)


def test_digest_job_posts_to_the_audit_channel_and_the_cli_prints_it(
        stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stack = stack_factory(policies(digest_time="09:00"))
    scheduler = scheduler_of(stack)
    fires = scheduler.next_run("digest")
    assert fires is not None and (fires.astimezone(UTC).hour, fires.minute) == (0, 0)  # 09:00 in Tokyo
    assert timedelta(0) < fires - datetime.now(UTC) <= timedelta(days=1)
    granted = auto_grant(stack, "1h")
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")

    digest = scheduler.run_digest()
    assert digest.created_total == 2 and digest.auto_approved == 1
    assert [t.request.id for t in digest.active] == [granted] and digest.pending_total == 1
    post = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0AUDIT01"
                                and "daily digest" in c.params.get("text", ""))
    blocks = valid_blocks(post.params["blocks"])
    assert blocks[0]["type"] == "header"
    text = json.dumps(blocks)
    assert "Active now (1)" in text and f"<@{cast.BOB}>" in text and "Waiting for approval (1)" in text

    cli_env(monkeypatch, stack)
    before = len(stack.slack.messages("C0AUDIT01"))
    assert main(["digest"]) == 0
    printed = capsys.readouterr().out
    assert "jitbot daily digest" in printed and f"{granted} {cast.BOB} on dev-1" in printed
    assert "New requests: 2 (1 pending, 1 active)" in printed and "Auto-approved: 1" in printed
    assert len(stack.slack.messages("C0AUDIT01")) == before  # printing posts nothing
    assert main(["digest", "--post"]) == 0
    posted = stack.slack.wait_for(lambda c: c.params.get("channel") == "C0AUDIT01" and "daily digest" in
                                  c.params.get("text", "") and len(stack.slack.messages("C0AUDIT01")) > before)
    valid_blocks(posted.params["blocks"])


def test_export_then_purge_keeps_an_archive_of_everything_purged(
        stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    stack = stack_factory(policies(retention="2s"))
    old = auto_grant(stack, "1s")
    ended = eventually(lambda: (r := request(stack, old)).state is State.EXPIRED and not r.needs_cleanup and r,
                       timeout=10, what="expiry")
    scheduler = scheduler_of(stack)
    assert ended.ended_at is not None and stack.runtime is not None
    eventually(lambda: datetime.now(UTC) - ended.ended_at > timedelta(seconds=2.5), what="the retention window")
    live = auto_grant(stack, "1h")

    cli_env(monkeypatch, stack)
    archive = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--output", str(archive)]) == 0
    assert "exported" in capsys.readouterr().err
    exported = [json.loads(line) for line in archive.read_text("utf-8").splitlines()]
    assert not Path(f"{archive}.partial").exists()
    assert main(["audit", "export", "--format", "csv", "--since", (datetime.now(UTC) - timedelta(hours=1)).date()
                 .isoformat()]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in exported]
    assert json.loads(rows[0]["detail"]) == exported[0]["detail"]

    with stack.runtime.ctx.uow() as uow:
        before = {e.id for e in uow.repo.events()}
    purged = scheduler.run_retention()
    with stack.runtime.ctx.uow() as uow:
        after = {e.id for e in uow.repo.events()}
        assert uow.repo.get(old) is None and uow.repo.get(live) is not None
        [audit] = [e for e in uow.repo.events() if e.action == "retention_purged"]
    gone = before - after
    assert purged.requests == 1 and purged.events == len(gone) > 0
    assert gone <= {e["id"] for e in exported}  # everything purged was archived first
    assert {e["action"] for e in exported if e["request_id"] == old} >= {"submitted", "granted", "expired"}
    assert audit.detail["requests"] == 1 and audit.detail["events"] == len(gone)
    assert audit.detail["retention"] == "2s"


def test_bad_export_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "export", "--since", "last tuesday"])
    assert "'last tuesday' is not a date" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit", "export", "--format", "xml"])
    assert "invalid choice: 'xml'" in capsys.readouterr().err



def test_digest_post_needs_a_token_and_an_audit_channel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    policy_file = tmp_path / "policies.toml"
    policy_file.write_text(policies().replace('audit_channel = "C0AUDIT01"\n', ""), "utf-8")
    monkeypatch.setenv("JIT_POLICIES", str(policy_file))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    assert main(["digest", "--post"]) == 2
    assert "needs SLACK_BOT_TOKEN and [settings] audit_channel" in capsys.readouterr().err
    assert main(["digest"]) == 1  # an empty database file, never migrated
    assert "jitbot db upgrade" in capsys.readouterr().err
